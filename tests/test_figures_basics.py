"""The drawings of notebooks 00, 01, 02 and 04: each draws the data it is given, with its labels."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import PercentFormatter  # noqa: E402

from ulmfit_lesson import progress  # noqa: E402
from ulmfit_lesson.course import figures_basics  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _hline_y(ax, colour):
    """The y of the horizontal line drawn in ``colour`` (axhline: two equal y values)."""
    (line,) = [ln for ln in ax.lines if ln.get_color() == colour and len(set(ln.get_ydata())) == 1]
    return line.get_ydata()[0]


def test_demo_accuracy_draws_the_curve_and_the_majority_line():
    fig = figures_basics.plot_demo_accuracy([1, 2], [0.55, 0.62], majority=0.5)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    curve = ax.lines[0]
    assert list(curve.get_xdata()) == [1, 2] and list(curve.get_ydata()) == [0.55, 0.62]
    assert _hline_y(ax, "red") == 0.5
    assert ax.get_ylim() == (0, 1)
    assert [t for t in ax.get_xticks()] == [1, 2]  # one tick per epoch
    assert ax.get_ylabel() == "dev accuracy" and ax.get_xlabel() == "epoch"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["pretrained LM + classifier", "always the majority label (50%)"]


def test_accuracy_vs_baseline_takes_its_labels():
    fig = figures_basics.plot_accuracy_vs_baseline(
        range(3), [0.1, 0.4, 0.7], 0.2, label="ours", baseline_label="base", ylabel="acc"
    )
    ax = fig.axes[0]
    assert list(ax.lines[0].get_ydata()) == [0.1, 0.4, 0.7]
    assert _hline_y(ax, "red") == 0.2
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["ours", "base"]


def test_zipf_sorts_the_counts_and_marks_the_min_freq_cut():
    fig = figures_basics.plot_zipf([1, 9, 3, 2, 4, 1], min_freq=3)
    ax = fig.axes[0]
    points = ax.lines[0]
    assert list(points.get_xdata()) == [1, 2, 3, 4, 5, 6]  # ranks
    assert list(points.get_ydata()) == [9, 4, 3, 2, 1, 1]  # most frequent first
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    cut = [ln for ln in ax.lines if ln.get_color() == "red"][0]
    assert list(cut.get_xdata()) == [3, 3]  # 9, 4 and 3 are seen at least 3 times
    assert ax.get_legend().get_texts()[0].get_text() == "min_freq=3 keeps 3 tokens"
    assert ax.get_title() == "Poem Sentiment: token frequency against rank"


def test_vocab_sizes_bars_and_unknown_rate_line():
    sizes = pd.DataFrame(
        {"min_freq": [1, 2, 3], "vocab size": [900, 500, 300], "unk rate (dev)": [0.1, 0.2, 0.3]}
    ).set_index("min_freq")
    fig = figures_basics.plot_vocab_sizes(sizes, n_texts=892)
    bars_ax, rate_ax = fig.axes  # the rate has its own y-axis (twinx)
    assert [p.get_height() for p in bars_ax.patches] == [900, 500, 300]
    assert list(rate_ax.lines[0].get_ydata()) == [0.1, 0.2, 0.3]
    assert rate_ax.get_ylabel() == "unknown rate on dev (line)"
    percent = rate_ax.yaxis.get_major_formatter()
    assert isinstance(percent, PercentFormatter) and percent.xmax == 1.0  # shares drawn in %
    assert bars_ax.get_title().startswith("A vocabulary built from 892 verses")


def test_unk_rates_one_bar_per_vocabulary_in_order():
    rates = {"poems only": 0.3, "pretrained": 0.05, "pretrained + poems": 0.01}
    fig = figures_basics.plot_unk_rates(rates)
    ax = fig.axes[0]
    assert [p.get_width() for p in ax.patches] == [0.3, 0.05, 0.01]
    assert [t.get_text() for t in ax.get_yticklabels()] == list(rates)
    colours = [matplotlib.colors.to_hex(p.get_facecolor()) for p in ax.patches]
    assert colours == figures_basics.UNK_COLOURS
    assert ax.get_xlabel() == "dev tokens that become xxunk"


def test_lr_rescale_puts_each_dot_on_its_bar():
    seq_lens, bptt, lr = [70, 35, 72, 12], 70, 1e-3
    lrs = [lr * s / bptt for s in seq_lens]
    fig = figures_basics.plot_lr_rescale(seq_lens, lrs, bptt=bptt, lr=lr)
    bars_ax, lr_ax = fig.axes
    assert [p.get_height() for p in bars_ax.patches] == seq_lens
    assert np.allclose(lr_ax.lines[0].get_ydata(), lrs)
    # the two axes share one scale: a bar's top and its dot are at the same height
    bar_top, lr_top = bars_ax.get_ylim()[1], lr_ax.get_ylim()[1]
    assert np.allclose([s / bar_top for s in seq_lens], [r / lr_top for r in lrs])
    assert _hline_y(bars_ax, "gray") == bptt
    assert bars_ax.get_title().startswith("One epoch: 4 windows; base lr 0.001")


def test_pretraining_loss_raw_smoothed_and_the_two_valid_losses():
    losses = [6.0, 5.0, 5.5, 4.0, 4.2]
    fig = figures_basics.plot_pretraining_loss(range(5), losses, before=6.5, after=4.1)
    ax = fig.axes[0]
    raw, smoothed = ax.lines[0], ax.lines[1]
    assert list(raw.get_ydata()) == losses and raw.get_alpha() == 0.3
    assert np.allclose(smoothed.get_ydata(), progress.smooth(losses))
    assert _hline_y(ax, "gray") == 6.5 and _hline_y(ax, "green") == 4.1
    assert ax.get_ylabel() == "cross-entropy (nats)"
    assert len(ax.get_legend().get_texts()) == 4


def test_perplexity_by_kind_log_bars_named_after_the_model():
    ppl = pd.Series({"bible": 40.0, "wiki": 120.0, "poems": 2000.0}, name="perplexity")
    ppl.index.name = "text"
    fig = figures_basics.plot_perplexity_by_kind(ppl, model="general-fwd")
    ax = fig.axes[0]
    assert [p.get_width() for p in ax.patches] == [40.0, 120.0, 2000.0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["bible", "wiki", "poems"]
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == "perplexity of general-fwd (log scale; lower is better)"
    assert ax.get_ylabel() == "text"
