"""Dataset readers: counts against each SOURCE.md, label names, and read_table's error messages."""

from __future__ import annotations

import csv
import os
from collections import Counter

import pytest

from ulmfit_lesson import datasets
from ulmfit_lesson.config import REPO_ROOT

SHARED = REPO_ROOT.parent / "shared"


@pytest.fixture(autouse=True)
def shared_env(monkeypatch, tmp_path):
    # CI always has ../shared: a missing folder is an error, not a skip.
    assert (SHARED / "data").is_dir(), f"{SHARED} is missing: the course's shared data is required"
    monkeypatch.setenv("ULMFIT_DATA", f"{SHARED / 'data'}{os.pathsep}{SHARED / 'pretrained'}")
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "cache"))


# --- Poem Sentiment (counts from shared/data/poem_sentiment/SOURCE.md) -----------------------------

POEM_COUNTS = {  # split: (negative, no_impact, positive, mixed)
    "train": (155, 555, 133, 49),
    "dev": (19, 69, 17, 0),
    "test": (19, 69, 16, 0),
}


@pytest.mark.parametrize("split", ["train", "dev", "test"])
def test_poem_sentiment_views(split):
    neg, none, pos, mixed = POEM_COUNTS[split]
    full = datasets.load_poem_sentiment(split, view="all")
    assert list(full.columns) == ["text", "label"]
    assert len(full) == {"train": 892, "dev": 105, "test": 104}[split]
    expected = {"negative": neg, "no_impact": none, "positive": pos, "mixed": mixed}
    assert Counter(full["label"]) == Counter({k: v for k, v in expected.items() if v})
    three = datasets.load_poem_sentiment(split, view="3class")
    assert len(three) == neg + none + pos and "mixed" not in set(three["label"])
    binary = datasets.load_poem_sentiment(split, view="binary")
    assert len(binary) == {"train": 288, "dev": 36, "test": 35}[split]
    assert set(binary["label"]) == {"negative", "positive"}


def test_poem_sentiment_text_and_quotes():
    df = datasets.load_poem_sentiment("train", view="all")
    assert df.loc[0, "text"] == "with pale blue berries. in these peaceful shades--"
    assert df.loc[0, "label"] == "positive"
    assert df["text"].str.contains('"').sum() > 0  # stray quotes kept, not treated as quoting
    assert datasets.load_poem_sentiment().equals(datasets.load_poem_sentiment("train", "3class"))
    assert len(datasets.load_poem_sentiment("validation")) == 105


def test_poem_sentiment_data_dir_override():
    df = datasets.load_poem_sentiment("dev", data_dir=SHARED / "data" / "poem_sentiment")
    assert len(df) == 105
    with pytest.raises(ValueError, match="view"):
        datasets.load_poem_sentiment("train", view="happy")
    with pytest.raises(ValueError, match="split"):
        datasets.load_poem_sentiment("training")


# --- GoEmotions (counts from shared/data/goemotions/SOURCE.md) -------------------------------------

GOEMO_COUNTS = {  # split: (examples, single-label, neutral, joy, sadness)
    "train": (43410, 36308, 14219, 1452, 1326),
    "dev": (5426, 4548, 1766, 172, 143),
    "test": (5427, 4590, 1787, 161, 156),
}


@pytest.mark.parametrize("split", ["train", "dev", "test"])
def test_goemotions_multilabel_counts(split):
    n, single, neutral, joy, sadness = GOEMO_COUNTS[split]
    df = datasets.load_goemotions(split, view="multilabel", one_hot=True)
    assert len(df) == n
    assert (df["labels"].str.len() == 1).sum() == single
    assert (df["neutral"].sum(), df["joy"].sum(), df["sadness"].sum()) == (neutral, joy, sadness)
    assert list(df.columns[:2]) == ["text", "labels"] and len(df.columns) == 2 + 28


# Ekman's six basic emotions plus neutral (Demszky et al. 2020), typed in by hand so the test
# does not share the reader's code path (which parses ekman_mapping.json).
EKMAN_BY_HAND = {
    "anger": "anger annoyance disapproval",
    "disgust": "disgust",
    "fear": "fear nervousness",
    "joy": "joy amusement approval excitement gratitude love optimism relief pride admiration desire caring",
    "sadness": "sadness disappointment embarrassment grief remorse",
    "surprise": "surprise realization confusion curiosity",
    "neutral": "neutral",
}


@pytest.mark.parametrize("split", ["train", "dev"])
def test_goemotions_ekman_counted_independently(split):
    to_group = {e: g for g, emotions in EKMAN_BY_HAND.items() for e in emotions.split()}
    names = (SHARED / "data/goemotions/emotions.txt").read_text().split()
    expected: Counter[str] = Counter()
    with open(SHARED / f"data/goemotions/{split}.tsv", encoding="utf-8", newline="") as f:
        for _text, ids, _ in csv.reader(f, delimiter="\t"):
            groups = {to_group[names[int(i)]] for i in ids.split(",")}
            if len(groups) == 1:
                expected[groups.pop()] += 1
    df = datasets.load_goemotions(split)  # view='ekman' is the default
    assert list(df.columns) == ["text", "label"]
    assert Counter(df["label"]) == expected
    assert set(expected) == set(datasets.EKMAN)


def test_goemotions_quoted_texts_are_unquoted():
    df = datasets.load_goemotions("dev", view="multilabel")
    row = df.loc[165]  # line 166 of dev.tsv: `"color me embarrassed"" I wonder ..."`, ids 12,26
    assert row["text"].startswith('color me embarrassed" I wonder what colour')
    assert row["labels"] == ["embarrassment", "surprise"]


# --- general corpus (counts from shared/data/general_corpus/SOURCE.md) -----------------------------


def test_general_corpus_valid():
    df = datasets.load_general_corpus("valid")
    assert list(df.columns) == ["source", "title", "text"]
    counts = {
        "wikitext-2": 6,
        "inaugural": 2,
        "state_union": 3,
        "shakespeare-milton": 2,
        "kjv-bible": 3,
    }
    assert Counter(df["source"]) == counts


# --- read_table: your own data ---------------------------------------------------------------------


def test_read_table_formats(tmp_path):
    (tmp_path / "a.csv").write_text('review,stars\n"good, really",5\nbad,1\n', encoding="utf-8")
    df = datasets.read_table(tmp_path / "a.csv", "review", "stars")
    assert df.to_dict("list") == {"text": ["good, really", "bad"], "label": ["5", "1"]}
    (tmp_path / "a.tsv").write_text("t\tl\nhi there\tpos\n", encoding="utf-8")
    assert datasets.read_table(tmp_path / "a.tsv", "t", "l").loc[0, "label"] == "pos"
    (tmp_path / "a.jsonl").write_text(
        '{"t": "x", "y": 1}\n\n{"t": "z", "y": 0}\n', encoding="utf-8"
    )
    df = datasets.read_table(tmp_path / "a.jsonl", "t", "y")
    assert df.to_dict("list") == {"text": ["x", "z"], "label": ["1", "0"]}
    assert list(datasets.read_table(tmp_path / "a.jsonl", "t").columns) == ["text"]
    (tmp_path / "bom.csv").write_bytes("\ufefftext,label\nhé,a\n".encode())
    assert datasets.read_table(tmp_path / "bom.csv", "text", "label").loc[0, "text"] == "hé"


def test_read_table_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        datasets.read_table(tmp_path / "nope.csv", "text")


def test_read_table_empty_file(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match=r"empty\.csv is empty"):
        datasets.read_table(tmp_path / "empty.csv", "text")
    (tmp_path / "header.csv").write_text("text,label\n")
    with pytest.raises(ValueError, match=r"header\.csv has a header but no rows"):
        datasets.read_table(tmp_path / "header.csv", "text")


def test_read_table_missing_column_lists_columns(tmp_path):
    (tmp_path / "a.csv").write_text("review,stars\nok,1\n")
    with pytest.raises(
        ValueError, match=r"a\.csv has no column 'sentiment'; its columns are: 'review', 'stars'"
    ):
        datasets.read_table(tmp_path / "a.csv", "review", "sentiment")


def test_read_table_not_utf8(tmp_path):
    (tmp_path / "latin.csv").write_bytes("text,label\nok,1\ncaf\u00e9,2\n".encode("latin-1"))
    with pytest.raises(
        ValueError, match=r"latin\.csv is not UTF-8: byte 0xe9 at offset 19 \(line 3\).*UTF-8"
    ):
        datasets.read_table(tmp_path / "latin.csv", "text", "label")


def test_read_table_missing_labels_name_rows(tmp_path):
    (tmp_path / "a.csv").write_text("text,label\na,1\nb,\nc,2\nd, \n")
    with pytest.raises(ValueError, match=r"a\.csv: missing label in column 'label' at rows 2, 4"):
        datasets.read_table(tmp_path / "a.csv", "text", "label")
    (tmp_path / "b.jsonl").write_text('{"t": "a", "y": null}\n{"t": "b", "y": 1}\n')
    with pytest.raises(ValueError, match=r"b\.jsonl: missing label in column 'y' at rows 1$"):
        datasets.read_table(tmp_path / "b.jsonl", "t", "y")


def test_read_table_empty_texts_name_rows(tmp_path):
    (tmp_path / "a.tsv").write_text("text\tlabel\nfine\t1\n   \t0\nok\t1\n\t1\n")
    with pytest.raises(ValueError, match=r"a\.tsv: empty text in column 'text' at rows 2, 4"):
        datasets.read_table(tmp_path / "a.tsv", "text", "label")


def test_read_table_bad_json_names_line(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"t": "a"}\n{"t": oops}\n')
    with pytest.raises(ValueError, match=r"a\.jsonl: line 2 is not valid JSON"):
        datasets.read_table(tmp_path / "a.jsonl", "t")
