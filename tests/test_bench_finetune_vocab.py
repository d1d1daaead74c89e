"""The vocabulary rules of ``bench/bench_finetune_vocab.py`` and its summary table (no training)."""

import importlib.util
import json
import sys
from pathlib import Path

from ulmfit_lesson.tokenizer import SPECIAL_TOKENS

REPO_ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location(
    "bench_finetune_vocab", REPO_ROOT / "bench" / "bench_finetune_vocab.py"
)
bench = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = bench
_spec.loader.exec_module(bench)

SPECIAL = list(SPECIAL_TOKENS)  # xxunk, xxpad, xxbos, ...: every rule puts them first
PRETRAINED = [*SPECIAL, "the", "sea", "rare", "wind", "unused"]
# "the" x4, "sea" x3, "rare" x1 (known), "brine" x3 and "foam" x1 (new)
DOCS = [
    ["the", "sea", "brine"],
    ["the", "sea", "rare", "brine"],
    ["the", "sea", "foam", "brine", "the"],
]


def words(vocab):
    return [t for t in vocab.itos if t not in SPECIAL and t != "xxfake"]


def test_extend_keeps_every_pretrained_word_and_adds_frequent_new_ones():
    vocab = bench.RULES["extend"](PRETRAINED, DOCS, 3)
    assert vocab.itos[: len(PRETRAINED)] == PRETRAINED  # "unused" too, at its old id
    assert vocab.itos[len(PRETRAINED) :] == ["brine"]  # "foam" was seen once


def test_target_keeps_only_the_texts_words_seen_min_freq_times():
    vocab = bench.target_vocab(PRETRAINED, DOCS, 3)
    assert words(vocab) == ["the", "sea", "brine"]  # most frequent first; "rare" is lost
    assert len(vocab.itos) % 8 == 0  # fastai's padding with xxfake


def test_union_keeps_known_words_seen_once_and_new_ones_seen_min_freq_times():
    vocab = bench.union_vocab(PRETRAINED, DOCS, 3)
    assert set(words(vocab)) == {"the", "sea", "rare", "brine"}  # not "unused", not "foam"
    assert words(vocab)[0] == "the"


def test_summary_reports_the_last_epoch_on_dev():
    record = dict(
        task="poems-3class",
        rule="union",
        seed=1,
        vocab=1856,
        unk_rates={"valid_finetune_vocab": 0.199},
        dev=[
            {"epoch": 0, "accuracy": 0.5, "macro_f1": 0.4, "valid_loss": 1.0},
            {"epoch": 1, "accuracy": 0.714, "macro_f1": 0.542, "valid_loss": 0.8},
        ],
    )
    extend = dict(record, rule="extend", vocab=26858, softmax_words=1847, lm_valid_loss=5.0)
    table = bench.summarize([json.loads(json.dumps(r)) for r in (record, extend)]).splitlines()
    # exp(5.0) = 148.4; the union record predates softmax_words: it scored its whole vocabulary
    assert (
        table[2] == "| poems-3class | extend | 1 | 26,858 | 1,847 | 148 | 19.9% | 0.714 | 0.542 |"
    )
    assert table[3] == "| poems-3class | union | 1 | 1,856 | 1,856 | - | 19.9% | 0.714 | 0.542 |"
