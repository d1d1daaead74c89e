"""Drawings for the overview, tokens, batches and pretraining notebooks (00, 01, 02, 04).

The notebook keeps what it teaches (what is measured, which package function is called) and hands
the numbers to one of these functions for the picture. Each takes plain data, returns a matplotlib
``Figure`` built without pyplot (so a notebook shows it once, as the cell's value or through
``display``) and never calls ``plt.show()``. The drawings of notebooks 03 and 03a are in
``figures_awd``.

- ``plot_accuracy_vs_baseline``: an accuracy curve against a do-nothing baseline (notebooks 00, 03);
  ``plot_demo_accuracy``: notebook 00's demo classifier against the majority label.
- ``plot_zipf``: token frequency against rank, log-log, with the ``min_freq`` cut (notebook 01).
- ``plot_vocab_sizes``: vocabulary size and unknown rate for each ``min_freq`` (notebook 01).
- ``plot_unk_rates``: the unknown rate of several vocabularies on the same text (notebook 01).
- ``plot_lr_rescale``: one epoch's window lengths and the learning rate each was given (notebook 02).
- ``plot_pretraining_loss``: per-step LM loss, smoothed, against the validation loss (notebook 04).
- ``plot_perplexity_by_kind``: perplexity of one model on several kinds of text (notebook 04).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from ulmfit_lesson import progress

VOCAB_BAR = "#aec7e8"  # light blue: sizes and counts
RATE_LINE = "#d62728"  # red: the rate that the bars pay for
UNK_COLOURS = ["#aec7e8", "#98df8a", "#2ca02c"]  # own vocabulary, pretrained, pretrained + extended

# ------------------------------------------------------------------------- accuracy curves


def plot_accuracy_vs_baseline(
    x: Sequence[float],
    accuracy: Sequence[float],
    baseline: float,
    *,
    label: str,
    baseline_label: str,
    xlabel: str = "epoch",
    ylabel: str = "accuracy",
    figsize: tuple[float, float] = (7, 3.2),
    xticks: bool = False,
    legend_loc: str = "best",
) -> Figure:
    """Accuracy after each epoch (dots on a line) against a dashed red baseline, y from 0 to 1.

    The baseline is what a model gets without learning anything (always the most common label or
    token): a model is worth something only as far as its curve rises above the dashed line.
    ``xticks=True`` puts a tick at every ``x`` (a few whole epochs).
    """
    fig = Figure(figsize=figsize)
    ax = fig.subplots()
    ax.plot(list(x), list(accuracy), marker="o", label=label)
    ax.axhline(baseline, color="red", ls="--", label=baseline_label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1)
    if xticks:
        ax.set_xticks(list(x))
    ax.legend(loc=legend_loc)
    return fig


def plot_demo_accuracy(epochs: Sequence[int], accuracy: Sequence[float], majority: float) -> Figure:
    """Notebook 00's demo: dev accuracy per epoch (``epochs`` counted from 1) of the pretrained LM
    with a classifier head, against always answering the majority label (share ``majority``).

    With a few hundred verses and two epochs, expect the curve a few points above the line (full
    mode) or on it (quick mode): a start, which notebooks 05-07 improve and measure.
    """
    return plot_accuracy_vs_baseline(
        epochs,
        accuracy,
        majority,
        label="pretrained LM + classifier",
        baseline_label=f"always the majority label ({majority:.0%})",
        ylabel="dev accuracy",
        figsize=(6, 3),
        xticks=True,
        legend_loc="lower right",
    )


# ------------------------------------------------------------------------- vocabulary


def plot_zipf(freqs: Sequence[int], min_freq: int = 3) -> Figure:
    """Token counts sorted from the most frequent down, against their rank, on log-log axes.

    Zipf's law makes it close to a straight line: a few tokens are everywhere, most are rare. The
    dashed line is the rank of the last token seen at least ``min_freq`` times: everything to its
    right would become ``xxunk`` in a vocabulary built with that ``min_freq``.
    """
    freqs = sorted(freqs, reverse=True)
    cut_rank = sum(f >= min_freq for f in freqs)
    fig = Figure(figsize=(7, 3.5))
    ax = fig.subplots()
    ax.loglog(range(1, len(freqs) + 1), freqs, marker=".", lw=0, ms=3)
    ax.axvline(cut_rank, color="red", ls="--", label=f"min_freq={min_freq} keeps {cut_rank} tokens")
    ax.set_xlabel("rank of the token (1 = most frequent)")
    ax.set_ylabel("count in the training verses")
    ax.set_title("Poem Sentiment: token frequency against rank")
    ax.legend()
    return fig


def plot_vocab_sizes(sizes: pd.DataFrame, n_texts: int) -> Figure:
    """Vocabulary size (bars) and unknown rate on new text (red line) for each ``min_freq``.

    ``sizes``: indexed by ``min_freq``, with columns ``"vocab size"`` and ``"unk rate (dev)"`` (a
    share, drawn in %); ``n_texts``: how many texts the vocabularies were built from (the title).
    The trade-off to see: raising ``min_freq`` shrinks the vocabulary and raises the unknown rate.
    """
    fig = Figure(figsize=(7, 3.3))
    ax1 = fig.subplots()
    ax1.bar(sizes.index, sizes["vocab size"], color=VOCAB_BAR)
    ax1.set_xlabel("min_freq")
    ax1.set_ylabel("vocabulary size (bars)")
    ax2 = ax1.twinx()
    ax2.plot(sizes.index, sizes["unk rate (dev)"], color=RATE_LINE, marker="o")
    ax2.set_ylabel("unknown rate on dev (line)", color=RATE_LINE)
    ax2.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax1.set_title(f"A vocabulary built from {n_texts} verses: small, and blind to many words")
    return fig


def plot_unk_rates(rates: Mapping[str, float] | pd.Series) -> Figure:
    """One horizontal bar per vocabulary: the share of the text's tokens it maps to ``xxunk``.

    ``rates``: vocabulary name -> unknown rate, drawn bottom to top in the given order (in
    notebook 01: the poems' own, the pretrained one, the pretrained one extended; ULMFiT §3.1-3.2).
    """
    rates = pd.Series(rates, dtype=float)
    colours = [UNK_COLOURS[i % len(UNK_COLOURS)] for i in range(len(rates))]
    fig = Figure(figsize=(7, 2.4))
    ax = fig.subplots()
    rates.plot.barh(ax=ax, color=colours)
    ax.set_xlabel("dev tokens that become xxunk")
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    return fig


# ------------------------------------------------------------------------- LM batches


def plot_lr_rescale(seq_lens: Sequence[int], lrs: Sequence[float], bptt: int, lr: float) -> Figure:
    """One epoch of variable-length BPTT: each window's length (bars) and learning rate (red dots).

    ``lrs[k]`` is the rate step ``k`` used, ``lr * seq_lens[k] / bptt`` (AWD-LSTM §4.1). The two
    y-axes share one scale, so each dot sits on top of its bar: a short window gets a
    proportionally smaller step. The dotted line is ``bptt``.
    """
    steps = range(len(seq_lens))
    fig = Figure(figsize=(8, 3))
    ax = fig.subplots()
    ax.bar(steps, list(seq_lens), color=VOCAB_BAR)
    ax.axhline(bptt, color="gray", ls=":")
    ax.set_xlabel("step")
    ax.set_ylabel("seq_len (bars)")
    ax2 = ax.twinx()
    ax2.plot(steps, list(lrs), color=RATE_LINE, marker="o")
    ax2.set_ylabel("learning rate used (dots)", color=RATE_LINE)
    top = 1.15 * max(seq_lens)
    ax.set_ylim(0, top)
    ax2.set_ylim(0, lr * top / bptt)  # same scale: each dot sits on its bar
    ax.set_title(
        f"One epoch: {len(seq_lens)} windows; base lr {lr:g} scaled by seq_len / bptt (dotted: bptt)"
    )
    return fig


# ------------------------------------------------------------------------- pretraining


def plot_pretraining_loss(
    steps: Sequence[int], losses: Sequence[float], before: float, after: float
) -> Figure:
    """The training loss of every step (faint), its moving average (``progress.smooth``), and the
    validation loss before (grey, dotted) and after (green, dashed) training (ULMFiT §3.1, stage 1).

    Read it as: a fast fall while the model learns which tokens are common, then a slow one as it
    starts to use the context; the gap between the two horizontal lines is what training bought.
    """
    fig = Figure(figsize=(7, 3.2))
    ax = fig.subplots()
    ax.plot(list(steps), list(losses), alpha=0.3, label="training loss (per step)")
    ax.plot(list(steps), progress.smooth(list(losses)), label="smoothed")
    ax.axhline(before, color="gray", ls=":", label="valid loss before training")
    ax.axhline(after, color="green", ls="--", label="valid loss after training")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats)")
    ax.legend(fontsize=8)
    return fig


def plot_perplexity_by_kind(perplexity: Mapping[str, float] | pd.Series, model: str) -> Figure:
    """One bar per kind of text: ``model``'s perplexity on it, on a log scale (lower is better).

    Perplexities of one model on different texts span orders of magnitude (formulaic text the
    model read much of, against poems it never saw), hence the log axis. A ``Series`` keeps its
    index name as the y label.
    """
    perplexity = pd.Series(perplexity, dtype=float)
    fig = Figure(figsize=(7, 2.8))
    ax = fig.subplots()
    perplexity.plot.barh(ax=ax, color="#9ecae1", logx=True)
    ax.set_xlabel(f"perplexity of {model} (log scale; lower is better)")
    return fig
