"""The display helpers of ulmfit_lesson.course.explain: stream tables, coloured tokens, dropout
masks and function sources, with the package's numbers."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ulmfit_lesson import datasets, lm_loader, tokenizer  # noqa: E402
from ulmfit_lesson.course import explain  # noqa: E402


def test_stream_table_html_colours_each_batch():
    tables = lm_loader.stream_table(list("abcdefghijklmnopqrstuvwxyz"), bs=4, seq_len=4)
    markup = explain.stream_table_html(tables)
    assert markup.count("<tr>") == 4 + 1  # 4 streams + header
    assert "batch 1" in markup and "batch 2" in markup
    assert markup.count(explain.BATCH_COLOURS[0]) == 1 + 4 * 4  # header + 4 rows x 4 tokens
    assert markup.count(explain.BATCH_COLOURS[1]) == 1 + 4 * 2


def test_tokens_html_styles():
    markup = explain.tokens_html(
        ["xxbos", "sea", "gull"], [2, 10, 0], special=tokenizer.SPECIAL_TOKENS
    )
    assert markup.count(explain.UNK_STYLE) == 1
    assert markup.count(explain.SPECIAL_STYLE) == 1
    assert explain.id_colour(10) in markup


def test_dropout_mask_image_matches_the_modules():
    for kind in explain.DROPOUT_KINDS:
        m = explain.dropout_mask_image(kind, 0.25, seed=3)
        assert np.isclose(m, 0).any() and np.isclose(m, 1 / 0.75).any()
        assert (np.isclose(m, 0) | np.isclose(m, 1 / 0.75)).all()
        assert np.array_equal(m, explain.dropout_mask_image(kind, 0.25, seed=3))  # seeded
    with pytest.raises(ValueError, match="unknown dropout kind"):
        explain.dropout_mask_image("gaussian", 0.5)


def test_show_source_and_number_words():
    src = explain.show_source(datasets.number_words, display_it=False)
    assert src.startswith("def number_words")
    assert datasets.number_words(9999) == "nine thousand nine hundred ninety nine"
    assert datasets.number_words(1010) == "one thousand ten"
    assert datasets.number_words(40) == "forty"
