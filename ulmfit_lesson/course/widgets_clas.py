"""Pictures and widgets for stage 3, the classifier (notebooks 06-09): thin layers over package code.

Drawings (matplotlib figures: ``draw_padded_batch``, ``draw_concat_pool``, ``plot_confusion``,
``plot_class_f1``, ``plot_history``) are in ``figures_clas.py`` and importable from here too, so a
notebook needs one import for stage 3.

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
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure

from ulmfit_lesson import clas_recipes, classifier, schedules
from ulmfit_lesson.course.figures_clas import (
    draw_concat_pool,
    draw_padded_batch,
    plot_class_f1,
    plot_confusion,
    plot_history,
)
from ulmfit_lesson.course.widgets import explorer, slider

# Diverging: red = pushed away from the label, white = no effect, green = pushed towards it.
# N odd, so that 0.5 (no effect) maps to exactly white.
CONTRIB_CMAP = LinearSegmentedColormap.from_list("contrib", ["#d62728", "#fff", "#2ca02c"], N=255)
GROUP_NAMES = ("embedding", "LSTM 1", "LSTM 2", "LSTM 3", "head")


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
        plan=plan,
        peak_lrs=peak,
        epoch_stage=epoch_stage,
        trainable=np.array(trainable),
        lrs=np.array(lrs),
        steps_per_epoch=steps_per_epoch,
    )


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
    state.update(
        epoch=epoch,
        stage=info["epoch_stage"][e],
        freeze_to=stage.freeze_to,
        trainable=[bool(t) for t in on],
        n_trainable=n_train,
        peak_lrs=list(info["peak_lrs"]),
    )
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
    names = (
        list(GROUP_NAMES)
        if n_groups == len(GROUP_NAMES)
        else [f"group {g}" for g in range(n_groups)]
    )
    sizes = group_sizes(groups) if groups is not None else None
    info = unfreezing_schedule(
        n_groups, epochs, lr, steps_per_epoch, True, discriminative, schedule
    )
    controls = {"epoch": slider(W.IntSlider, epoch, 1, epochs, 1, "epoch")}
    return explorer(
        controls,
        lambda state, epoch: _draw_unfreezing(state, epoch, info, names, sizes, model),
        show_static,
    )


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
    state.update(
        tokens=contrib.tokens,
        scores=contrib.scores,
        probs=contrib.probs,
        label=contrib.label,
        labels=labels,
    )
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
    return explorer(
        {"text": box_text},
        lambda state, text: _draw_classifier(state, text, clf, cache),
        show_static,
    )


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
