"""Schedules: STLR (ULMFiT §3.2, eq. 3), one-cycle, discriminative LRs, layer groups, unfreezing."""

import math

import pytest
import torch
from torch import nn

from ulmfit_lesson.schedules import (
    DISCRIMINATIVE_FACTOR,
    STLR_CUT_FRAC,
    STLR_RATIO,
    Schedule,
    UnfreezeStage,
    clas_layer_groups,
    discriminative_lrs,
    freeze_to,
    gradual_unfreezing,
    lr_at_step,
    one_cycle,
    one_cycle_moms,
    param_groups,
    slanted_triangular,
    trainable_groups,
)

# --------------------------------------------------------------------------------------------------
# Stand-ins with the attribute names of AWDLSTM / LanguageModel (the real ones live in awd_lstm.py
# and models.py); tiny, so the tests need no real model.
# --------------------------------------------------------------------------------------------------


class FakeEmbeddingDropout(nn.Module):
    def __init__(self, emb):
        super().__init__()
        self.emb = emb  # holds the same embedding, as dropout.EmbeddingDropout does


class FakeWeightDropout(nn.Module):
    def __init__(self, module):
        super().__init__()
        self.module = module
        self.weight_hh_l0_raw = nn.Parameter(
            torch.zeros(4 * module.hidden_size, module.hidden_size)
        )


class FakeAWDLSTM(nn.Module):
    def __init__(self, vocab_size=11, emb_size=4, hidden_size=6, n_layers=3):
        super().__init__()
        self.encoder = nn.Embedding(vocab_size, emb_size)
        self.encoder_dp = FakeEmbeddingDropout(self.encoder)
        sizes = [emb_size] + [hidden_size] * (n_layers - 1) + [emb_size]
        self.rnns = nn.ModuleList(
            FakeWeightDropout(nn.LSTM(sizes[i], sizes[i + 1], batch_first=True))
            for i in range(n_layers)
        )
        self.input_dp = nn.Dropout(0.1)
        self.hidden_dps = nn.ModuleList(nn.Dropout(0.1) for _ in range(n_layers))


class FakeLinearDecoder(nn.Module):
    def __init__(self, emb: nn.Embedding):
        super().__init__()
        self.decoder = nn.Linear(emb.embedding_dim, emb.num_embeddings)
        self.decoder.weight = emb.weight  # weight tying


class FakeLanguageModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = FakeAWDLSTM()
        self.decoder = FakeLinearDecoder(self.encoder.encoder)


# --------------------------------------------------------------------------------------------------
# STLR
# --------------------------------------------------------------------------------------------------


def test_stlr_paper_constants():
    assert STLR_CUT_FRAC == 0.1 and STLR_RATIO == 32 and DISCRIMINATIVE_FACTOR == 2.6


def test_stlr_hand_computed_values():
    T, lr = 1000, 0.01  # cut = 100
    assert slanted_triangular(0, T, lr) == pytest.approx(lr / 32)
    assert slanted_triangular(100, T, lr) == pytest.approx(lr)
    assert slanted_triangular(T, T, lr) == pytest.approx(lr / 32)
    # warm-up, t = 50: p = 0.5 -> lr * (1 + 0.5 * 31) / 32 = lr * 16.5 / 32
    assert slanted_triangular(50, T, lr) == pytest.approx(0.01 * 16.5 / 32)
    # decay, t = 400: p = 1 - 300 / (100 * 9) = 2/3 -> lr * (1 + 31 * 2/3) / 32
    assert slanted_triangular(400, T, lr) == pytest.approx(0.01 * (1 + 62 / 3) / 32)
    lrs = [slanted_triangular(t, T, lr) for t in range(T + 1)]
    assert max(range(T + 1), key=lrs.__getitem__) == 100  # peak at cut
    assert min(lrs) == pytest.approx(lr / 32)
    # strictly up, then strictly down: a triangle
    assert all(a < b for a, b in zip(lrs[:100], lrs[1:101]))
    assert all(a > b for a, b in zip(lrs[100:], lrs[101:]))


def test_stlr_guards():
    # T not a multiple of 10: the LR is clamped at lr/ratio instead of going below it
    assert slanted_triangular(15, 15, 1.0) == pytest.approx(1 / 32)
    assert slanted_triangular(20, 10, 1.0) == pytest.approx(1 / 32)  # past the end
    # cut == 0 (T < 10): one warm-up step, then decay to the floor at T
    lrs = [slanted_triangular(t, 5, 1.0) for t in range(6)]
    assert lrs[0] == pytest.approx(1 / 32) and lrs[1] == pytest.approx(1.0)
    assert lrs[5] == pytest.approx(1 / 32)
    assert slanted_triangular(0, 1, 1.0) == pytest.approx(1 / 32)
    with pytest.raises(ValueError):
        slanted_triangular(0, 0, 1.0)


# --------------------------------------------------------------------------------------------------
# one-cycle
# --------------------------------------------------------------------------------------------------


def test_one_cycle_endpoints_and_midpoints():
    T, lr = 400, 1e-2  # warm-up ends at step 100
    assert one_cycle(0, T, lr) == pytest.approx(lr / 25)
    assert one_cycle(100, T, lr) == pytest.approx(lr)
    assert one_cycle(T, T, lr) == pytest.approx(lr / 1e5)
    assert one_cycle(T - 1, T, lr) < lr / 1000
    # half-way through each cosine: the mean of its two ends
    assert one_cycle(50, T, lr) == pytest.approx((lr / 25 + lr) / 2)
    assert one_cycle(250, T, lr) == pytest.approx((lr + lr / 1e5) / 2)
    lrs = [one_cycle(t, T, lr) for t in range(T + 1)]
    assert max(range(T + 1), key=lrs.__getitem__) == 100


def test_one_cycle_momentum_mirrors_lr():
    T = 400
    assert one_cycle_moms(0, T) == pytest.approx(0.8)
    assert one_cycle_moms(100, T) == pytest.approx(0.7)
    assert one_cycle_moms(T, T) == pytest.approx(0.8)
    assert one_cycle_moms(50, T) == pytest.approx(0.75)


# --------------------------------------------------------------------------------------------------
# discriminative LRs and the per-step schedule
# --------------------------------------------------------------------------------------------------


def test_discriminative_lrs():
    lrs = discriminative_lrs(0.01, 5)
    assert lrs[-1] == 0.01
    assert lrs[0] == pytest.approx(0.01 / 2.6**4)
    for low, high in zip(lrs, lrs[1:]):
        assert high / low == pytest.approx(2.6)
    assert discriminative_lrs(0.5, 1) == [0.5]
    assert discriminative_lrs(1.0, 3, factor=2.0) == [0.25, 0.5, 1.0]


def test_finetune_epochs_scale_with_the_corpus():
    """Stage 2's unfrozen epochs: round(150,000 / tokens), between 2 and 4."""
    from ulmfit_lesson.schedules import finetune_epochs

    assert finetune_epochs(8_023) == 4  # the 843 poems: 150,000 / 8,023 = 18.7, capped at 4
    assert finetune_epochs(42_800) == 4  # 3.50: rounds up
    assert finetune_epochs(54_000) == 3  # about 3,000 GoEmotions comments: 2.78
    assert finetune_epochs(60_100) == 2  # 2.496
    assert finetune_epochs(71_738) == 2  # 4,000 comments (seed 0): 2.09
    assert finetune_epochs(10**7) == 2  # never below 2
    assert finetune_epochs(0) == 4  # an empty corpus is not a division by zero


def test_the_cli_help_states_the_finetune_epochs_rule():
    """``cli_args`` spells the rule out without importing torch; the numbers must be the rule's."""
    from ulmfit_lesson.cli_args import FINETUNE_EPOCHS_DEFAULT
    from ulmfit_lesson.schedules import finetune_epochs

    assert FINETUNE_EPOCHS_DEFAULT == "4 under about 43,000 tokens, 3 under 60,000, then 2"
    assert finetune_epochs(42_000) == 4 and finetune_epochs(43_000) == 3
    assert finetune_epochs(59_999) == 3 and finetune_epochs(60_000) == 2


def test_lr_at_step_and_schedule():
    lrs = discriminative_lrs(0.01, 4)
    assert lr_at_step(0, 100, lrs) == pytest.approx([lr / 32 for lr in lrs])
    assert lr_at_step(10, 100, lrs) == pytest.approx(lrs)  # cut = 10
    assert lr_at_step(0, 100, lrs, "one_cycle") == pytest.approx([lr / 25 for lr in lrs])
    assert lr_at_step(37, 100, lrs, "constant") == lrs
    assert lr_at_step(0, 100, [1.0], "stlr", ratio=10) == pytest.approx([0.1])
    sched = Schedule(total=100, lrs=lrs)
    for step in (0, 5, 10, 60, 100):
        assert sched(step) == lr_at_step(step, 100, lrs)
        # the 2.6 ratio between groups holds at every step
        assert sched(step)[1] / sched(step)[0] == pytest.approx(2.6)
    with pytest.raises(ValueError, match="unknown schedule"):
        lr_at_step(0, 10, lrs, "cosine")
    with pytest.raises(ValueError, match="unknown schedule"):
        Schedule(total=10, lrs=lrs, kind="cosine")


# --------------------------------------------------------------------------------------------------
# layer groups, parameter groups, freezing
# --------------------------------------------------------------------------------------------------


def lm_layer_groups(model: nn.Module) -> list[list[nn.Module]]:
    """The layer groups of a language model as ``LanguageModel.groups`` lays them out."""
    awd = model.encoder
    groups = [[rnn, dp] for rnn, dp in zip(awd.rnns, awd.hidden_dps)]
    return groups + [[awd.encoder, awd.encoder_dp, model.decoder]]


def test_lm_layer_groups_layout():
    from ulmfit_lesson.language_model import build_language_model

    model = build_language_model(12, emb_size=8, hidden_size=8, n_layers=3)
    groups = model.groups
    awd = model.encoder
    assert len(groups) == 4
    for i in range(3):
        assert groups[i][0] is awd.rnns[i] and groups[i][1] is awd.hidden_dps[i]
    assert groups[3] == [awd.encoder, awd.encoder_dp, model.decoder]


def test_param_groups_deduplicate_tied_weights():
    model = FakeLanguageModel()
    groups = lm_layer_groups(model)
    pgs = param_groups(groups, discriminative_lrs(1e-3, 4), model=model)
    all_params = [p for g in pgs for p in g["params"]]
    ids = [id(p) for p in all_params]
    assert len(ids) == len(set(ids))  # nothing twice (torch.optim rejects duplicates)...
    assert set(ids) == {id(p) for p in model.parameters()}  # ...and nothing skipped
    tied = model.encoder.encoder.weight
    assert model.decoder.decoder.weight is tied
    assert sum(p is tied for p in all_params) == 1
    assert any(p is tied for p in pgs[3]["params"])  # in the top group, with the decoder bias
    assert any(p is model.decoder.decoder.bias for p in pgs[3]["params"])
    assert [g["lr"] for g in pgs] == pytest.approx(discriminative_lrs(1e-3, 4))


def test_param_groups_reports_missing_parameters():
    model = FakeLanguageModel()
    groups = lm_layer_groups(model)[:3]  # forgot the embedding group
    with pytest.raises(ValueError, match="no layer group"):
        param_groups(groups, [1.0, 1.0, 1.0], model=model)
    with pytest.raises(ValueError, match="learning rates"):
        param_groups(groups, [1.0])


def test_freeze_to_semantics():
    model = FakeLanguageModel()
    groups = lm_layer_groups(model)
    freeze_to(groups, -1)
    assert trainable_groups(groups) == [False, False, False, True]
    # only embedding (= decoder weight) and decoder bias train
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"encoder.encoder.weight", "decoder.decoder.bias"}
    freeze_to(groups, -2)
    assert trainable_groups(groups) == [False, False, True, True]
    freeze_to(groups, 1)
    assert trainable_groups(groups) == [False, True, True, True]
    freeze_to(groups, 0)
    assert all(p.requires_grad for p in model.parameters())
    with pytest.raises(ValueError, match="out of range"):
        freeze_to(groups, -5)


def test_clas_layer_groups_and_unfreezing():
    awd = FakeAWDLSTM()
    head = nn.Sequential(nn.BatchNorm1d(12), nn.Linear(12, 3))
    groups = clas_layer_groups(awd, head)
    assert len(groups) == 5
    assert groups[0] == [awd.encoder, awd.encoder_dp]
    assert groups[1] == [awd.rnns[0], awd.hidden_dps[0]]
    assert groups[4] == [head]
    pgs = param_groups(groups, discriminative_lrs(1e-2, 5))
    assert sum(len(g["params"]) for g in pgs) == len(list(awd.parameters())) + 4
    freeze_to(groups, -1)
    assert all(p.requires_grad for p in head.parameters())
    assert not any(p.requires_grad for p in awd.parameters())


def test_gradual_unfreezing_stages():
    assert gradual_unfreezing(4) == [(-1, 1), (-2, 1), (-3, 1), (0, 1)]
    stages = gradual_unfreezing(5, epochs_after=10)
    assert stages == [(-1, 1), (-2, 1), (-3, 1), (-4, 1), (0, 10)]
    assert isinstance(stages[0], UnfreezeStage) and stages[-1].n_epochs == 10
    assert gradual_unfreezing(1, epochs_after=3) == [(0, 3)]
    # walking the stages on the classifier unfreezes one more group each time
    groups = clas_layer_groups(FakeAWDLSTM(), nn.Linear(12, 3))
    seen = []
    for stage in stages:
        freeze_to(groups, stage.freeze_to)
        seen.append(sum(trainable_groups(groups)))
    assert seen == [1, 2, 3, 4, 5]


def test_stlr_total_matches_math_floor():
    # cut = floor(T * cut_frac): T = 99 -> cut = 9, the peak
    lrs = [slanted_triangular(t, 99, 1.0) for t in range(100)]
    assert max(range(100), key=lrs.__getitem__) == math.floor(99 * 0.1)
