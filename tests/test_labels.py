"""Labels: names sorted and encoded, normalised, and every problem named before training."""

import warnings

import numpy as np
import pytest

from ulmfit_lesson.labels import (
    LabelWarning,
    check_labels,
    encode_labels,
    label_names_of,
    normalise_labels,
)


def test_label_names_and_ids():
    assert label_names_of(["b", "a", "b", "c"]) == ["a", "b", "c"]
    assert label_names_of([10, 2, 2]) == ["2", "10"]  # numbers sorted as numbers
    assert encode_labels(["c", "a"], ["a", "b", "c"]).tolist() == [2, 0]
    rows = encode_labels([["b"], "a,c", []], ["a", "b", "c"], multi_label=True)
    assert rows.tolist() == [[0, 1, 0], [1, 0, 1], [0, 0, 0]]


def test_label_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"missing label .*train \(t.csv\) at rows 2, 4"):
        label_names_of(["a", float("nan"), "b", None], sources={"train": "t.csv"})
    with pytest.raises(ValueError, match=r"single class, \['pos'\]"):
        label_names_of(["pos", "pos"])
    with pytest.raises(ValueError, match=r"'neutral' in valid \(v.tsv\) \(rows 2\) never appear"):
        encode_labels(["pos", "neutral"], ["neg", "pos"], split="valid", sources={"valid": "v.tsv"})
    with pytest.raises(ValueError, match=r"'joy' in test"):
        encode_labels([["anger", "joy"]], ["anger", "fear"], multi_label=True, split="test")


def test_case_and_whitespace_variants_merge_into_the_most_common_training_spelling():
    with pytest.warns(LabelWarning, match=r"'Pos' \(1 row\), 'pos' \(2 rows\) -> 'pos'"):
        out = normalise_labels({"train": ["pos", "pos", "Pos", "neg"], "valid": ["neg "]})
    assert out == {"train": ["pos", "pos", "pos", "neg"], "valid": ["neg"]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to merge: no warning
        assert normalise_labels({"train": [1, 0, 1]}) == {"train": [1, 0, 1]}


def test_check_labels_checks_every_split():
    names, labels = check_labels({"train": ["b", "a"], "test": ["a"]})
    assert names == ["a", "b"] and labels["test"] == ["a"]
    with pytest.raises(ValueError, match="'c' in test"):
        check_labels({"train": ["b", "a"], "test": ["c"]})
    rows = encode_labels(labels["train"], names)
    assert isinstance(rows, np.ndarray) and rows.tolist() == [1, 0]
