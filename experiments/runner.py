"""The course's experiments: ULMFiT against its baselines, the paper's ablations, sample efficiency,
GoEmotions (with the class-imbalance treatments) and the forward + backward ensemble
(ULMFiT §4-5, Tables 6/7, Figure 3).

Every runner returns a pandas DataFrame with **one row per (setting, seed)** and, when ``out`` is
given, writes it as CSV. The columns always include ``task``, ``method``, ``seed``, ``n_train``,
``accuracy``, ``macro_f1`` (on the test split), ``seconds``, ``mode`` (``quick``/``full``) and
``device`` (where the models trained: the ``device`` argument; CSVs written before that column
existed are CPU runs);
``ulmfit_lesson.course.results.summarize`` turns the rows into mean ± std per setting.

``quick=True`` shrinks everything (fewer epochs, a subset of GoEmotions) so that a notebook cell
finishes in minutes on a laptop CPU; the full versions are ``python experiments/run.py ...``.

Methods (``METHODS``):

    ulmfit           stage 2 (LM fine-tuning on the training texts) + stage 3 (classifier)
    ulmfit_no_lm_ft  the pretrained LM's encoder straight into stage 3 (Table 6 "no LM fine-tuning";
                     the vocabulary is still extended with the new words, at the mean embedding)
    scratch          the same network, randomly initialised (Table 7 "from scratch")
    tfidf_logreg     TF-IDF + logistic regression (``baselines``), C / class weights chosen on dev
    majority         always the most frequent training label

Backwards models (``direction='bwd'``): fastai's backwards LM read each document's token ids
reversed (``xxbos`` last), so everything built on it must too: stage 2 runs
``finetune_lm(..., backwards=True)``, and the classifier gets a ``ReversedVocab``, which numericalizes
tokens and reverses the ids, for training and prediction alike.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ulmfit_lesson import lm_recipes
from ulmfit_lesson.baselines import TfidfLogReg, majority_class
from ulmfit_lesson.clas_recipes import CLAS_EPOCHS, train_classifier
from ulmfit_lesson.config import ClasTrainConfig, LMTrainConfig
from ulmfit_lesson.datasets import load_goemotions, load_poem_sentiment
from ulmfit_lesson.labels import encode_labels, label_names_of
from ulmfit_lesson.metrics import (
    cross_fitted_offset_scores,
    cross_fitted_threshold_scores,
    metrics_from_probs,
    tune_class_offsets,
    tune_thresholds,
)
from ulmfit_lesson.pipeline import STAGE2_OPTIONS
from ulmfit_lesson.predict import TextClassifier
from ulmfit_lesson.pretrained import course_model
from ulmfit_lesson.vocab import ReversedVocab, Vocab

# Where the models train (every runner's ``device``). The CPU by default: most committed tables were
# measured there, and a CPU run repeats bit for bit on one machine. ``experiments/run.py --device
# cuda`` trains on a GPU, whose kernels round differently: a seed's GPU run does not equal its CPU
# run, so every row records its device (experiments/results/STATUS.md says which tables ran where).
DEFAULT_DEVICE = "cpu"

METHODS = ("ulmfit", "ulmfit_no_lm_ft", "scratch", "tfidf_logreg", "majority")
DETERMINISTIC = ("majority", "tfidf_logreg")  # no seed involved
TASKS = ("poems-3class", "poems-binary", "goemotions-ekman", "goemotions-28")

# Quick mode (config.py's quick variants): one frozen + one unfrozen LM epoch, 4 classifier epochs.
_QUICK_LM, _QUICK_CLAS = LMTrainConfig().quick(), ClasTrainConfig().quick()
QUICK_LM = dict(frozen_epochs=_QUICK_LM.frozen_epochs, epochs=_QUICK_LM.epochs)
QUICK_CLAS = dict(epochs=_QUICK_CLAS.epochs)
# GoEmotions subset sizes (train, dev, test): full = what a laptop CPU does in about an hour per seed.
GOEMOTIONS_SIZES = {"quick": (400, 200, 400), "full": (4000, 1000, None)}  # None = whole test split
# The 28-label view (multi-label) keeps the whole dev split: its thresholds are tuned per label, and
# the rarest emotions (grief, pride, relief, nervousness) have 13-21 of its 5,426 comments each, so
# a 1,000-comment dev set would tune them on two or three.
GOEMOTIONS_28_SIZES = {"quick": (400, 400, 400), "full": (4000, None, None)}

# Table 7-style variants of stage 3 (on the same fine-tuned LM): name -> train_classifier switches.
ABLATIONS: dict[str, dict[str, Any]] = {
    "ulmfit (freez+discr+stlr)": {},
    "no discriminative LRs": dict(discriminative=False),
    "no STLR (constant LR)": dict(schedule="constant"),
    "one-cycle instead of STLR": dict(schedule="one_cycle"),
    "no gradual unfreezing": dict(gradual_unfreezing=False),
    "full (no freez/discr/stlr)": dict(
        gradual_unfreezing=False, discriminative=False, schedule="constant"
    ),
    "last layer only": dict(stages="last"),
}

# Class-imbalance treatments, given to every method alike (``goemotions_imbalance``):
# ULMFiT and scratch get them as ``train_classifier`` switches; TF-IDF + logistic regression gets
# class_weight fixed to the same choice (its "balanced" is unsmoothed, power 1: ``baselines.py``)
# and per-class offsets tuned on dev with the same ``metrics.tune_class_offsets``. On the 28-label
# view the tuned decision is one threshold per label (``metrics.tune_thresholds``), for both.
IMBALANCE_TREATMENTS: dict[str, dict[str, Any]] = {
    "plain": dict(class_weights=None, tune_decision=None),
    "balanced weights": dict(class_weights="balanced", tune_decision=None),
    "tuned decision": dict(class_weights=None, tune_decision="macro_f1"),
    "balanced + tuned": dict(class_weights="balanced", tune_decision="macro_f1"),
}

# Stage-3 variants tried on the poems' dev split to move ULMFiT past fastai's recipe (``tune_stage3``).
# Each variant spells out every setting it differs in from the package's defaults by, starting from
# fastai's drop_mult 0.5 and 6 epochs, so the tables they produced stay reproducible.
FASTBOOK_STAGES = [(-1, 1, 2e-2), (-2, 1, 1e-2), (-3, 1, 5e-3), (0, 2, 1e-3)]  # fastbook ch. 10
FASTAI_DROP = dict(drop_mult=0.5, epochs=6)  # fastai's text_classifier_learner
DEFAULTS_VARIANT = "drop_mult 1.0 + 10 epochs"  # the TUNING entry equal to the package's defaults
TUNING: dict[str, dict[str, Any]] = {
    "fastai's drop_mult 0.5": FASTAI_DROP,
    "label smoothing 0.1": dict(FASTAI_DROP, label_smoothing=0.1),  # MultiFiT's classifier
    "drop_mult 1.0": dict(drop_mult=1.0, epochs=6),  # the paper's dropouts unscaled
    # fastbook's falling peak LRs: lower as more layers thaw (the stages fix the epochs: 5)
    "fastbook stage LRs": dict(FASTAI_DROP, stages=FASTBOOK_STAGES),
    "10 epochs": dict(FASTAI_DROP, epochs=10),  # 6 epochs with everything unfrozen instead of 2
    # the two best on dev, combined:
    "fastbook stage LRs + drop_mult 1.0": dict(stages=FASTBOOK_STAGES, drop_mult=1.0),
    # where both cross-validations pointed: the package's defaults
    DEFAULTS_VARIANT: dict(drop_mult=1.0, epochs=10),
}
# What ``cross_validate_stage3`` ranks: fastai's dropouts, the dev choice of ``tune_stage3``, the two
# variants that did better on test than on dev (k-fold decides between them without test), and the
# two of those combined.
CV_VARIANTS = (
    "fastai's drop_mult 0.5",
    "drop_mult 1.0",
    "fastbook stage LRs",
    "10 epochs",
    DEFAULTS_VARIANT,
)
NO_LM_FT = ", no LM fine-tuning"  # suffix of cross_validate_stage3(finetune_lm=False)'s variants


# ---------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------


def _subset(df: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    """``n`` rows drawn per class in proportion (at least one per class), in a seeded order."""
    if n is None or n >= len(df):
        return df.reset_index(drop=True)
    rng = np.random.default_rng(seed)
    shares = df["label"].value_counts(normalize=True)
    picked = []
    for label, share in shares.items():
        rows = np.flatnonzero(df["label"].to_numpy() == label)
        k = min(len(rows), max(1, round(share * n)))
        picked.extend(rng.choice(rows, k, replace=False))
    return df.iloc[sorted(picked)].reset_index(drop=True)


def _sample(df: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    """``n`` rows drawn at random with ``seed``, kept in file order (multi-label: no one class to
    stratify by)."""
    if n is None or n >= len(df):
        return df.reset_index(drop=True)
    return df.sample(n, random_state=seed).sort_index().reset_index(drop=True)


def load_task(task: str, quick: bool = False, seed: int = 0) -> dict[str, pd.DataFrame]:
    """``{'train', 'dev', 'test'}`` DataFrames (``text``, ``label``) of one of ``TASKS``.

    Poems: the full splits (843 / 105 / 104 verses in the 3-class view). GoEmotions (Ekman,
    single-label): stratified subsets of ``GOEMOTIONS_SIZES`` (drawn with ``seed``; the test subset
    always with seed 0 so every method is scored on the same comments). GoEmotions' 28 labels
    (``goemotions-28``, multi-label): a ``labels`` column (a list of emotion names) instead of
    ``label``; random subsets of ``GOEMOTIONS_28_SIZES`` drawn the same way.
    """
    if task.startswith("poems-"):
        view = task.split("-", 1)[1]
        return {s: load_poem_sentiment(s, view=view) for s in ("train", "dev", "test")}
    if task == "goemotions-ekman":
        n_train, n_dev, n_test = GOEMOTIONS_SIZES["quick" if quick else "full"]
        return {
            "train": _subset(load_goemotions("train"), n_train, seed),
            "dev": _subset(load_goemotions("dev"), n_dev, 0),
            "test": _subset(load_goemotions("test"), n_test, 0),
        }
    if task == "goemotions-28":
        n_train, n_dev, n_test = GOEMOTIONS_28_SIZES["quick" if quick else "full"]
        return {
            "train": _sample(load_goemotions("train", "multilabel"), n_train, seed),
            "dev": _sample(load_goemotions("dev", "multilabel"), n_dev, 0),
            "test": _sample(load_goemotions("test", "multilabel"), n_test, 0),
        }
    raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")


def _label_names(train: pd.DataFrame) -> list[str]:
    """The label order every method uses: the training labels, sorted, as strings (multi-label,
    a ``labels`` column: every label any text has)."""
    if "labels" in train.columns:
        return label_names_of(train["labels"].tolist(), multi_label=True)
    return sorted({str(v) for v in train["label"]})


# ---------------------------------------------------------------------------------------------------
# Backwards models
# ---------------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------------
# One run
# ---------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def _pretrained(name: str) -> tuple[Any, list[str]]:
    """A registry LM loaded once per process, with fastbook's fine-tuning dropouts (x 0.3).

    Safe to share: ``match_embeddings`` returns a new model and ``build_classifier`` copies weights.
    """
    model, itos = lm_recipes.load_lm(name, drop_mult=lm_recipes.FINETUNE_DROP_MULT)
    return model, list(itos)


def _resolve_pretrained(pretrained) -> tuple[Any, list[str]]:
    """A loaded ``(model, itos)``: from a name or path, or ``None`` for the course's model
    (``pretrained.course_model()``: general-fwd where present, else fastai's wt103-fwd)."""
    if pretrained is None:
        pretrained = course_model()
    return _pretrained(str(pretrained)) if isinstance(pretrained, (str, Path)) else pretrained


def stage2(
    pretrained,
    train_texts: Sequence[str],
    valid_texts: Sequence[str] | None,
    finetune: bool = True,
    backwards: bool = False,
    seed: int = 0,
    lm_options: Mapping[str, Any] | None = None,
    device: str = DEFAULT_DEVICE,
) -> tuple[Any, list[str]]:
    """(language model, itos) for stage 3: fine-tuned on the training texts as ``train-classifier``
    does it (``pipeline.STAGE2_OPTIONS``: the corpus softmax, dev scored before and after only;
    ``lm_options`` override), or only moved to the extended vocabulary (``finetune=False``:
    ``finetune_lm`` with no epochs)."""
    old_model, old_itos = _resolve_pretrained(pretrained)
    options = dict(progress=False, seed=seed, device=device, backwards=backwards)
    if finetune:
        options |= STAGE2_OPTIONS | dict(lm_options or {})
    else:
        valid_texts, options = None, options | dict(frozen_epochs=0, epochs=0)
    lm = lm_recipes.finetune_lm((old_model, old_itos), list(train_texts), valid_texts, **options)
    return lm.model, lm.vocab.itos


def run_method(
    method: str,
    data: Mapping[str, pd.DataFrame],
    seed: int = 0,
    quick: bool = False,
    pretrained=None,
    backwards: bool = False,
    lm: tuple[Any, list[str]] | None = None,
    lm_options: Mapping[str, Any] | None = None,
    clas_options: Mapping[str, Any] | None = None,
    treatment: Mapping[str, Any] | None = None,
    device: str = DEFAULT_DEVICE,
) -> tuple[dict[str, Any], np.ndarray]:
    """Train one method on ``data['train']`` (validating on ``data['dev']``), score it on
    ``data['test']``. Returns (a result row, the test probabilities (n_test, n_classes), columns in
    sorted label order). ``lm``: a stage-2 result to reuse (ablations share one per seed).
    ``device``: where stage 2 and stage 3 train (the row records it).

    ``treatment``: ``class_weights`` / ``tune_decision`` (``IMBALANCE_TREATMENTS``) for every method
    but majority. Where a decision rule was tuned on dev, the row's ``accuracy`` / ``macro_f1`` are
    the tuned rule's and ``accuracy_untuned`` / ``macro_f1_untuned`` the plain argmax's; the returned
    probabilities are the model's either way. With a treatment the row also has ``dev_accuracy`` /
    ``dev_macro_f1``, for choosing a treatment without test: under a tuned rule, cross-fitted
    (``metrics.cross_fitted_offset_scores``: each dev row scored with offsets tuned on the others).

    Multi-label data (a ``labels`` column, ``goemotions-28``): sigmoids per label for ULMFiT and
    scratch, one-vs-rest for TF-IDF; the plain rule is 0.5 per label, the tuned one a threshold per
    label (``metrics.tune_thresholds``, cross-fitted on dev likewise); ``accuracy`` is exact match
    and the per-label columns are each label's F1. Majority is single-label only."""
    train, dev, test = data["train"], data["dev"], data["test"]
    multi = "labels" in train.columns
    col = "labels" if multi else "label"
    names = _label_names(pd.concat([train, dev, test]) if multi else train)
    y_test = encode_labels(test[col].tolist(), names, multi, "test")
    y_dev = encode_labels(dev[col].tolist(), names, multi, "dev")
    treated = treatment is not None
    treatment = dict(treatment or {})
    tune = treatment.get("tune_decision") == "macro_f1"
    rule = None  # a decision rule tuned on dev (offsets; multi-label thresholds), if asked for
    dev_probs = None  # with a treatment: the dev probabilities, for the dev columns
    start = time.time()
    if method == "majority":
        if multi:
            raise ValueError("majority is a single-label baseline; goemotions-28 is multi-label")
        probs = np.zeros((len(test), len(names)))
        probs[:, names.index(majority_class(train["label"]))] = 1.0
    elif method == "tfidf_logreg":
        weights = (
            [treatment["class_weights"]] if "class_weights" in treatment else (None, "balanced")
        )
        model = _tfidf_logreg(train, dev, weights, names, tune)
        probs = model.predict_proba(test["text"].tolist())
        if treated:
            dev_probs = model.predict_proba(dev["text"].tolist())
        if tune:
            rule = (
                tune_thresholds(dev_probs, y_dev)
                if multi
                else tune_class_offsets(dev_probs, y_dev, len(names))
            )
    elif method in ("ulmfit", "ulmfit_no_lm_ft", "scratch"):
        lm_opts = (QUICK_LM if quick else {}) | dict(lm_options or {})
        options = dict(QUICK_CLAS if quick else {}) | dict(clas_options or {}) | treatment
        if options.get("stages") == "last":
            options["stages"] = [(-1, options.pop("epochs", CLAS_EPOCHS))]
        if method == "scratch":
            source, vocab = None, None
        else:
            if lm is None:
                lm = stage2(
                    pretrained,
                    train["text"].tolist(),
                    dev["text"].tolist(),
                    method == "ulmfit",
                    backwards,
                    seed,
                    lm_opts,
                    device,
                )
            source = lm
            vocab = (ReversedVocab if backwards else Vocab)(list(lm[1]))
        if multi:  # thresholds tuned only when the treatment asks: plain is 0.5 per label
            options |= dict(multi_label=True, tune_threshold=tune)
        result = train_classifier(
            train["text"].tolist(),
            train[col].tolist(),
            dev["text"].tolist(),
            dev[col].tolist(),
            lm=source,
            vocab=vocab,
            label_names=names,
            seed=seed,
            progress=False,
            device=device,
            **options,
        )
        probs = result.classifier.predict_proba(test["text"].tolist()).numpy()
        rule = (result.thresholds if tune else None) if multi else result.offsets
        if treated:
            dev_probs = result.classifier.predict_proba(dev["text"].tolist()).numpy()
    else:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")

    def scores(probs, y, rule=None):
        if multi:
            return metrics_from_probs(probs, y, names, True, thresholds=rule)
        return metrics_from_probs(probs, y, names, offsets=rule)

    per_class = "label_f1" if multi else "class_f1"
    metrics = scores(probs, y_test, rule)
    row = dict(
        method=method,
        seed=seed,
        n_train=len(train),
        n_test=len(test),
        accuracy=metrics["accuracy"],
        macro_f1=metrics["macro_f1"],
        seconds=round(time.time() - start, 1),
        mode="quick" if quick else "full",
        device=device,
    )
    if treated:  # the imbalance runs: each class's test F1, for the per-class bars
        row.update({f"f1_{name}": f for name, f in zip(names, metrics[per_class])})
    if rule is not None:
        plain = scores(probs, y_test)
        row.update(accuracy_untuned=plain["accuracy"], macro_f1_untuned=plain["macro_f1"])
        if treated:
            row.update({f"f1_{name}_untuned": f for name, f in zip(names, plain[per_class])})
    if dev_probs is not None:
        m = scores(dev_probs, y_dev)
        if rule is not None:
            row.update(dev_accuracy_untuned=m["accuracy"], dev_macro_f1_untuned=m["macro_f1"])
            m = (
                cross_fitted_threshold_scores(dev_probs, y_dev)
                if multi
                else cross_fitted_offset_scores(dev_probs, y_dev, len(names))
            )
        row.update(dev_accuracy=m["accuracy"], dev_macro_f1=m["macro_f1"])
    return row, probs


def _argmax_row(tuned: dict[str, Any]) -> dict[str, Any]:
    """The row of the same trained model decided by plain argmax, from a tuned row's ``*_untuned``
    columns: a treatment that differs from another only in its decision rule need not train again."""
    row = {k: v for k, v in tuned.items() if not k.endswith("_untuned")}
    for key, value in tuned.items():
        if key.endswith("_untuned"):
            row[key[: -len("_untuned")]] = value
    return row


def _tfidf_logreg(
    train: pd.DataFrame,
    dev: pd.DataFrame,
    class_weights: Sequence = (None, "balanced"),
    label_names: Sequence[str] | None = None,
    tune: bool = False,
) -> TfidfLogReg:
    """TF-IDF (uni+bigrams) + logistic regression with C and class weights (among
    ``class_weights``) picked on dev macro-F1. Multi-label data (a ``labels`` column): one-vs-rest,
    scored at 0.5 per label, or (``tune``) at thresholds tuned on dev, the rule it will be used
    with (the same rows tune and score it, so the score flatters every C alike)."""
    multi = "labels" in train.columns
    col = "labels" if multi else "label"
    best, best_score = None, -1.0
    for C in (1.0, 10.0, 100.0):
        for class_weight in class_weights:
            model = TfidfLogReg(C=C, class_weight=class_weight)
            model.fit(train["text"].tolist(), train[col].tolist(), label_names)
            y = encode_labels(dev[col].tolist(), model.label_names, multi, "dev")
            probs = model.predict_proba(dev["text"].tolist())
            rule = tune_thresholds(probs, y) if multi and tune else None
            score = metrics_from_probs(probs, y, None, multi, thresholds=rule)["macro_f1"]
            if score > best_score:
                best, best_score = model, score
    return best


# ---------------------------------------------------------------------------------------------------
# Runners
# ---------------------------------------------------------------------------------------------------


def _finish(rows: list[dict], out: str | Path | None, name: str) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        df.to_csv(Path(out) / f"{name}.csv", index=False)
    return df


def _log(row: dict, verbose: bool) -> None:
    if verbose:
        shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
        print(shown, flush=True)


def compare_methods(
    task: str = "poems-3class",
    seeds: Sequence[int] = (0,),
    quick: bool = True,
    methods: Sequence[str] = METHODS,
    pretrained=None,
    data: Mapping[str, pd.DataFrame] | None = None,
    out: str | Path | None = None,
    verbose: bool = False,
    **options: Any,
) -> pd.DataFrame:
    """Item 1: each method x seed on ``task``. ``options`` go to ``run_method`` (``lm_options``,
    ``clas_options``, ``device``)."""
    rows, cache = [], {}
    for seed in seeds:
        d = data or load_task(task, quick, seed)
        for method in methods:
            key = (method, int(pd.util.hash_pandas_object(d["train"]).sum()))
            if method in DETERMINISTIC and key in cache:  # same data, same answer: reuse it
                row = cache[key] | {"seed": seed}
            else:
                row, _ = run_method(method, d, seed, quick, pretrained, **options)
                cache[key] = row
            rows.append({"task": task} | row)
            _log(rows[-1], verbose)
            _finish(rows, out, f"compare_{task}")  # partial results survive an interruption
    return _finish(rows, out, f"compare_{task}")


def _variant_options(quick: bool, clas_options, variant: str) -> dict[str, Any]:
    """``train_classifier`` switches for a ``TUNING`` variant: quick mode's, then the variant's, then
    the caller's ``clas_options`` (which win: a test shrinks every variant to 2 epochs that way)."""
    return dict(QUICK_CLAS if quick else {}) | TUNING[variant] | dict(clas_options or {})


def _shared_lm(
    pretrained, d, quick: bool, seed: int, lm_options, finetune=True, device=DEFAULT_DEVICE
):
    """One stage-2 LM (fine-tuned on ``d``'s training texts, unless ``finetune`` is False) for every
    stage-3 variant of a seed: ``(model, itos)``."""
    lm_opts = (QUICK_LM if quick else {}) | dict(lm_options or {})
    texts, dev = d["train"]["text"].tolist(), d["dev"]["text"].tolist()
    return stage2(pretrained, texts, dev, finetune, False, seed, lm_opts, device)


def ablations(
    task: str = "poems-3class",
    seeds: Sequence[int] = (0,),
    quick: bool = True,
    variants: Sequence[str] = tuple(ABLATIONS),
    pretrained=None,
    data: Mapping[str, pd.DataFrame] | None = None,
    out: str | Path | None = None,
    verbose: bool = False,
    lm_options: Mapping[str, Any] | None = None,
    clas_options: Mapping[str, Any] | None = None,
    device: str = DEFAULT_DEVICE,
) -> pd.DataFrame:
    """Item 2 (Table 7 style): stage-3 variants on one fine-tuned LM per seed (``ABLATIONS``)."""
    rows = []
    for seed in seeds:
        d = data or load_task(task, quick, seed)
        lm = _shared_lm(pretrained, d, quick, seed, lm_options, device=device)
        for variant in variants:
            opts = dict(clas_options or {}) | ABLATIONS[variant]
            row, _ = run_method("ulmfit", d, seed, quick, lm=lm, clas_options=opts, device=device)
            rows.append({"task": task, "variant": variant} | row)
            _log(rows[-1], verbose)
            _finish(rows, out, f"ablations_{task}")
    return _finish(rows, out, f"ablations_{task}")


def sample_efficiency(
    task: str = "poems-3class",
    sizes: Sequence[int | None] = (25, 50, 100, 200, None),
    seeds: Sequence[int] = (0,),
    quick: bool = True,
    methods: Sequence[str] = ("ulmfit", "scratch", "tfidf_logreg"),
    pretrained=None,
    data: Mapping[str, pd.DataFrame] | None = None,
    out: str | Path | None = None,
    verbose: bool = False,
    **options: Any,
) -> pd.DataFrame:
    """Item 3 (Figure 3 style): test accuracy against the number of labelled training examples
    (``None`` = all), stratified subsets drawn per seed. ULMFiT fine-tunes its LM on the subset's
    texts only (the paper's "supervised" curve)."""
    rows = []
    for seed in seeds:
        full = data or load_task(task, quick, seed)
        for size in sizes:
            d = dict(full) | {"train": _subset(full["train"], size, seed)}
            for method in methods:
                row, _ = run_method(method, d, seed, quick, pretrained, **options)
                rows.append({"task": task, "size": size or len(full["train"])} | row)
                _log(rows[-1], verbose)
                _finish(rows, out, f"sample_efficiency_{task}")
    return _finish(rows, out, f"sample_efficiency_{task}")


def tune_stage3(
    task: str = "poems-3class",
    seeds: Sequence[int] = (0,),
    quick: bool = True,
    variants: Sequence[str] = tuple(TUNING),
    pretrained=None,
    data: Mapping[str, pd.DataFrame] | None = None,
    out: str | Path | None = None,
    verbose: bool = False,
    lm_options: Mapping[str, Any] | None = None,
    clas_options: Mapping[str, Any] | None = None,
    device: str = DEFAULT_DEVICE,
) -> pd.DataFrame:
    """Stage-3 variants (``TUNING``) on one fine-tuned LM per seed, scored on dev *and* test after
    every epoch: one row per (variant, seed, epoch). A variant is chosen on the dev columns only
    (``tuning_summary``); the test columns report what the choice is worth. Scoring every epoch also
    shows what keeping the best dev epoch (``train_classifier(keep_best=...)``) would have given."""
    rows = []
    for seed in seeds:
        d = data or load_task(task, quick, seed)
        lm = _shared_lm(pretrained, d, quick, seed, lm_options, device=device)
        vocab = Vocab(list(lm[1]))
        names = _label_names(d["train"])
        y_test = encode_labels(d["test"]["label"].tolist(), names, False, "test")
        for variant in variants:
            per_epoch: list[dict] = []
            score_test = _epoch_scorer(d["test"]["text"].tolist(), y_test, vocab, names, per_epoch)
            options = _variant_options(quick, clas_options, variant)
            start = time.time()
            train_classifier(
                d["train"]["text"].tolist(),
                d["train"]["label"].tolist(),
                d["dev"]["text"].tolist(),
                d["dev"]["label"].tolist(),
                lm=lm,
                vocab=vocab,
                label_names=names,
                seed=seed,
                progress=False,
                device=device,
                on_epoch=score_test,
                **options,
            )
            seconds = round(time.time() - start, 1)
            for r in per_epoch:
                rows.append(
                    dict(task=task, variant=variant, seed=seed, n_epochs=len(per_epoch))
                    | r
                    | dict(seconds=seconds, mode="quick" if quick else "full", device=device)
                )
            _log(rows[-1], verbose)
            _finish(rows, out, f"tuning_{task}")
    return _finish(rows, out, f"tuning_{task}")


def stratified_folds(labels: Sequence, k: int, seed: int = 0) -> np.ndarray:
    """A fold number (0..k-1) per example: each label's examples shuffled (seeded) and dealt out in
    turn, so every fold gets each label's share to within one example."""
    labels = np.asarray([str(v) for v in labels])
    fold = np.empty(len(labels), dtype=int)
    rng = np.random.default_rng(seed)
    start = 0  # carry the dealing position over labels, so fold sizes also differ by one at most
    for label in sorted(set(labels)):
        rows = rng.permutation(np.flatnonzero(labels == label))
        fold[rows] = (start + np.arange(len(rows))) % k
        start += len(rows)
    return fold


def cross_validate_stage3(
    task: str = "poems-3class",
    k: int = 3,
    seed: int = 0,
    quick: bool = True,
    variants: Sequence[str] = tuple(TUNING),
    folds: Sequence[int] | None = None,
    pretrained=None,
    data: Mapping[str, pd.DataFrame] | None = None,
    out: str | Path | None = None,
    verbose: bool = False,
    lm_options: Mapping[str, Any] | None = None,
    clas_options: Mapping[str, Any] | None = None,
    finetune_lm: bool = True,
    device: str = DEFAULT_DEVICE,
) -> pd.DataFrame:
    """Rank stage-3 variants on a bigger selection set than dev: ``k`` stratified folds of the
    training split, each held out in turn as the validation set (``folds``: which of them to run,
    default all). Scores: the held-out fold after the last epoch; one row per (variant, fold).

    Why: the poems' dev split has 105 verses, and in ``tune_stage3`` its ranking of the variants did
    not carry over to test. k-fold over the 843 training verses ranks them on 843 held-out verses, and
    never on the test split. One stage-2 LM serves every fold: fine-tuned on all training texts (it
    never sees a label), as in ``tune_stage3``. ``finetune_lm=False`` skips stage 2 (the pretrained
    LM, moved to the training texts' vocabulary), asking the same question of stage 2 itself; its
    rows' variants are named with the suffix ``NO_LM_FT`` and go to ``cv_<task>_no_lm_ft.csv``.
    """
    stem = f"cv_{task}" if finetune_lm else f"cv_{task}_no_lm_ft"
    d = data or load_task(task, quick, seed)
    lm = _shared_lm(pretrained, d, quick, seed, lm_options, finetune_lm, device)
    vocab = Vocab(list(lm[1]))
    names = _label_names(d["train"])
    fold_of = stratified_folds(d["train"]["label"], k, seed)
    rows = []
    for fold in range(k) if folds is None else folds:
        train, held = d["train"][fold_of != fold], d["train"][fold_of == fold]
        for variant in variants:
            options = _variant_options(quick, clas_options, variant)
            start = time.time()
            result = train_classifier(
                train["text"].tolist(),
                train["label"].tolist(),
                held["text"].tolist(),
                held["label"].tolist(),
                lm=lm,
                vocab=vocab,
                label_names=names,
                seed=seed,
                progress=False,
                device=device,
                **options,
            )
            last = result.history[-1]
            name = variant if finetune_lm else variant + NO_LM_FT
            rows.append(
                dict(
                    task=task,
                    variant=name,
                    fold=fold,
                    seed=seed,
                    n_train=len(train),
                    n_valid=len(held),
                    accuracy=last["accuracy"],
                    macro_f1=last["macro_f1"],
                    seconds=round(time.time() - start, 1),
                    mode="quick" if quick else "full",
                    device=device,
                )
            )
            _log(rows[-1], verbose)
            _finish(rows, out, stem)
    return _finish(rows, out, stem)


def _epoch_scorer(test_texts, y_test, vocab, names, per_epoch: list[dict]):
    """An ``on_epoch`` callback appending the epoch's dev scores and its test scores to ``per_epoch``.
    (It leaves the model in eval mode; ``train_classifier`` switches back at the next epoch.)"""

    def score(record, model, optimizer):
        probs = TextClassifier(model, vocab, names).predict_proba(test_texts).numpy()
        m = metrics_from_probs(probs, y_test, names)
        per_epoch.append(
            dict(
                epoch=record["epoch"] + 1,
                dev_loss=record["valid_loss"],
                dev_accuracy=record["accuracy"],
                dev_macro_f1=record["macro_f1"],
                accuracy=m["accuracy"],
                macro_f1=m["macro_f1"],
            )
        )

    return score


def goemotions_compare(
    seeds: Sequence[int] = (0,),
    quick: bool = True,
    methods: Sequence[str] = METHODS,
    data: Mapping[str, pd.DataFrame] | None = None,
    out: str | Path | None = None,
    verbose: bool = False,
    **options: Any,
) -> pd.DataFrame:
    """Item 4: ``compare_methods`` on GoEmotions' Ekman view (subset sizes: ``GOEMOTIONS_SIZES``)."""
    return compare_methods(
        "goemotions-ekman", seeds, quick, methods, data=data, out=out, verbose=verbose, **options
    )


def goemotions_imbalance(
    seeds: Sequence[int] = (0,),
    quick: bool = True,
    methods: Sequence[str] = ("ulmfit", "tfidf_logreg"),
    treatments: Sequence[str] = tuple(IMBALANCE_TREATMENTS),
    sizes: Sequence[int | str | None] = (None,),
    pretrained=None,
    data: Mapping[str, pd.DataFrame] | None = None,
    out: str | Path | None = None,
    verbose: bool = False,
    lm_options: Mapping[str, Any] | None = None,
    clas_options: Mapping[str, Any] | None = None,
    device: str = DEFAULT_DEVICE,
    task: str = "goemotions-ekman",
) -> pd.DataFrame:
    """Issue 22: GoEmotions' Ekman view (or ``task='goemotions-28'``, the 28 labels, multi-label)
    with each class-imbalance treatment (``IMBALANCE_TREATMENTS``) given to every method alike, at
    several training sizes. One row per (size, method, treatment, seed), with a ``treatment`` and a
    ``size`` column; ``accuracy`` / ``macro_f1`` on the test split under the treatment's decision
    rule (``*_untuned``: the argmax, or 0.5 per label, where a rule was tuned on dev). Written to
    ``imbalance_<task>.csv``.

    ``sizes``: ``None`` = ``load_task``'s training subset (``GOEMOTIONS_SIZES``), an int = a
    stratified (multi-label: random) subset of that many comments of the whole training split
    (drawn with the seed), ``"all"`` = the whole split. With ``data`` given, subsets come from
    ``data['train']``.
    One stage-2 LM per (seed, size) serves every ulmfit treatment: they differ in stage 3 only; and
    treatments that differ only in the decision rule share one trained model (``plain`` is ``tuned
    decision``'s model decided by argmax, so their rows share ``seconds``). Rows also hold each
    class's test F1 (``f1_<label>``).
    """
    rows, whole = [], None
    multi = task == "goemotions-28"
    name = f"imbalance_{task}"
    for seed in seeds:
        full = data or load_task(task, quick, seed)
        for size in sizes:
            train = full["train"]
            if size is not None:
                if whole is None:
                    view = "multilabel" if multi else "ekman"
                    whole = data["train"] if data is not None else load_goemotions("train", view)
                draw = _sample if multi else _subset
                train = whole if size == "all" else draw(whole, int(size), seed)
            d = dict(full) | {"train": train.reset_index(drop=True)}
            lm = None
            for method in methods:
                if method == "ulmfit":
                    lm = _shared_lm(pretrained, d, quick, seed, lm_options, device=device)
                trained = {}  # class weights -> the row of the model trained with them, tuned
                for t in treatments:
                    treatment = IMBALANCE_TREATMENTS[t]
                    weights = treatment["class_weights"]
                    if weights not in trained:  # train once, with the rule tuned: both rows
                        tunes = any(
                            IMBALANCE_TREATMENTS[u]["class_weights"] == weights
                            and IMBALANCE_TREATMENTS[u]["tune_decision"]
                            for u in treatments
                        )
                        trained[weights], _ = run_method(
                            method,
                            d,
                            seed,
                            quick,
                            pretrained,
                            lm=lm if method == "ulmfit" else None,
                            clas_options=clas_options,
                            treatment=treatment | dict(tune_decision="macro_f1" if tunes else None),
                            device=device,
                        )
                    row = trained[weights]
                    if not treatment["tune_decision"] and "macro_f1_untuned" in row:
                        row = _argmax_row(row)
                    rows.append({"task": task, "treatment": t, "size": len(d["train"])} | row)
                    _log(rows[-1], verbose)
                    _finish(rows, out, name)
    return _finish(rows, out, name)


def ensemble(
    task: str = "poems-3class",
    seeds: Sequence[int] = (0,),
    quick: bool = True,
    pretrained_fwd=None,
    pretrained_bwd=None,
    data: Mapping[str, pd.DataFrame] | None = None,
    out: str | Path | None = None,
    verbose: bool = False,
    **options: Any,
) -> pd.DataFrame:
    """Item 5 (ULMFiT §4 "bidirectional"): a forward and a backward ULMFiT classifier per seed,
    their test probabilities averaged. Rows: ``direction`` = ``fwd``, ``bwd``, ``fwd+bwd``."""
    rows = []
    for seed in seeds:
        d = data or load_task(task, quick, seed)
        names = _label_names(d["train"])
        y_test = encode_labels(d["test"]["label"].tolist(), names, False, "test")
        probs = {}
        for direction, source in (("fwd", pretrained_fwd), ("bwd", pretrained_bwd)):
            source = source or course_model(direction)
            row, probs[direction] = run_method(
                "ulmfit", d, seed, quick, source, backwards=direction == "bwd", **options
            )
            rows.append({"task": task, "direction": direction} | row)
            _log(rows[-1], verbose)
        m = metrics_from_probs((probs["fwd"] + probs["bwd"]) / 2, y_test, names)
        both = dict(rows[-1])  # the bwd row's bookkeeping, with the averaged probabilities' scores
        both.update(
            direction="fwd+bwd",
            accuracy=m["accuracy"],
            macro_f1=m["macro_f1"],
            seconds=rows[-1]["seconds"] + rows[-2]["seconds"],
        )
        rows.append(both)
        _log(rows[-1], verbose)
        _finish(rows, out, f"ensemble_{task}")
    return _finish(rows, out, f"ensemble_{task}")


__all__ = [
    "METHODS",
    "TASKS",
    "ABLATIONS",
    "load_task",
    "stage2",
    "run_method",
    "compare_methods",
    "ablations",
    "sample_efficiency",
    "goemotions_compare",
    "IMBALANCE_TREATMENTS",
    "goemotions_imbalance",
    "ensemble",
    "TUNING",
    "tune_stage3",
    "CV_VARIANTS",
    "stratified_folds",
    "cross_validate_stage3",
]
