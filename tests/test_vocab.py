"""vocab.py: fastai's make_vocab rules, numericalize/textify/decode, extend, unk_rate, save/load.

The golden ``tests/golden/tokens_vocab_general_valid.json`` holds fastai 2.8.12's ``make_vocab`` on
the golden valid tokens (made by ``tools/make_golden_tokens.py``).
"""

import gzip
import json

import pytest

from ulmfit_lesson.config import REPO_ROOT
from ulmfit_lesson.tokenizer import SPECIAL_TOKENS
from ulmfit_lesson.vocab import FAKE, Vocab

GOLDEN = REPO_ROOT / "tests" / "golden"

# Counts: b 2, a 2, c 2, d 2, xxmaj 1, e 2, f 1; first seen in the order b a c d xxmaj e f.
DOCS = [["b", "a", "c", "a", "b", "d", "xxmaj", "e", "e"], ["d", "c", "f"]]


def test_build_orders_like_fastai_make_vocab():
    v = Vocab.build(DOCS, min_freq=2)
    # specials first; then count >= 2, most common first; equal counts keep first-seen order
    # (Counter.most_common is a stable sort), so "b" comes before "a"; 14 -> padded to 16.
    assert v.itos == SPECIAL_TOKENS + ["b", "a", "c", "d", "e", FAKE, FAKE]
    assert len(v) == 16 and v.stoi["xxunk"] == 0 and v.stoi["xxpad"] == 1 and v.stoi["b"] == 9


def test_build_min_freq_and_max_vocab():
    v = Vocab.build(DOCS, min_freq=1)
    assert v.itos[9:] == ["b", "a", "c", "d", "e", "f", FAKE]  # xxmaj stays at id 8, not after e
    # max_vocab counts the special tokens: 10 = 9 specials + the most common word
    v = Vocab.build(DOCS, min_freq=1, max_vocab=10)
    assert v.itos == SPECIAL_TOKENS + ["b"] + [FAKE] * 6


def test_special_tokens_stay_first_however_common():
    v = Vocab.build([["xxbos", "w", "xxbos", "w", "xxbos", "w", "xxbos"]], min_freq=1)
    assert v.itos[:9] == SPECIAL_TOKENS and v.itos[9] == "w"


def test_padding_to_multiple_of_8():
    for n_words in range(0, 20):
        v = Vocab.build([[f"w{i}" for i in range(n_words)]], min_freq=1)
        assert len(v) % 8 == 0
        # fastai adds 1 to 8 fillers: a full multiple of 8 still gets 8 more
        assert 1 <= v.itos.count(FAKE) <= 8
    v = Vocab.build([[f"w{i}" for i in range(7)]], min_freq=1)  # 9 + 7 = 16 real tokens
    assert len(v) == 24 and v.itos[16:] == [FAKE] * 8


def test_build_matches_fastai_on_the_valid_corpus():
    with gzip.open(GOLDEN / "tokens_general_valid.jsonl.gz", "rt", encoding="utf-8") as f:
        f.readline()  # header
        docs = [json.loads(line) for line in f]
    golden = json.loads((GOLDEN / "tokens_vocab_general_valid.json").read_text(encoding="utf-8"))
    assert Vocab.build(docs).itos == golden["min_freq_3_max_vocab_60000"]
    assert Vocab.build(docs, min_freq=1, max_vocab=1000).itos == golden["min_freq_1_max_vocab_1000"]


def test_numericalize_textify_decode():
    v = Vocab.build(DOCS, min_freq=2)
    assert v.numericalize(["xxbos", "b", "zebra", "e", FAKE]) == [2, 9, 0, 13, 0]
    assert v.textify([2, 9, 0]) == ["xxbos", "b", "xxunk"]
    assert v.decode([2, 8, 9, 10, 11]) == "B a c"  # xxbos dropped, xxmaj capitalises
    assert "b" in v and "zebra" not in v and FAKE not in v


def test_textify_names_bad_token_id():
    v = Vocab.build(DOCS, min_freq=2)
    with pytest.raises(ValueError, match="token id 99 .*16 tokens"):
        v.textify([2, 99])
    with pytest.raises(ValueError, match="token id -1"):
        v.decode([-1])


def test_extend_keeps_every_id():
    v = Vocab.build(DOCS, min_freq=2)
    v2 = v.extend(["zebra", "b", "zebra", FAKE, "yak"])
    assert v2.itos == v.itos + ["zebra", "yak"]
    assert all(v2.stoi[t] == i for t, i in v.stoi.items())
    assert v2.numericalize(["zebra", "yak", "b"]) == [16, 17, 9]
    assert v.itos[-1] == FAKE and "zebra" not in v  # the original is unchanged


def test_extend_from_token_lists_with_min_freq():
    v = Vocab.build(DOCS, min_freq=2)
    docs = [["n2", "n1", "b", "n2"], ["n1", "n3", "n1"]]  # n1 3, n2 2, n3 1; b already known
    assert v.extend(docs, min_freq=2).itos == v.itos + ["n1", "n2"]
    assert v.extend(docs).itos == v.itos + ["n1", "n2", "n3"]


def test_unk_rate_by_hand():
    v = Vocab.build(DOCS, min_freq=2)  # knows b a c d e and the special tokens
    # unknown: "zz", the literal "xxunk" and "f" -> 3 of 6 tokens
    assert v.unk_rate([["xxbos", "b", "zz", "a"], ["xxunk", "f"]]) == pytest.approx(3 / 6)
    assert v.unk_rate(["b", "zz"]) == pytest.approx(0.5)  # one token list is fine too
    assert v.unk_rate([]) == 0.0


def test_save_load_round_trip(tmp_path):
    v = Vocab.build(DOCS + [["café", "naïve", "\n", "▁"] * 3], min_freq=2)
    path = tmp_path / "vocab.json"
    v.save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["itos"] == v.itos  # plain JSON, readable by anything
    w = Vocab.load(path)
    assert w == v and w.stoi == v.stoi
    path.write_text(json.dumps(v.itos), encoding="utf-8")  # a bare list also loads
    assert Vocab.load(path) == v


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        Vocab.load(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"itos": [1, 2]}', encoding="utf-8")
    with pytest.raises(ValueError, match="bad.json"):
        Vocab.load(bad)
    bad.write_text("not json", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.json"):
        Vocab.load(bad)


def test_vocab_must_start_with_xxunk():
    with pytest.raises(ValueError, match="xxunk"):
        Vocab(["the", "a"])


def test_from_texts():
    v = Vocab.from_texts(["The cat sat.", "The cat ran.", "The cat hid."], min_freq=3)
    assert v.itos[9:] == ["the", "cat", ".", FAKE, FAKE, FAKE, FAKE]
