"""The notebooks' prose against the notebooks and the committed results.

Two kinds of mistake a reader cannot catch and a test can:

- a cross-reference to the wrong notebook ("slanted triangular learning rates (notebook 06)" when
  they are taught in 05): every topic the course points to has ONE home notebook, that notebook has
  a heading about it, and every "notebook NN" written right after the topic's name names that home;
- a measured number quoted in prose that no longer matches the committed results (a rerun changed
  the CSV, or the sentence was written before the run): each quoted result is recomputed here from
  ``experiments/results/`` and must appear in the notebook exactly as the CSV gives it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
RESULTS = ROOT / "experiments" / "results" / "full"

# topic -> (words that name it, home notebook, a word its home's heading must contain)
TOPICS = {
    "tokenization": (("tokeniz", "special token"), "01", "token"),
    "vocabulary": (("vocabulary", "min_freq"), "01", "vocabulary"),
    "the LM stream": (("one stream", "stream layout"), "02", "stream"),
    "variable-length BPTT": (
        ("variable-length bptt", "variable bptt"),
        "02",
        "variable-length bptt",
    ),
    "AWD-LSTM": (("awd-lstm",), "03", "awd-lstm"),
    "dropouts": (
        ("locked dropout", "weight dropout", "embedding dropout", "dropconnect"),
        "03",
        "dropout",
    ),
    "AR/TAR": (("ar/tar", "ar and tar"), "03", "ar and tar"),
    "weight tying": (("tied", "weight tying"), "03", "weight tying"),
    "general pretraining": (
        ("stage 1", "general-domain pretraining", "perplexity"),
        "04",
        "stage 1",
    ),
    "LM fine-tuning": (
        ("stage 2", "fine-tuned on the poems", "fine-tuning the language model"),
        "05",
        "stage 2",
    ),
    "discriminative fine-tuning": (("discriminative",), "05", "discriminative"),
    "STLR": (("slanted triangular", "stlr"), "05", "slanted triangular"),
    "the classifier": (("stage 3", "concat pool", "bpt3c", "padding"), "06", "stage 3"),
    "gradual unfreezing": (("gradual unfreezing", "unfreezing"), "06", "without forgetting"),
    "sample efficiency": (("sample efficiency", "ablation"), "07", "ablations"),
    "emotions": (("goemotions", "multi-label"), "08", "goemotions"),
    "your own data": (("your own data", "a csv file", "your own csv"), "09", "your own data"),
}
WINDOW = 60  # characters before "notebook NN" in which a topic's name counts as its subject


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _markdown(path: Path) -> str:
    return "\n\n".join("".join(c["source"]) for c in _cells(path) if c["cell_type"] == "markdown")


def _all_text(path: Path) -> str:
    return "\n\n".join("".join(c["source"]) for c in _cells(path))


def _notebooks() -> dict[str, Path]:
    return {p.name.split("_")[0]: p for p in sorted(NOTEBOOKS.glob("[0-9][0-9]*_*.ipynb"))}


def _headings(path: Path) -> list[str]:
    return [
        line.lstrip("#").strip().lower()
        for line in _markdown(path).splitlines()
        if line.startswith("#")
    ]


def test_every_topic_has_a_heading_in_its_home_notebook():
    notebooks = _notebooks()
    for topic, (_, home, heading_word) in TOPICS.items():
        headings = _headings(notebooks[home])
        assert any(heading_word in h for h in headings), (
            f"topic {topic!r} lives in notebook {home}, but none of its headings mentions "
            f"{heading_word!r}: {headings}"
        )


def _subject(text: str, end: int) -> str:
    """The words just before a reference, cut at the sentence or clause boundary before it."""
    before = text[max(0, end - WINDOW) : end]
    cut = max(before.rfind(". "), before.rfind("; "), before.rfind("\n\n"), before.rfind(")"))
    # "AWD-LSTM §4.1" cites the paper, it does not name the model as the topic
    return re.sub(r"awd-lstm §[\d.]+", "", before[cut + 1 :].lower())


def wrong_references(text: str) -> list[str]:
    """Every "(...) notebook NN" whose preceding words name a topic that lives elsewhere."""
    problems = []
    for m in re.finditer(r"[Nn]otebooks? (\d\d)(?!-)", text):
        subject = _subject(text, m.start())
        for topic, (words, home, _) in TOPICS.items():
            if any(w in subject for w in words) and m.group(1) != home:
                named = {
                    t
                    for t, (ws, h, _) in TOPICS.items()
                    if h == m.group(1) and any(w in subject for w in ws)
                }
                if (
                    not named
                ):  # the words also name a topic of the notebook referred to: ambiguous, fine
                    problems.append(
                        f"{subject.strip()!r} -> notebook {m.group(1)} ({topic} is in {home})"
                    )
    return problems


def test_the_reference_check_catches_the_mistakes_it_is_for():
    assert wrong_references("batches need padding (notebook 07)")
    assert wrong_references("with slanted triangular learning rates (notebook 06)")
    assert not wrong_references("with slanted triangular learning rates (notebook 05)")
    assert not wrong_references("STLR. The encoder is saved for the classifier (notebook 06)")
    assert not wrong_references("the rescale (AWD-LSTM §4.1, notebook 02)")


@pytest.mark.parametrize("nb", sorted(_notebooks()))
def test_cross_references_name_the_notebook_that_teaches_the_topic(nb):
    path = _notebooks()[nb]
    assert wrong_references(_all_text(path)) == [], path.name


# ------------------------------------------------------------------------- quoted measured numbers


def _mean(csv: str, method: str, column: str, **where) -> float:
    df = pd.read_csv(RESULTS / csv)
    df = df[df.method == method]
    for k, v in where.items():
        df = df[df[k] == v]
    assert len(df), f"no rows for {method} {where} in {csv}"
    return float(df[column].mean())


def _goemotions(method: str, column: str) -> str:
    return f"{_mean('compare_goemotions-ekman.csv', method, column, n_train=4000):.3f}"


IMBALANCE = "imbalance_goemotions-ekman.csv"


def _imbalance(method: str, treatment: str, column: str, size: int = 4000) -> str:
    return f"{_mean(IMBALANCE, method, column, treatment=treatment, size=size):.3f}"


def _labels28(method: str, size: int = 4000) -> str:
    """The 28-label view's macro-F1 with balanced weights and tuned thresholds, mean over seeds."""
    where = dict(treatment="balanced + tuned", size=size)
    return f"{_mean('imbalance_goemotions-28.csv', method, 'macro_f1', **where):.3f}"


# (notebook, the sentence's pattern with {} where the number goes, how the number is computed)
QUOTED = [
    ("08", "reaches {} accuracy", lambda: _goemotions("ulmfit", "accuracy")),
    ("08", "/ {} macro-F1 over 5 seeds", lambda: _goemotions("ulmfit", "macro_f1")),
    ("08", "gets {} macro-F1", lambda: _goemotions("tfidf_logreg", "macro_f1")),
    ("08", "ULMFiT's macro-F1 from {} to", lambda: _imbalance("ulmfit", "plain", "macro_f1")),
    ("08", "to {} (the best treatment on dev)", lambda: _imbalance("ulmfit", "balanced weights", "macro_f1")),
    ("08", "TF-IDF's from {} to", lambda: _imbalance("tfidf_logreg", "plain", "macro_f1")),
    ("08", "to {}; accuracy drops", lambda: _imbalance("tfidf_logreg", "balanced weights", "macro_f1")),
    ("08", "cross-entropy it reaches {} accuracy", lambda: _imbalance("ulmfit", "plain", "accuracy", 39555)),
    ("08", "accuracy and {} macro-F1, against", lambda: _imbalance("ulmfit", "plain", "macro_f1", 39555)),
    ("08", "against TF-IDF's {} and", lambda: _imbalance("tfidf_logreg", "plain", "accuracy", 39555)),
    ("08", "and {}. The second bars", lambda: _imbalance("tfidf_logreg", "plain", "macro_f1", 39555)),
    ("08", "TF-IDF reaches {} macro-F1 on the 28 labels", lambda: _labels28("tfidf_logreg")),
    ("08", "on the 28 labels and ULMFiT {}.", lambda: _labels28("ulmfit")),
    ("08", "the Ekman view: ULMFiT reaches {} macro-F1", lambda: _labels28("ulmfit", 43410)),
    ("08", "macro-F1 against TF-IDF's {}, every", lambda: _labels28("tfidf_logreg", 43410)),
]  # fmt: skip


def test_the_treatment_notebook_08_calls_best_on_dev_is_best_on_dev():
    """Notebook 08 says weighting the loss is ULMFiT's best treatment on dev (never on test), and
    that ULMFiT stays behind TF-IDF in macro-F1 under every treatment: both from the CSV."""
    df = pd.read_csv(RESULTS / IMBALANCE)
    at_4k = df[df["size"] == 4000].groupby(["method", "treatment"])
    dev = at_4k["dev_macro_f1"].mean()["ulmfit"]
    assert dev.idxmax() == "balanced weights", dev
    test = at_4k["macro_f1"].mean()
    assert all(test["ulmfit"][t] < test["tfidf_logreg"][t] for t in test["ulmfit"].index)


def test_the_whole_split_claims_of_notebook_08_hold_in_the_csv():
    """Notebook 08 says that on the whole Ekman training split ULMFiT leads under every treatment in
    accuracy and macro-F1, that plain cross-entropy is its best on test, that fear is its best rare
    class there (541 training comments), and that dev cannot tell the treatments apart beyond the
    seeds' spread."""
    df = pd.read_csv(RESULTS / IMBALANCE)
    whole = df[df["size"] == df["size"].max()]
    assert whole["size"].iloc[0] == 39555
    mean = whole.groupby(["method", "treatment"])[["accuracy", "macro_f1"]].mean()
    for t in whole.treatment.unique():
        assert (mean.loc[("ulmfit", t)] > mean.loc[("tfidf_logreg", t)]).all(), t
    assert mean.loc["ulmfit"]["macro_f1"].idxmax() == "plain"
    ulmfit = whole[(whole.method == "ulmfit") & (whole.treatment == "plain")]
    rare = ulmfit[["f1_anger", "f1_disgust", "f1_fear", "f1_sadness", "f1_surprise"]].mean()
    assert rare.idxmax() == "f1_fear"
    dev = whole[whole.method == "ulmfit"].groupby("treatment")["dev_macro_f1"].agg(["mean", "std"])
    assert dev["mean"].max() - dev["mean"].min() < dev["std"].max()
    text = " ".join(_markdown(_notebooks()["08"]).split())
    assert "With all 39,555 comments ULMFiT leads under every treatment" in text
    assert "`fear` now has 541 training comments" in text


def test_the_28_label_claims_of_notebook_08_hold_in_the_csv():
    """Notebook 08 says the bag of words wins on amusement, fear, sadness and disgust, and that
    gratitude, curiosity and neutral are level (within 0.05): from the committed per-label F1."""
    df = pd.read_csv(RESULTS / "imbalance_goemotions-28.csv")
    at_4k = df[(df["treatment"] == "balanced + tuned") & (df["size"] == 4000)]
    f1 = at_4k.groupby("method").mean(numeric_only=True)
    gap = f1.loc["tfidf_logreg"] - f1.loc["ulmfit"]
    assert all(gap[f"f1_{label}"] > 0.1 for label in ("amusement", "fear", "sadness", "disgust"))
    assert all(abs(gap[f"f1_{label}"]) < 0.05 for label in ("gratitude", "curiosity", "neutral"))
    rarest = [f"f1_{label}" for label in ("grief", "relief", "nervousness", "embarrassment")]
    assert (f1[rarest] < 0.115).all().all()  # "stay at 0.11 or below for both"
    whole = df[(df["treatment"] == "balanced + tuned") & (df["size"] == 43410)]
    f1_all = whole.groupby("method").mean(numeric_only=True)
    labels = [c for c in f1_all.columns if c.startswith("f1_") and not c.endswith("_untuned")]
    assert (f1_all.loc["ulmfit", labels] > f1.loc["ulmfit", labels]).all()  # "every one ... higher"
    assert all(f1_all.loc["ulmfit", f"f1_{x}"] > f1_all.loc["tfidf_logreg", f"f1_{x}"]
               for x in ("amusement", "fear"))  # fmt: skip
    assert f1_all.loc["tfidf_logreg", "f1_grief"] > f1_all.loc["ulmfit", "f1_grief"]
    text = " ".join(_markdown(_notebooks()["08"]).split())
    assert "amusement and fear now on its side. The bag of words keeps grief" in text
    assert "gratitude, curiosity and neutral are level" in text
    assert "embarrassment, with 8 to 26 training comments each, stay at 0.11 or below" in text


@pytest.mark.parametrize("nb, pattern, value", QUOTED, ids=[f"{n}:{p}" for n, p, _ in QUOTED])
def test_numbers_quoted_in_notebooks_match_the_committed_results(nb, pattern, value):
    text = " ".join(_markdown(_notebooks()[nb]).split())
    expected = pattern.format(value())
    assert expected in text, (
        f"notebook {nb} should say {expected!r} (recomputed from {RESULTS.relative_to(ROOT)}); "
        f"it says: {re.findall(re.escape(pattern).replace(re.escape('{}'), r'[0-9.]+'), text)}"
    )


def test_sample_efficiency_prose_says_what_the_table_says():
    """Notebook 07 must not promise that ULMFiT beats the majority class with a few dozen verses
    where the committed 5-seed table has it below the majority class."""
    df = pd.read_csv(RESULTS / "sample_efficiency_poems-3class.csv")
    means = df.groupby(["method", "n_train"]).accuracy.mean()
    below = [
        n
        for n in sorted(df.n_train.unique())
        if means.get(("ulmfit", n), 1) < means.get(("majority", n), 0)
    ]
    text = " ".join(_markdown(_notebooks()["07"]).split()).lower()
    assert "a few dozen verses" not in text or not below
    if below:  # the notebook must admit it, in words a learner reads
        assert "majority" in text and any(f"{n} verses" in text for n in below), (
            f"ULMFiT is below the majority class at {below} training verses in the committed results; "
            "notebook 07 should say so"
        )
