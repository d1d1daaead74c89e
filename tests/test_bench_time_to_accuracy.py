"""The pure parts of ``bench/bench_time_to_accuracy.py``: time to final accuracy, scores, tables.

The benchmark itself runs the package's CLI and fastai's recipe (in an environment of its own) for
an hour; these tests need neither fastai nor any training.
"""

import importlib.util
import math
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location(
    "bench_time_to_accuracy", REPO_ROOT / "bench" / "bench_time_to_accuracy.py"
)
bench = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = bench  # dataclasses look their module up by name
_spec.loader.exec_module(bench)


def side(name, accs, ends, wall=100.0, cpu=180.0, test_acc=0.9, test_f1=0.8):
    return bench.Side(name, wall, cpu, test_acc, test_f1, accs, ends, "1+4 / 10")


@pytest.mark.parametrize(
    "values, expected",
    [
        ([0.5, 0.7, 0.7, 0.7], 1),  # reached in the second epoch, then flat
        ([0.5, 0.8, 0.6, 0.7], 1),  # higher earlier counts as reached
        ([0.5, 0.6, 0.7], 2),  # still rising: only the last
        ([0.9], 0),
        ([0.7, 0.7], 0),
    ],
)
def test_first_epoch_reaching_the_final_value(values, expected):
    assert bench.first_reaching_final(values) == expected


def test_first_reaching_final_refuses_no_epochs():
    with pytest.raises(ValueError):
        bench.first_reaching_final([])


def test_ratio():
    assert bench.ratio(1856.0, 690.0) == pytest.approx(2.6899, abs=1e-4)
    assert math.isnan(bench.ratio(1.0, 0.0))
    assert math.isnan(bench.ratio(1.0, float("nan")))
    assert math.isnan(bench.ratio(None, 2.0))


def test_epoch_ends_counted_back_from_the_end_of_training():
    ends = bench.epoch_ends_counted_back([10.0, 20.0, 30.0], training_end_s=100.0)
    assert ends == pytest.approx([50.0, 70.0, 100.0])
    assert bench.epoch_ends_counted_back([4.0], 9.0) == pytest.approx([9.0])


def test_scores_from_confusion_match_the_package_metrics():
    # Class 2 is predicted but never true (F1 0, counted); class 3 neither (left out).
    cm = [[3, 1, 0, 0], [0, 2, 2, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    accuracy, macro_f1 = bench.scores_from_confusion(cm)
    assert accuracy == pytest.approx(5 / 8)
    f1_0, f1_1 = 2 * 3 / (2 * 3 + 0 + 1), 2 * 2 / (2 * 2 + 1 + 2)
    assert macro_f1 == pytest.approx((f1_0 + f1_1 + 0.0) / 3)
    y_true, y_pred = [0, 0, 0, 0, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1, 2, 2]
    assert macro_f1 == pytest.approx(bench.metrics.macro_f1(y_true, y_pred, 4))


def test_confusion_by_name_orders_by_the_labels_given():
    cm = bench.confusion_by_name(["joy", "fear", "joy"], ["joy", "joy", "fear"], ["fear", "joy"])
    assert cm == [[0, 1], [1, 1]]


def test_markdown_tables_rows_and_ratios():
    ours = side("ours", [0.5, 0.8, 0.8], [100.0, 200.0, 300.0], wall=400.0, test_acc=0.946)
    ours.others_cpu_s = 12.4
    theirs = side("fastai", [0.6, 0.7], [50.0, 80.0], wall=200.0, test_acc=0.93)
    table = bench.markdown_tables({"poems": (ours, theirs)})
    lines = table.splitlines()
    assert lines[0].startswith("| dataset | recipe |")
    ours_row = next(line for line in lines if line.startswith("| poems | ours |"))
    cells = [c.strip() for c in ours_row.strip("|").split("|")]
    assert cells[3:] == ["400", "180", "0.9460", "0.8000", "0.8000", "2 of 3", "200", "12"]
    fastai_row = next(line for line in lines if line.startswith("| poems | fastai |"))
    assert fastai_row.rstrip("| ").endswith("-")  # not measured: shown as such, not as 0
    ratio_row = lines[-1]
    cells = [c.strip() for c in ratio_row.strip("|").split("|")]
    # wall 400/200, CPU equal, time to final 200/80, test error 0.054/0.07
    assert cells == ["poems", "2.00", "1.00", "2.50", "0.77"]


def test_machine_busy_seconds_from_proc_stat(tmp_path):
    stat = tmp_path / "stat"
    tick = bench.os.sysconf("SC_CLK_TCK")
    # user nice system idle iowait irq softirq steal guest guest_nice: idle and iowait are not busy
    stat.write_text(f"cpu  {tick} 0 {2 * tick} 999999 5000 0 {tick} 0 0 0\ncpu0 1 2 3\n")
    assert bench.machine_busy_s(stat) == pytest.approx(4.0)
    assert math.isnan(bench.machine_busy_s(tmp_path / "missing"))


def test_run_timed_counts_the_child_and_not_it_as_a_neighbour(tmp_path):
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass"
    start, wall, cpu, others = bench.run_timed([sys.executable, "-c", burn], tmp_path / "log", 1)
    assert cpu >= 0.3 and wall >= 0.3
    assert 0.0 <= others < cpu + 5.0  # its own burn is not counted as someone else's
