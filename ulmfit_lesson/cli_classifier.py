"""Stage-3 commands of ``python -m ulmfit_lesson``: ``train-classifier`` and ``predict``.

``cli.py`` adds them with ``cli_classifier.register(subparsers)``; each stores its handler as
``func(args) -> exit code``, and imports what it needs when it runs (``--help`` loads no torch). ::

    python -m ulmfit_lesson train-classifier --train train.csv --valid dev.csv --test test.csv \\
        --text-col text --label-col label --out runs/mine
    python -m ulmfit_lesson predict --model runs/mine "what a lovely day" "a dreadful night"
    python -m ulmfit_lesson predict --model runs/mine --file new.csv --text-col text

``train-classifier`` runs ULMFiT's stages 2 and 3 (``pipeline.ulmfit_pipeline``): it fine-tunes the
pretrained LM on the training texts (unless ``--no-finetune-lm``), trains the classifier with gradual
unfreezing, discriminative LRs and STLR, evaluates on ``--test`` (else ``--valid``) and writes::

    OUT/classifier.pt   the classifier (weights, vocabulary, labels, thresholds): `predict --model OUT`
    OUT/metrics.json    accuracy, macro_f1, n_test, confusion matrix, labels, history, timings,
                        settings (class_weights, tune_decision, ...); with a tuned decision rule
                        also accuracy_tuned, macro_f1_tuned, ... and the offsets/thresholds
    OUT/lm/             the fine-tuned language model (lm.pt, encoder.pt, vocab.json, metrics.json)
    OUT/manifest.json   the sha256 and size of every file above, checked when the classifier loads

The run is written into a temporary folder beside OUT and renamed into place at the end, so OUT
never mixes two runs: an OUT holding an earlier run is refused unless ``--overwrite`` (then replaced
as a whole), a failed or interrupted run leaves it as it was, and a second run on the same OUT is
refused while the first holds its lock. Everything checkable is checked before the work starts:
the files, their columns, the labels of every split, the output folder, the free disk space.

Files: ``.csv``, ``.tsv``/``.txt``, ``.jsonl``/``.json`` (``datasets.read_table``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from .cli_args import FINETUNE_EPOCHS_DEFAULT, UsageError, at_least, bytes_needed, or_course_model
from .config import is_quick

# --quick: a few minutes on a laptop CPU, for smoke tests and demos (ULMFIT_QUICK=1 turns it on).
QUICK_LM = dict(frozen_epochs=1, epochs=1, max_tokens=20_000)
QUICK_EPOCHS = 2  # the head alone, then everything


def _read(path: str, text_col: str, label_col: str | None):
    from .datasets import read_table

    return read_table(path, text_col, label_col)


def _train_classifier(args: argparse.Namespace) -> int:
    """Check everything that can be checked, then train into a temporary folder moved into place.

    Before any work: the output folder (a file, an earlier run without ``--overwrite``, not
    writable), the files and their columns, the labels of every split (normalised; a test label
    training never has), free disk space. The run is written whole (``runs.whole_run``): an
    interrupted or failed run leaves ``--out`` as it was.
    """
    from . import runs
    from .checkpoint import CLASSIFIER_FILE
    from .clas_recipes import check_labels

    args.pretrained = or_course_model(args.pretrained)
    if args.tune_decision and not args.valid:
        raise UsageError("--tune-decision tunes on the validation set: give --valid FILE")
    if args.patience and not args.valid:
        raise UsageError("--patience watches the validation loss: give --valid FILE")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    start = time.time()
    out = runs.check_output_dir(args.out, args.overwrite)
    frames = {"train": _read(args.train, args.text_col, args.label_col)}
    for split in ("valid", "test"):
        if getattr(args, split):
            frames[split] = _read(getattr(args, split), args.text_col, args.label_col)
    sources = {k: getattr(args, k) for k in frames}
    label_delim = args.label_delim
    _, labels = check_labels(
        {k: df["label"].tolist() for k, df in frames.items()},
        args.multi_label,
        label_delim,
        sources,
    )
    for split, df in frames.items():
        df["label"] = labels[split]
    needed = bytes_needed(args.pretrained, n_models=3)  # the LM, its encoder, the classifier
    runs.check_free_space(out.absolute().parent, needed, "the run's files")
    with runs.whole_run(out, args.overwrite) as tmp:
        metrics = _train_into(tmp, out, args, frames, sources, start)
    if metrics["n_test"]:
        print(
            f"{metrics['split']}: accuracy {metrics['accuracy']:.4f}  macro-F1 "
            f"{metrics['macro_f1']:.4f}  ({metrics['n_test']} texts)"
        )
        if metrics.get("macro_f1_tuned") is not None:
            print(
                f"{metrics['split']}, decision rule tuned on valid: accuracy "
                f"{metrics['accuracy_tuned']:.4f}  macro-F1 {metrics['macro_f1_tuned']:.4f}"
            )
    print(f"wrote {out}/{CLASSIFIER_FILE} and {out}/metrics.json ({time.time() - start:.0f} s)")
    return 0


def _train_into(tmp: Path, out: Path, args: argparse.Namespace, frames, sources, start) -> dict:
    """Stages 2 + 3 and the evaluation, writing into ``tmp`` (named ``out`` in metrics.json)."""
    from .checkpoint import CLASSIFIER_FILE
    from .clas_eval import evaluate_classifier
    from .pipeline import ulmfit_pipeline

    quick = args.quick or is_quick()
    train_df, valid_df, test_df = (frames.get(k) for k in ("train", "valid", "test"))
    lm_options = dict(QUICK_LM) if quick else {}
    for key in ("lm_epochs", "lm_bs"):
        value = getattr(args, key)
        if value is not None:
            lm_options[key[3:]] = value
    epochs = args.epochs if args.epochs is not None else (QUICK_EPOCHS if quick else None)
    clas_options = dict(
        multi_label=args.multi_label,
        label_delim=args.label_delim,
        seed=args.seed,
        bs=args.bs,
        lr=args.lr,
        drop_mult=args.drop_mult,
        sources=sources,
        class_weights=args.class_weights,
        tune_decision=args.tune_decision,
        patience=args.patience,
    )
    if epochs is not None:
        clas_options["epochs"] = epochs
    result = ulmfit_pipeline(
        train_df,
        valid_df,
        args.pretrained,
        finetune_lm=not args.no_finetune_lm,
        lm_options=lm_options,
        lm_out_dir=tmp / "lm" if not args.no_finetune_lm else None,
        progress=not args.no_progress,
        device=args.device,
        **clas_options,
    )
    clas = result.classifier
    classifier = clas.classifier
    classifier.settings.update(
        pretrained=str(args.pretrained),
        finetune_lm=not args.no_finetune_lm,
        quick=quick,
        text_col=args.text_col,
        label_col=args.label_col,
    )
    classifier.save(tmp)

    t_eval = time.time()
    eval_df, split = (test_df, "test") if test_df is not None else (valid_df, "valid")
    metrics: dict = {"split": split}
    if eval_df is not None:
        scores = evaluate_classifier(
            classifier,
            eval_df["text"].tolist(),
            eval_df["label"].tolist(),
            bs=args.bs,
            split=split,
            label_delim=args.label_delim,
            sources=sources,
        )
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
        best_epoch=clas.best_epoch,
        stopped_after=clas.stopped_after,
        timings={
            "lm_finetune_s": round(lm_seconds, 2),
            "classifier_s": round(clas.seconds, 2),
            "evaluate_s": round(time.time() - t_eval, 2),
            "total_s": round(time.time() - start, 2),
        },
        settings={**clas.settings, **classifier.settings, "n_train": len(train_df)},
        files={
            "classifier": str(out / CLASSIFIER_FILE),
            "lm": str(out / "lm") if result.lm is not None else None,
        },
    )
    (tmp / "metrics.json").write_text(json.dumps(_plain(metrics), indent=2), encoding="utf-8")
    return metrics


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
        raise UsageError("give texts as arguments or --file FILE, not both")
    empty = [str(i + 1) for i, t in enumerate(args.texts) if not t.strip()]
    if empty:  # an empty text has no words to classify; answering anyway would be a guess
        raise UsageError(f"text {', '.join(empty)} is empty or only whitespace; give some words")
    texts = args.texts or _read(args.file, args.text_col, None)["text"].tolist()
    classifier = TextClassifier.load(args.model)
    results = classifier.predict(texts, bs=args.bs)  # NaN probabilities raise before any line
    for text, (label, probs) in zip(texts, results):
        if args.json:  # allow_nan=False: never a NaN, which is not JSON
            line = {"text": text, "label": label, "probs": probs}
            print(json.dumps(line, ensure_ascii=False, allow_nan=False))
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
        "and OUT/metrics.json. How long: after its first few steps each part prints its "
        "estimate for this machine. On a 2-core CPU with the defaults, 843 short texts (the "
        "course's poems, 9k tokens) take about 3 minutes and 4,000 comments (GoEmotions, 72k "
        "tokens) about 20 minutes; time grows with the number of tokens.",
    )
    p.add_argument("--train", required=True, help="training file (.csv, .tsv, .jsonl, .json)")
    p.add_argument("--valid", default=None, help="validation file: per-epoch metrics")
    p.add_argument("--test", default=None, help="test file: the final metrics (else --valid)")
    p.add_argument("--text-col", default="text", help="text column (default 'text')")
    p.add_argument("--label-col", default="label", help="label column (default 'label')")
    p.add_argument(
        "--pretrained",
        default=None,
        help="registry name (wt103-fwd, general-fwd), fastai folder/archive, or our "
        "LM checkpoint (lm.pt or its folder); default: the course's model, general-fwd where "
        "present, else fastai's wt103-fwd (downloaded once)",
    )
    p.add_argument(
        "--out",
        required=True,
        help="output folder; written whole at the end of the run (an interrupted run "
        "leaves it as it was)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the earlier run in --out (as a whole, when the new run finishes)",
    )
    p.add_argument(
        "--no-finetune-lm",
        action="store_true",
        help="skip stage 2 (ULMFiT Table 6 'no LM fine-tuning')",
    )
    p.add_argument(
        "--epochs",
        type=at_least(1),
        default=None,
        help="classifier epochs in all (default 10: 4 unfreezing + 6)",
    )
    p.add_argument(
        "--lm-epochs",
        type=at_least(0),
        default=None,
        help=f"LM fine-tuning epochs after the frozen one (default: {FINETUNE_EPOCHS_DEFAULT})",
    )
    p.add_argument(
        "--lm-bs", type=at_least(1), default=None, help="LM fine-tuning batch size (default 64)"
    )
    p.add_argument(
        "--bs",
        type=at_least(2),
        default=64,
        help="classifier batch size, >= 2 for BatchNorm (ULMFiT: 64)",
    )
    p.add_argument(
        "--lr",
        type=at_least(0.0, float, strict=True),
        default=0.01,
        help="classifier peak LR (ULMFiT: 0.01)",
    )
    p.add_argument(
        "--drop-mult",
        type=at_least(0.0, float),
        default=1.0,
        help="multiplies the classifier dropouts (default 1.0, the paper's; fastai uses 0.5)",
    )
    p.add_argument(
        "--multi-label",
        action="store_true",
        help="several labels per text, joined by --label-delim",
    )
    p.add_argument("--label-delim", default=",", help="multi-label separator (default ',')")
    p.add_argument(
        "--class-weights",
        choices=["balanced"],
        default=None,
        help="weight the classifier's loss by smoothed inverse class frequency, "
        "(n / (k n_c)) ** 0.5 scaled to average 1 (beyond the paper; default: plain "
        "cross-entropy). Multi-label: per-label weights of absent/present",
    )
    p.add_argument(
        "--tune-decision",
        choices=["macro_f1"],
        default=None,
        help="tune the decision rule on --valid for macro-F1 (beyond the paper): "
        "per-class offsets on the log-probabilities, or per-label thresholds "
        "(multi-label, which tunes them anyway); saved with the classifier, used by "
        "predict; metrics.json reports untuned and *_tuned scores",
    )
    p.add_argument(
        "--patience",
        type=at_least(1),
        default=None,
        help="stop the classifier once its validation loss has not improved for N epochs of "
        "the last (fully unfrozen) stage, and keep the best epoch's weights (needs --valid; "
        "default: every epoch)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--threads",
        type=at_least(1),
        default=None,
        help="CPU threads for torch (default: torch's choice, usually every core)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="tiny run for a smoke test: 1+1 LM epochs on 20k tokens, 2 classifier "
        "epochs (also ULMFIT_QUICK=1)",
    )
    p.add_argument("--device", default="auto", help="'auto', 'cpu', 'cuda', ...")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_train_classifier)

    p = subparsers.add_parser(
        "predict",
        help="label texts with a trained classifier",
        description="Print one line per text, in input order: label, its probability, the text "
        "(or JSON lines with --json).",
    )
    p.add_argument("texts", nargs="*", help="texts to classify")
    p.add_argument("--model", required=True, help="folder written by train-classifier")
    p.add_argument("--file", default=None, help="a .csv/.tsv/.jsonl file of texts instead")
    p.add_argument("--text-col", default="text", help="text column of --file (default 'text')")
    p.add_argument("--bs", type=at_least(1), default=64, help="batch size (default 64)")
    p.add_argument("--json", action="store_true", help="JSON lines with every probability")
    p.set_defaults(func=_predict)
