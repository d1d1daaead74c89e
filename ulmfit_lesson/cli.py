"""The command line: ``python -m ulmfit_lesson <command>`` (or ``ulmfit-lesson <command>``).

Language-model commands (this module)::

    pretrain      stage 1: train an LM from scratch (also data-parallel under torchrun)
    finetune-lm   stage 2: fine-tune a pretrained LM on your texts (or --dataset poem_sentiment)
    evaluate-lm   loss / accuracy / perplexity of an LM on a corpus
    generate      continue a prompt with an LM

How commands are added: each module in ``SUBCOMMAND_MODULES`` has a ``register(subparsers)``
function that adds its subparsers and stores a handler ``func(args) -> exit code`` on each. A module
in the list that does not exist (yet) is skipped, so another stage's commands (``train-classifier``,
``predict``) appear as soon as its module is written.

Errors: an expected failure (a bad file or argument, a damaged checkpoint, a missing or unwritable
path, a full disk) prints ``error: <one paragraph>`` and exits 1; a usage error exits 2; Ctrl-C (and
SIGTERM while training) 130. ``--debug``, before or after the command, shows the traceback instead
(``run_command``). Argument ranges are checked by argparse (``at_least``) before anything loads.

Data-parallel pretraining on 2 GPUs (or CPU processes: gloo)::

    torchrun --standalone --nproc_per_node=2 -m ulmfit_lesson pretrain --corpus general_corpus ...
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

SUBCOMMAND_MODULES = (
    "ulmfit_lesson.cli",  # pretrain, finetune-lm, evaluate-lm, generate
    "ulmfit_lesson.cli_classifier",  # train-classifier, predict (stage 3)
    "ulmfit_lesson.course.cli_workshop",  # doctor, pack-kit, unpack-kit
)
CORPUS_NAMES = ("general_corpus", "poem_sentiment", "goemotions")


# ---------------------------------------------------------------------------------------------------
# Reading texts
# ---------------------------------------------------------------------------------------------------


def read_texts(source: str, split: str = "train", text_col: str = "text") -> list[str]:
    """Texts from a registry dataset name or a file.

    ``general_corpus`` / ``poem_sentiment`` / ``goemotions`` (``split``: train / valid (dev) / test);
    a ``.csv``, ``.tsv``, ``.json`` or ``.jsonl`` file (its column ``text_col``); a ``.txt`` file (one
    document per non-empty line); or a folder (each non-empty ``*.txt`` file one document).
    Raises ``FileNotFoundError`` / ``ValueError`` naming the file: missing, not UTF-8, no text.
    """
    from . import datasets

    if source in CORPUS_NAMES:
        if source == "general_corpus":
            return datasets.load_general_corpus(split)["text"].tolist()
        if source == "poem_sentiment":
            return datasets.load_poem_sentiment(split, view="all")["text"].tolist()
        return datasets.load_goemotions(split, view="multilabel")["text"].tolist()
    path = Path(source)
    if path.is_dir():
        files = sorted(path.glob("*.txt"))
        if not files:
            raise FileNotFoundError(f"{path} holds no .txt files")
        texts = [datasets.decode_utf8(f) for f in files]  # a non-UTF-8 file is named
    elif not path.is_file():
        raise FileNotFoundError(
            f"{source!r} is neither a dataset name ({', '.join(CORPUS_NAMES)}) nor a file or folder"
        )
    elif path.suffix.lower() == ".txt":
        texts = datasets.decode_utf8(path).splitlines()
    else:
        return datasets.read_table(path, text_col)["text"].tolist()
    texts = [t for t in texts if t.strip()]  # blank lines and empty files hold no document
    if not texts:
        raise ValueError(f"{path} holds no text (empty or only whitespace)")
    return texts


def or_course_model(source: str | None) -> str:
    """``source``, or the course's pretrained LM when none was given (``pretrained.course_model``:
    general-fwd where present, else fastai's wt103-fwd). Imported late: ``--help`` needs no torch."""
    from .pretrained import course_model

    return source or course_model()


def bytes_needed(pretrained, n_models: int) -> int:
    """A rough bound on the bytes a run writes: ``n_models`` float32 copies of the pretrained model.

    An archive is compressed and often float16 (the course's and fastai's are): 2.7 times its size
    per copy; a checkpoint or folder its size per copy, plus a third for new words and the run's
    other files; a registry name not on disk: the course models' ~200 MB per copy.
    """
    path = Path(str(pretrained))
    if path.is_file():
        per_model = path.stat().st_size * (2.7 if path.name.endswith(_ARCHIVES) else 1.33)
    elif path.is_dir():
        per_model = 1.33 * sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    else:
        per_model = 200 * 2**20
    return int(n_models * per_model)


_ARCHIVES = (".tgz", ".tar.gz", ".tar", ".zip")


def _check_writable_file(path: str, option: str) -> None:
    """Refuse an output file that is a folder or whose folder is missing or read-only."""
    import os

    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(f"{option} {target} is a folder; give a file name")
    folder = target.absolute().parent
    if not folder.is_dir():
        raise FileNotFoundError(f"{option} {target}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise PermissionError(f"{option} {target}: cannot write there (permission denied)")


def _print_metrics(title: str, metrics) -> None:
    if metrics is None:
        return
    print(
        f"{title}: loss {metrics.loss:.4f}  accuracy {metrics.accuracy:.4f}  "
        f"perplexity {metrics.perplexity:.2f}  ({metrics.n_tokens:,} tokens)"
    )


# ---------------------------------------------------------------------------------------------------
# Handlers
# ---------------------------------------------------------------------------------------------------


def _pretrain(args: argparse.Namespace) -> int:
    from .checkpoint import check_output_dir
    from .distributed import init_distributed
    from .lm_recipes import pretrain_lm

    # Not a whole run: --resume continues from OUT/train_state.pt in place. But a file or an
    # unwritable folder is found now, not after the first epoch.
    check_output_dir(args.out, overwrite=True)
    rank, world, device = init_distributed(args.device)
    texts = read_texts(args.corpus, "train", args.text_col)
    valid_source = args.valid or (args.corpus if args.corpus == "general_corpus" else None)
    valid = read_texts(valid_source, "valid", args.text_col) if valid_source else None
    result = pretrain_lm(
        texts, valid, epochs=args.epochs, bs=args.bs, bptt=args.bptt, lr=args.lr,
        schedule=args.schedule, wd=args.wd, drop_mult=args.drop_mult, emb_size=args.emb_size,
        hidden_size=args.hidden_size, n_layers=args.n_layers, min_freq=args.min_freq,
        max_vocab=args.max_vocab, max_tokens=args.max_tokens, backwards=args.backwards,
        device=str(device), amp=args.amp, out_dir=args.out, resume=args.resume,
        save_every=args.save_every, seed=args.seed, progress=not args.no_progress,
    )  # fmt: skip
    if rank == 0:
        print(f"vocabulary: {len(result.vocab.itos):,} tokens; processes: {world}")
        _print_metrics("valid before", result.before)
        _print_metrics("valid after", result.after)
        print(
            f"wrote {args.out}/lm.pt, encoder.pt, vocab.json, metrics.json ({result.seconds:.0f} s)"
        )
    if world > 1:
        import torch.distributed as dist

        dist.destroy_process_group()
    return 0


def _finetune_lm(args: argparse.Namespace) -> int:
    args.pretrained = or_course_model(args.pretrained)
    from . import checkpoint as ckpt
    from .lm_recipes import finetune_lm

    if not args.dataset and not args.train:
        raise UsageError("give --train FILE (with --text-col) or --dataset NAME")
    out = ckpt.check_output_dir(args.out, args.overwrite)  # before reading or loading anything
    if args.dataset:
        texts = read_texts(args.dataset, "train")
        valid = read_texts(args.dataset, "dev") if args.valid is None else None
    else:
        texts, valid = read_texts(args.train, "train", args.text_col), None
    if args.valid:
        valid = read_texts(args.valid, "dev", args.text_col)
    needed = bytes_needed(args.pretrained, n_models=2)  # lm.pt and encoder.pt
    ckpt.check_free_space(out.absolute().parent, needed, "the fine-tuned language model")
    with ckpt.whole_run(out, args.overwrite) as tmp:  # an interrupted run leaves --out as it was
        result = finetune_lm(
            args.pretrained, texts, valid, frozen_epochs=args.frozen_epochs,
            frozen_lr=args.frozen_lr, epochs=args.epochs, lr=args.lr, schedule=args.schedule,
            bs=args.bs, bptt=args.bptt, valid_bs=args.valid_bs, wd=args.wd,
            drop_mult=args.drop_mult, min_freq=args.min_freq, max_tokens=args.max_tokens,
            backwards=args.backwards, device=args.device, amp=args.amp, out_dir=tmp,
            seed=args.seed, progress=not args.no_progress,
        )  # fmt: skip
    print(
        f"vocabulary: {len(result.vocab.itos):,} tokens "
        f"({result.settings['new_words']:,} new words with count >= {args.min_freq})"
    )
    for key, rate in result.unk_rates.items():
        print(f"unknown-token rate, {key.replace('_', ' ')}: {rate:.2%}")
    _print_metrics("valid before", result.before)
    _print_metrics("valid after", result.after)
    print(f"wrote {args.out}/lm.pt, encoder.pt, vocab.json, metrics.json ({result.seconds:.0f} s)")
    return 0


def _evaluate_lm(args: argparse.Namespace) -> int:
    args.model = or_course_model(args.model)
    from .distributed import resolve_device
    from .lm_recipes import cap_tokens, load_lm, unk_rate
    from .tokenizer import tokenize_texts
    from .train import evaluate_lm
    from .vocab import Vocab

    if args.json:  # found now, not after evaluating
        _check_writable_file(args.json, "--json")
    start = time.time()
    model, itos = load_lm(args.model)
    device = resolve_device(args.device)
    texts = read_texts(args.corpus, args.split, args.text_col)
    tokens = cap_tokens(tokenize_texts(texts), args.max_tokens)
    vocab = Vocab(itos)
    import torch

    ids = [torch.as_tensor(vocab.numericalize(d), dtype=torch.long) for d in tokens]
    if args.backwards:
        ids = [d.flip(0) for d in ids]
    metrics = evaluate_lm(model.to(device), ids, bs=args.bs, bptt=args.bptt, amp=args.amp)
    seconds = time.time() - start
    if metrics.loss != metrics.loss or metrics.loss in (float("inf"), float("-inf")):
        raise ValueError(  # a NaN perplexity printed as a result would look like one
            f"{args.model} gave a NaN or infinite loss on {args.corpus}; its weights are damaged "
            "or diverged. Nothing is reported."
        )
    _print_metrics(f"{args.model} on {args.corpus} ({args.split})", metrics)
    print(
        f"unknown-token rate: {unk_rate(tokens, itos):.2%}; wall time {seconds:.0f} s on {device}"
    )
    if args.json:
        out = {**metrics.as_dict(), "model": str(args.model), "corpus": args.corpus,
               "split": args.split, "bs": args.bs, "bptt": args.bptt, "seconds": seconds}  # fmt: skip
        Path(args.json).write_text(json.dumps(out, indent=2, allow_nan=False), encoding="utf-8")
    return 0


def _generate(args: argparse.Namespace) -> int:
    args.model = or_course_model(args.model)
    from .distributed import resolve_device
    from .generate import generate
    from .lm_recipes import load_lm

    if not args.prompt.strip():
        raise UsageError("the prompt is empty; give the start of a text, e.g. 'The king'")
    model, itos = load_lm(args.model)
    model = model.to(resolve_device(args.device))
    for i in range(args.n_samples):
        seed = None if args.seed is None else args.seed + i
        print(
            generate(
                model,
                itos,
                args.prompt,
                n_words=args.n_words,
                temperature=args.temperature,
                top_k=args.top_k,
                seed=seed,
            )  # fmt: skip
        )
    return 0


# ---------------------------------------------------------------------------------------------------
# Parsers
# ---------------------------------------------------------------------------------------------------


def _add_device_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device",
        default="auto",
        help="'auto' (a GPU if there is one, else the CPU), 'cpu', 'cuda', 'cuda:1', ...",
    )
    p.add_argument("--amp", choices=["bf16", "fp16"], default=None,
                   help="mixed precision on a GPU (bf16 needs Ampere or newer); default float32")  # fmt: skip


def _add_training_args(p: argparse.ArgumentParser, epochs: int, lr: float, drop_mult: float,
                       schedule: str, wd: float, lr_help: str = "peak learning rate") -> None:  # fmt: skip
    p.add_argument("--epochs", type=at_least(1), default=epochs, help=f"epochs (default {epochs})")
    p.add_argument(
        "--bs",
        type=at_least(1),
        default=64,
        help="batch size = parallel token streams (ULMFiT: 64); per process under torchrun",
    )
    p.add_argument(
        "--bptt",
        type=at_least(1),
        default=70,
        help="base BPTT window, varied around it per batch (ULMFiT: 70)",
    )
    p.add_argument(
        "--lr", type=at_least(0.0, float, strict=True), default=lr, help=f"{lr_help} (default {lr})"
    )
    p.add_argument(
        "--schedule",
        choices=["stlr", "one_cycle", "constant"],
        default=schedule,
        help=f"LR schedule: slanted triangular (ULMFiT), fastai one-cycle, constant "
        f"(default {schedule})",
    )
    p.add_argument(
        "--wd", type=at_least(0.0, float), default=wd, help=f"decoupled weight decay (default {wd})"
    )
    p.add_argument(
        "--drop-mult",
        type=at_least(0.0, float),
        default=drop_mult,
        help=f"multiplies every AWD-LSTM dropout (default {drop_mult})",
    )
    p.add_argument(
        "--min-freq",
        type=at_least(1),
        default=3,
        help="keep words seen at least this often in the vocabulary (default 3)",
    )
    p.add_argument(
        "--max-tokens",
        type=at_least(1),
        default=None,
        help="use only the first N tokens of the training (and validation) texts: quick runs",
    )
    p.add_argument(
        "--out", required=True, help="folder for lm.pt, encoder.pt, vocab.json, metrics.json"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_device_args(p)  # fmt: skip


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``pretrain``, ``finetune-lm``, ``evaluate-lm`` and ``generate``."""
    p = subparsers.add_parser(
        "pretrain", help="stage 1: train an AWD-LSTM language model from scratch",
        description="Stage 1 of ULMFiT (general-domain LM pretraining). Runs data-parallel under "
        "torchrun (gloo on CPUs, NCCL on GPUs): every process reads the same batches and keeps "
        "its share of the streams; rank 0 writes the files.",
    )  # fmt: skip
    p.add_argument("--corpus", default="general_corpus",
                   help="'general_corpus' or a file (.txt: one document per line; .csv/.tsv/.jsonl: "
                   "column --text-col) or a folder of .txt files")  # fmt: skip
    p.add_argument(
        "--valid",
        default=None,
        help="validation texts (default: general_corpus's valid split when --corpus is it)",
    )
    p.add_argument(
        "--text-col", default="text", help="text column of a table file (default 'text')"
    )
    p.add_argument("--emb-size", type=at_least(1), default=400, help="embedding size (ULMFiT: 400)")
    p.add_argument(
        "--hidden-size", type=at_least(1), default=1152, help="LSTM hidden size (fastai: 1152)"
    )
    p.add_argument("--n-layers", type=at_least(1), default=3, help="LSTM layers (ULMFiT: 3)")
    p.add_argument(
        "--max-vocab", type=at_least(1), default=60000, help="vocabulary cap (default 60,000)"
    )
    p.add_argument(
        "--backwards",
        action="store_true",
        help="train the backwards LM (each document reversed), ULMFiT §3.3",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUT/train_state.pt if an earlier run was interrupted",
    )
    p.add_argument(
        "--save-every",
        type=at_least(1),
        default=None,
        help="also save OUT/train_state.pt every N steps, not only after each epoch",
    )
    _add_training_args(p, epochs=1, lr=5e-3, drop_mult=1.0, schedule="one_cycle", wd=0.1)
    p.set_defaults(func=_pretrain)

    p = subparsers.add_parser(
        "finetune-lm", help="stage 2: fine-tune a pretrained LM on the target texts",
        description="Stage 2 of ULMFiT: extend the pretrained vocabulary with the target texts' "
        "words (count >= --min-freq), transfer the embeddings, train the embeddings + decoder for "
        "--frozen-epochs, then all layers with discriminative LRs (/2.6 per group) and STLR.",
    )  # fmt: skip
    p.add_argument("--pretrained", default=None,
                   help="registry name (wt103-fwd, general-fwd), fastai folder/archive, or our "
                   "checkpoint (lm.pt or its folder); default: the course's model, general-fwd where "
                   "present, else fastai's wt103-fwd (downloaded once)")  # fmt: skip
    p.add_argument("--train", default=None, help="training texts: a .csv/.tsv/.jsonl/.txt file")
    p.add_argument("--valid", default=None, help="validation texts (same formats)")
    p.add_argument("--text-col", default="text", help="text column of the files (default 'text')")
    p.add_argument("--dataset", choices=["poem_sentiment", "goemotions"], default=None,
                   help="shortcut: the dataset's train split for training, its dev split for "
                   "validation (never the test split)")  # fmt: skip
    p.add_argument(
        "--frozen-epochs",
        type=at_least(0),
        default=1,
        help="epochs training only embeddings + decoder first (default 1)",
    )
    p.add_argument(
        "--frozen-lr",
        type=at_least(0.0, float, strict=True),
        default=2e-2,
        help="peak LR of the frozen epochs (default 2e-2, fastbook)",
    )
    p.add_argument(
        "--valid-bs",
        type=at_least(1),
        default=None,
        help="streams for validation (default --bs; fewer suits a small held-out set)",
    )
    p.add_argument(
        "--backwards",
        action="store_true",
        help="read each text reversed, for a backwards pretrained LM such as general-bwd",
    )
    _add_training_args(p, epochs=4, lr=4e-3, drop_mult=0.3, schedule="stlr", wd=0.01,
                       lr_help="peak LR of the top layer group after unfreezing; each lower group "
                       "gets 2.6x less (ULMFiT: 0.004)")  # fmt: skip
    p.add_argument("--overwrite", action="store_true",
                   help="replace the earlier run in --out (as a whole, when this run finishes)")  # fmt: skip
    p.set_defaults(func=_finetune_lm)

    p = subparsers.add_parser(
        "evaluate-lm", help="loss, accuracy and perplexity of an LM on a corpus",
        description="Evaluate on fixed-length windows with the hidden state carried (no dropout). "
        "Defaults bs 128, bptt 72 are the layout fastai used for the general-* models' figures.",
    )  # fmt: skip
    p.add_argument(
        "--model",
        default=None,
        help="registry name, fastai folder/archive, or our checkpoint (lm.pt or folder); "
        "default: the course's model (general-fwd where present, else wt103-fwd)",
    )
    p.add_argument("--corpus", default="general_corpus", help="dataset name or file (see pretrain)")
    p.add_argument("--split", default="valid", help="train / valid (dev) / test (default valid)")
    p.add_argument("--text-col", default="text", help="text column of a table file")
    p.add_argument("--bs", type=at_least(1), default=128, help="parallel streams (default 128)")
    p.add_argument("--bptt", type=at_least(1), default=72, help="window length (default 72)")
    p.add_argument("--max-tokens", type=at_least(1), default=None, help="only the first N tokens")
    p.add_argument("--backwards", action="store_true", help="reverse each document (backward LMs)")
    p.add_argument("--json", default=None, help="also write the metrics to this JSON file")
    _add_device_args(p)
    p.set_defaults(func=_evaluate_lm)

    p = subparsers.add_parser("generate", help="continue a prompt with a language model")
    p.add_argument("prompt", help="the start of the text, e.g. 'The king'")
    p.add_argument(
        "--model",
        default=None,
        help="registry name, fastai folder/archive, or our checkpoint (lm.pt or folder); "
        "default: the course's model (general-fwd where present, else wt103-fwd)",
    )
    p.add_argument(
        "--n-words", type=at_least(1), default=30, help="tokens to generate (default 30)"
    )
    p.add_argument(
        "--temperature",
        type=at_least(0.0, float),
        default=0.75,
        help="<1 safer, >1 wilder, 0 greedy (default 0.75, as fastbook)",
    )
    p.add_argument(
        "--top-k", type=at_least(1), default=None, help="sample among the k most likely only"
    )
    p.add_argument(
        "--n-samples", type=at_least(1), default=1, help="how many continuations (default 1)"
    )
    p.add_argument("--seed", type=int, default=None, help="seed (sample i uses seed + i)")
    p.add_argument("--device", default="auto", help="'auto', 'cpu', 'cuda', ...")
    p.set_defaults(func=_generate)


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m ulmfit_lesson`` parser with every available module's subcommands."""
    from . import __version__

    # Usage lines name the command as it was typed: the `ulmfit-lesson` console script, or
    # `python -m ulmfit_lesson` (argparse alone would print `__main__.py` for the latter).
    script = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    parser = argparse.ArgumentParser(
        prog="ulmfit-lesson" if script.startswith("ulmfit-lesson") else "python -m ulmfit_lesson",
        description="ULMFiT (Howard & Ruder 2018), stage by stage.",
    )
    parser.add_argument("--version", action="version", version=f"ulmfit-lesson {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:  # not written (yet): its commands are simply absent
                continue
            raise
        module.register(subparsers)
    return parser


def add_debug_flag(parser: argparse.ArgumentParser) -> None:
    """``--debug`` on ``parser`` and on each of its subcommands (either place works)."""
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    for action in parser._subparsers._group_actions if parser._subparsers else []:
        for sub in action.choices.values():
            sub.add_argument(
                "--debug",
                action="store_true",
                default=argparse.SUPPRESS,  # keep a --debug given before the command
                help="show the traceback of an error",
            )


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; expected failures print one paragraph and exit 1 (see ``run_command``)."""
    parser = build_parser()
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return run_command(args)


# ---------------------------------------------------------------------------------------------------
# Errors: what a user sees
# ---------------------------------------------------------------------------------------------------


class UsageError(ValueError):
    """A command line asking for something impossible (empty text, contradictory options): exit 2,
    as argparse's own usage errors."""


def at_least(minimum: float, kind: type = int, strict: bool = False):
    """An argparse ``type`` accepting ``kind`` values >= ``minimum`` (> with ``strict``): a range
    error then is a usage error (exit 2) before anything is loaded, not a crash minutes later."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'}, got {text!r}"
            ) from None
        if value != value or value in (float("inf"), float("-inf")):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if value < minimum or (strict and value == minimum):
            raise argparse.ArgumentTypeError(
                f"must be {'>' if strict else '>='} {minimum}, got {text}"
            )
        return value

    parse.__name__ = kind.__name__
    return parse


def _oserror_message(err: OSError) -> str:
    """``[Errno 13] Permission denied: 'x'`` as ``x: permission denied``, plus what to do."""
    import errno

    if err.errno is None or not err.strerror:
        return str(err)  # one of ours: the message already names the path
    where = err.filename or "a file"
    if err.errno == errno.ENOSPC:
        return f"{where}: the disk is full; free some space and run again"
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{where}: {err.strerror.lower()}; choose a location you can write to (or read)"
    return f"{where}: {err.strerror}"


def expected_error_message(err: BaseException) -> str | None:
    """The message a user gets for an expected failure, or ``None`` for a bug (a traceback).

    Expected: bad inputs and files (``ValueError``, its subclasses such as ``CheckpointError``),
    files missing, unwritable or full disks (``OSError``), broken archives, out of GPU memory.
    """
    import pickle
    import tarfile
    import zipfile

    if type(err).__name__ == "OutOfMemoryError":  # torch.OutOfMemoryError, without importing torch
        return f"out of memory on the device: lower --bs (or use --device cpu). ({err})"
    if isinstance(err, OSError):
        return _oserror_message(err)
    if isinstance(err, (ValueError, tarfile.TarError, zipfile.BadZipFile, pickle.UnpicklingError)):
        return str(err)
    return None


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line, ``warning: ...``, not Python's file:line: Category: form."""
    print(f"warning: {message}", file=sys.stderr)


def run_command(args: argparse.Namespace) -> int:
    """Call ``args.func(args)``; map expected errors to a message and an exit code.

    0 success; 1 an expected failure (one paragraph on stderr, no traceback); 2 a usage error;
    130 Ctrl-C or SIGTERM during training. ``--debug`` re-raises, so the traceback shows.
    """
    import warnings

    from .interrupt import sigterm_as_keyboard_interrupt

    debug = getattr(args, "debug", False)
    # SIGTERM as Ctrl-C for the whole command, not only inside training loops: a run killed while
    # loading or evaluating also unwinds, and whole_run removes its temporary folder.
    with warnings.catch_warnings(), sigterm_as_keyboard_interrupt():
        warnings.showwarning = _show_warning
        try:
            return args.func(args)
        except UsageError as err:
            if debug:
                raise
            print(f"error: {err}", file=sys.stderr)
            return 2
        except KeyboardInterrupt as err:  # Ctrl-C; while training SIGTERM too
            if debug:
                raise
            print(f"\ninterrupted{': ' + str(err) if str(err) else ''}", file=sys.stderr)
            return 130  # the shell's code for "stopped by Ctrl-C" (128 + SIGINT)
        except Exception as err:
            message = expected_error_message(err)
            if message is None or debug:
                raise
            print(f"error: {message}\n(run with --debug to see the traceback)", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
