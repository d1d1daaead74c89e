"""The training settings: ULMFiT's values written once, frozen, quick variants, plain records."""

import dataclasses

import pytest

from ulmfit_lesson import clas_recipes, classifier, lm_loader, lm_recipes
from ulmfit_lesson.config import (
    BPTT,
    PRETRAIN_LM,
    ClasTrainConfig,
    LMTrainConfig,
    scaled_dropouts,
)


def test_the_papers_values():
    lm, clas = LMTrainConfig(), ClasTrainConfig()
    assert BPTT == lm.bptt == clas.bptt == 70 and lm.bs == clas.bs == 64
    assert lm.lr == 4e-3 and clas.lr == 1e-2 and lm.betas == clas.betas == (0.7, 0.99)
    assert (lm.alpha, lm.beta) == (clas.alpha, clas.beta) == (2.0, 1.0)
    assert lm.clip == 0.3 and clas.clip == 25.0 and clas.lr_factor == 2.6
    assert PRETRAIN_LM.schedule == "one_cycle" and PRETRAIN_LM.wd == 0.1


def test_the_recipes_defaults_read_the_configs():
    assert clas_recipes.CLAS_EPOCHS == ClasTrainConfig().epochs
    assert lm_recipes.FINETUNE_LR == LMTrainConfig().lr
    assert lm_recipes.FINETUNE_DROP_MULT == LMTrainConfig().drop_mult
    assert classifier.BPTT == BPTT and lm_loader.LMLoader.__init__.__defaults__[1] == BPTT


def test_frozen_replace_quick_and_to_dict():
    config = LMTrainConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.lr = 1.0
    changed = config.replace(lr=1e-3)
    assert changed.lr == 1e-3 and config.lr == 4e-3
    with pytest.raises(TypeError):
        config.replace(learning_rate=1e-3)  # a typo is an error, not a new setting
    quick = config.quick()
    assert (quick.frozen_epochs, quick.epochs) == (1, 1) and ClasTrainConfig().quick().epochs == 4
    plain = config.to_dict()
    assert plain["betas"] == [0.7, 0.99] and plain["bptt"] == 70  # JSON-ready
    assert ClasTrainConfig().to_dict()["keep_best"] is None


def test_drop_mult_scales_every_dropout():
    assert scaled_dropouts({"input_p": 0.4, "weight_p": 0.2}, 0.5) == {
        "input_p": 0.2,
        "weight_p": 0.1,
    }


def test_classifier_settings_that_cannot_work_are_refused_when_made():
    import pytest

    from ulmfit_lesson.config import ClasTrainConfig

    for bad, match in [
        (dict(patience=0), "at least 1 epoch"),
        (dict(label_smoothing=1.0), r"label_smoothing must be in \[0, 1\)"),
        (dict(class_weights="inverse"), "class_weights must be None or 'balanced'"),
        (dict(tune_decision="accuracy"), "tune_decision must be None or 'macro_f1'"),
    ]:
        with pytest.raises(ValueError, match=match):
            ClasTrainConfig(**bad)
    assert ClasTrainConfig(patience=2, label_smoothing=0.1).patience == 2
