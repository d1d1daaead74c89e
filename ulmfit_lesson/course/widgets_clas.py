"""Pictures and widgets for stage 3, the classifier (notebooks 06-09): thin layers over package code.

Drawings (each returns a matplotlib ``Figure`` built without pyplot, so nothing is shown twice):

- ``draw_padded_batch(x, mask, bptt)``: a classifier batch as ``clas_loader.pad_chunks`` lays it out,
  chunk boundaries drawn and each row's true last token starred (``classifier.last_positions``).
- ``draw_concat_pool(output, mask, row)``: one document's encoder outputs ``H`` and the three parts of
  ``classifier.concat_pool``: ``h_T``, the max-pool (with the position that won each feature) and the
  mean-pool.
- ``plot_confusion(cm, labels)``: a confusion matrix (``clas_recipes.confusion_matrix``), counts and
  row shares.
- ``plot_class_f1(labels, f1, support)``: per-class F1 bars, sorted, with how many examples each had.
- ``plot_history(history)``: losses and validation metrics per epoch, unfreezing stages shaded.

Numbers: ``unfreezing_schedule(n_groups, epochs)`` (what each layer group does, step by step, under
``clas_recipes.train_classifier``'s plan) and ``group_sizes(groups)`` (parameters per layer group).

HTML:

- ``probs_html(probs)``: class probabilities as bars.
- ``contributions_html(contrib)``: a ``predict.Contributions`` as coloured words: green pushed towards
  the predicted label, red away from it (gradient x input).

Widgets (``ipywidgets.VBox``; a static copy of the default state is displayed first, so a notebook run
headless by nbconvert/nbval still shows a picture; see ``widgets.py``):

- ``unfreezing_stepper(model)``: an epoch slider; which layer groups train at that epoch of gradual
  unfreezing (``clas_recipes.plan_stages``, ``schedules.freeze_to``) and their learning rates
  (``schedules.discriminative_lrs`` under a fresh ``schedules.Schedule`` per stage).
- ``classifier_box(clf)``: type a text, see the class probabilities and per-word contributions
  (``predict.TextClassifier.contributions``).

Each widget carries ``box.controls``, ``box.state`` (the numbers of the last drawing) and
``box.redraw()``, for tests and curious learners.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import ipywidgets as W
import numpy as np
import torch
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from torch import Tensor

from ulmfit_lesson import clas_recipes, classifier, schedules
from ulmfit_lesson.course.widgets_basics import _explorer, _slider

REAL_COLOURS = ["#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2"]
PAD_COLOUR = "#eeeeee"
# Diverging: red = pushed away from the label, white = no effect, green = pushed towards it.
# N odd, so that 0.5 (no effect) maps to exactly white.
CONTRIB_CMAP = LinearSegmentedColormap.from_list("contrib", ["#d62728", "#fff", "#2ca02c"], N=255)
GROUP_NAMES = ("embedding", "LSTM 1", "LSTM 2", "LSTM 3", "head")


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
            ax.text(j + 0.5, i + 0.5, text, ha="center", va="center", fontsize=7,
                    color="#222" if real[i, j] else "#aaa", family="monospace")  # fmt: skip
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
            ax.text(j, i, f"{cm[i, j]}\n{share[i, j]:.0%}", ha="center", va="center",
                    color=colour, fontsize=8)  # fmt: skip
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


# --------------------------------------------------------------------------------------- unfreezing


def unfreezing_schedule(
    n_groups: int,
    epochs: int,
    lr: float = clas_recipes.CLAS_LR,
    steps_per_epoch: int = 10,
    gradual: bool = True,
    discriminative: bool = True,
    schedule: str = "stlr",
) -> dict[str, Any]:
    """What ``clas_recipes.train_classifier`` does to each layer group, epoch by epoch and step by step.

    Returns ``plan`` (the stages of ``clas_recipes.plan_stages``), ``peak_lrs`` (one per group,
    ``schedules.discriminative_lrs`` or all ``lr``), ``epoch_stage`` (the stage of every epoch),
    ``trainable`` (epochs x groups bool: trains in that epoch) and ``lrs`` (steps x groups: the LR
    of every step, 0 while a group is frozen; a fresh ``schedules.Schedule`` spans each stage).
    """
    plan = clas_recipes.plan_stages(n_groups, epochs, gradual)
    peak = schedules.discriminative_lrs(lr, n_groups) if discriminative else [lr] * n_groups
    epoch_stage, trainable, lrs = [], [], []
    for s, stage in enumerate(plan):
        n_frozen = stage.freeze_to if stage.freeze_to >= 0 else n_groups + stage.freeze_to
        on = np.arange(n_groups) >= n_frozen
        sched = schedules.Schedule(stage.n_epochs * steps_per_epoch, peak, kind=schedule)
        for step in range(stage.n_epochs * steps_per_epoch):
            lrs.append(np.where(on, sched(step), 0.0))
        epoch_stage += [s] * stage.n_epochs
        trainable += [on] * stage.n_epochs
    return dict(
        plan=plan, peak_lrs=peak, epoch_stage=epoch_stage, trainable=np.array(trainable),
        lrs=np.array(lrs), steps_per_epoch=steps_per_epoch,
    )  # fmt: skip


def group_sizes(groups) -> list[int]:
    """Parameters per layer group; a parameter shared by several groups counts once, in the first."""
    seen: set[int] = set()
    sizes = []
    for group in groups:  # a shared parameter counts once, in the first group (param_groups' rule)
        n = 0
        for module in group:
            for p in module.parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    n += p.numel()
        sizes.append(n)
    return sizes


def _draw_unfreezing(state: dict, epoch: int, info: dict, names, sizes, model) -> Figure:
    e = epoch - 1
    on = info["trainable"][e]
    stage = info["plan"][info["epoch_stage"][e]]
    if model is not None:  # ask the real model: freeze_to, then read requires_grad back
        groups = model.groups
        schedules.freeze_to(groups, stage.freeze_to)
        try:
            on = np.array(schedules.trainable_groups(groups))
        finally:
            schedules.freeze_to(groups, 0)  # leave the model as it was: everything trainable
    n_train = int(sum(s for s, t in zip(sizes, on) if t)) if sizes else None
    state.update(epoch=epoch, stage=info["epoch_stage"][e], freeze_to=stage.freeze_to,
                 trainable=[bool(t) for t in on], n_trainable=n_train,
                 peak_lrs=list(info["peak_lrs"]))  # fmt: skip
    fig = Figure(figsize=(10, 3.6))
    ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 3]})
    peak = np.asarray(info["peak_lrs"])
    for g, name in enumerate(names):
        colour = "#1f77b4" if on[g] else "#cccccc"
        alpha = 0.35 + 0.65 * peak[g] / peak.max() if on[g] else 1.0
        ax.barh(g, 1, color=colour, alpha=alpha, edgecolor="black")
        what = f"trains, peak lr {peak[g]:.2g}" if on[g] else "frozen"
        size = f" ({sizes[g] / 1e6:.1f}M)" if sizes else ""
        ax.text(0.5, g, f"{name}{size}\n{what}", ha="center", va="center", fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.6, len(names) - 0.4)
    ax.axis("off")
    trains = f", {n_train / 1e6:.1f}M parameters train" if n_train is not None else ""
    ax.set_title(f"epoch {epoch}: freeze_to({stage.freeze_to}){trains}", fontsize=10)
    spe = info["steps_per_epoch"]
    steps = np.arange(len(info["lrs"])) / spe
    for g, name in enumerate(names):
        ax2.plot(steps, info["lrs"][:, g], label=name, lw=1.5)
    ax2.axvspan(e, e + 1, color="#ffdd57", alpha=0.35, lw=0)
    ax2.set_yscale("symlog", linthresh=peak.min() / 40)
    ax2.set_ylim(bottom=0)
    ax2.set_xlabel("epoch (each stage: a fresh slanted-triangular schedule)")
    ax2.set_ylabel("learning rate (0 = frozen)")
    ax2.legend(fontsize=7, loc="upper right")
    ax2.set_title("learning rate of each group, step by step", fontsize=10)
    fig.tight_layout()
    return fig


def unfreezing_stepper(
    model: classifier.ULMFiTClassifier | None = None,
    epochs: int = clas_recipes.CLAS_EPOCHS,
    lr: float = clas_recipes.CLAS_LR,
    steps_per_epoch: int = 10,
    discriminative: bool = True,
    schedule: str = "stlr",
    epoch: int = 1,
    show_static: bool = True,
) -> W.VBox:
    """Gradual unfreezing (ULMFiT §3.3) epoch by epoch: which layer groups train, at what LR.

    With a ``model`` the trainable groups are read back from it after ``schedules.freeze_to`` (the
    model is left fully trainable afterwards) and its groups' parameter counts are shown; without
    one, five groups (embedding, 3 LSTMs, head) are assumed. Slider: ``epoch``.
    ``box.state``: ``epoch``, ``stage``, ``freeze_to``, ``trainable`` (per group), ``n_trainable``,
    ``peak_lrs``, ``figure``.
    """
    groups = model.groups if model is not None else None
    n_groups = len(groups) if groups is not None else len(GROUP_NAMES)
    names = list(GROUP_NAMES) if n_groups == len(GROUP_NAMES) else [f"group {g}" for g in range(n_groups)]  # fmt: skip
    sizes = group_sizes(groups) if groups is not None else None
    info = unfreezing_schedule(
        n_groups, epochs, lr, steps_per_epoch, True, discriminative, schedule
    )
    controls = {"epoch": _slider(W.IntSlider, epoch, 1, epochs, 1, "epoch")}
    return _explorer(
        controls, lambda state, epoch: _draw_unfreezing(state, epoch, info, names, sizes, model),
        show_static,
    )  # fmt: skip


# --------------------------------------------------------------------------------------- predictions


def probs_html(probs: dict[str, float], chosen: Sequence[str] | str | None = None) -> str:
    """Class probabilities as horizontal bars, highest first; ``chosen`` label(s) in bold."""
    chosen = {chosen} if isinstance(chosen, str) else set(chosen or [])
    rows = []
    for name, p in sorted(probs.items(), key=lambda kv: -kv[1]):
        weight = "bold" if name in chosen else "normal"
        rows.append(
            f"<tr><td style='text-align:right;font-weight:{weight};padding-right:6px'>"
            f"{html.escape(str(name))}</td><td style='width:260px'><div style='background:#1f77b4;"
            f"height:12px;width:{max(p, 0.0) * 100:.1f}%'></div></td>"
            f"<td style='font-family:monospace'>{p:.3f}</td></tr>"
        )
    return "<table>" + "".join(rows) + "</table>"


def contribution_colours(scores: Sequence[float]) -> list[str]:
    """A background colour per score: green positive, red negative, scaled by the largest |score|."""
    scores = np.asarray(scores, dtype=float)
    top = float(np.abs(scores).max()) if len(scores) else 0.0
    scaled = 0.5 + 0.5 * scores / top if top > 0 else np.full(len(scores), 0.5)
    rgb = [[round(255 * c) for c in CONTRIB_CMAP(v)[:3]] for v in scaled]
    return [f"#{r:02x}{g:02x}{b:02x}" for r, g, b in rgb]


def contributions_html(contrib, show_probs: bool = True) -> str:
    """A ``predict.Contributions`` as HTML: probabilities, then the tokens coloured by score.

    Green: the word pushed the score of ``contrib.label`` up; red: down; white: hardly mattered.
    Hover a word for its score and how many max-pooled features it won.
    """
    chips = []
    for tok, score, wins, colour in zip(
        contrib.tokens, contrib.scores, contrib.maxpool_wins, contribution_colours(contrib.scores)
    ):
        chips.append(
            f"<span title='score {score:+.3f}, wins {wins} max-pool features' style='display:"
            f"inline-block;margin:1px;padding:1px 4px;border-radius:4px;font-family:monospace;"
            f"background:{colour};border:1px solid #ddd'>{html.escape(tok)}</span>"
        )
    head = (
        f"<p>explaining <b>{html.escape(str(contrib.label))}</b>: green = pushed towards it, "
        "red = pushed away (gradient x input)</p>"
    )
    words = "<div style='line-height:2'>" + "".join(chips) + "</div>"
    return (probs_html(contrib.probs, contrib.label) if show_probs else "") + head + words


def _draw_classifier(state: dict, text: str, clf, cache: dict) -> str:
    if text in cache:  # the static copy and the widget draw the same text: compute it once
        state.update(cache[text][0])
        return cache[text][1]
    if not text.strip():
        state.update(tokens=[], scores=[], probs={}, label=None)
        return "<p>type a text above</p>"
    contrib = clf.contributions(text)
    labels = clf.predict(text)[0][0] if clf.multi_label else contrib.label
    state.update(tokens=contrib.tokens, scores=contrib.scores, probs=contrib.probs,
                 label=contrib.label, labels=labels)  # fmt: skip
    markup = probs_html(contrib.probs, labels) + contributions_html(contrib, show_probs=False)
    if clf.multi_label:
        shown = ", ".join(labels) or "(none above its threshold)"
        markup = f"<p>predicted labels: <b>{html.escape(shown)}</b></p>" + markup
    cache.clear()
    cache[text] = (dict(state), markup)
    return markup


def classifier_box(
    clf, text: str = "the sun is warm and all the birds are singing", show_static: bool = True
) -> W.VBox:
    """Type a text, see what the classifier ``clf`` (a ``predict.TextClassifier``) makes of it.

    Shows the probability of every class and the tokens coloured by their contribution to the top
    class (``clf.contributions``). Updates when the box loses focus or Enter is pressed (one forward
    and backward pass of the model per update). ``box.state``: ``tokens``, ``scores``, ``probs``,
    ``label`` (the explained class), ``labels`` (the prediction; a list for multi-label), ``html``.
    """
    box_text = W.Textarea(
        value=text, description="text", continuous_update=False, layout=W.Layout(width="90%")
    )
    cache: dict = {}
    return _explorer({"text": box_text}, lambda state, text: _draw_classifier(state, text, clf, cache),
                     show_static)  # fmt: skip


__all__ = [
    "draw_padded_batch",
    "draw_concat_pool",
    "plot_confusion",
    "plot_class_f1",
    "plot_history",
    "group_sizes",
    "unfreezing_schedule",
    "unfreezing_stepper",
    "probs_html",
    "contribution_colours",
    "contributions_html",
    "classifier_box",
]
