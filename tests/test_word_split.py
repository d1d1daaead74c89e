"""word_split.py: spaCy's English word splitting, re-implemented (golden: spaCy 3.8.18's tables).

Known differences from fastai/spaCy (none occurs in the general corpus):

- Our character classes are simpler than spaCy's: letters are Latin, Greek, Cyrillic and the main
  scripts without case (spaCy lists more scripts, e.g. Tatar and Macedonian letters), and symbols
  ("icons") are a few Unicode ranges. The exception table is spaCy's lowercase one (fastai
  lowercases before spaCy runs, so exceptions with capitals never apply).
- spaCy's special-case matcher runs over the whole document and can match across a space, where a
  match that is then discarded can block a neighbouring one (``"( =(am"``); we match inside one
  whitespace-delimited chunk only.
"""

import json

import pytest

from ulmfit_lesson import tokenizer, word_split
from ulmfit_lesson.config import REPO_ROOT
from ulmfit_lesson.word_split import EXCEPTIONS, split_words

GOLDEN = REPO_ROOT / "tests" / "golden"


@pytest.mark.parametrize(
    "text, words",
    [
        ("i don't know", ["i", "do", "n't", "know"]),
        (
            "we're i'm you'll they've he's",
            ["we", "'re", "i", "'m", "you", "'ll", "they", "'ve"] + ["he", "'s"],
        ),
        (
            "can't won't shan't cannot gonna",
            ["ca", "n't", "wo", "n't", "sha", "n't", "can", "not"] + ["gon", "na"],
        ),
        ("dont im thats", ["do", "nt", "i", "m", "that", "s"]),  # without apostrophes too
        ("its well were ill", ["its", "well", "were", "ill"]),  # ordinary words, not contractions
        ("don’t", ["do", "n’t"]),  # typographic apostrophe
        ("the king's men", ["the", "king", "'s", "men"]),
        ("o'er 'tis th' eternal jesus'", ["o'er", "'", "tis", "th", "'", "eternal", "jesus", "'"]),
        ('"hello," she said.', ['"', "hello", ",", '"', "she", "said", "."]),
        ("(e.g. a. u.s. mr. etc.)", ["(", "e.g.", "a.", "u.s", ".", "mr", ".", "etc", ".", ")"]),
        ("5km $5.00 10% 3.14 -5 1,000", ["5", "km", "$", "5.00", "10", "%", "3.14", "-5", "1,000"]),
        ("5pm 9:30am 1990s", ["5", "pm", "9:30am", "1990s"]),
        (
            "well-known 20th-century a--b 1914–1918",
            ["well", "-", "known", "20th", "-", "century"] + ["a", "--", "b", "1914–1918"],
        ),
        ("wait… what...", ["wait", "…", "what", "..."]),
        ("fast.ai me@example.com", ["fast.ai", "me@example.com"]),
        ("seek:) (see 8)", ["seek", ":)", "(", "see", "8)"]),  # emoticons, as spaCy
        ("xxbos xxmaj xxunk's", ["xxbos", "xxmaj", "xxunk", "'s"]),
    ],
)
def test_split_words(text, words):
    assert split_words(text) == words


def test_split_words_whitespace():
    # one space separates words; other whitespace is a token, minus one leading space
    assert split_words("a b") == ["a", "b"]
    assert split_words("a \n\nb") == ["a", "\n\n", "b"]
    assert split_words("a\n b") == ["a", "\n ", "b"]
    assert split_words("a \n \tb") == ["a", "\n \t", "b"]
    assert split_words("a\tb") == ["a", "\t", "b"]
    assert split_words("a  b") == ["a", " ", "b"]
    assert split_words("") == []


def test_exceptions_equal_spacys():
    """Our exception table is spaCy's (lowercase part, as fastai registers it), entry for entry."""
    golden = json.loads((GOLDEN / "tokens_spacy_exceptions.json").read_text(encoding="utf-8"))
    theirs = golden["exceptions"]
    # Entries we leave out on purpose: whitespace (never inside a chunk; split_words handles it),
    # a lone em dash (cut off as a prefix anyway) and the shrug, whose backslash spec_add_spaces
    # surrounds with spaces before splitting.
    unused = {" ", "\t", "\\t", "\n", "\\n", "\xa0", "—", "¯\\(ツ)/¯"}
    assert set(theirs) - set(EXCEPTIONS) == unused
    assert set(EXCEPTIONS) - set(theirs) == set()
    assert {k: v for k, v in theirs.items() if k not in unused} == EXCEPTIONS


def test_special_tokens_are_kept_whole():
    """tokenizer.py registers fastai's special tokens; a new special case applies at once."""
    assert all(EXCEPTIONS[t] == [t] for t in tokenizer.SPECIAL_TOKENS)
    assert split_words("(xxfoo-bar") == ["(", "xxfoo", "-", "bar"]
    try:
        word_split.add_special_cases(["xxfoo-bar"])
        assert split_words("(xxfoo-bar") == ["(", "xxfoo-bar"]  # the cached split is forgotten
    finally:
        del EXCEPTIONS["xxfoo-bar"]
        word_split._CHUNK_CACHE.clear()
