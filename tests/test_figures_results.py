"""Notebooks 07, 09 and 10's data files and figures: the loaders return the published rows with
their source, and each figure draws the numbers it is given. The figures are built without
pyplot, so there is nothing to close."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.container import BarContainer  # noqa: E402

from ulmfit_lesson.course import figures_results, results  # noqa: E402


def _bars(ax) -> BarContainer:
    """The bars of an axes drawn with error bars (their ErrorbarContainer comes first)."""
    return next(c for c in ax.containers if isinstance(c, BarContainer))


# ------------------------------------------------------------------------------------------ data


def test_paper_tables_hold_the_published_numbers_with_their_source():
    table6 = figures_results.paper_table("ulmfit_table6")
    table7 = figures_results.paper_table("ulmfit_table7")
    assert list(table6.columns) == list(table7.columns) == ["IMDb", "TREC-6", "AG"]
    assert table6.shape == (4, 3) and table7.shape == (10, 3)
    assert list(table7.index[:2]) == ["from scratch", "Full"]
    assert table7.loc["from scratch"].tolist() == [9.93, 13.36, 6.81]
    assert table7.loc["Last (only the head)", "TREC-6"] == 16.09
    # ULMFiT's own row is one result, printed in both tables
    assert table6.iloc[-1].tolist() == table7.iloc[-1].tolist() == [5.00, 5.69, 5.38]
    for table, n in [(table6, "Table 6"), (table7, "Table 7")]:
        assert "Howard & Ruder (2018)" in table.attrs["source"] and n in table.attrs["source"]
        assert table.attrs["metric"].startswith("validation error (%)")
    with pytest.raises(KeyError, match="ulmfit_table6"):
        figures_results.paper_table("table 6")


def test_sample_reviews_are_56_balanced_rows_in_their_own_column_names():
    reviews = figures_results.sample_reviews()
    assert list(reviews.columns) == ["review", "sentiment"]
    assert len(reviews) == 56
    assert reviews.sentiment.value_counts().to_dict() == {"positive": 28, "negative": 28}
    assert reviews.review.str.len().min() > 10 and reviews.review.is_unique
    assert reviews.iloc[1].tolist() == [
        "The strap broke after one week. Cheap plastic, not worth the money.",
        "negative",
    ]  # a comma inside a text survives the CSV


# --------------------------------------------------------------------------------- notebook 07


def test_paper_table_is_grouped_bars_titled_from_the_table():
    table = figures_results.paper_table("ulmfit_table6")
    fig = figures_results.plot_paper_table(table)
    (ax,) = fig.axes
    widths = [p.get_width() for p in ax.patches]
    assert widths == pytest.approx(table.to_numpy().T.ravel().tolist())  # one dataset at a time
    assert ax.get_title() == "ULMFiT Table 6: LM fine-tuning variants"
    assert ax.get_xlabel() == "validation error (%), lower is better"
    assert ax.yaxis_inverted()  # the paper's first row on top
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["IMDb", "TREC-6", "AG"]


def test_sample_efficiency_draws_each_method_with_its_error_bars():
    curve = pd.DataFrame(
        dict(
            method=["ULMFiT", "from scratch", "ULMFiT", "from scratch"],
            n_train=[20, 20, 60, 60],
            accuracy=[0.6, 0.5, 0.8, 0.55],
        )
    )
    fig = figures_results.plot_sample_efficiency(
        curve, [0.1, 0.2, 0.05, 0.15], 0.58, sizes=[20, 60]
    )
    (ax,) = fig.axes
    ulmfit, scratch = ax.containers
    assert list(ulmfit.lines[0].get_ydata()) == [0.6, 0.8]
    assert list(scratch.lines[0].get_xdata()) == [20, 60]
    assert ulmfit.lines[0].get_color() == "#1f77b4" and scratch.lines[0].get_color() == "#d62728"
    low, high = ulmfit.lines[2][0].get_segments()[0][:, 1]  # the first point's error bar
    assert (low, high) == pytest.approx((0.5, 0.7))
    majority = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert majority[0].get_ydata()[0] == 0.58
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "ULMFiT (live, 1 seed)" in legend and "always the majority label (58%)" in legend
    assert [t.get_text() for t in ax.get_xticklabels()] == ["20", "60"]


def test_ablation_colours_ulmfit_and_from_scratch():
    acc = pd.Series({"ULMFiT (Freez + discr + stlr)": 0.8, "no discr": 0.75, "from scratch": 0.5})
    fig = figures_results.plot_ablation(acc, [0.1, 0.1, 0.1], majority=0.6, n_dev=36)
    (ax,) = fig.axes
    bars = _bars(ax)
    assert [b.get_width() for b in bars] == [0.8, 0.75, 0.5]
    assert [b.get_facecolor() for b in bars] == [
        to_rgba("#1f77b4"),
        to_rgba("#aec7e8"),
        to_rgba("#d62728"),
    ]
    assert ax.get_xlabel().startswith("dev accuracy (36 verses")
    assert ax.get_xlim() == (0, 1)


def _runs(**columns) -> pd.DataFrame:
    """Rows as ``experiments/run.py`` writes them (macro-F1 and seconds are not plotted)."""
    n = len(columns["seed"])
    return pd.DataFrame(columns | {"macro_f1": [0.5] * n, "seconds": [1.0] * n})


def test_experiment_sample_efficiency_is_mean_and_sd_over_seeds():
    table = _runs(
        size=[25, 25, 100, 100, 25, 100],
        method=["ulmfit"] * 4 + ["majority"] * 2,
        seed=[0, 1, 0, 1, 0, 0],
        accuracy=[0.4, 0.6, 0.7, 0.9, 0.5, 0.5],
    )
    fig = figures_results.plot_experiment(table, "sample_efficiency_x")
    (ax,) = fig.axes
    majority, ulmfit = ax.containers  # methods in sorted order
    assert list(ulmfit.lines[0].get_ydata()) == pytest.approx([0.5, 0.8])
    assert list(ulmfit.lines[0].get_xdata()) == [25, 100]
    assert ax.get_xscale() == "log"
    assert ax.get_title() == "sample_efficiency_x: accuracy, mean ± sd over 2 seed(s)"


def test_experiment_by_variant_is_bars_best_at_the_top():
    table = _runs(
        variant=["a", "a", "b", "b"], method=["ulmfit"] * 4, seed=[0, 1, 0, 1],
        accuracy=[0.7, 0.7, 0.5, 0.7],
    )  # fmt: skip
    fig = figures_results.plot_experiment(table, "ablations_x")
    (ax,) = fig.axes
    assert [b.get_width() for b in _bars(ax)] == pytest.approx([0.6, 0.7])  # sorted up
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b", "a"]


# --------------------------------------------------------------------------------- notebook 10


def test_methods_compared_has_accuracy_and_macro_f1_panels():
    table = pd.DataFrame(
        {
            "accuracy_mean": [0.72, 0.64, 0.55],
            "accuracy_std": [0.02, 0.0, np.nan],
            "macro_f1_mean": [0.6, 0.46, 0.43],
            "macro_f1_std": [0.03, 0.0, np.nan],
        },
        index=["ULMFiT: fine-tuned LM", "TF-IDF", "frozen (live)"],
    )
    fig = figures_results.plot_methods_compared(table, highlight="frozen (live)", title="t")
    acc_ax, f1_ax = fig.axes
    assert [b.get_width() for b in _bars(acc_ax)] == [0.72, 0.64, 0.55]
    assert [b.get_width() for b in _bars(f1_ax)] == [0.6, 0.46, 0.43]
    colours = [b.get_facecolor() for b in _bars(acc_ax)]
    assert colours == [to_rgba("#1f77b4"), to_rgba("#aaaaaa"), to_rgba("#ff7f0e")]
    assert f1_ax.get_xlabel() == "test macro-F1 (bars: sd over seeds)"
    assert fig.get_suptitle() == "t"


def test_side_by_side_draws_one_panel_per_column_with_values():
    side = pd.DataFrame(
        {"test accuracy": [0.72, 0.865], "parameters (millions)": [31.0, 110.0]},
        index=["ULMFiT", "BERT-base"],
    )
    fig = figures_results.plot_side_by_side(side)
    acc_ax, size_ax = fig.axes
    assert [b.get_width() for b in size_ax.containers[0]] == [31.0, 110.0]
    assert acc_ax.get_xlim() == (0, 1) and size_ax.get_xlim()[1] > 110
    assert [t.get_text() for t in acc_ax.texts] == ["0.72", "0.865"]
    assert acc_ax.get_title() == "test accuracy"
    assert [t.get_text() for t in acc_ax.get_yticklabels()] == ["ULMFiT", "BERT-base"]
    assert size_ax.get_yticks().size == 0  # the first panel names the rows


def test_schedule_shapes_normalise_each_curve_to_its_top():
    fig = figures_results.plot_schedule_shapes(
        [0.1, 1.0, 0.5], [0.0, 1.0, 0.0], [0.01 / 2.6**2, 0.01 / 2.6, 0.01], [0.5, 1.0]
    )
    left, right = fig.axes
    assert list(left.lines[0].get_ydata()) == [0.1, 1.0, 0.5]
    assert list(left.lines[1].get_ydata()) == [0.0, 1.0, 0.0]
    ulmfit, bert = right.lines
    assert ulmfit.get_ydata() == pytest.approx([1 / 2.6**2, 1 / 2.6, 1.0])
    assert list(ulmfit.get_xdata()) == [0.0, 0.5, 1.0] and list(bert.get_ydata()) == [0.5, 1.0]
    assert "3 groups" in ulmfit.get_label() and right.get_yscale() == "log"
    assert fig.get_suptitle() == "The same shapes, other numbers"


# ------------------------------------------------------------------------ notebook 08: imbalance


def _imbalance_rows() -> pd.DataFrame:
    """Two seeds of two treatments, with per-class F1 columns as the imbalance runner writes them."""
    rows = []
    for seed, (a, b) in enumerate([(0.2, 0.8), (0.4, 0.6)]):
        for treatment, shift in (("plain", 0.0), ("balanced", 0.1)):
            rows.append(
                dict(
                    method="ulmfit",
                    treatment=treatment,
                    seed=seed,
                    accuracy=0.5,
                    macro_f1=0.5,
                    seconds=1.0,
                    f1_fear=a + shift,
                    f1_joy=b,
                    f1_fear_untuned=0.0,
                )  # fmt: skip
            )
    return pd.DataFrame(rows)


def test_class_f1_is_each_class_mean_over_seeds():
    per_class = results.class_f1(_imbalance_rows(), ["method", "treatment"])
    assert list(per_class.index) == ["ulmfit · plain", "ulmfit · balanced"]
    assert list(per_class.columns) == ["fear", "joy"]  # the *_untuned columns are not classes
    assert per_class.loc["ulmfit · plain"].tolist() == pytest.approx([0.3, 0.7])
    assert per_class.loc["ulmfit · balanced"].tolist() == pytest.approx([0.4, 0.7])
    with pytest.raises(ValueError, match="f1_<label>"):
        results.class_f1(_imbalance_rows()[["method", "seed", "accuracy"]], ["method"])


def test_class_f1_figure_draws_one_bar_per_model_and_class():
    per_class = results.class_f1(_imbalance_rows(), ["treatment"])
    fig = figures_results.plot_class_f1_compared(per_class, support=[12, 300], title="t")
    ax = fig.axes[0]
    groups = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert len(groups) == 2 and [len(g) for g in groups] == [2, 2]
    assert [b.get_height() for b in groups[1]] == pytest.approx([0.4, 0.7])  # balanced: fear, joy
    assert [t.get_text() for t in ax.get_xticklabels()] == ["fear\n(n=12)", "joy\n(n=300)"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["plain", "balanced"]


def test_class_f1_figure_fits_28_labels():
    """GoEmotions' 28 labels: the groups narrow and the names slant, so the figure stays readable
    (about half an inch a label, not the 1.1 inches a handful of classes get)."""
    labels = [f"label{i:02d}" for i in range(28)]
    per_class = pd.DataFrame([np.linspace(0, 1, 28), np.linspace(1, 0, 28)], columns=labels,
                             index=["ulmfit", "tfidf_logreg"])  # fmt: skip
    fig = figures_results.plot_class_f1_compared(per_class)
    assert fig.get_size_inches()[0] == pytest.approx(14.0)
    ticks = fig.axes[0].get_xticklabels()
    assert len(ticks) == 28 and ticks[0].get_rotation() == 60
    few = figures_results.plot_class_f1_compared(per_class[labels[:2]])
    assert few.axes[0].get_xticklabels()[0].get_rotation() == 0
