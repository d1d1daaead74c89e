"""The language-model commands (ULMFiT stages 1 and 2)::

    pretrain      stage 1: train an LM from scratch (also data-parallel under torchrun)
    finetune-lm   stage 2: fine-tune a pretrained LM on your texts (or --dataset poem_sentiment)
    evaluate-lm   loss / accuracy / perplexity of an LM on a corpus
    generate      continue a prompt with an LM

Data-parallel pretraining on 2 GPUs (or CPU processes: gloo)::

    torchrun --standalone --nproc_per_node=2 -m ulmfit_lesson pretrain --corpus general_corpus ...

Each handler imports what it needs when it runs, so ``--help`` does not load torch.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from .cli_args import (
    FINETUNE_EPOCHS_DEFAULT,
    UsageError,
    add_device_args,
    add_training_args,
    at_least,
    bytes_needed,
    check_writable_file,
    or_course_model,
    read_texts,
)


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
    from .runs import check_output_dir

    # Not a whole run: --resume continues from OUT/train_state.pt in place. But a file or an
    # unwritable folder is found now, not after the first epoch.
    check_output_dir(args.out, overwrite=True)
    rank, world, device = init_distributed(args.device)
    texts = read_texts(args.corpus, "train", args.text_col)
    valid_source = args.valid or (args.corpus if args.corpus == "general_corpus" else None)
    valid = read_texts(valid_source, "valid", args.text_col) if valid_source else None
    result = pretrain_lm(
        texts,
        valid,
        epochs=args.epochs,
        bs=args.bs,
        bptt=args.bptt,
        lr=args.lr,
        schedule=args.schedule,
        wd=args.wd,
        drop_mult=args.drop_mult,
        emb_size=args.emb_size,
        hidden_size=args.hidden_size,
        n_layers=args.n_layers,
        min_freq=args.min_freq,
        max_vocab=args.max_vocab,
        max_tokens=args.max_tokens,
        backwards=args.backwards,
        device=str(device),
        amp=args.amp,
        out_dir=args.out,
        resume=args.resume,
        save_every=args.save_every,
        seed=args.seed,
        progress=not args.no_progress,
    )
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
    from . import runs
    from .lm_recipes import finetune_lm

    if not args.dataset and not args.train:
        raise UsageError("give --train FILE (with --text-col) or --dataset NAME")
    out = runs.check_output_dir(args.out, args.overwrite)  # before reading or loading anything
    if args.dataset:
        texts = read_texts(args.dataset, "train")
        valid = read_texts(args.dataset, "dev") if args.valid is None else None
    else:
        texts, valid = read_texts(args.train, "train", args.text_col), None
    if args.valid:
        valid = read_texts(args.valid, "dev", args.text_col)
    needed = bytes_needed(args.pretrained, n_models=2)  # lm.pt and encoder.pt
    runs.check_free_space(out.absolute().parent, needed, "the fine-tuned language model")
    with runs.whole_run(out, args.overwrite) as tmp:  # an interrupted run leaves --out as it was
        result = finetune_lm(
            args.pretrained,
            texts,
            valid,
            frozen_epochs=args.frozen_epochs,
            frozen_lr=args.frozen_lr,
            epochs=args.epochs,
            lr=args.lr,
            schedule=args.schedule,
            bs=args.bs,
            bptt=args.bptt,
            valid_bs=args.valid_bs,
            wd=args.wd,
            drop_mult=args.drop_mult,
            min_freq=args.min_freq,
            max_tokens=args.max_tokens,
            backwards=args.backwards,
            device=args.device,
            amp=args.amp,
            out_dir=tmp,
            seed=args.seed,
            progress=not args.no_progress,
        )
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
    from .lm_recipes import cap_tokens, load_lm
    from .tokenizer import tokenize_texts
    from .train import evaluate_lm
    from .vocab import Vocab

    if args.json:  # found now, not after evaluating
        check_writable_file(args.json, "--json")
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
        f"unknown-token rate: {vocab.unk_rate(tokens):.2%}; wall time {seconds:.0f} s on {device}"
    )
    if args.json:
        out = {
            **metrics.as_dict(),
            "model": str(args.model),
            "corpus": args.corpus,
            "split": args.split,
            "bs": args.bs,
            "bptt": args.bptt,
            "seconds": seconds,
        }
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
            )
        )
    return 0


# ---------------------------------------------------------------------------------------------------
# Parsers
# ---------------------------------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``pretrain``, ``finetune-lm``, ``evaluate-lm`` and ``generate``."""
    p = subparsers.add_parser(
        "pretrain",
        help="stage 1: train an AWD-LSTM language model from scratch",
        description="Stage 1 of ULMFiT (general-domain LM pretraining). Runs data-parallel under "
        "torchrun (gloo on CPUs, NCCL on GPUs): every process reads the same batches and keeps "
        "its share of the streams; rank 0 writes the files.",
    )
    p.add_argument(
        "--corpus",
        default="general_corpus",
        help="'general_corpus' or a file (.txt: one document per line; .csv/.tsv/.jsonl: "
        "column --text-col) or a folder of .txt files",
    )
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
    add_training_args(p, epochs=1, lr=5e-3, drop_mult=1.0, schedule="one_cycle", wd=0.1)
    p.set_defaults(func=_pretrain)

    p = subparsers.add_parser(
        "finetune-lm",
        help="stage 2: fine-tune a pretrained LM on the target texts",
        description="Stage 2 of ULMFiT: extend the pretrained vocabulary with the target texts' "
        "words (count >= --min-freq), transfer the embeddings, train the embeddings + decoder for "
        "--frozen-epochs, then all layers with discriminative LRs (/2.6 per group) and STLR.",
    )
    p.add_argument(
        "--pretrained",
        default=None,
        help="registry name (wt103-fwd, general-fwd), fastai folder/archive, or our "
        "checkpoint (lm.pt or its folder); default: the course's model, general-fwd where "
        "present, else fastai's wt103-fwd (downloaded once)",
    )
    p.add_argument("--train", default=None, help="training texts: a .csv/.tsv/.jsonl/.txt file")
    p.add_argument("--valid", default=None, help="validation texts (same formats)")
    p.add_argument("--text-col", default="text", help="text column of the files (default 'text')")
    p.add_argument(
        "--dataset",
        choices=["poem_sentiment", "goemotions"],
        default=None,
        help="shortcut: the dataset's train split for training, its dev split for "
        "validation (never the test split)",
    )
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
    add_training_args(
        p,
        epochs=None,  # lm_recipes.finetune_lm scales it to the corpus
        epochs_help=f"epochs after the frozen ones (default: {FINETUNE_EPOCHS_DEFAULT})",
        lr=4e-3,
        drop_mult=0.3,
        schedule="stlr",
        wd=0.01,
        lr_help="peak LR of the top layer group after unfreezing; each lower group "
        "gets 2.6x less (ULMFiT: 0.004)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the earlier run in --out (as a whole, when this run finishes)",
    )
    p.set_defaults(func=_finetune_lm)

    p = subparsers.add_parser(
        "evaluate-lm",
        help="loss, accuracy and perplexity of an LM on a corpus",
        description="Evaluate on fixed-length windows with the hidden state carried (no dropout). "
        "Defaults bs 128, bptt 72 are the layout fastai used for the general-* models' figures.",
    )
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
    add_device_args(p)
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
