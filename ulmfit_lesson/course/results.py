"""Reading the committed experiment results for the lessons: mean ± std per setting, tables.

``experiments/runner.py`` writes one CSV row per (setting, seed); notebooks 06-08, the README's tables
(``experiments/readme_tables.py``) and ``experiments/run.py`` summarise those rows with these functions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def summarize(df: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Mean, std (n-1; 0 for a single seed) and count of accuracy / macro-F1 / seconds per group."""
    g = df.groupby(list(by), sort=False)
    out = g[["accuracy", "macro_f1", "seconds"]].agg(["mean", "std"])
    out.columns = [f"{a}_{b}" for a, b in out.columns]
    out["n_seeds"] = g["seed"].nunique()
    return out.fillna({c: 0.0 for c in out.columns if c.endswith("_std")}).reset_index()


def markdown_table(summary: pd.DataFrame, by: Sequence[str]) -> str:
    """``| method | accuracy | macro-F1 | seeds | s/run |`` with mean ± std (std only from two seeds
    on), for the README."""
    head = [*by, "accuracy", "macro-F1", "seeds", "seconds/run"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in summary.iterrows():
        # one seed has no spread: printing "± 0.000" would claim a certainty nobody measured
        spread = (lambda std: f" ± {std:.3f}") if r.n_seeds > 1 else (lambda std: "")
        cells = [str(r[b]) for b in by] + [
            f"{r.accuracy_mean:.3f}{spread(r.accuracy_std)}",
            f"{r.macro_f1_mean:.3f}{spread(r.macro_f1_std)}",
            str(int(r.n_seeds)),
            f"{r.seconds_mean:.0f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def tuning_summary(df: pd.DataFrame, metric: str = "macro_f1") -> pd.DataFrame:
    """Per variant, mean over seeds of dev and test scores at the last epoch (``epochs = last``) and
    at the epoch with the best dev ``metric`` (``epochs = best dev``; ties: the later epoch)."""
    out = []
    for (variant, seed), g in df.groupby(["variant", "seed"], sort=False):
        g = g.sort_values("epoch")
        best = g.iloc[len(g) - 1 - int(np.argmax(g[f"dev_{metric}"].to_numpy()[::-1]))]
        for which, r in (("last", g.iloc[-1]), ("best dev", best)):
            out.append(
                dict(
                    variant=variant,
                    epochs=which,
                    seed=seed,
                    epoch=int(r["epoch"]),
                    dev_accuracy=r["dev_accuracy"],
                    dev_macro_f1=r["dev_macro_f1"],
                    accuracy=r["accuracy"],
                    macro_f1=r["macro_f1"],
                )
            )
    rows = pd.DataFrame(out)
    g = rows.groupby(["variant", "epochs"], sort=False)
    cols = ["dev_accuracy", "dev_macro_f1", "accuracy", "macro_f1", "epoch"]
    summary = g[cols].agg(["mean", "std"])
    summary.columns = [f"{a}_{b}" for a, b in summary.columns]
    summary["n_seeds"] = g["seed"].nunique()
    return summary.fillna(0.0).reset_index()


def class_f1(df: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Each class's test F1, mean over seeds, per group: one row per group (the index joins ``by``'s
    values with " · "), one column per class. From the ``f1_<label>`` columns that
    ``experiments.runner.goemotions_imbalance`` writes (under each row's own decision rule)."""
    cols = [c for c in df.columns if c.startswith("f1_") and not c.endswith("_untuned")]
    if not cols:
        raise ValueError(f"no per-class F1 columns (f1_<label>) among {list(df.columns)}")
    out = df.groupby(list(by), sort=False)[cols].mean()
    out.index = [" · ".join(map(str, k if isinstance(k, tuple) else (k,))) for k in out.index]
    out.columns = [c[len("f1_") :] for c in cols]
    return out


__all__ = ["summarize", "markdown_table", "tuning_summary", "class_f1"]
