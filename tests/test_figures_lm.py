"""Notebook 05's drawings: each draws the numbers it is given, with its labels."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ulmfit_lesson import schedules  # noqa: E402
from ulmfit_lesson.course import figures_lm  # noqa: E402

NAMES = ["LSTM 1", "LSTM 2", "LSTM 3", "embedding + decoder"]


def test_discriminative_lrs_are_bars_with_their_sizes():
    lrs = schedules.discriminative_lrs(4e-3, 4)
    fig = figures_lm.plot_discriminative_lrs(
        NAMES, lrs, [1_000_000, 2_500_000, 300_000, 10_000_000]
    )
    (ax,) = fig.axes
    assert [bar.get_width() for bar in ax.patches] == pytest.approx(lrs)
    assert [t.get_text() for t in ax.get_yticklabels()] == NAMES
    assert ax.get_xscale() == "log"
    texts = [t.get_text() for t in ax.texts]
    assert texts[0] == f"  {lrs[0]:.2e}  (1.0M parameters)" and "(10.0M parameters)" in texts[3]
    assert "2.6x" in ax.get_xlabel()


def test_schedules_share_the_y_axis_and_draw_both_curves():
    stlr = [schedules.slanted_triangular(t, 50, 0.01) for t in range(51)]
    one = [schedules.one_cycle(t, 50, 0.01) for t in range(51)]
    fig = figures_lm.plot_schedules(stlr, one)
    left, right = fig.axes
    assert list(left.lines[0].get_ydata()) == stlr and list(right.lines[0].get_ydata()) == one
    assert list(left.lines[0].get_xdata()) == list(range(51))
    assert left.get_title().startswith("slanted triangular") and "one-cycle" in right.get_title()
    assert left.get_ylabel() == "learning rate" and right.get_xlabel() == "step t"
    assert left.get_shared_y_axes().joined(left, right)


def test_lr_finder_marks_the_suggestion_and_the_papers_peak():
    lrs, losses = [1e-5, 1e-4, 1e-3, 1e-2], [5.0, 4.9, 4.0, 6.0]
    fig = figures_lm.plot_lr_finder(lrs, losses, suggested=3e-4, paper_lr=0.004)
    (ax,) = fig.axes
    curve, suggested, paper = ax.lines
    assert list(curve.get_xdata()) == lrs and list(curve.get_ydata()) == losses
    assert suggested.get_xdata()[0] == 3e-4 and paper.get_xdata()[0] == 0.004
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["steepest fall: 3.0e-04", "the paper's peak: 0.004"]
    assert ax.get_xscale() == "log" and ax.get_ylabel() == "smoothed training loss"


def test_step_lrs_hide_frozen_groups_during_the_frozen_epoch():
    step_lrs = np.array([[0.001, 0.002, 0.003, 0.02]] * 3 + [[0.0002, 0.0005, 0.0013, 0.0035]] * 4)
    fig = figures_lm.plot_step_lrs(step_lrs, NAMES, frozen_steps=3)
    (ax,) = fig.axes
    assert len(ax.lines) == 4
    lowest, top = ax.lines[0].get_ydata(), ax.lines[3].get_ydata()
    assert np.isnan(lowest[:3]).all() and list(lowest[3:]) == [0.0002] * 4
    assert list(top) == list(step_lrs[:, 3])  # the top group trains in the frozen epoch too
    assert len(ax.patches) == 1  # the shaded frozen epoch
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [*NAMES, "frozen epoch"]
    assert ax.get_yscale() == "log"

    fig = figures_lm.plot_step_lrs(step_lrs, NAMES, frozen_steps=0)
    assert not fig.axes[0].patches  # no frozen epoch: nothing shaded, nothing hidden
    assert not np.isnan(fig.axes[0].lines[0].get_ydata()).any()


def test_every_figure_is_a_figure_without_pyplot():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    fig = figures_lm.plot_schedules([1.0, 2.0], [2.0, 1.0])
    assert isinstance(fig, Figure) and plt.get_fignums() == before  # shown once, by the notebook
