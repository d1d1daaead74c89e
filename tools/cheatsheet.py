"""The ULMFiT cheat sheet: its constants read from the package, and the one-page figure.

    python tools/cheatsheet.py            # draw docs/img/cheatsheet.png from the package's constants
    python tools/cheatsheet.py --check    # exit 1 if docs/cheatsheet.md's table disagrees with the code

``docs/cheatsheet.md`` has a table of every constant with the code that holds it; ``constants()``
reads that table and looks each name up in the package, so the page, the figure and the code cannot
drift apart (``tests/test_cheatsheet.py`` runs the check).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAGE = ROOT / "docs" / "cheatsheet.md"
FIGURE = ROOT / "docs" / "img" / "cheatsheet.png"
TABLE = re.compile(r"<!-- cheatsheet:constants -->\n(.*?)<!-- /cheatsheet:constants -->", re.S)
DROPOUT_ORDER = ("output_p", "hidden_p", "input_p", "embed_p", "weight_p")
# Where the page's short names live.
HOMES = {
    "config": "ulmfit_lesson.config",
    "schedules": "ulmfit_lesson.schedules",
    "lm_loader": "ulmfit_lesson.lm_loader",
    "classifier": "ulmfit_lesson.classifier",
    "vocab": "ulmfit_lesson.vocab",
    "AWDLSTMConfig": "ulmfit_lesson.config",
    "LMTrainConfig": "ulmfit_lesson.config",
    "ClasTrainConfig": "ulmfit_lesson.config",
}


def lookup(ref: str) -> list[float]:
    """The value(s) of ``module.NAME`` or ``DataClass.field`` (its default) as a list of numbers."""
    owner, name = ref.split(".")
    module = importlib.import_module(HOMES[owner])
    if owner == module.__name__.rsplit(".", 1)[-1]:
        value = getattr(module, name)
    else:  # a dataclass: the field's default
        fields = {f.name: f for f in dataclasses.fields(getattr(module, owner))}
        value = fields[name].default
    if isinstance(value, dict):
        return [float(value[k]) for k in DROPOUT_ORDER]
    if isinstance(value, tuple | list):
        return [float(v) for v in value]
    return [float(value)]


def rows(page: str | None = None) -> list[dict]:
    """The table's rows: ``name``, the numbers the page states, the code refs, the source."""
    text = page if page is not None else PAGE.read_text(encoding="utf-8")
    out = []
    for line in TABLE.search(text).group(1).strip().splitlines()[2:]:
        name, value, where, source = [c.strip() for c in line.strip("|").split("|")]
        stated = re.sub(r"\(.*?\)", "", value)  # "(paper: 1150)" is commentary, not the value
        numbers = [float(n) for n in re.findall(r"\d+(?:\.\d+)?", stated)]
        out.append(
            dict(
                name=name,
                value=value,
                numbers=numbers,
                refs=re.findall(r"`([^`]+)`", where),
                source=source,
            )
        )
    return out


def problems(page: str | None = None) -> list[str]:
    found = []
    for row in rows(page):
        actual = [v for ref in row["refs"] for v in lookup(ref)]
        if actual != row["numbers"]:
            found.append(
                f"{row['name']}: the page says {row['value']}, the code ({', '.join(row['refs'])}) has {actual}"
            )
    return found


def draw(out: Path = FIGURE) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    def v(ref: str) -> str:
        vals = lookup(ref)
        fmt = lambda x: f"{x:g}"  # noqa: E731
        return ", ".join(fmt(x) for x in vals)

    fig = plt.figure(figsize=(11, 7.2))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, 11)
    ax.set_ylim(0, 7.2)
    ax.axis("off")
    ax.text(0.3, 6.85, "ULMFiT on one page", fontsize=20, weight="bold")
    ax.text(0.3, 6.5, "Howard & Ruder 2018 · every number read from the ulmfit_lesson package",
            fontsize=10, color="#555")  # fmt: skip
    stages = [
        ("1 · General-domain LM pretraining", "§3.1", "#dbe9f6",
         ["AWD-LSTM: embedding " + v("AWDLSTMConfig.emb_size") + ", " + v("AWDLSTMConfig.n_layers")
          + " LSTM layers of " + v("AWDLSTMConfig.hidden_size") + " (paper 1150)",
          "next-token prediction on general text", "weights tied: decoder = embedding",
          "variable BPTT: " + v("config.BPTT") + " w.p. " + v("lm_loader.BPTT_FULL_PROB")
          + ", else half; jitter N(0, " + v("lm_loader.BPTT_SD") + ")"]),
        ("2 · Target-task LM fine-tuning", "§3.2", "#e3f1dc",
         ["discriminative LRs: ÷ " + v("schedules.DISCRIMINATIVE_FACTOR") + " per layer group",
          "STLR: cut_frac " + v("schedules.STLR_CUT_FRAC") + ", ratio " + v("schedules.STLR_RATIO"),
          "lr " + v("LMTrainConfig.lr") + " (frozen epoch " + v("LMTrainConfig.frozen_lr") + ")",
          "drop_mult " + v("LMTrainConfig.drop_mult") + "; new words at the mean embedding"]),
        ("3 · Target-task classifier fine-tuning", "§3.3", "#fbe6d4",
         ["concat pooling [h_T, max, mean]: 3 × " + v("AWDLSTMConfig.emb_size") + " = "
          + f"{3 * lookup('AWDLSTMConfig.emb_size')[0]:g}" + " -> " + v("classifier.HEAD_HIDDEN") + " -> classes",
          "BPT3C: the document in chunks of " + v("config.BPTT"),
          "gradual unfreezing: head, +1 group per epoch, then all",
          "lr " + v("ClasTrainConfig.lr") + ", " + v("ClasTrainConfig.epochs") + " epochs, drop_mult "
          + v("ClasTrainConfig.drop_mult")]),
    ]  # fmt: skip
    for i, (title, section, colour, lines) in enumerate(stages):
        x = 0.3 + i * 3.55
        ax.add_patch(
            FancyBboxPatch((x, 2.75), 3.3, 3.45, boxstyle="round,pad=0.04", fc=colour, ec="#888")
        )
        ax.text(x + 0.12, 5.9, title, fontsize=10.5, weight="bold")
        ax.text(x + 3.15, 5.6, section, fontsize=9, color="#555", ha="right")
        y = 5.25
        for line in lines:
            wrapped = textwrap.fill("• " + line, 46, subsequent_indent="   ")
            ax.text(x + 0.15, y, wrapped, fontsize=8.4, va="top", linespacing=1.3)
            y -= 0.16 * (wrapped.count("\n") + 1) + 0.3
        if i < 2:
            ax.annotate("", (x + 3.5, 4.5), (x + 3.32, 4.5), arrowprops=dict(arrowstyle="->", lw=2))
    drop = lookup("config.CLAS_DROPOUTS")
    lm_drop = lookup("config.LM_DROPOUTS")
    common = [
        f"Adam β = ({v('config.ADAM_BETAS')}), weight decay {v('config.WEIGHT_DECAY')} (decoupled), batch size {v('config.BS')}",
        f"AR α = {v('config.AR_ALPHA')}, TAR β = {v('config.TAR_BETA')} (AWD-LSTM §4.6)",
        "dropouts (output, hidden, input, embedding, weight): classifier "
        + ", ".join(f"{x:g}" for x in drop) + "; LM " + ", ".join(f"{x:g}" for x in lm_drop),
        f"vocabulary: min_freq {v('vocab.MIN_FREQ')}, max_vocab {v('vocab.MAX_VOCAB')}; special tokens xxbos xxmaj xxup xxunk xxpad",
    ]  # fmt: skip
    ax.add_patch(
        FancyBboxPatch((0.3, 0.35), 10.4, 2.05, boxstyle="round,pad=0.04", fc="#f4f4f4", ec="#888")
    )
    ax.text(0.45, 2.1, "In every stage", fontsize=10.5, weight="bold")
    for j, line in enumerate(common):
        ax.text(0.5, 1.7 - j * 0.38, "• " + line, fontsize=9)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare the page with the code")
    args = parser.parse_args(argv)
    found = problems()
    for p in found:
        print(f"{PAGE.relative_to(ROOT)}: {p}", file=sys.stderr)
    if args.check or found:
        return 1 if found else 0
    print(f"wrote {draw()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
