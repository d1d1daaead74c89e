"""Stage 3's drawings (notebooks 06-09): each draws the numbers it is given, with its labels.

The drawings that ``widgets_clas`` re-exports (padded batch, concat pool, confusion matrix, F1 per
class, history) are tested with the widgets in ``test_widgets_clas.py``; here the rest. The
figures are built without pyplot, so there is nothing to close.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from ulmfit_lesson.course import figures_clas  # noqa: E402


def test_bpt3c_gradients_are_bars_with_the_no_grad_part_shaded():
    grad = torch.tensor([0.0] * 6 + [0.5, 1.0, 2.0, 4.0])  # max_len 4: only the last 4 trained
    fig = figures_clas.plot_bpt3c_gradients(grad, bptt=2, max_len=4)
    (ax,) = fig.axes
    bars = [p for p in ax.patches if p.get_width() == pytest.approx(0.8)]
    assert [b.get_height() for b in bars] == pytest.approx(grad.tolist())
    (shade,) = [p for p in ax.patches if p not in bars]
    assert shade.get_x() == pytest.approx(-0.5) and shade.get_width() == pytest.approx(6.0)
    boundaries = [line.get_xdata()[0] for line in ax.lines]
    assert boundaries == [-0.5, 1.5, 3.5, 5.5, 7.5, 9.5]  # one line per chunk of 2
    assert ax.get_xlabel() == "position in the document (chunks of 2)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "read under no_grad: hidden state only"
    ]


def test_bpt3c_gradients_of_a_short_document_shade_nothing():
    fig = figures_clas.plot_bpt3c_gradients([1.0, 2.0, 3.0], bptt=10, max_len=20)
    (ax,) = fig.axes
    assert [p.get_height() for p in ax.patches] == [1.0, 2.0, 3.0]
    assert ax.get_legend() is None


def test_label_counts_draw_every_label_in_order_with_the_ratio_in_the_title():
    counts = pd.Series({"grief": 7, "joy": 70, "neutral": 700})
    fig = figures_clas.plot_label_counts(counts)
    (ax,) = fig.axes
    assert [p.get_width() for p in ax.patches] == [7, 70, 700]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["grief", "joy", "neutral"]
    grey = matplotlib.colors.to_rgba("#7f7f7f")
    assert [p.get_facecolor() == grey for p in ax.patches] == [False, False, True]
    assert ax.get_title() == "GoEmotions: 100x between the most and the least common label"
    assert ax.get_xscale() == "log"
    fig = figures_clas.plot_label_counts({"a": 1, "b": 3}, highlight="b", title="mine")
    assert fig.axes[0].get_title() == "mine"


def test_cooccurrence_shows_the_shares_with_both_axes_labelled():
    share = np.array([[np.nan, 0.25], [0.1, np.nan]])
    fig = figures_clas.plot_cooccurrence(share, ["anger", "annoyance"])
    ax, colorbar = fig.axes
    image = ax.images[0]
    assert np.allclose(image.get_array().filled(np.nan), share, equal_nan=True)
    assert image.get_clim() == (0, 0.3)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["anger", "annoyance"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["anger", "annoyance"]
    assert ax.get_ylabel() == "comments labelled A ..." and ax.get_xlabel() == "... also labelled B"
    assert colorbar.get_ylabel() == "share of A's comments"
