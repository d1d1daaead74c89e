"""``bench/bench_clas_epochs.py``'s summary table (no training): final-epoch dev means, paired
macro-F1 wins against the most epochs, and a re-run replacing the earlier record."""

import importlib.util
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location(
    "bench_clas_epochs", REPO_ROOT / "bench" / "bench_clas_epochs.py"
)
bench = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = bench
_spec.loader.exec_module(bench)


def record(seed, epochs, acc, f1, seconds, task="goemotions-ekman", lm_epochs=None):
    early = {"epoch": 0, "accuracy": 0.1, "macro_f1": 0.1, "valid_loss": 2.0, "seconds": 1.0}
    last = {"epoch": epochs - 1, "accuracy": acc, "macro_f1": f1, "valid_loss": 1.0, "seconds": 1.0}
    r = dict(task=task, seed=seed, epochs=epochs, n_train=4000, seconds=seconds, dev=[early, last])
    if lm_epochs is not None:  # the first study's records have no lm_epochs: 4 (FIXED_LM_EPOCHS)
        r["lm_epochs"] = lm_epochs
    return r


def test_summary_means_the_last_epoch_and_counts_paired_wins():
    records = [
        record(0, 10, 0.60, 0.38, 700.0),
        record(1, 10, 0.58, 0.36, 720.0),
        record(0, 7, 0.61, 0.37, 450.0),  # loses seed 0 in macro-F1
        record(1, 7, 0.59, 0.36, 470.0),  # ties seed 1: counted as matched
        record(2, 7, 0.50, 0.30, 460.0),  # no 10-epoch run for seed 2: not paired
    ]
    table = bench.summarize(records).splitlines()
    assert table[2] == "| goemotions-ekman | 1+4 | 10 | 2 | 0.590 | 0.370 | 2 of 2 | 710 |"
    # 7 epochs: means over 3 seeds (0.61 + 0.59 + 0.50) / 3 = 0.567, (0.37 + 0.36 + 0.30) / 3 = 0.343
    assert table[3] == "| goemotions-ekman | 1+4 | 7 | 3 | 0.567 | 0.343 | 1 of 2 | 460 |"


def test_a_later_record_of_the_same_run_replaces_the_earlier_one():
    records = [record(0, 5, 0.40, 0.20, 300.0), record(0, 5, 0.55, 0.33, 310.0)]
    table = bench.summarize(records).splitlines()
    assert table[2:] == ["| goemotions-ekman | 1+4 | 5 | 1 | 0.550 | 0.330 | 1 of 1 | 310 |"]


def test_fewer_lm_epochs_are_paired_with_the_longest_recipe():
    records = [
        record(0, 10, 0.59, 0.38, 700.0),  # no lm_epochs: the fixed 4
        record(1, 10, 0.57, 0.37, 720.0),
        record(0, 10, 0.60, 0.40, 690.0, lm_epochs=2),  # beats seed 0's 1+4 / 10
        record(1, 10, 0.57, 0.36, 710.0, lm_epochs=2),  # loses seed 1's
        record(0, 7, 0.58, 0.35, 500.0, lm_epochs=4),  # an explicit 4 is the same recipe as none
    ]
    table = bench.summarize(records).splitlines()
    assert table[2:] == [
        "| goemotions-ekman | 1+4 | 10 | 2 | 0.580 | 0.375 | 2 of 2 | 710 |",
        "| goemotions-ekman | 1+4 | 7 | 1 | 0.580 | 0.350 | 0 of 1 | 500 |",
        "| goemotions-ekman | 1+2 | 10 | 2 | 0.585 | 0.380 | 1 of 2 | 700 |",
    ]
