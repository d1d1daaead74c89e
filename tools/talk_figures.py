"""The talk's figures, drawn at build time from the package's own drawing functions and from the
committed result CSVs (``experiments/results/full/``); nothing here is a hand-made screenshot.

    python tools/talk_figures.py                 # -> build/slides/figures/*.svg|png + numbers.json
    python tools/talk_figures.py --no-model      # skip what needs the pretrained LM (offline, fast)

``make_figures(out)`` returns ``numbers``: the values the slides quote (means of the CSVs, parameter
counts, measured CPU latencies, the demo's generated lines), which ``tools/build_talk.py`` fills into
``tools/talk/slides.md``. Under two minutes on a 2-core CPU: the only training is the live demo's
quick run (``ulmfit_lesson.course.demo.run_demo``, about 25 s) for the per-word contributions and the
before/after-stage-2 lines; with ``--no-model`` (or no pretrained LM on the machine) those figures
say so instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "experiments" / "results" / "full"
OUT = ROOT / "build" / "slides" / "figures"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ulmfit_lesson import lm_loader, schedules  # noqa: E402
from ulmfit_lesson.classifier import ULMFiTClassifier  # noqa: E402
from ulmfit_lesson.config import AWDLSTMConfig  # noqa: E402
from ulmfit_lesson.course import explain, widgets_basics, widgets_clas, widgets_lm  # noqa: E402

# The published figure the course quotes for fine-tuned BERT-base on the poems' 3-class test split:
# docs/results.md ("References on the poems' 3-class test split") and experiments/README.md.
BERT_BASE_POEMS_ACC = 0.865
# GoEmotions paper (Demszky et al. 2020): BERT-base fine-tuned on all 43k training comments, a
# multi-label task: macro-F1 on Ekman's groups (the 28 labels: 0.46).
BERT_BASE_EKMAN_F1 = 0.64
BERT_BASE_28_F1 = 0.46
GENERAL_VOCAB = 26_856  # general-fwd's itos.pkl (shared/pretrained/README.md)
BERT_VOCAB = 30_522  # bert-base-uncased's WordPiece vocabulary
METHOD_NAMES = {
    "ulmfit": "ULMFiT",
    "ulmfit_no_lm_ft": "ULMFiT, no stage 2",
    "scratch": "same net, from scratch",
    "tfidf_logreg": "TF-IDF + log. reg.",
    "majority": "majority class",
}
COLOURS = {"ulmfit": "#2c7fb8", "ulmfit_no_lm_ft": "#7fcdbb", "scratch": "#fdae6b",
           "tfidf_logreg": "#bdbdbd", "majority": "#e0e0e0"}  # fmt: skip


def save(fig: Figure, out: Path, name: str, fmt: str = "svg", dpi: int = 110) -> str:
    """Write ``fig`` as ``out/name.fmt`` with fixed metadata (same drawing, same bytes)."""
    path = out / f"{name}.{fmt}"
    meta = {"Date": None} if fmt == "svg" else {"Software": None}
    fig.savefig(path, dpi=dpi, metadata=meta, bbox_inches="tight")
    return path.name


def placeholder(out: Path, name: str, text: str) -> str:
    fig = Figure(figsize=(8, 2.5))
    ax = fig.subplots()
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=12, color="#666", wrap=True)
    return save(fig, out, name)


# ------------------------------------------------------------------------------- the package's drawings


def fig_stages(out: Path) -> dict[str, str]:
    files = {"stages": save(widgets_lm.draw_ulmfit_stages(), out, "stages")}
    for i in (1, 2, 3):
        files[f"stage{i}"] = save(widgets_lm.draw_ulmfit_stages(highlight=i), out, f"stage{i}")
    return files


def fig_lstm_cell(out: Path) -> str:
    fig = Figure(figsize=(9, 4.6))
    explain.draw_lstm_cell(fig.subplots())
    return save(fig, out, "lstm_cell")


def fig_dropout(out: Path) -> str:
    fig = Figure(figsize=(11, 5.2))
    axes = fig.subplots(2, 2).ravel()
    titles = {
        "embedding": "embedding dropout: whole words",
        "locked": "locked (RNN) dropout: one mask per sequence",
        "plain": "plain dropout, for contrast: new coin each step",
        "weight": "weight dropout (DropConnect) on W_hh",
    }
    for ax, kind in zip(axes, ("embedding", "locked", "plain", "weight")):
        mask = explain.dropout_mask_image(kind, 0.5, seed=1)
        explain.plot_heatmap(mask, ax=ax, cmap="gray", vmin=0, vmax=2, colorbar=False)
        ax.set_title(titles[kind], fontsize=11)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return save(fig, out, "dropout_masks", "png", dpi=90)


def fig_batches(out: Path) -> str:
    """The LM batch layout (fastbook ch. 10 style): ``lm_loader.stream_table`` coloured by batch with
    ``explain.BATCH_COLOURS`` (the colours of ``explain.stream_table_html``), as a picture."""
    text = (
        "xxbos xxmaj the sun is warm and all the birds are singing , xxbos a cold dark night "
        "of grief and tears , xxbos and the wind went over the hill where the old trees stand"
    ).split()
    tables = lm_loader.stream_table(text, bs=3, seq_len=4)
    width = sum(len(t[0]) for t in tables)
    fig = Figure(figsize=(13, 2.4))
    ax = fig.subplots()
    x0 = 0
    for k, table in enumerate(tables):
        colour = explain.BATCH_COLOURS[k % len(explain.BATCH_COLOURS)]
        for i, row in enumerate(table):
            for j, tok in enumerate(row):
                ax.add_patch(matplotlib.patches.Rectangle((x0 + j, i), 1, 1, fc=colour, ec="white"))
                ax.text(x0 + j + 0.5, i + 0.5, tok, ha="center", va="center", fontsize=9,
                        family="monospace")  # fmt: skip
        ax.text(x0 + len(table[0]) / 2, -0.25, f"batch {k + 1}", ha="center", fontsize=10)
        x0 += len(table[0])
    ax.set_xlim(0, width)
    ax.set_ylim(len(tables[0]) + 0.05, -0.6)
    ax.set_yticks([i + 0.5 for i in range(len(tables[0]))], [f"stream {i}" for i in range(3)])
    ax.set_xticks([])
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    return save(fig, out, "batches")


def fig_bptt(out: Path) -> str:
    return save(
        widgets_basics._draw_bptt({}, 70, lm_loader.BPTT_FULL_PROB, lm_loader.BPTT_SD), out, "bptt"
    )


def fig_stlr(out: Path) -> str:
    fig = widgets_basics._draw_stlr({}, schedules.STLR_CUT_FRAC, schedules.STLR_RATIO, 1000, 0.01)
    return save(fig, out, "stlr")


def fig_discriminative(out: Path) -> str:
    lrs = schedules.discriminative_lrs(0.01, 5)
    fig = Figure(figsize=(8, 3.4))
    ax = fig.subplots()
    ax.barh(range(5), lrs, color=["#9ecae1"] * 4 + ["#fdae6b"])
    for i, lr in enumerate(lrs):
        ax.text(lr, i, f"  {lr:.4f}", va="center", fontsize=10)
    ax.set_yticks(range(5), widgets_clas.GROUP_NAMES)
    ax.set_xlim(0, 0.013)
    ax.set_xlabel("peak learning rate: each layer group down gets the one above / 2.6")
    fig.tight_layout()
    return save(fig, out, "discriminative")


def classifier_model() -> ULMFiTClassifier:
    """A classifier of the course's shape (general-fwd's vocabulary), random weights: for counting
    parameters and timing a prediction, which do not depend on the weights."""
    torch.manual_seed(0)
    return ULMFiTClassifier(AWDLSTMConfig(vocab_size=GENERAL_VOCAB), n_classes=3).eval()


def fig_unfreezing(out: Path, model: ULMFiTClassifier) -> str:
    info = widgets_clas.unfreezing_schedule(5, 10)
    sizes = widgets_clas.group_sizes(model.groups)
    fig = widgets_clas._draw_unfreezing({}, 3, info, widgets_clas.GROUP_NAMES, sizes, None)
    return save(fig, out, "unfreezing")


def fig_params(out: Path, model: ULMFiTClassifier) -> tuple[str, dict]:
    sizes = widgets_clas.group_sizes(model.groups)
    fig = Figure(figsize=(8, 3.2))
    ax = fig.subplots()
    ax.barh(range(5), np.array(sizes) / 1e6, color=["#fdae6b"] + ["#9ecae1"] * 3 + ["#a1d99b"])
    for i, n in enumerate(sizes):
        ax.text(n / 1e6, i, f"  {n / 1e6:.1f}M", va="center", fontsize=10)
    ax.set_yticks(range(5), ["embedding 26,856 x 400", "LSTM 1 (1152)", "LSTM 2 (1152)",
                             "LSTM 3 (400)", "head"])  # fmt: skip
    ax.set_xlim(0, max(sizes) / 1e6 * 1.3)
    ax.set_xlabel("parameters (millions) per layer group of the classifier")
    fig.tight_layout()
    return save(fig, out, "params"), {"groups": sizes, "total": int(sum(sizes))}


def fig_concat_pool(out: Path, lm_and_itos) -> str:
    from ulmfit_lesson.clas_loader import pad_chunks
    from ulmfit_lesson.classifier import bpt3c_encode
    from ulmfit_lesson.tokenizer import tokenize
    from ulmfit_lesson.vocab import Vocab

    verse = "a cold dark night of grief and tears"
    tokens = tokenize(verse)
    lm, itos = lm_and_itos
    encoder = lm.encoder.eval()
    ids = torch.as_tensor(Vocab(list(itos)).numericalize(tokens), dtype=torch.long)
    x, mask = pad_chunks([ids], 16, 1)
    with torch.no_grad():
        output, kept = bpt3c_encode(encoder, x, mask, 16, max(16, x.size(1)))
    fig = widgets_clas.draw_concat_pool(output[:, :, :48], kept, 0, tokens=tokens)
    return save(fig, out, "concat_pool")


def fig_contributions(out: Path, contrib) -> str:
    colours = widgets_clas.contribution_colours(contrib.scores)
    fig = Figure(figsize=(12, 1.6))
    ax = fig.subplots()
    ax.axis("off")
    x = 0.0
    for tok, colour in zip(contrib.tokens, colours):
        w = 0.25 + 0.11 * len(tok)
        ax.add_patch(matplotlib.patches.FancyBboxPatch((x, 0.2), w, 0.6, fc=colour, ec="#999",
                                                       boxstyle="round,pad=0.02"))  # fmt: skip
        ax.text(x + w / 2, 0.5, tok, ha="center", va="center", fontsize=13, family="monospace")
        x += w + 0.12
    probs = ", ".join(f"{k} {v:.0%}" for k, v in contrib.probs.items())
    ax.set_title(f"explaining '{contrib.label}' ({probs}): green pushed towards it, red away",
                 fontsize=11)  # fmt: skip
    ax.set_xlim(-0.1, x)
    ax.set_ylim(0, 1)
    return save(fig, out, "contributions")


# ------------------------------------------------------------------------------- results from CSVs


def _summary(df: pd.DataFrame, by: str) -> pd.DataFrame:
    return df.groupby(by, sort=False)[["accuracy", "macro_f1"]].agg(["mean", "std", "count"])


def fig_compare(out: Path, csv: str, name: str, title: str, bert: float | None = None):
    df = pd.read_csv(RESULTS / csv)
    methods = [m for m in METHOD_NAMES if m in set(df.method)]
    fig = Figure(figsize=(10, 3.8))
    axes = fig.subplots(1, 2, sharey=True)
    numbers = {}
    for ax, metric in zip(axes, ("accuracy", "macro_f1")):
        for i, m in enumerate(methods):
            vals = df[df.method == m][metric].to_numpy()
            mean, std = float(vals.mean()), float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
            numbers.setdefault(m, {})[metric] = round(mean, 3)
            numbers[m][f"{metric}_std"] = round(std, 3)
            numbers[m]["seeds"] = int(len(vals))
            ax.bar(i, mean, yerr=std, color=COLOURS[m], capsize=4, edgecolor="#555")
            jitter = np.linspace(-0.18, 0.18, len(vals)) if len(vals) > 1 else [0.0]
            ax.plot(i + np.asarray(jitter), vals, "k.", ms=5)
            ax.text(i, mean + std + 0.02, f"{mean:.2f}", ha="center", fontsize=9)
        if bert is not None and metric == "accuracy":
            ax.axhline(bert, color="#d62728", ls="--", lw=1.5)
            ax.text(len(methods) - 0.5, bert + 0.015, f"BERT-base {bert:.3f} (published)",
                    ha="right", color="#d62728", fontsize=9)  # fmt: skip
        ax.set_xticks(range(len(methods)), [METHOD_NAMES[m] for m in methods], rotation=20,
                      ha="right", fontsize=9)  # fmt: skip
        ax.set_title(metric.replace("_", "-"), fontsize=11)
        ax.set_ylim(0, 1)
    seeds = max(v["seeds"] for v in numbers.values())
    fig.suptitle(
        f"{title}: test split, mean ± std over {seeds} seeds (dots: each seed)", fontsize=11
    )
    fig.tight_layout()
    return save(fig, out, name), numbers


def fig_imbalance(out: Path, size: int = 4000):
    """Issue 22: GoEmotions' Ekman view with each imbalance treatment given to ULMFiT and TF-IDF
    alike, test macro-F1 (mean ± sd over seeds) at ``size`` training comments and on the whole
    training split: where the bag of words leads, and where ULMFiT does."""
    df = pd.read_csv(RESULTS / "imbalance_goemotions-ekman.csv")
    whole = int(df["size"].max())
    treatments = list(dict.fromkeys(df["treatment"]))
    methods = [m for m in ("tfidf_logreg", "ulmfit") if m in set(df.method)]
    fig = Figure(figsize=(10, 3.8))
    axes = fig.subplots(1, 2, sharey=True)
    numbers, width = {}, 0.8 / len(methods)
    for ax, n in zip(axes, (size, whole)):
        at = df[df["size"] == n]
        for j, m in enumerate(methods):
            for i, t in enumerate(treatments):
                runs = at[(at.method == m) & (at.treatment == t)]
                key = t.replace(" ", "_").replace("+", "and")
                entry = numbers if n == size else numbers.setdefault("all", {})
                entry = entry.setdefault(m, {}).setdefault(key, {})
                for metric in ("accuracy", "macro_f1"):
                    entry[metric] = round(float(runs[metric].mean()), 3)
                entry["seeds"] = int(len(runs))
                vals = runs["macro_f1"].to_numpy()
                mean, std = float(vals.mean()), float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
                x = i + (j - (len(methods) - 1) / 2) * width
                ax.bar(x, mean, width, yerr=std, color=COLOURS[m], capsize=3, edgecolor="#555",
                       label=METHOD_NAMES[m] if i == 0 else None)  # fmt: skip
                ax.text(x, mean + std + 0.02, f"{mean:.2f}", ha="center", fontsize=8)
        ax.axhline(BERT_BASE_EKMAN_F1, color="#d62728", ls="--", lw=1.5)
        if n == size:  # labelled once, where the bars stay below it
            ax.text(-0.45, BERT_BASE_EKMAN_F1 + 0.02,
                    f"BERT-base {BERT_BASE_EKMAN_F1:.2f} (published: all 43k comments, "
                    "multi-label)", ha="left", color="#d62728", fontsize=8)  # fmt: skip
        ax.set_xticks(range(len(treatments)), treatments, rotation=15, ha="right", fontsize=9)
        ax.set_title(f"{n:,} training comments" + (" (all)" if n == whole else ""), fontsize=11)
        ax.set_ylim(0, 0.85)
    axes[0].set_ylabel("test macro-F1")
    axes[1].legend(fontsize=9, loc="upper left", ncols=2)
    fig.suptitle("GoEmotions, Ekman's 7 classes: each treatment given to both "
                 "(test split; mean ± sd over the seeds run)", fontsize=10)  # fmt: skip
    fig.tight_layout()
    numbers["all_size"] = f"{whole:,}"
    numbers["bert_base_f1"] = BERT_BASE_EKMAN_F1
    # The 28 labels (multi-label) for the speaker's notes: balanced weights + thresholds tuned on
    # dev, at 4,000 comments ("labels28") and on the whole training split ("labels28_all")
    labels28 = pd.read_csv(RESULTS / "imbalance_goemotions-28.csv")
    tuned = labels28[labels28["treatment"] == "balanced + tuned"]
    for key, rows in (("labels28", tuned[tuned["size"] == size]),
                      ("labels28_all", tuned[tuned["size"] == tuned["size"].max()])):  # fmt: skip
        numbers[key] = {
            m: dict(macro_f1=round(float(g["macro_f1"].mean()), 3), seeds=int(g["seed"].nunique()))
            for m, g in rows.groupby("method")
        }
    numbers["bert_base_28_f1"] = BERT_BASE_28_F1
    return save(fig, out, "goemotions_imbalance"), numbers


def fig_ablations(out: Path):
    df = pd.read_csv(RESULTS / "ablations_poems-3class.csv")
    s = _summary(df, "variant")
    fig = Figure(figsize=(10, 3.8))
    ax = fig.subplots()
    y = np.arange(len(s))[::-1]
    ax.barh(y, s[("macro_f1", "mean")], xerr=s[("macro_f1", "std")], color="#9ecae1", capsize=3,
            label="macro-F1")  # fmt: skip
    ax.plot(s[("accuracy", "mean")], y, "D", color="#08519c", label="accuracy")
    for yy, variant in zip(y, s.index):
        vals = df[df.variant == variant].macro_f1
        ax.plot(vals, [yy] * len(vals), "k.", ms=4)
    ax.set_yticks(y, s.index)
    ax.set_xlim(0.3, 0.85)
    ax.legend(loc="lower right", fontsize=9)
    n = int(s[("accuracy", "count")].max())
    ax.set_title(
        f"ablations, 3-class poems: mean ± std over {n} seeds (dots: each seed)", fontsize=11
    )
    fig.tight_layout()
    numbers = {v: {"accuracy": round(float(r[("accuracy", "mean")]), 3),
                   "macro_f1": round(float(r[("macro_f1", "mean")]), 3)} for v, r in s.iterrows()}  # fmt: skip
    return save(fig, out, "ablations"), numbers


def fig_sample_efficiency(out: Path):
    df = pd.read_csv(RESULTS / "sample_efficiency_poems-3class.csv")
    fig = Figure(figsize=(10, 3.8))
    axes = fig.subplots(1, 2)
    numbers = {}
    for ax, metric in zip(axes, ("accuracy", "macro_f1")):
        for m in ("ulmfit", "scratch", "tfidf_logreg"):
            s = df[df.method == m].groupby("size")[metric].agg(["mean", "std"])
            ax.errorbar(s.index, s["mean"], yerr=s["std"], marker="o", capsize=3,
                        color=COLOURS[m] if m != "tfidf_logreg" else "#636363", label=METHOD_NAMES[m])  # fmt: skip
            numbers.setdefault(m, {})[metric] = {
                str(k): round(float(v), 3) for k, v in s["mean"].items()
            }
        ax.set_xscale("log")
        ax.set_xticks(sorted(df["size"].unique()), [str(v) for v in sorted(df["size"].unique())])
        ax.set_xlabel("labelled training verses")
        ax.set_title(metric.replace("_", "-"), fontsize=11)
        ax.set_ylim(0, 1)
    axes[0].axhline(0.663, color="#999", ls=":", lw=1)
    axes[0].text(25, 0.68, "always 'no_impact'", fontsize=8, color="#777")
    axes[1].legend(fontsize=9, loc="upper left")
    seeds = int(df[df.method == "ulmfit"].seed.nunique())
    fig.suptitle(f"sample efficiency, 3-class poems: mean ± std over {seeds} seeds", fontsize=11)
    fig.tight_layout()
    return save(fig, out, "sample_efficiency"), numbers


def fig_ensemble(out: Path):
    df = pd.read_csv(RESULTS / "ensemble_poems-3class.csv")
    s = _summary(df, "direction")
    fig = Figure(figsize=(7, 3.2))
    ax = fig.subplots()
    for i, (d, row) in enumerate(s.iterrows()):
        ax.bar(i, row[("macro_f1", "mean")], yerr=row[("macro_f1", "std")], capsize=4,
               color=["#9ecae1", "#c6dbef", "#2c7fb8"][i % 3], edgecolor="#555")  # fmt: skip
        ax.plot([i] * int(row[("macro_f1", "count")]), df[df.direction == d].macro_f1, "k.", ms=5)
    ax.set_xticks(range(len(s)), s.index)
    ax.set_ylim(0.3, 0.8)
    ax.set_ylabel("macro-F1")
    fig.tight_layout()
    numbers = {d: round(float(r[("macro_f1", "mean")]), 3) for d, r in s.iterrows()}
    return save(fig, out, "ensemble"), numbers


# ------------------------------------------------------------------------------- cost on a CPU


def _best_ms(fn, repeats: int = 15) -> float:
    """The fastest of ``repeats`` calls after a warm-up, in ms: on a shared machine the minimum is
    the cost of the work itself, the median mostly the neighbours' load."""
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return min(times)


def bert_base_shaped() -> torch.nn.Module:
    """A BERT-base-shaped encoder with random weights (12 layers, 768 wide, 12 heads, 3072 FF,
    WordPiece vocabulary 30,522, 512 positions): honest for size and CPU time, not for accuracy."""
    torch.manual_seed(0)

    class Bert(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.tok = torch.nn.Embedding(BERT_VOCAB, 768)
            self.pos = torch.nn.Embedding(512, 768)
            self.typ = torch.nn.Embedding(2, 768)
            self.norm = torch.nn.LayerNorm(768)
            layer = torch.nn.TransformerEncoderLayer(
                768, 12, 3072, activation="gelu", batch_first=True, norm_first=False
            )
            self.encoder = torch.nn.TransformerEncoder(layer, 12, enable_nested_tensor=False)
            self.pooler = torch.nn.Linear(768, 768)
            self.head = torch.nn.Linear(768, 3)

        def forward(self, ids):
            pos = torch.arange(ids.size(1))[None]
            h = self.norm(self.tok(ids) + self.pos(pos) + self.typ(torch.zeros_like(ids)))
            h = self.encoder(h)
            return self.head(torch.tanh(self.pooler(h[:, 0])))

    return Bert().eval()


def fig_cost(out: Path, model: ULMFiTClassifier) -> tuple[str, dict]:
    from ulmfit_lesson.predict import TextClassifier

    verse = "and the wind went over the hill where the old trees stand alone in the cold"
    itos = ["xxunk", "xxpad"] + [f"w{i}" for i in range(GENERAL_VOCAB - 2)]
    clf = TextClassifier(model, itos, ["negative", "positive", "no_impact"])
    n_tokens = len(clf.numericalize([verse])[0])
    bert = bert_base_shaped()
    ids = torch.randint(1000, BERT_VOCAB, (1, n_tokens + 2))  # [CLS] ... [SEP]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one core each: comparable, and robust to a busy machine
    try:
        with torch.inference_mode():
            ours_ms = _best_ms(lambda: clf.predict_proba(verse))
            bert_ms = _best_ms(lambda: bert(ids))
    finally:
        torch.set_num_threads(threads)
    ours_params = sum(p.numel() for p in model.parameters())
    bert_params = sum(p.numel() for p in bert.parameters())
    numbers = dict(
        ours_ms=round(ours_ms, 1), bert_ms=round(bert_ms, 1), ours_params=ours_params,
        bert_params=bert_params, tokens=n_tokens, threads=1,
        cpus=os.cpu_count(),
    )  # fmt: skip
    fig = Figure(figsize=(10, 3.2))
    ax1, ax2 = fig.subplots(1, 2)
    names = ["ULMFiT classifier\n(AWD-LSTM)", "BERT-base-shaped\ntransformer"]
    for ax, vals, unit, title in (
        (ax1, [ours_params / 1e6, bert_params / 1e6], "M", "parameters (millions)"),
        (ax2, [ours_ms, bert_ms], " ms", f"CPU time per verse ({n_tokens} tokens, 1 thread; "
                                         "best of 15)"),
    ):  # fmt: skip
        ax.barh([1, 0], vals, color=["#2c7fb8", "#bdbdbd"])
        for y, v in zip([1, 0], vals):
            ax.text(v, y, f" {v:.0f}{unit}", va="center", fontsize=11)
        ax.set_yticks([1, 0], names)
        ax.set_xlim(0, max(vals) * 1.35)
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return save(fig, out, "cost"), numbers


# ------------------------------------------------------------------------------- all of them


def make_figures(out: Path = OUT, use_model: bool = True, log=print) -> dict:
    """Draw every figure into ``out``; return ``{"files": {...}, "numbers": {...}}`` (also written
    to ``out/numbers.json``)."""
    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    numbers: dict = {"bert_base_poems_acc": BERT_BASE_POEMS_ACC}
    files |= fig_stages(out)
    files["lstm_cell"] = fig_lstm_cell(out)
    files["dropout_masks"] = fig_dropout(out)
    files["batches"] = fig_batches(out)
    files["bptt"] = fig_bptt(out)
    files["stlr"] = fig_stlr(out)
    files["discriminative"] = fig_discriminative(out)
    model = classifier_model()
    files["unfreezing"] = fig_unfreezing(out, model)
    files["params"], numbers["params"] = fig_params(out, model)
    files["compare_3class"], numbers["poems3"] = fig_compare(
        out, "compare_poems-3class.csv", "compare_3class", "poems, 3 classes", BERT_BASE_POEMS_ACC
    )
    files["compare_binary"], numbers["binary"] = fig_compare(
        out, "compare_poems-binary.csv", "compare_binary", "poems, happy vs sad"
    )
    files["goemotions"], numbers["goemotions"] = fig_compare(
        out, "compare_goemotions-ekman.csv", "goemotions", "GoEmotions, Ekman's 7 classes"
    )
    files["goemotions_imbalance"], numbers["imbalance"] = fig_imbalance(out)
    files["ablations"], numbers["ablations"] = fig_ablations(out)
    files["sample_efficiency"], numbers["sample_efficiency"] = fig_sample_efficiency(out)
    files["ensemble"], numbers["ensemble"] = fig_ensemble(out)
    log(f"  figures from the package and the CSVs: {time.perf_counter() - start:.0f} s")
    files["cost"], numbers["cost"] = fig_cost(out, model)
    log(f"  CPU cost measured: ours {numbers['cost']['ours_ms']} ms, "
        f"BERT-base-shaped {numbers['cost']['bert_ms']} ms per verse")  # fmt: skip
    demo_numbers = None
    if use_model:
        try:
            from ulmfit_lesson import lm_recipes, pretrained, registry
            from ulmfit_lesson.course import demo

            name = pretrained.course_model()
            missing = [n for n in (name, "poem_sentiment") if not registry.available_locally(n)]
            if missing:  # the build never downloads
                raise FileNotFoundError(f"{', '.join(missing)} not on this machine")
            files["concat_pool"] = fig_concat_pool(out, lm_recipes.load_lm(name))
            result = demo.run_demo(log=None, model_name=name)
            files["contributions"] = fig_contributions(out, result.contributions)
            demo_numbers = dict(
                verse=result.verse, label=result.label, prob=round(result.probs[result.label], 3),
                prompt=result.prompt, before=" ".join(result.before.split()),
                after=" ".join(result.after.split()), model=name,
                seconds=round(sum(result.seconds.values())),
                accuracy=round(result.accuracy or 0.0, 3),
            )  # fmt: skip
        except Exception as err:  # no pretrained LM here (offline, no kit): say so on the slide
            log(f"  note: no pretrained LM ({type(err).__name__}: {err}); model figures skipped")
    if demo_numbers is None:
        why = "needs the pretrained LM: build with ULMFIT_DATA set (the kit)"
        files.setdefault("concat_pool", placeholder(out, "concat_pool", f"concat pooling: {why}"))
        files.setdefault(
            "contributions", placeholder(out, "contributions", f"contributions: {why}")
        )
        demo_numbers = dict(verse="", label="", prob=0, prompt="", before="(not run)",
                            after="(not run)", model="", seconds=0, accuracy=0)  # fmt: skip
    numbers["demo"] = demo_numbers
    numbers["seconds"] = round(time.perf_counter() - start, 1)
    (out / "numbers.json").write_text(json.dumps({"files": files, "numbers": numbers}, indent=1))
    log(f"  {len(files)} figures in {out} ({numbers['seconds']:.0f} s)")
    return {"files": files, "numbers": numbers}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--no-model", action="store_true", help="skip what needs the pretrained LM")
    args = parser.parse_args(argv)
    make_figures(args.out, use_model=not args.no_model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
