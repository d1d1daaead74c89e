"""The explorers of notebooks 01-03 (widgets_basics): each builds headless, and moving a control
redraws with the package's numbers (histogram counts, STLR peak, dropout mask, token ids)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ulmfit_lesson import lm_loader, schedules, tokenizer  # noqa: E402
from ulmfit_lesson.course import explain, widgets_basics  # noqa: E402


class TinyVocab:
    """The two things a vocabulary must offer the token viewer: ``itos`` and ``numericalize``."""

    def __init__(self, words):
        self.itos = tokenizer.SPECIAL_TOKENS + list(words)
        self.stoi = {t: i for i, t in enumerate(self.itos)}

    def numericalize(self, tokens):
        return [self.stoi.get(t, 0) for t in tokens]


def test_bptt_sampler_redraws_with_new_lengths():
    box = widgets_basics.bptt_sampler(show_static=False)
    assert set(box.controls) == {"bptt", "p_full", "sd"}
    counts = box.state["counts"].copy()
    assert abs(box.state["lengths"].mean() - lm_loader.expected_bptt_length(70)) < 1.5

    box.controls["bptt"].value = 40
    assert not np.array_equal(box.state["counts"], counts)
    assert abs(box.state["lengths"].mean() - lm_loader.expected_bptt_length(40)) < 1.5

    box.controls["p_full"].value = 1.0  # never half length: nothing near bptt/2 = 20
    assert (box.state["lengths"] > 20).all()
    box.controls["sd"].value = 0.0  # no noise: every window exactly bptt
    assert set(box.state["lengths"].tolist()) == {40}
    # The sliders are passed to the sampler: the paper's constants are left as they are.
    assert (lm_loader.BPTT_FULL_PROB, lm_loader.BPTT_SD) == (0.95, 5.0)
    assert box.state["figure"].axes  # a matplotlib Figure was drawn


def test_sample_lengths_passes_p_and_sd_to_the_loaders_sampler():
    lengths = widgets_basics.sample_lengths(bptt=40, p_full=0.5, sd=3.0, n_tokens=5000, seed=1)
    want = lm_loader.sample_bptt_lengths(5000, 40, 1, p_full=0.5, sd=3.0)[:-1]
    assert lengths.tolist() == want
    assert (lengths < 30).mean() > 0.3  # about half the windows start from bptt/2
    with pytest.raises(ValueError):
        widgets_basics.sample_lengths(bptt=0)


def test_stlr_explorer_peak_follows_cut_frac():
    box = widgets_basics.stlr_explorer(steps=1000, show_static=False)
    assert box.state["peak_step"] == 100  # floor(1000 * 0.1)
    line = box.state["figure"].axes[0].lines[0]
    assert int(np.argmax(line.get_ydata())) == 100

    box.controls["cut_frac"].value = 0.3
    assert box.state["peak_step"] == 300
    assert int(np.argmax(box.state["figure"].axes[0].lines[0].get_ydata())) == 300
    box.controls["steps"].value = 500
    assert box.state["peak_step"] == 150
    lrs = box.state["lrs"]
    assert lrs.max() == pytest.approx(0.01)
    assert lrs[0] == pytest.approx(schedules.slanted_triangular(0, 500, 0.01, 0.3, 32))
    box.controls["ratio"].value = 10
    assert box.state["lrs"][0] == pytest.approx(0.01 / 10)


def test_dropout_mask_viewer_kinds_and_p():
    box = widgets_basics.dropout_mask_viewer(kind="locked", p=0.5, show_static=False)
    mask = box.state["mask"]
    assert (mask == mask[:, :1]).all()  # locked: constant along time (columns)
    box.controls["kind"].value = "plain"
    assert not (box.state["mask"] == box.state["mask"][:, :1]).all()
    box.controls["kind"].value = "embedding"
    rows = box.state["mask"]
    assert ((rows == 0).all(axis=1) | (rows != 0).all(axis=1)).all()  # whole words dropped
    box.controls["kind"].value = "weight"
    assert box.state["mask"].shape == (32, 8)  # 4 gates x 8 hidden units
    before = box.state["mask"].copy()
    box.controls["p"].value = 0.0
    assert (box.state["mask"] == 1).all()
    box.controls["p"].value = 0.5
    button = box.children[0].children[-1]
    button.click()  # "new mask": another seed
    assert box.controls["seed"].value == 1
    assert not np.array_equal(box.state["mask"], before)


def test_token_viewer_marks_unknown_words():
    vocab = TinyVocab(["the", "sea", "is", "calm", "."])
    box = widgets_basics.token_viewer(vocab, text="The sea is calm.", show_static=False)
    assert box.state["tokens"] == ["xxbos", "xxmaj", "the", "sea", "is", "calm", "."]
    assert box.state["n_unknown"] == 0
    box.controls["text"].value = "The STORM is wild."
    assert box.state["n_unknown"] == 2  # storm, wild
    assert box.state["ids"][box.state["tokens"].index("storm")] == 0
    assert explain.UNK_STYLE in box.state["html"]
    assert "2 unknown" in box.state["html"]


def test_show_static_displays_once(capsys):
    # Headless: the static picture is displayed before the widget (as text outside IPython).
    widgets_basics.stlr_explorer(show_static=True)
    assert "Figure" in capsys.readouterr().out
