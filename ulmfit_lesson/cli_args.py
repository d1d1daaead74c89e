"""What the command modules share: argument types and options, reading texts, the default model.

``cli_lm.py`` and ``cli_classifier.py`` define the commands, ``cli.py`` puts them together; this
module holds what both need, so that neither imports the other. Nothing here imports torch: the
commands' ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

CORPUS_NAMES = ("general_corpus", "poem_sentiment", "goemotions")
ARCHIVES = (".tgz", ".tar.gz", ".tar", ".zip")
# Stage 2's default epoch count, as schedules.finetune_epochs computes it (round(150,000 / tokens)).
FINETUNE_EPOCHS_DEFAULT = "4 under about 43,000 tokens, 3 under 60,000, then 2"


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
    """``source``, or the course's pretrained LM when none was given (``registry.course_model``:
    general-fwd where present, else fastai's wt103-fwd)."""
    from .registry import course_model  # imported late: --help reads no registry

    return source or course_model()


def bytes_needed(pretrained, n_models: int) -> int:
    """A rough bound on the bytes a run writes: ``n_models`` float32 copies of the pretrained model.

    An archive is compressed and often float16 (the course's and fastai's are): 2.7 times its size
    per copy; a checkpoint or folder its size per copy, plus a third for new words and the run's
    other files; a registry name not on disk: the course models' ~200 MB per copy.
    """
    path = Path(str(pretrained))
    if path.is_file():
        per_model = path.stat().st_size * (2.7 if path.name.endswith(ARCHIVES) else 1.33)
    elif path.is_dir():
        per_model = 1.33 * sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    else:
        per_model = 200 * 2**20
    return int(n_models * per_model)


def check_writable_file(path: str, option: str) -> None:
    """Refuse an output file that is a folder or whose folder is missing or read-only."""
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(f"{option} {target} is a folder; give a file name")
    folder = target.absolute().parent
    if not folder.is_dir():
        raise FileNotFoundError(f"{option} {target}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise PermissionError(f"{option} {target}: cannot write there (permission denied)")


def add_device_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device",
        default="auto",
        help="'auto' (a GPU if there is one, else the CPU), 'cpu', 'cuda', 'cuda:1', ...",
    )
    p.add_argument(
        "--amp",
        choices=["bf16", "fp16"],
        default=None,
        help="mixed precision on a GPU (bf16 needs Ampere or newer); default float32",
    )


def add_training_args(
    p: argparse.ArgumentParser,
    epochs: int | None,
    lr: float,
    drop_mult: float,
    schedule: str,
    wd: float,
    lr_help: str = "peak learning rate",
    epochs_help: str | None = None,
) -> None:
    """The options of the LM training commands (``pretrain``, ``finetune-lm``), with their
    defaults: the epochs, schedule and regularisation, ``--out``, the device."""
    epochs_help = epochs_help or f"epochs (default {epochs})"
    p.add_argument("--epochs", type=at_least(1), default=epochs, help=epochs_help)
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
    add_device_args(p)
