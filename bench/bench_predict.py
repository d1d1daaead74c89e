"""How long ``predict`` takes on one long text: 1 KB, 10 KB, 100 KB and 1 MB of English.

Issue 20 measured 76 s for one 100 KB text on the 2-core CPU. Where the time goes: at batch size 1
every LSTM step multiplies the hidden state by each layer's recurrent weights, so each token reads
all of them (about 45 MB for the 1152-unit AWD-LSTM) from memory. Tokenizing is about 1% of it.
``bpt3c_encode`` (training) reads 70-token chunks, three LSTM calls per chunk, each with a fixed
cost (kernel set-up, oneDNN's weight repacking); inference now reads segments of up to 32 chunks
(``predict.encode_for_inference``), which computes the same numbers.

For each size this reports, for the course's pretrained encoder (``general-fwd``, a 2-class head
on top; the head's weights do not change the time):

- ``tokenize``: tokenizer + vocabulary;
- ``predict``: ``TextClassifier.predict_proba`` end to end, and its tokens per second;
- ``chunked``: the same through ``predict.predict_logits`` (70-token chunks: the old path);
- ``one pass``: the bare encoder over all the ids in a single call, the floor ("one forward
  pass"); not run at 1 MB, where one call would hold every activation at once (GBs).

Run from the repo root (``ULMFIT_DATA`` must find ``general-fwd`` and ``general_corpus``)::

    .venv/bin/python bench/bench_predict.py                  # all sizes, writes the results file
    .venv/bin/python bench/bench_predict.py --sizes 1000 10000 --no-write --threads 2
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import torch  # noqa: E402

from ulmfit_lesson import registry  # noqa: E402
from ulmfit_lesson.clas_loader import ClasLoader  # noqa: E402
from ulmfit_lesson.classifier import build_classifier  # noqa: E402
from ulmfit_lesson.predict import TextClassifier, predict_logits  # noqa: E402
from ulmfit_lesson.pretrained import load_fastai_lm  # noqa: E402

RESULTS = REPO_ROOT / "bench" / "results" / "predict.md"
SIZES = (1_000, 10_000, 100_000, 1_000_000)
ONE_PASS_MAX = 100_000  # bytes: beyond, one call over every token needs GBs of activations
CHUNKED_MAX = 100_000  # bytes: the old path at 1 MB would take many minutes on a small CPU


def corpus_text(n_chars: int) -> str:
    """The first ``n_chars`` characters of the general corpus (valid, then train), one text."""
    texts, total = [], 0
    for split in ("valid", "train"):
        with open(registry.fetch_file("general_corpus", f"{split}.jsonl"), encoding="utf-8") as f:
            for line in f:
                texts.append(json.loads(line)["text"])
                total += len(texts[-1]) + 1
                if total >= n_chars:
                    return " ".join(texts)[:n_chars]
    raise ValueError(f"the corpus holds only {total:,} characters, fewer than {n_chars:,}")


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def bench_one(clf: TextClassifier, n_chars: int, chunked: bool) -> dict:
    text = corpus_text(n_chars)
    t_tok, ids = timed(lambda: clf.numericalize([text])[0])
    n = len(ids)
    t_pred, probs = timed(lambda: clf.predict_proba([text]))
    row = {"bytes": len(text.encode("utf-8")), "tokens": n, "tokenize_s": t_tok,
           "predict_s": t_pred, "tokens_per_s": n / t_pred}  # fmt: skip
    if n_chars <= ONE_PASS_MAX:
        with torch.no_grad():
            row["one_pass_s"] = timed(lambda: clf.model.encoder(ids[None]))[0]
    if chunked and n_chars <= CHUNKED_MAX:
        loader = ClasLoader([ids], bs=1, bptt=clf.model.bptt)
        row["chunked_s"], old = timed(lambda: predict_logits(clf.model, loader))
        row["max_prob_diff"] = float((clf.probabilities(old).cpu() - probs).abs().max())
    return row


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{cpu}, {os.cpu_count()} logical CPUs, torch {torch.__version__} with "
            f"{torch.get_num_threads()} thread(s), Python {platform.python_version()}")  # fmt: skip


def fmt(value, spec=".2f") -> str:
    return "-" if value is None else format(value, spec)


def table(rows: list[dict]) -> str:
    lines = [
        "| text | tokens | tokenize (s) | predict (s) | tokens/s | chunked, old path (s) "
        "| one pass, floor (s) | predict / one pass |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = r["predict_s"] / r["one_pass_s"] if r.get("one_pass_s") else None
        lines.append(
            f"| {r['bytes'] / 1000:,.0f} KB | {r['tokens']:,} | {r['tokenize_s']:.3f} "
            f"| {r['predict_s']:.2f} | {r['tokens_per_s']:,.0f} | {fmt(r.get('chunked_s'))} "
            f"| {fmt(r.get('one_pass_s'))} | {fmt(ratio)} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="characters")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default torch's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-chunked", action="store_true", help="skip the old path")
    parser.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS}")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    lm, itos = load_fastai_lm("general-fwd")
    clf = TextClassifier(build_classifier(lm, 2, vocab=itos).eval(), itos, ["neg", "pos"])
    clf.model.to(args.device)
    clf.predict_proba(["warm up the kernels"])
    rows = []
    for n_chars in args.sizes:
        rows.append(bench_one(clf, n_chars, not args.no_chunked))
        print(json.dumps(rows[-1]), flush=True)
    diffs = [r["max_prob_diff"] for r in rows if "max_prob_diff" in r]
    report = (
        f"# `predict` on one long text\n\n"
        f"Made by `bench/bench_predict.py` on {datetime.date.today()} "
        f"({args.device}): {machine()}.\n\n{table(rows)}\n\n"
        "`predict`: `TextClassifier.predict_proba([text])` end to end (tokenizing included), "
        "`general-fwd`'s encoder with a 2-class head. `chunked`: the same model through "
        "`predict.predict_logits` (BPT3C's 70-token chunks, the path `predict` took before "
        "issue 20). `one pass`: the bare encoder over all the ids in a single call, the floor.\n"
    )
    if diffs:
        report += f"\nLargest probability difference, segments vs chunks: {max(diffs):.1e}.\n"
    print(report)
    if not args.no_write:
        RESULTS.write_text(report, encoding="utf-8")
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
