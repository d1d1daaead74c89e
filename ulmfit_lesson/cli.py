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
    "ulmfit_lesson.cli_workshop",  # doctor, pack-kit, unpack-kit
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
    from .distributed import init_distributed
    from .lm_recipes import pretrain_lm

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
    from .lm_recipes import finetune_lm

    if args.dataset:
        texts = read_texts(args.dataset, "train")
        valid = read_texts(args.dataset, "dev") if args.valid is None else None
    elif args.train:
        texts, valid = read_texts(args.train, "train", args.text_col), None
    else:
        print("error: give --train FILE (with --text-col) or --dataset NAME", file=sys.stderr)
        return 2
    if args.valid:
        valid = read_texts(args.valid, "dev", args.text_col)
    result = finetune_lm(
        args.pretrained, texts, valid, frozen_epochs=args.frozen_epochs, frozen_lr=args.frozen_lr,
        epochs=args.epochs, lr=args.lr, schedule=args.schedule, bs=args.bs, bptt=args.bptt,
        valid_bs=args.valid_bs, wd=args.wd, drop_mult=args.drop_mult, min_freq=args.min_freq,
        max_tokens=args.max_tokens, backwards=args.backwards, device=args.device, amp=args.amp,
        out_dir=args.out, seed=args.seed, progress=not args.no_progress,
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
    from .distributed import resolve_device
    from .lm_recipes import cap_tokens, load_lm, unk_rate
    from .tokenizer import tokenize_texts
    from .train import evaluate_lm
    from .vocab import Vocab

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
    _print_metrics(f"{args.model} on {args.corpus} ({args.split})", metrics)
    print(
        f"unknown-token rate: {unk_rate(tokens, itos):.2%}; wall time {seconds:.0f} s on {device}"
    )
    if args.json:
        out = {**metrics.as_dict(), "model": str(args.model), "corpus": args.corpus,
               "split": args.split, "bs": args.bs, "bptt": args.bptt, "seconds": seconds}  # fmt: skip
        Path(args.json).write_text(json.dumps(out, indent=2), encoding="utf-8")
    return 0


def _generate(args: argparse.Namespace) -> int:
    from .distributed import resolve_device
    from .generate import generate
    from .lm_recipes import load_lm

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
    p.add_argument("--epochs", type=int, default=epochs, help=f"epochs (default {epochs})")
    p.add_argument(
        "--bs",
        type=int,
        default=64,
        help="batch size = parallel token streams (ULMFiT: 64); per process under torchrun",
    )
    p.add_argument(
        "--bptt",
        type=int,
        default=70,
        help="base BPTT window, varied around it per batch (ULMFiT: 70)",
    )
    p.add_argument("--lr", type=float, default=lr, help=f"{lr_help} (default {lr})")
    p.add_argument(
        "--schedule",
        choices=["stlr", "one_cycle", "constant"],
        default=schedule,
        help=f"LR schedule: slanted triangular (ULMFiT), fastai one-cycle, constant "
        f"(default {schedule})",
    )
    p.add_argument("--wd", type=float, default=wd, help=f"decoupled weight decay (default {wd})")
    p.add_argument(
        "--drop-mult",
        type=float,
        default=drop_mult,
        help=f"multiplies every AWD-LSTM dropout (default {drop_mult})",
    )
    p.add_argument(
        "--min-freq",
        type=int,
        default=3,
        help="keep words seen at least this often in the vocabulary (default 3)",
    )
    p.add_argument(
        "--max-tokens",
        type=int,
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
    p.add_argument("--emb-size", type=int, default=400, help="embedding size (ULMFiT: 400)")
    p.add_argument("--hidden-size", type=int, default=1152, help="LSTM hidden size (fastai: 1152)")
    p.add_argument("--n-layers", type=int, default=3, help="LSTM layers (ULMFiT: 3)")
    p.add_argument("--max-vocab", type=int, default=60000, help="vocabulary cap (default 60,000)")
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
        type=int,
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
    p.add_argument("--pretrained", default="general-fwd",
                   help="registry name (general-fwd, wt103-fwd), fastai folder/archive, or our "
                   "checkpoint (lm.pt or its folder)")  # fmt: skip
    p.add_argument("--train", default=None, help="training texts: a .csv/.tsv/.jsonl/.txt file")
    p.add_argument("--valid", default=None, help="validation texts (same formats)")
    p.add_argument("--text-col", default="text", help="text column of the files (default 'text')")
    p.add_argument("--dataset", choices=["poem_sentiment", "goemotions"], default=None,
                   help="shortcut: the dataset's train split for training, its dev split for "
                   "validation (never the test split)")  # fmt: skip
    p.add_argument(
        "--frozen-epochs",
        type=int,
        default=1,
        help="epochs training only embeddings + decoder first (default 1)",
    )
    p.add_argument(
        "--frozen-lr",
        type=float,
        default=2e-2,
        help="peak LR of the frozen epochs (default 2e-2, fastbook)",
    )
    p.add_argument(
        "--valid-bs",
        type=int,
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
    p.set_defaults(func=_finetune_lm)

    p = subparsers.add_parser(
        "evaluate-lm", help="loss, accuracy and perplexity of an LM on a corpus",
        description="Evaluate on fixed-length windows with the hidden state carried (no dropout). "
        "Defaults bs 128, bptt 72 are the layout fastai used for the general-* models' figures.",
    )  # fmt: skip
    p.add_argument(
        "--model",
        default="general-fwd",
        help="registry name, fastai folder/archive, or our checkpoint (lm.pt or folder)",
    )
    p.add_argument("--corpus", default="general_corpus", help="dataset name or file (see pretrain)")
    p.add_argument("--split", default="valid", help="train / valid (dev) / test (default valid)")
    p.add_argument("--text-col", default="text", help="text column of a table file")
    p.add_argument("--bs", type=int, default=128, help="parallel streams (default 128)")
    p.add_argument("--bptt", type=int, default=72, help="window length (default 72)")
    p.add_argument("--max-tokens", type=int, default=None, help="only the first N tokens")
    p.add_argument("--backwards", action="store_true", help="reverse each document (backward LMs)")
    p.add_argument("--json", default=None, help="also write the metrics to this JSON file")
    _add_device_args(p)
    p.set_defaults(func=_evaluate_lm)

    p = subparsers.add_parser("generate", help="continue a prompt with a language model")
    p.add_argument("prompt", help="the start of the text, e.g. 'The king'")
    p.add_argument(
        "--model",
        default="general-fwd",
        help="registry name, fastai folder/archive, or our checkpoint (lm.pt or folder)",
    )
    p.add_argument("--n-words", type=int, default=30, help="tokens to generate (default 30)")
    p.add_argument(
        "--temperature",
        type=float,
        default=0.75,
        help="<1 safer, >1 wilder, 0 greedy (default 0.75, as fastbook)",
    )
    p.add_argument("--top-k", type=int, default=None, help="sample among the k most likely only")
    p.add_argument("--n-samples", type=int, default=1, help="how many continuations (default 1)")
    p.add_argument("--seed", type=int, default=None, help="seed (sample i uses seed + i)")
    p.add_argument("--device", default="auto", help="'auto', 'cpu', 'cuda', ...")
    p.set_defaults(func=_generate)


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m ulmfit_lesson`` parser with every available module's subcommands."""
    parser = argparse.ArgumentParser(
        prog="python -m ulmfit_lesson",
        description="ULMFiT (Howard & Ruder 2018), stage by stage.",
    )
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as err:  # Ctrl-C; while training SIGTERM too (TrainingInterrupted)
        print(f"\ninterrupted{': ' + str(err) if str(err) else ''}", file=sys.stderr)
        return 130  # the shell's code for "stopped by Ctrl-C" (128 + SIGINT)


if __name__ == "__main__":
    sys.exit(main())
