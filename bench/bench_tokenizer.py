"""Tokens per second: ulmfit_lesson's tokenizer vs fastai's, on the whole general corpus.

Both tokenize every document of ``general_corpus`` (train + valid, about 3.8M fastai tokens) in the
same process, so they see the same machine. Contestants:

- ``ulmfit_lesson.tokenize_texts``: fastai's rules + our regex word splitter, one process,
  starting from an empty chunk cache each round;
- fastai ``tokenize_texts(docs, n_workers=0)``: fastai's rules + spaCy ``WordTokenizer`` through
  ``TokenizeWithRules``, one process;
- fastai ``tokenize_texts(docs)``: the same with fastai's default ``n_workers=defaults.cpus``
  worker processes, which is what ``TextBlock``/``tokenize_df`` do for a fastai user.

Rounds are interleaved (ours, fastai x1, fastai parallel, ours, ...); the best round of each is
reported. It also reports how many token positions agree (``tokenizer.token_agreement``), and
writes the table to ``bench/results/tokenizer.md``.

Run with a separate reference environment that has fastai (it imports fastai and spaCy; the
package's own venv has neither), from the repo root. Create that environment once (any folder will
do):

    python -m venv /tmp/fastai-env && /tmp/fastai-env/bin/pip install torch==2.14.1 torchvision==0.29.1 fastai==2.8.12

then:

    /tmp/fastai-env/bin/python bench/bench_tokenizer.py            # whole corpus, 1 round
    /tmp/fastai-env/bin/python bench/bench_tokenizer.py --docs 40 --rounds 2 --no-write
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from ulmfit_lesson import tokenizer as ours  # noqa: E402
from ulmfit_lesson import word_split  # noqa: E402

CORPUS = REPO_ROOT.parent / "shared" / "data" / "general_corpus"
RESULTS = REPO_ROOT / "bench" / "results" / "tokenizer.md"


def machine() -> str:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(
            line.split(":", 1)[1].strip() for line in lscpu.splitlines() if "Model name" in line
        )
    except (OSError, subprocess.CalledProcessError, StopIteration):
        model = platform.processor() or "unknown CPU"
    import os

    return f"{model}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=0, help="only the first N documents (0: all)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS.name}")
    args = parser.parse_args()

    import fastai
    import spacy
    from fastai.text.core import WordTokenizer, defaults
    from fastai.text.core import tokenize_texts as fastai_tokenize_texts

    docs = []
    for split in ["train", "valid"]:
        for line in (CORPUS / f"{split}.jsonl").read_text(encoding="utf-8").splitlines():
            docs.append(json.loads(line)["text"])
    if args.docs:
        docs = docs[: args.docs]

    def run_ours():
        word_split._CHUNK_CACHE.clear()  # cold cache: count the cost of splitting every new chunk
        return ours.tokenize_texts(docs)

    word_tok = WordTokenizer()
    contestants = {
        "ulmfit_lesson `tokenize_texts` (1 process)": run_ours,
        "fastai `tokenize_texts(n_workers=0)` (1 process, spaCy)": lambda: [
            list(t) for t in fastai_tokenize_texts(docs, n_workers=0, tok=word_tok)
        ],
        f"fastai `tokenize_texts()` (default n_workers={defaults.cpus} processes, spaCy)": lambda: [
            list(t) for t in fastai_tokenize_texts(docs)
        ],
    }
    best: dict[str, float] = {}  # wall-clock seconds
    best_cpu: dict[str, float] = {}  # CPU seconds of this process (less sensitive to load)
    outputs: dict[str, list[list[str]]] = {}
    for r in range(args.rounds):
        for name, fn in contestants.items():
            t0, c0 = time.perf_counter(), time.process_time()
            outputs[name] = fn()
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            best[name] = min(dt, best.get(name, float("inf")))
            best_cpu[name] = min(dc, best_cpu.get(name, float("inf")))
            print(f"round {r + 1}: {name}: {dt:.1f} s wall, {dc:.1f} s CPU", flush=True)

    names = list(contestants)
    n_tokens = sum(len(t) for t in outputs[names[1]])  # fastai's count is the reference
    matched, total = ours.token_agreement(outputs[names[1]], outputs[names[0]])
    same_docs = sum(a == b for a, b in zip(outputs[names[1]], outputs[names[0]]))
    fastest_fastai = min(best[n] for n in names[1:])

    lines = [
        "# Tokenizer benchmark",
        "",
        f"- date: {datetime.date.today().isoformat()}",
        f"- machine: {machine()} (shared with other jobs: compare rows of one run only)",
        f"- python {platform.python_version()}, fastai {fastai.__version__}, spaCy {spacy.__version__}",
        f"- corpus: general_corpus train+valid, {len(docs)} documents, {n_tokens:,} fastai tokens; "
        f"best of {args.rounds} interleaved round(s)",
        f"- command: `python bench/bench_tokenizer.py"
        f"{' --docs ' + str(args.docs) if args.docs else ''} --rounds {args.rounds}`",
        "",
        "| tokenizer | wall s | tokens/s (wall) | speed vs fastest fastai (wall) "
        "| CPU s, this process | tokens/CPU s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        parallel = name == names[2]  # its work happens in child processes
        cpu = "n/a (workers)" if parallel else f"{best_cpu[name]:.1f}"
        cpu_rate = "n/a" if parallel else f"{n_tokens / best_cpu[name]:,.0f}"
        lines.append(
            f"| {name} | {best[name]:.1f} | {n_tokens / best[name]:,.0f} "
            f"| {fastest_fastai / best[name]:.2f}x | {cpu} | {cpu_rate} |"
        )
    lines += [
        "",
        f"Agreement with fastai: {matched:,} of {total:,} token positions "
        f"({100 * matched / total:.4f}%); {same_docs} of {len(docs)} documents identical. "
        "(Per document, difflib.SequenceMatcher matches counted out of the longer token list.)",
        "",
        "Wall-clock times depend on what else the machine runs; CPU seconds of the one-process "
        "contestants are the steadier comparison. Our tokenizer starts each round with an empty "
        "chunk cache.",
    ]
    table = "\n".join(lines) + "\n"
    print(table)
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(table, encoding="utf-8")
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
