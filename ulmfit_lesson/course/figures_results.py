"""Results and the data behind them, for notebooks 07 (why ULMFiT works), 09 (your own data) and
10 (ULMFiT today): the paper's published tables and the course's sample reviews, read from files
in ``ulmfit_lesson/data/``, and the figures that compare results.

Data (small text files, so a notebook cell holds no long literal):

- ``paper_table(name)``: a table of published numbers (``data/paper_results.toml``: ULMFiT's
  Tables 6 and 7), as a DataFrame whose ``attrs`` carry its title, source and metric.
- ``sample_reviews()``: the 56 made-up product reviews of notebook 09 (``data/sample_reviews.csv``).

Figures (each returns a matplotlib ``Figure`` built without pyplot, so a notebook shows it once;
the numbers are computed in the notebook and passed in):

- ``plot_paper_table(table)``: a published table as grouped bars, one group per variant.
- ``plot_sample_efficiency(curve, ci95, majority)``, ``plot_ablation(accuracy, ci95, majority,
  n_dev)``: notebook 07's live runs, with the 95% interval of each measurement.
- ``plot_experiment(table, name)``: one CSV of ``experiments/``: mean ± sd over seeds.
- ``plot_class_f1_compared(per_class, support)``: notebook 08's per-class F1 of several models
  (``results.class_f1``), one group of bars per class.
- ``plot_methods_compared(table, highlight, title)``, ``plot_side_by_side(side)``,
  ``plot_schedule_shapes(...)``: notebook 10's comparisons with feature extraction, BERT-base and
  the transformer fine-tuning recipe.
"""

from __future__ import annotations

import importlib.resources
import io
import tomllib
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ulmfit_lesson.course import results

PAPER_RESULTS = "paper_results.toml"
SAMPLE_REVIEWS = "sample_reviews.csv"
# Notebook 07's live contestants: ULMFiT blue, the same network from scratch red, TF-IDF green.
METHOD_COLOURS = {"ULMFiT": "#1f77b4", "from scratch": "#d62728", "TF-IDF + LR": "#2ca02c"}


def _data_file(name: str):
    return importlib.resources.files("ulmfit_lesson") / "data" / name


# ------------------------------------------------------------------------------------------ data


def paper_table(name: str) -> pd.DataFrame:
    """A table of published numbers from ``data/paper_results.toml``, e.g. ``"ulmfit_table7"``.

    Rows are the paper's variants in its order, columns its datasets; ``df.attrs`` holds the
    table's ``title``, ``source`` (the citation), ``metric`` and ``setting``.
    """
    tables = tomllib.loads(_data_file(PAPER_RESULTS).read_text(encoding="utf-8"))
    if name not in tables:
        raise KeyError(f"no table {name!r} in {PAPER_RESULTS}; there are: {', '.join(tables)}")
    spec = tables[name]
    df = pd.DataFrame(
        list(spec["rows"].values()), index=list(spec["rows"]), columns=spec["columns"]
    )
    df.attrs.update({k: spec[k] for k in ("title", "source", "metric", "setting")})
    return df


def sample_reviews() -> pd.DataFrame:
    """Notebook 09's sample data: 56 short product reviews made up for the course, half
    ``positive`` and half ``negative``, in two columns deliberately not called ``text`` and
    ``label``: ``review`` and ``sentiment``."""
    return pd.read_csv(io.StringIO(_data_file(SAMPLE_REVIEWS).read_text(encoding="utf-8")))


# ------------------------------------------------------------------ notebook 07: why it works


def plot_paper_table(table: pd.DataFrame, title: str = "", xlabel: str = "") -> Figure:
    """A published table (``paper_table``) as horizontal grouped bars: one group per variant,
    the paper's first row at the top, one bar per dataset.

    Title and x-label default to the table's ``attrs`` (``title``, ``metric``). For ULMFiT's
    Table 7 the learner should see "from scratch" and "Last" stand out as long bars, and the
    last row (ULMFiT) among the shortest on every dataset.
    """
    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    table.plot.barh(ax=ax, width=0.8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel or table.attrs.get("metric", ""))
    ax.set_title(title or table.attrs.get("title", ""))
    return fig


def plot_sample_efficiency(
    curve: pd.DataFrame,
    ci95: Sequence[float],
    majority: float,
    sizes: Sequence[int] | None = None,
    title: str = "Sample efficiency on happy vs sad verses",
) -> Figure:
    """Accuracy against the number of labelled training examples (log scale), one line per method
    (ULMFiT §5, Fig. 3: pretraining saves labels).

    Args:
        curve: one row per run, columns ``method``, ``n_train``, ``accuracy``.
        ci95: per row, the half-width of the accuracy's 95% interval (the error bars).
        majority: the accuracy of always answering the majority label (a dashed line).
        sizes: where to put the x ticks (default: every ``n_train``).
    """
    ci95 = np.asarray(ci95, dtype=float)
    fig = Figure(figsize=(7, 3.8))
    ax = fig.subplots()
    for method in curve.method.unique():
        rows = (curve.method == method).to_numpy()
        ax.errorbar(
            curve.n_train[rows],
            curve.accuracy[rows],
            yerr=ci95[rows],
            marker="o",
            capsize=3,
            color=METHOD_COLOURS.get(method),
            label=f"{method} (live, 1 seed)",
        )
    ax.axhline(majority, color="#777", ls="--", label=f"always the majority label ({majority:.0%})")
    ax.set_xscale("log")
    sizes = sorted(curve.n_train.unique()) if sizes is None else sizes
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.minorticks_off()
    ax.set_xlabel("labelled training verses (log scale)")
    ax.set_ylabel("dev accuracy")
    ax.set_ylim(0.3, 1.0)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title)
    return fig


def plot_ablation(
    accuracy: pd.Series, ci95: Sequence[float], majority: float, n_dev: int
) -> Figure:
    """One bar per variant (``accuracy``: variant name -> dev accuracy), with the 95% interval of
    the measurement as error bars and the majority label as a dashed line.

    ULMFiT's variants (names starting "ULMFiT") are dark blue, "from scratch" red, the others
    light blue. What to see: whether any two bars differ by more than their error bars.
    """
    fig = Figure(figsize=(8, 0.6 + 0.5 * len(accuracy)))
    ax = fig.subplots()
    colours = [
        "#1f77b4"
        if name.startswith("ULMFiT")
        else "#d62728"
        if name == "from scratch"
        else "#aec7e8"
        for name in accuracy.index
    ]
    ax.barh(list(accuracy.index), accuracy, xerr=ci95, color=colours, capsize=3)
    ax.axvline(majority, color="#777", ls="--", label="majority label")
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"dev accuracy ({n_dev} verses; bars: 95% interval of the measurement alone)")
    ax.legend(fontsize=8)
    return fig


def plot_experiment(table: pd.DataFrame, name: str) -> Figure:
    """One experiment's CSV (``experiments/run.py``: one row per setting and seed) as the mean
    accuracy over seeds, with the standard deviation between seeds as error bars.

    A sample-efficiency table (a ``size`` column) becomes one line per method against the number
    of training examples; any other (``variant`` or ``method``) becomes bars, best at the top.
    """
    by = (
        "size" if "size" in table.columns else "variant" if "variant" in table.columns else "method"
    )
    keys = ["method", "size"] if by == "size" else [by]
    stats = results.summarize(table, keys)  # the same mean ± sd as the README's tables
    fig = Figure(figsize=(7, 3.6))
    ax = fig.subplots()
    if by == "size":
        for method, rows in stats.sort_values(keys).groupby("method"):
            ax.errorbar(
                rows["size"],
                rows.accuracy_mean,
                yerr=rows.accuracy_std,
                marker="o",
                capsize=3,
                label=method,
            )
        ax.set_xscale("log")
        ax.set_xlabel("labelled training examples (log scale)")
        ax.legend(fontsize=8)
    else:
        stats = stats.sort_values("accuracy_mean")
        ax.barh(
            stats[by].astype(str),
            stats.accuracy_mean,
            xerr=stats.accuracy_std,
            capsize=3,
            color="#aec7e8",
        )
        ax.set_xlim(0, 1)
    seeds = int(stats.n_seeds.max())
    ax.set_title(f"{name}: accuracy, mean ± sd over {seeds} seed(s)", fontsize=10)
    return fig


def plot_class_f1_compared(
    per_class: pd.DataFrame, support: Sequence[int] | None = None, title: str = ""
) -> Figure:
    """Per-class F1 of several models side by side: one group of bars per class (the columns of
    ``per_class``), one bar per model (its rows, e.g. ``results.class_f1``). ``support``: each
    class's number of test examples, written under its name (rare classes are where models differ).
    """
    models, classes = list(per_class.index), list(per_class.columns)
    many = len(classes) > 10  # GoEmotions' 28 labels: narrower groups, names slanted
    fig = Figure(figsize=(max(6.0, (0.5 if many else 1.1) * len(classes)), 4.4 if many else 3.8))
    ax = fig.subplots()
    width = 0.8 / len(models)
    x = np.arange(len(classes))
    for i, model in enumerate(models):
        ax.bar(x + (i - (len(models) - 1) / 2) * width, per_class.loc[model], width, label=model)
    names = classes if support is None else [f"{c}\n(n={n})" for c, n in zip(classes, support)]
    ax.set_xticks(
        x, names, fontsize=8, rotation=60 if many else 0, ha="right" if many else "center"
    )
    ax.set_ylim(0, 1)
    ax.set_ylabel("test F1")
    ax.legend(fontsize=8, ncol=min(len(models), 2))
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------- notebook 10: today


def plot_methods_compared(table: pd.DataFrame, highlight: str, title: str = "") -> Figure:
    """Test accuracy and macro-F1 of several methods, side by side, with the sd over seeds.

    Args:
        table: one row per method (the index names it), columns ``accuracy_mean``,
            ``accuracy_std``, ``macro_f1_mean``, ``macro_f1_std`` (a missing std: no bar).
        highlight: the row drawn orange (the live run); rows starting "ULMFiT" are blue, the
            others grey.
    """
    fig = Figure(figsize=(10, 0.9 + 0.45 * len(table)))
    axes = fig.subplots(1, 2, sharey=True)
    colours = [
        "#ff7f0e" if name == highlight else "#1f77b4" if name.startswith("ULMFiT") else "#aaaaaa"
        for name in table.index
    ]
    for ax, metric in zip(axes, ["accuracy", "macro_f1"]):
        ax.barh(
            list(table.index),
            table[f"{metric}_mean"],
            xerr=table[f"{metric}_std"].fillna(0),
            color=colours,
            capsize=3,
        )
        ax.set_xlim(0, 1)
        ax.set_xlabel(f"test {metric.replace('macro_f1', 'macro-F1')} (bars: sd over seeds)")
    axes[0].invert_yaxis()
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def plot_side_by_side(
    side: pd.DataFrame,
    shares: Sequence[str] = ("test accuracy",),
    colours: Sequence[str] = ("#1f77b4", "#9467bd"),
) -> Figure:
    """One small bar chart per column of ``side`` (rows: the models compared), each bar labelled
    with its value: e.g. accuracy, parameters and time per prediction of ULMFiT and BERT-base.

    Columns named in ``shares`` are drawn on a 0-1 axis; the others on their own scale. What to
    see: which model is ahead in each column, and by how much.
    """
    fig = Figure(figsize=(11, 2.6))
    axes = np.atleast_1d(fig.subplots(1, len(side.columns)))
    for i, (ax, column) in enumerate(zip(axes, side.columns)):
        ax.barh(list(side.index), side[column], color=list(colours))
        ax.set_title(column, fontsize=10)
        for y, value in enumerate(side[column]):
            ax.annotate(
                f"{value:.3g}",
                (value, y),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=9,
            )
        ax.margins(x=0.25)
        if column in shares:
            ax.set_xlim(0, 1)
        if i:
            ax.set_yticks([])  # the first panel names the rows for all
        ax.invert_yaxis()
    fig.tight_layout()
    return fig


def plot_schedule_shapes(
    stlr: Sequence[float],
    bert_schedule: Sequence[float],
    ulmfit_lrs: Sequence[float],
    bert_lrs: Sequence[float],
) -> Figure:
    """ULMFiT's two learning-rate ideas beside their transformer descendants (ULMFiT §3.2).

    Left: the learning rate over training, as a share of its maximum: STLR (``stlr``, cut_frac
    0.1, ratio 32) and BERT's warm-up over 10% then linear decay to 0 (``bert_schedule``).
    Right: each layer group's learning rate as a share of the top group's, bottom to top, on a
    log scale: ULMFiT's discriminative rates (``ulmfit_lrs``, / 2.6 per group) and layer-wise
    decay (``bert_lrs``, x 0.95 per layer; Sun et al. 2019). The learner should see the same
    shapes with other strengths: BERT's bottom keeps about half the top's rate, ULMFiT's 1/46.
    """
    fig = Figure(figsize=(11, 3.4))
    left, right = fig.subplots(1, 2)
    left.plot(stlr, label="ULMFiT: slanted triangular (cut_frac 0.1, ratio 32)")
    left.plot(bert_schedule, "--", label="BERT fine-tuning: warm-up 10%, linear decay to 0")
    left.set_xlabel("training step")
    left.set_ylabel("learning rate / its maximum")
    left.legend(fontsize=8)
    for lrs, style, label in [
        (ulmfit_lrs, "o-", f"ULMFiT: {len(ulmfit_lrs)} groups, / 2.6 per group"),
        (bert_lrs, "s--", f"BERT, Sun et al.: {len(bert_lrs)} groups, x 0.95 per layer"),
    ]:
        right.plot(np.linspace(0, 1, len(lrs)), np.array(lrs) / lrs[-1], style, label=label)
    right.set_yscale("log")
    right.set_xticks([0, 1], ["bottom (embeddings)", "top (head)"])
    right.set_ylabel("learning rate / the top group's")
    right.legend(fontsize=8)
    fig.suptitle("The same shapes, other numbers", fontsize=11)
    fig.tight_layout()
    return fig


__all__ = [
    "METHOD_COLOURS",
    "PAPER_RESULTS",
    "SAMPLE_REVIEWS",
    "paper_table",
    "plot_ablation",
    "plot_class_f1_compared",
    "plot_experiment",
    "plot_methods_compared",
    "plot_paper_table",
    "plot_sample_efficiency",
    "plot_schedule_shapes",
    "plot_side_by_side",
    "sample_reviews",
]
