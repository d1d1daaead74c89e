"""Stage-3 commands of ``python -m ulmfit_lesson``: ``train-classifier`` and ``predict``.

``cli.py`` adds them with ``cli_classifier.register(subparsers)``; each stores its handler as
``func(args) -> exit code``. ::

    python -m ulmfit_lesson train-classifier --train train.csv --valid dev.csv --test test.csv \\
        --text-col text --label-col label --pretrained general-fwd --out runs/mine
    python -m ulmfit_lesson predict --model runs/mine "what a lovely day" "a dreadful night"
    python -m ulmfit_lesson predict --model runs/mine --file new.csv --text-col text

``train-classifier`` runs ULMFiT's stages 2 and 3 (``clas_recipes.ulmfit_pipeline``): it fine-tunes the
pretrained LM on the training texts (unless ``--no-finetune-lm``), trains the classifier with gradual
unfreezing, discriminative LRs and STLR, evaluates on ``--test`` (else ``--valid``) and writes::

    OUT/classifier.pt   the classifier (weights, vocabulary, labels, thresholds): `predict --model OUT`
    OUT/metrics.json    accuracy, macro_f1, n_test, confusion matrix, labels, history, timings
    OUT/lm/             the fine-tuned language model (lm.pt, encoder.pt, vocab.json, metrics.json)

Files: ``.csv``, ``.tsv``/``.txt``, ``.jsonl``/``.json`` (``datasets.read_table``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .config import is_quick

# --quick: a few minutes on a laptop CPU, for smoke tests and demos (ULMFIT_QUICK=1 turns it on).
QUICK_LM = dict(frozen_epochs=1, epochs=1, max_tokens=20_000)
QUICK_EPOCHS = 2  # the head alone, then everything


def _read(path: str, text_col: str, label_col: str | None):
    from .datasets import read_table

    return read_table(path, text_col, label_col)


def _train_classifier(args: argparse.Namespace) -> int:
    from .clas_recipes import evaluate_classifier, ulmfit_pipeline

    start = time.time()
    quick = args.quick or is_quick()
    train_df = _read(args.train, args.text_col, args.label_col)
    valid_df = _read(args.valid, args.text_col, args.label_col) if args.valid else None
    test_df = _read(args.test, args.text_col, args.label_col) if args.test else None
    sources = {"train": args.train, "valid": args.valid, "test": args.test}
    sources = {k: v for k, v in sources.items() if v}

    lm_options = dict(QUICK_LM) if quick else {}
    for key in ("lm_epochs", "lm_bs"):
        value = getattr(args, key)
        if value is not None:
            lm_options[key[3:]] = value
    epochs = args.epochs if args.epochs is not None else (QUICK_EPOCHS if quick else None)
    clas_options = dict(
        multi_label=args.multi_label, label_delim=args.label_delim, seed=args.seed,
        bs=args.bs, lr=args.lr, drop_mult=args.drop_mult, sources=sources,
    )  # fmt: skip
    if epochs is not None:
        clas_options["epochs"] = epochs
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = ulmfit_pipeline(
        train_df, valid_df, args.pretrained, finetune_lm=not args.no_finetune_lm,
        lm_options=lm_options, lm_out_dir=out / "lm" if not args.no_finetune_lm else None,
        progress=not args.no_progress, device=args.device, **clas_options,
    )  # fmt: skip
    clas = result.classifier
    classifier = clas.classifier
    classifier.settings.update(
        pretrained=str(args.pretrained), finetune_lm=not args.no_finetune_lm, quick=quick,
        text_col=args.text_col, label_col=args.label_col,
    )  # fmt: skip
    classifier.save(out)

    t_eval = time.time()
    eval_df, split = (test_df, "test") if test_df is not None else (valid_df, "valid")
    metrics: dict = {"split": split}
    if eval_df is not None:
        scores = evaluate_classifier(
            classifier, eval_df["text"].tolist(), eval_df["label"].tolist(), bs=args.bs,
            split=split, label_delim=args.label_delim, sources=sources,
        )  # fmt: skip
        metrics.update(scores)
        metrics["n_test"] = scores["n"]
    else:
        metrics.update(n_test=0, accuracy=None, macro_f1=None)
    lm_seconds = result.lm.seconds if result.lm is not None else 0.0
    metrics.update(
        labels=classifier.label_names,
        multi_label=clas.multi_label,
        valid=clas.metrics or None,
        history=clas.history,
        timings={
            "lm_finetune_s": round(lm_seconds, 2),
            "classifier_s": round(clas.seconds, 2),
            "evaluate_s": round(time.time() - t_eval, 2),
            "total_s": round(time.time() - start, 2),
        },
        settings={**clas.settings, **classifier.settings, "n_train": len(train_df)},
        files={
            "classifier": str(out / "classifier.pt"),
            "lm": str(out / "lm") if result.lm is not None else None,
        },  # fmt: skip
    )
    (out / "metrics.json").write_text(json.dumps(_plain(metrics), indent=2), encoding="utf-8")
    if metrics["n_test"]:
        print(
            f"{split}: accuracy {metrics['accuracy']:.4f}  macro-F1 {metrics['macro_f1']:.4f}  "
            f"({metrics['n_test']} texts)"
        )
    print(f"wrote {out}/classifier.pt and {out}/metrics.json ({time.time() - start:.0f} s)")
    return 0


def _plain(value):
    """JSON-safe: NaN -> None, numpy numbers -> Python numbers."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def _predict(args: argparse.Namespace) -> int:
    from .predict import TextClassifier

    if bool(args.texts) == bool(args.file):
        print("error: give texts as arguments or --file FILE, not both", file=sys.stderr)
        return 2
    texts = args.texts or _read(args.file, args.text_col, None)["text"].tolist()
    classifier = TextClassifier.load(args.model)
    for text, (label, probs) in zip(texts, classifier.predict(texts, bs=args.bs)):
        if args.json:
            print(json.dumps({"text": text, "label": label, "probs": probs}, ensure_ascii=False))
        else:
            shown = ",".join(label) if isinstance(label, list) else label
            score = max(probs.values()) if isinstance(label, list) else probs[label]
            print(f"{shown}\t{score:.4f}\t{text}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train-classifier`` and ``predict``."""
    p = subparsers.add_parser(
        "train-classifier",
        help="stages 2+3: fine-tune the LM on your texts, then train a classifier",
        description="ULMFiT on your own labelled texts (.csv/.tsv/.jsonl): fine-tune the "
        "pretrained LM on the training texts (stage 2), then train the classifier with gradual "
        "unfreezing, discriminative learning rates and STLR (stage 3). Writes OUT/classifier.pt "
        "and OUT/metrics.json.",
    )
    p.add_argument("--train", required=True, help="training file (.csv, .tsv, .jsonl, .json)")
    p.add_argument("--valid", default=None, help="validation file: per-epoch metrics")
    p.add_argument("--test", default=None, help="test file: the final metrics (else --valid)")
    p.add_argument("--text-col", default="text", help="text column (default 'text')")
    p.add_argument("--label-col", default="label", help="label column (default 'label')")
    p.add_argument("--pretrained", default="general-fwd",
                   help="registry name (general-fwd, wt103-fwd), fastai folder/archive, or our "
                   "LM checkpoint (lm.pt or its folder) (default general-fwd)")  # fmt: skip
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--no-finetune-lm", action="store_true",
                   help="skip stage 2 (ULMFiT Table 6 'no LM fine-tuning')")  # fmt: skip
    p.add_argument("--epochs", type=int, default=None,
                   help="classifier epochs in all (default 10: 4 unfreezing + 6)")  # fmt: skip
    p.add_argument("--lm-epochs", type=int, default=None,
                   help="LM fine-tuning epochs after the frozen one (default 4)")  # fmt: skip
    p.add_argument("--lm-bs", type=int, default=None, help="LM fine-tuning batch size (default 64)")
    p.add_argument("--bs", type=int, default=64, help="classifier batch size (ULMFiT: 64)")
    p.add_argument("--lr", type=float, default=0.01, help="classifier peak LR (ULMFiT: 0.01)")
    p.add_argument("--drop-mult", type=float, default=1.0,
                   help="multiplies the classifier dropouts (default 1.0, the paper's; fastai uses 0.5)")  # fmt: skip
    p.add_argument("--multi-label", action="store_true",
                   help="several labels per text, joined by --label-delim")  # fmt: skip
    p.add_argument("--label-delim", default=",", help="multi-label separator (default ',')")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--quick", action="store_true",
                   help="tiny run for a smoke test: 1+1 LM epochs on 20k tokens, 2 classifier "
                   "epochs (also ULMFIT_QUICK=1)")  # fmt: skip
    p.add_argument("--device", default="auto", help="'auto', 'cpu', 'cuda', ...")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_train_classifier)

    p = subparsers.add_parser(
        "predict", help="label texts with a trained classifier",
        description="Print one line per text, in input order: label, its probability, the text "
        "(or JSON lines with --json).",
    )  # fmt: skip
    p.add_argument("texts", nargs="*", help="texts to classify")
    p.add_argument("--model", required=True, help="folder written by train-classifier")
    p.add_argument("--file", default=None, help="a .csv/.tsv/.jsonl file of texts instead")
    p.add_argument("--text-col", default="text", help="text column of --file (default 'text')")
    p.add_argument("--bs", type=int, default=64, help="batch size (default 64)")
    p.add_argument("--json", action="store_true", help="JSON lines with every probability")
    p.set_defaults(func=_predict)


def main(argv=None) -> int:
    """Run these commands on their own: ``python -m ulmfit_lesson.cli_classifier predict ...``."""
    parser = argparse.ArgumentParser(prog="python -m ulmfit_lesson.cli_classifier")
    register(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as err:
        print(f"\ninterrupted{': ' + str(err) if str(err) else ''}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
