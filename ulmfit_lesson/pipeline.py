"""ULMFiT stages 2 and 3 in one call, on DataFrames: fine-tune the language model on the task's
texts (``lm_recipes.finetune_lm``, §3.2), then the classifier on top (``clas_recipes
.train_classifier``, §3.3). The command line (``train-classifier``) and the notebooks use it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import lm_recipes
from .clas_recipes import ClassifierResult, train_classifier
from .language_model import LanguageModel
from .pretrained import course_model

# Stage 2 as a classifier's encoder needs it (train-classifier, the experiments): a softmax over the
# target texts' words only, and the dev texts scored before and after fine-tuning, not every epoch.
STAGE2_OPTIONS = dict(corpus_softmax=True, validate_epochs=False)


@dataclass
class PipelineResult:
    """``classifier``: the stage-3 result; ``lm``: the stage-2 ``LMResult`` (None if skipped)."""

    classifier: ClassifierResult
    lm: Any = None
    seconds: float = 0.0


def ulmfit_pipeline(
    train_df,
    valid_df=None,
    pretrained: str | Path | tuple[LanguageModel, Sequence[str]] | None = None,
    finetune_lm: bool = True,
    *,
    text_col: str = "text",
    label_col: str = "label",
    lm_options: Mapping[str, Any] | None = None,
    lm_extra_texts: Sequence[str] | None = None,
    lm_out_dir: str | Path | None = None,
    min_freq: int = 3,
    progress: bool = True,
    device: str = "auto",
    **classifier_options: Any,
) -> PipelineResult:
    """ULMFiT stages 2 and 3 on DataFrames (columns ``text_col``, ``label_col``).

    Stage 2 (``finetune_lm=True``, ULMFiT §3.2): ``lm_recipes.finetune_lm`` extends the pretrained
    vocabulary with the training texts' new words (count >= ``min_freq``), moves the embeddings
    (new words start at the mean vector) and fine-tunes the LM on the training texts (plus
    ``lm_extra_texts``, e.g. unlabelled ones), validating on ``valid_df``'s texts. ``lm_options``
    go to ``finetune_lm`` (``epochs``, ``lr``, ``max_tokens``, ...); its softmax scores only the
    target texts' words (``corpus_softmax=True``: the LM here is the classifier's encoder, and a
    step costs 1.6x less), and it scores ``valid_df``'s texts before and after training only
    (``validate_epochs=False``: the same weights, without an evaluation after every epoch).
    Without stage 2 (Table 6 "no LM fine-tuning"), ``finetune_lm`` runs with no epochs: the
    vocabulary is extended and the embeddings moved the same way, but the LM is not trained on the
    target texts (``lm_options`` do not apply, and the result's ``lm`` is None).
    ``pretrained``: a registry name, a fastai folder/archive, one of our LM checkpoints, a loaded
    ``(model, itos)``, or ``None`` for ``pretrained.course_model()``.
    Stage 3: ``train_classifier(...)`` with ``classifier_options`` (``epochs``, ``lr``, ``bs``,
    ``multi_label``, ``seed``, the ablation switches, ...).
    """
    start = time.time()
    if pretrained is None:  # the course's model: general-fwd where present, else wt103-fwd
        pretrained = course_model()
    train_texts = train_df[text_col].astype(str).tolist()
    valid_texts = valid_df[text_col].astype(str).tolist() if valid_df is not None else None
    lm_texts = train_texts + list(lm_extra_texts or [])
    lm_result = None
    options = dict(progress=progress, device=device, min_freq=min_freq)
    if finetune_lm:
        options |= STAGE2_OPTIONS | dict(lm_options or {})
        options.setdefault("seed", classifier_options.get("seed", 0))
        lm = lm_result = lm_recipes.finetune_lm(
            pretrained, lm_texts, valid_texts, out_dir=lm_out_dir, **options
        )
    else:  # Table 6 "no LM fine-tuning": the same vocabulary and embeddings, no training
        lm = lm_recipes.finetune_lm(pretrained, lm_texts, frozen_epochs=0, epochs=0, **options)
        lm_result = None
    valid_labels = valid_df[label_col].tolist() if valid_df is not None else None
    clas = train_classifier(
        train_texts,
        train_df[label_col].tolist(),
        valid_texts,
        valid_labels,
        lm=lm,
        progress=progress,
        device=device,
        **classifier_options,
    )
    return PipelineResult(clas, lm_result, time.time() - start)


__all__ = ["STAGE2_OPTIONS", "PipelineResult", "ulmfit_pipeline"]
