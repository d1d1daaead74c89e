"""Drawings for stage 3, the classifier (notebooks 06-09): matplotlib figures of package results.

Each returns a matplotlib ``Figure`` built without pyplot, so nothing is shown twice; the
interactive widgets of the same notebooks are in ``widgets_clas.py``, which re-exports these.

- ``draw_padded_batch(x, mask, bptt)``: a classifier batch as ``clas_loader.pad_chunks`` lays it out,
  chunk boundaries drawn and each row's true last token starred (``classifier.last_positions``).
- ``draw_concat_pool(output, mask, row)``: one document's encoder outputs ``H`` and the three
  parts of ``classifier.concat_pool`` (ULMFiT §3.3): ``h_T``, the max-pool (with the position
  that won each feature) and the mean-pool.
- ``plot_bpt3c_gradients(grad, bptt, max_len)``: which positions of a long document BPT3C trains
  on (the gradient reaching each position's embedding), the ``no_grad`` part shaded.
- ``plot_confusion(cm, labels)``: a confusion matrix (``clas_recipes.confusion_matrix``), counts and
  row shares.
- ``plot_class_f1(labels, f1, support)``: per-class F1 bars, sorted, with how many examples each had.
- ``plot_history(history)``: losses and validation metrics per epoch, unfreezing stages shaded.
- ``plot_label_counts(counts)``, ``plot_cooccurrence(share, labels)``: a multi-label dataset
  before training (notebook 08): how often each label occurs, and how often two occur together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from ulmfit_lesson import classifier

REAL_COLOURS = ["#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2"]
PAD_COLOUR = "#eeeeee"


# --------------------------------------------------------------------------------------- batches


def _numpy(t: Tensor | np.ndarray) -> np.ndarray:
    return t.detach().cpu().numpy() if isinstance(t, Tensor) else np.asarray(t)


def draw_padded_batch(
    x: Tensor,
    mask: Tensor,
    bptt: int,
    labels: Sequence[Sequence[str]] | None = None,
    title: str = "",
) -> Figure:
    """A classifier batch as a grid: real tokens coloured by row, padding grey, chunks outlined.

    Args:
        x, mask: (bs, width) ids and real-token mask, as ``clas_loader.pad_chunks`` returns.
        bptt: the chunk length (vertical lines every ``bptt`` positions).
        labels: optional text per cell (e.g. the tokens); default the ids.
    The star marks each row's *true* last token (``classifier.last_positions``): the ``h_T`` of
    concat pooling, which is not the last column when the row ends in padding.
    """
    ids, real = _numpy(x), _numpy(mask).astype(bool)
    bs, width = ids.shape
    last = _numpy(classifier.last_positions(torch.as_tensor(real)))
    fig = Figure(figsize=(min(1.0 + 0.55 * width, 16), 0.9 + 0.5 * bs))
    ax = fig.subplots()
    for i in range(bs):
        for j in range(width):
            colour = REAL_COLOURS[i % len(REAL_COLOURS)] if real[i, j] else PAD_COLOUR
            ax.add_patch(_cell(j, i, colour))
            text = str(ids[i, j]) if labels is None else str(labels[i][j])
            ax.text(
                j + 0.5,
                i + 0.5,
                text,
                ha="center",
                va="center",
                fontsize=7,
                color="#222" if real[i, j] else "#aaa",
                family="monospace",
            )
        ax.plot(last[i] + 0.5, i + 0.12, marker="*", color="#d62728", ms=9)
    for k in range(0, width + 1, bptt):
        ax.axvline(k, color="#333", lw=2)
    for k in range(width // bptt):
        ax.text(k * bptt + bptt / 2, -0.15, f"chunk {k}", ha="center", va="bottom", fontsize=9)
    ax.set_xlim(0, width)
    ax.set_ylim(bs, -0.6)
    ax.set_yticks([i + 0.5 for i in range(bs)], [f"doc {i}" for i in range(bs)])
    ax.set_xticks([])
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_title(title or f"bptt = {bptt}: grey = padding, * = true last token (h_T)", fontsize=10)
    fig.tight_layout()
    return fig


def _cell(x: float, y: float, colour: str):
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), 1, 1, facecolor=colour, edgecolor="white", lw=1)


def draw_concat_pool(output: Tensor, mask: Tensor, row: int = 0, tokens=None) -> Figure:
    """One document's encoder outputs and its pooled vector ``[h_T, maxpool, meanpool]``.

    Left: ``output[row]`` as an image (features down, positions across; padding hatched); the
    column of ``h_T`` is outlined and, for each feature, a dot marks the position that won its
    max-pool. Right: the three parts of ``classifier.concat_pool(output, mask)[row]``.
    """
    h = _numpy(output[row]).T  # (features, seq_len)
    real = _numpy(mask[row]).astype(bool)
    pooled = _numpy(classifier.concat_pool(output, mask)[row])
    n = h.shape[0]
    parts = pooled.reshape(3, n).T  # (features, 3): h_T, max, mean
    last = int(classifier.last_positions(torch.as_tensor(real)[None])[0])
    winners = np.where(real[None, :], h, -np.inf).argmax(axis=1)  # (features,)
    # Colour scale from the 98th percentile: a few outliers would wash out the rest.
    vmax = float(np.percentile(np.abs(h[:, real]), 98)) or 1.0
    fig = Figure(figsize=(9, 3.6))
    ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [max(h.shape[1], 3), 3]})
    ax.imshow(h, aspect="auto", cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
    for j in np.flatnonzero(~real):
        ax.axvspan(j - 0.5, j + 0.5, facecolor="#dddddd", hatch="//", edgecolor="#999", alpha=0.9)
    ax.axvspan(last - 0.5, last + 0.5, fill=False, edgecolor="black", lw=2.5)
    ax.plot(winners, np.arange(n), "k.", ms=4)
    ax.set_xlabel("position (hatched = padding, black frame = h_T, dots = max-pool winners)")
    ax.set_ylabel("feature")
    if tokens is not None:
        ax.set_xticks(range(len(tokens)), tokens, rotation=60, fontsize=7)
    ax.set_title(f"encoder outputs H of doc {row}", fontsize=10)
    ax2.imshow(parts, aspect="auto", cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
    ax2.set_xticks([0, 1, 2], ["h_T", "max", "mean"])
    ax2.set_yticks([])
    ax2.set_title("concat pool", fontsize=10)
    fig.tight_layout()
    return fig


def plot_bpt3c_gradients(grad: Tensor | Sequence[float], bptt: int, max_len: int) -> Figure:
    """BPT3C's memory cap (ULMFiT §3.3; fastai's ``max_len``) as bars: for each position of one
    long document, the norm of the gradient that reached its token's embedding.

    Args:
        grad: (length,) one gradient norm per position (each position its own token id, so the
            embedding's gradient row of that id is that position's).
        bptt: the chunk length (a thin line at every chunk boundary).
        max_len: how many last tokens keep their outputs and graph; the positions before them are
            shaded: read under ``torch.no_grad()``, they only prepare the hidden state.
    What to see: zero bars in the shaded part, non-zero bars in the last ``max_len`` positions.
    """
    grad = _numpy(grad)
    n = len(grad)
    fig = Figure(figsize=(8, 2.8))
    ax = fig.subplots()
    ax.bar(range(n), grad, color="#1f77b4")
    if n > max_len:
        ax.axvspan(
            -0.5, n - max_len - 0.5, color="#dddddd", label="read under no_grad: hidden state only"
        )
    for k in range(0, n + 1, bptt):
        ax.axvline(k - 0.5, color="#777", lw=0.8)
    ax.set_xlabel(f"position in the document (chunks of {bptt})")
    ax.set_ylabel("gradient norm on its embedding")
    if n > max_len:
        ax.legend(loc="upper left", fontsize=8)
    return fig


# --------------------------------------------------------------------------------------- metrics


def plot_confusion(cm: Sequence[Sequence[int]], labels: Sequence[str], title: str = "") -> Figure:
    """A confusion matrix: rows = true class, columns = predicted; cells show count and row share."""
    cm = np.asarray(cm)
    share = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    size = 2.2 + 0.65 * len(labels)
    fig = Figure(figsize=(size + 1.2, size))
    ax = fig.subplots()
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            colour = "white" if share[i, j] > 0.6 else "black"
            ax.text(
                j,
                i,
                f"{cm[i, j]}\n{share[i, j]:.0%}",
                ha="center",
                va="center",
                color=colour,
                fontsize=8,
            )
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or f"{int(cm.sum())} examples; diagonal = right", fontsize=10)
    fig.colorbar(image, ax=ax, label="share of the true class")
    fig.tight_layout()
    return fig


def plot_class_f1(
    labels: Sequence[str],
    f1: Sequence[float],
    support: Sequence[int] | None = None,
    title: str = "",
    compare: Sequence[float] | None = None,
    names: tuple[str, str] = ("F1", "F1 (before)"),
) -> Figure:
    """Per-class F1 as horizontal bars, best at the top; ``support`` (examples) written beside each.

    ``compare``: a second F1 per class drawn as a thin marker (e.g. thresholds 0.5 vs tuned).
    NaN (a class neither present nor predicted) is drawn as 0 and labelled "n/a".
    """
    f1 = np.nan_to_num(np.asarray(f1, dtype=float), nan=-1.0)
    order = np.argsort(f1)
    fig = Figure(figsize=(7, 0.8 + 0.28 * len(labels)))
    ax = fig.subplots()
    y = np.arange(len(labels))
    ax.barh(y, np.clip(f1[order], 0, None), color="#1f77b4", label=names[0])
    if compare is not None:
        other = np.nan_to_num(np.asarray(compare, dtype=float), nan=0.0)[order]
        ax.plot(other, y, "|", color="#d62728", ms=12, mew=2.5, label=names[1])
        ax.legend(loc="lower right", fontsize=8)
    ticks = [str(labels[i]) for i in order]
    if support is not None:
        ticks = [f"{labels[i]} ({support[i]})" for i in order]
    ax.set_yticks(y, ticks, fontsize=8)
    for yi, v in zip(y, f1[order]):
        ax.text(max(v, 0) + 0.01, yi, "n/a" if v < 0 else f"{v:.2f}", va="center", fontsize=7)
    ax.set_xlim(0, 1.08)
    ax.set_xlabel("F1" + (" (in brackets: examples)" if support is not None else ""))
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_history(history: Sequence[dict], title: str = "") -> Figure:
    """Losses and validation metrics per epoch of ``clas_recipes.train_classifier``'s ``history``.

    The background shows the unfreezing stages: each band is labelled with how many layer groups
    trained in it (``trainable_groups``).
    """
    epochs = [r["epoch"] + 1 for r in history]
    fig = Figure(figsize=(10, 3.2))
    ax, ax2 = fig.subplots(1, 2)
    ax.plot(epochs, [r["train_loss"] for r in history], "o-", label="train loss")
    if history and "valid_loss" in history[0]:
        ax.plot(epochs, [r["valid_loss"] for r in history], "o-", label="valid loss")
        ax2.plot(epochs, [r["accuracy"] for r in history], "o-", label="accuracy")
        ax2.plot(epochs, [r["macro_f1"] for r in history], "s--", label="macro-F1")
    for a in (ax, ax2):
        for r, e in zip(history, epochs):
            if r["stage"] % 2:
                a.axvspan(e - 0.5, e + 0.5, color="#f0f0f0", lw=0)
        a.set_xlabel("epoch")
        a.set_xticks(epochs, [f"{e}\n{r['trainable_groups']} gr." for e, r in zip(epochs, history)])
        a.legend(fontsize=8)
    ax.set_ylabel("cross-entropy")
    ax2.set_ylabel("on the validation set")
    ax2.set_ylim(0, 1)
    ax.set_title(
        title or "per epoch (below each epoch: how many layer groups trained)", fontsize=10
    )
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------- a multi-label dataset


def plot_label_counts(
    counts: Mapping[str, int], highlight: str = "neutral", title: str = ""
) -> Figure:
    """How many training examples carry each label, as horizontal bars on a log scale.

    Args:
        counts: label -> number of examples, in the order to draw (bottom first; e.g. a pandas
            Series sorted ascending, so the commonest label is at the top).
        highlight: a label drawn grey instead of blue (GoEmotions' ``neutral``, not an emotion).
    The default title gives the ratio of the commonest to the rarest label: the learner should
    see two orders of magnitude, the reason to report F1 per label and macro-F1.
    """
    labels, values = list(dict(counts)), list(dict(counts).values())
    fig = Figure(figsize=(8, 6))
    ax = fig.subplots()
    ax.barh(labels, values, color=["#7f7f7f" if e == highlight else "#1f77b4" for e in labels])
    ax.set_xscale("log")
    ax.set_xlabel("training comments with the label (log scale)")
    ratio = max(values) / max(min(values), 1)
    ax.set_title(title or f"GoEmotions: {ratio:.0f}x between the most and the least common label")
    return fig


def plot_cooccurrence(
    share: np.ndarray | Sequence[Sequence[float]], labels: Sequence[str], vmax: float = 0.3
) -> Figure:
    """Which labels come together: ``share[a, b]``, the share of label a's examples that also carry
    label b, as an image (rows = A, columns = B; the diagonal is best set to NaN).

    The colour scale stops at ``vmax`` (30%): most pairs are rare, and the few common ones
    (annoyance and anger, joy and excitement) should stand out without washing out the rest.
    """
    fig = Figure(figsize=(8, 7))
    ax = fig.subplots()
    image = ax.imshow(np.asarray(share, dtype=float), cmap="magma_r", vmin=0, vmax=vmax)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("... also labelled B")
    ax.set_ylabel("comments labelled A ...")
    fig.colorbar(image, ax=ax, label="share of A's comments", shrink=0.7)
    return fig


__all__ = [
    "PAD_COLOUR",
    "REAL_COLOURS",
    "draw_concat_pool",
    "draw_padded_batch",
    "plot_bpt3c_gradients",
    "plot_class_f1",
    "plot_confusion",
    "plot_cooccurrence",
    "plot_history",
    "plot_label_counts",
]
