"""The drawings of notebooks 03 and 03a: each draws the data it is given, with its labels."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ulmfit_lesson.course import figures_awd  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _main_axes(fig):
    """The axes that hold a drawing, without the colour bars ``explain.plot_heatmap`` adds."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def test_embedding_dropout_draws_the_mask_and_the_sequence_with_time_across():
    mask = np.array([[0.0, 0.0], [2.0, 2.0], [2.0, 2.0]])  # word 0 dropped
    vectors = torch.tensor([[0.0, 0.0, 0.0], [1.0, -2.0, 0.5]])  # 2 positions, 3 dimensions
    fig = figures_awd.draw_embedding_dropout(mask, [4, 7], vectors, mask_p=0.3)
    left, right = _main_axes(fig)
    assert np.array_equal(left.images[0].get_array(), mask)
    assert np.array_equal(right.images[0].get_array(), vectors.T.numpy())  # dimensions down
    assert right.images[0].get_clim() == (-2.0, 2.0)  # symmetric: 0 in the blank middle
    assert [t.get_text() for t in right.get_xticklabels()] == ["4", "7"]
    assert left.get_title() == "embedding matrix mask, p=0.3" and left.get_ylabel() == "word id"
    assert "dropped words" in right.get_title()


def test_plain_vs_locked_puts_the_masks_left_and_right():
    plain, locked = np.eye(3), np.ones((3, 3))
    fig = figures_awd.draw_plain_vs_locked(plain, locked)
    left, right = _main_axes(fig)
    assert np.array_equal(left.images[0].get_array(), plain)
    assert np.array_equal(right.images[0].get_array(), locked)
    assert left.get_title().startswith("nn.Dropout") and right.get_title().startswith("RNNDropout")
    assert left.get_xlabel() == "time step" and left.get_ylabel() == "feature"


def test_signals_one_line_each_named_in_the_legend():
    signals = {"calm": torch.tensor([0.0, 0.1, 0.2]), "loud": [0.0, 2.0, 1.0]}
    fig = figures_awd.plot_signals(signals)
    (ax,) = fig.axes
    assert np.allclose(ax.lines[0].get_ydata(), [0.0, 0.1, 0.2])
    assert list(ax.lines[1].get_ydata()) == [0.0, 2.0, 1.0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["calm", "loud"]
    assert ax.get_xlabel() == "time step"


def test_tied_vs_untied_stacks_the_parts_and_adds_the_decoder():
    parts = {"embedding": 2_000_000, "LSTM 1": 1_000_000, "decoder bias": 60_000}
    fig = figures_awd.plot_tied_vs_untied(parts, untied_extra=2_000_000, vocab_size=5_000)
    (ax,) = fig.axes
    tied = [p for p in ax.patches if p.get_y() < 0.5]  # first category: "tied (ULMFiT)"
    untied = [p for p in ax.patches if p.get_y() >= 0.5]
    assert np.allclose([p.get_width() for p in tied], [2.0, 1.0, 0.06])
    assert np.allclose([p.get_width() for p in untied], [2.0, 1.0, 0.06, 2.0])
    assert np.isclose(untied[-1].get_x(), 3.06)  # the separate decoder weight comes on top
    assert matplotlib.colors.to_hex(untied[-1].get_facecolor()) == figures_awd.UNTIED_COLOUR
    assert ax.get_xlabel() == "parameters (millions), vocabulary 5,000"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [*parts, "separate decoder weight"]


def test_lm_accuracy_counts_epochs_from_zero_against_the_token_baseline():
    fig = figures_awd.plot_lm_accuracy([0.05, 0.4, 0.6], baseline=0.25, token=",")
    (ax,) = fig.axes
    assert list(ax.lines[0].get_xdata()) == [0, 1, 2]
    assert list(ax.lines[0].get_ydata()) == [0.05, 0.4, 0.6]
    assert ax.lines[1].get_ydata()[0] == 0.25
    assert ax.get_legend().get_texts()[1].get_text() == "always ',' (25%)"
    assert ax.get_xlabel() == "epochs trained" and ax.get_ylabel() == "next-token accuracy"


def test_awd_ladder_has_the_six_boxes_and_every_step_number():
    fig = figures_awd.draw_awd_ladder()
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert len(ax.patches) == 6  # ids, embedding, two layers, decoder, scores
    texts = " ".join(t.get_text() for t in ax.texts)
    for step in range(2, 9):
        assert f"({step})" in texts
    assert not ax.axison


def test_ladder_results_bars_labels_and_curves():
    steps = ["1 plain RNN", "2 + stateful", "4 + embedding dropout"]
    histories = {
        s: pd.DataFrame({"valid": v}, index=pd.Index([1, 2], name="epoch"))
        for s, v in zip(steps, [[300.0, 320.0], [250.0, 260.0], [240.0, 230.0]])
    }
    last = pd.Series({s: h.valid.iloc[-1] for s, h in histories.items()})
    best = pd.Series({s: h.valid.min() for s, h in histories.items()})
    fig = figures_awd.plot_ladder_results(last, best, histories)
    bars_ax, curves_ax = fig.axes
    widths = [p.get_width() for p in bars_ax.patches]
    assert widths == [320.0, 260.0, 230.0, 300.0, 250.0, 230.0]  # last epoch, then best epoch
    ticks = [t.get_text() for t in bars_ax.get_yticklabels()]
    assert ticks == steps  # set at y = 2, 1, 0: read top to bottom, step 1 first
    assert [t.get_text() for t in bars_ax.texts][:2] == [" 320.0", " 300.0"]
    assert [list(ln.get_ydata()) for ln in curves_ax.lines] == [
        [300.0, 320.0],
        [250.0, 260.0],
        [240.0, 230.0],
    ]
    assert [ln.get_linestyle() for ln in curves_ax.lines] == ["-", "-", "--"]  # regularisers dashed
