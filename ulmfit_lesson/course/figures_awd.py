"""Drawings for the AWD-LSTM notebooks: 03 (inside the AWD-LSTM) and 03a (from an RNN to it).

As in ``figures_basics``: each function takes plain data (arrays, tensors, dicts, DataFrames) that
the notebook computed, returns a matplotlib ``Figure`` built without pyplot, and never calls
``plt.show()``. Paper: Merity, Keskar & Socher (2018), "Regularizing and Optimizing LSTM Language
Models" (AWD-LSTM), which ULMFiT §3.1 takes unchanged.

- ``draw_embedding_dropout``: the embedding-matrix mask and an embedded sequence with words dropped.
- ``draw_plain_vs_locked``: a plain dropout mask beside a locked (variational) one.
- ``plot_signals``: activation sequences, the inputs of the AR/TAR comparison.
- ``plot_tied_vs_untied``: the language model's parameters, with and without weight tying.
- ``plot_lm_accuracy``: a small LM's next-token accuracy against the most-frequent-token baseline.
- ``draw_awd_ladder``: notebook 03a's plan, the final model with the step at which each idea enters.
- ``plot_ladder_results``: notebook 03a's result, validation perplexity of each step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import torch
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from ulmfit_lesson.course import explain
from ulmfit_lesson.course.figures_basics import plot_accuracy_vs_baseline

PART_COLOURS = ["#2ca02c", "#aec7e8", "#98df8a", "#ffbb78", "#c5b0d5"]  # embedding, LSTMs, bias
UNTIED_COLOUR = "#d62728"  # what untying would add
BOX = dict(boxstyle="round,pad=0.05", fc="#e8eef7", ec="#34557a")
RED = "#b03030"  # the ladder's regularisers
BLUE = "#34557a"  # the ladder's boxes and weight tying

# ------------------------------------------------------------------------- dropout masks


def draw_embedding_dropout(mask, words: Sequence[int], vectors, mask_p: float) -> Figure:
    """Embedding dropout (AWD-LSTM §4.3), twice: the mask and what it does to a sequence.

    Left, ``mask`` (vocab x emb_size, ``explain.dropout_mask_image("embedding", ...)``): black rows
    are dropped words (``mask_p``: the probability it was drawn with). Right, ``vectors`` (seq_len x emb_size, the output of ``EmbeddingDropout``
    for the ids ``words``) drawn with time across: a dropped word is a blank (all-zero) column at
    *every* position where it occurs, because the whole row of the matrix was zeroed.
    """
    vectors = vectors.detach() if isinstance(vectors, torch.Tensor) else torch.as_tensor(vectors)
    words = [int(w) for w in words]
    fig = Figure(figsize=(11, 3.6))
    axes = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.4]})
    explain.plot_heatmap(
        mask,
        ax=axes[0],
        title=f"embedding matrix mask, p={mask_p:g}",
        xlabel="dimension",
        ylabel="word id",
        cmap="gray",
    )
    scale = vectors.abs().max().item()  # symmetric colours: 0 is the blank middle of the map
    explain.plot_heatmap(
        vectors.T,
        ax=axes[1],
        title="embedded sequence: blank (all-zero) columns = dropped words",
        xlabel="word id at each position",
        ylabel="dimension",
        cmap="RdBu_r",
        vmin=-scale,
        vmax=scale,
    )
    axes[1].set_xticks(range(len(words)), [str(w) for w in words])
    fig.tight_layout()
    return fig


def draw_plain_vs_locked(plain, locked) -> Figure:
    """Two dropout masks (features x time steps, black = dropped) side by side (AWD-LSTM §4.2).

    ``plain`` (``nn.Dropout``) is salt and pepper, a new coin at every step; ``locked``
    (``RNNDropout``) is horizontal stripes: a feature is off, or on, for the whole sequence.
    """
    fig = Figure(figsize=(11, 3.4))
    axes = fig.subplots(1, 2)
    for ax, mask, title in [
        (axes[0], plain, "nn.Dropout: new mask every step"),
        (axes[1], locked, "RNNDropout: same mask every step"),
    ]:
        explain.plot_heatmap(
            mask, ax=ax, title=title, xlabel="time step", ylabel="feature", cmap="gray"
        )
    fig.tight_layout()
    return fig


def plot_signals(signals: Mapping[str, Sequence[float]]) -> Figure:
    """Activation sequences (name -> values over time), one line each, for comparing AR and TAR
    (AWD-LSTM §4.6): AR grows with the lines' height, TAR with their jumps."""
    fig = Figure(figsize=(8, 2.8))
    ax = fig.subplots()
    for name, values in signals.items():
        ax.plot(list(map(float, values)), label=name)
    ax.set_xlabel("time step")
    ax.legend(fontsize=8, loc="upper right")
    return fig


# ------------------------------------------------------------------------- weight tying, training


def plot_tied_vs_untied(
    parts: Mapping[str, int], untied_extra: int, vocab_size: int = 60_000
) -> Figure:
    """Two stacked bars of parameter counts (millions): the tied model, made of ``parts`` (name ->
    count, in order), and the same parts plus ``untied_extra`` in red, the decoder weight that
    weight tying (AWD-LSTM §4.4) saves. With a ``vocab_size`` of 60,000 the red part is large."""
    fig = Figure(figsize=(8, 2.6))
    ax = fig.subplots()
    left = 0.0
    for k, (name, n) in enumerate(parts.items()):
        colour = PART_COLOURS[k % len(PART_COLOURS)]
        ax.barh("tied (ULMFiT)", n / 1e6, left=left, color=colour, label=name)
        ax.barh("untied", n / 1e6, left=left, color=colour)
        left += n / 1e6
    ax.barh(
        "untied",
        untied_extra / 1e6,
        left=left,
        color=UNTIED_COLOUR,
        label="separate decoder weight",
    )
    ax.set_xlabel(f"parameters (millions), vocabulary {vocab_size:,}")
    ax.legend(fontsize=7, loc="lower right")
    return fig


def plot_lm_accuracy(accuracy: Sequence[float], baseline: float, token: str) -> Figure:
    """Validation next-token accuracy after 0, 1, 2, ... epochs against always predicting ``token``,
    the most frequent one (right a share ``baseline`` of the time)."""
    return plot_accuracy_vs_baseline(
        range(len(accuracy)),
        accuracy,
        baseline,
        label="tiny AWD-LSTM (validation)",
        baseline_label=f"always {token!r} ({baseline:.0%})",
        xlabel="epochs trained",
        ylabel="next-token accuracy",
    )


# ------------------------------------------------------------------------- notebook 03a's ladder


def draw_awd_ladder() -> Figure:
    """The final model of notebook 03a, left to right, with the step (1)-(8) at which each idea
    enters: LSTM cells (3), embedding dropout (4, §4.3), locked dropout (5, §4.2), DropConnect on
    W_hh (6, §2), AR/TAR (7, §4.6), weight tying (8, §4.4); (2) is the stateful loop."""
    fig = Figure(figsize=(11, 3.6))
    ax = fig.subplots()
    boxes = {
        "ids": (0.0, "token ids"),
        "emb": (1.7, "embedding"),
        "l1": (3.6, "layer 1\nRNN → LSTM (3)"),
        "l2": (5.5, "layer 2\nRNN → LSTM (3)"),
        "dec": (7.4, "decoder"),
        "out": (9.1, "next-token\nscores"),
    }
    for x, text in boxes.values():
        ax.add_patch(FancyBboxPatch((x, 0), 1.3, 0.8, **BOX))
        ax.text(x + 0.65, 0.4, text, ha="center", va="center", fontsize=8)
    xs = [x for x, _ in boxes.values()]
    for left, right in zip(xs, xs[1:]):
        ax.annotate("", (right - 0.05, 0.4), (left + 1.35, 0.4), arrowprops=dict(arrowstyle="->"))
    red = dict(fontsize=8, color=RED, ha="center")
    ax.text(2.35, 1.0, "(4) drop whole words", **red)
    for x in (3.3, 5.2, 7.1):
        ax.text(x, 0.5, "(5)", **red)
    for x in (4.25, 6.15):  # the recurrent loops over each layer
        loop = dict(arrowstyle="->", connectionstyle="arc3,rad=1.6", color=RED)
        ax.annotate("", (x - 0.25, 0.85), (x + 0.25, 0.85), arrowprops=loop)
    ax.text(5.2, 1.35, "(6) DropConnect on each layer's recurrent $W_{hh}$ (the loops)", **red)
    ax.text(7.15, 0.95, "(7) AR/TAR on\nlayer 2's output", **red)
    tie = dict(arrowstyle="<->", connectionstyle="arc3,rad=0.25", color=BLUE)
    ax.annotate("", (8.05, -0.08), (2.35, -0.08), arrowprops=tie)
    notes = [
        (-0.95, "(8) weight tying: one matrix for the embedding and the decoder", BLUE),
        (-1.35, "(2) stateful: each layer's hidden state is carried on to the next window", "k"),
        (-1.7, "(5) locked dropout on the three arrows marked (5)", RED),
    ]
    for y, text, colour in notes:
        ax.text(5.2, y, text, fontsize=8, color=colour, ha="center")
    ax.set_xlim(-0.2, 10.6)
    ax.set_ylim(-1.85, 1.6)
    ax.axis("off")
    return fig


def plot_ladder_results(
    last: pd.Series, best: pd.Series, histories: Mapping[str, pd.DataFrame]
) -> Figure:
    """Notebook 03a's verdict. Left: validation perplexity of each step after the last epoch (dark)
    and at its best epoch (light), step 1 at the top, each bar labelled. Right: each step's
    validation perplexity per epoch (``histories[step].valid``, indexed by epoch); steps 1-3
    (state and cells) solid, the regularisers (4-8) dashed.

    A step whose two bars differ got worse with more training: it overfitted.
    ``last`` and ``best`` are indexed by step name, in the ladder's order.
    """
    fig = Figure(figsize=(13, 4.4))
    ax1, ax2 = fig.subplots(1, 2)
    steps = list(last.index)
    y = range(len(steps))[::-1]  # step 1 at the top
    ax1.barh([i + 0.2 for i in y], last, height=0.4, color="#1f77b4", label="last epoch")
    ax1.barh([i - 0.2 for i in y], best, height=0.4, color="#aec7e8", label="best epoch")
    for i, a, b in zip(y, last, best):
        ax1.text(a, i + 0.2, f" {a:.1f}", va="center", fontsize=7)
        ax1.text(b, i - 0.2, f" {b:.1f}", va="center", fontsize=7)
    ax1.set_yticks(list(y), steps)
    ax1.set_xlabel("validation perplexity (lower is better)")
    ax1.set_xlim(0, last.max() * 1.15)
    ax1.legend(fontsize=8, loc="lower right")

    for step, history in histories.items():
        style = "-" if step[0] in "123" else "--"
        ax2.plot(history.index, history.valid, marker="o", ms=3, ls=style, label=step)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("validation perplexity")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return fig
