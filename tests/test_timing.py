"""ulmfit_lesson.course.timing: the speed probe and the notebook-time predictions."""

from __future__ import annotations

import pytest

from ulmfit_lesson.course import timing

TIMES = {
    "reference": {"probe_seconds_per_step": 2.0},
    "notebooks": {"01.ipynb": {"full_seconds": 600}, "02.ipynb": {"full_seconds": 300}},
}


def test_speed_probe_times_training_steps(monkeypatch):
    monkeypatch.setattr(timing, "PROBE", dict(vocab_size=50, bs=2, bptt=8))
    monkeypatch.setattr(timing, "PROBE_MODEL", dict(emb_size=8, hidden_size=16, n_layers=2))
    # one thread: on a busy shared CPU, two OpenMP threads can be 100x slower for tiny ops
    probe = timing.speed_probe(seconds=0.2, min_steps=2, threads=1)
    assert probe["seconds_per_step"] > 0 and probe["steps"] >= 2 and probe["threads"] == 1
    assert probe["vocab_size"] == 50 and probe["device"] == "cpu"


def test_prediction_scales_the_reference_times():
    assert timing.predict_course_seconds(4.0, TIMES) == pytest.approx(1800)  # 2x slower
    assert timing.predict_course_seconds(4.0, TIMES, {"02.ipynb": 2.0}) == pytest.approx(2400)
    not_measured = {
        **TIMES,
        "notebooks": {**TIMES["notebooks"], "03.ipynb": {"full_seconds": None}},
    }
    assert timing.predict_course_seconds(4.0, not_measured) is None
    assert timing.predict_course_seconds(4.0, {}) is None


def test_wt103_costs_more_only_where_the_lm_runs():
    factor = timing.notebook_factor("05_lm_finetuning.ipynb", "wt103-fwd")
    assert factor == pytest.approx(1 + 0.8 * (timing.LM_STEP_FACTOR - 1))
    assert timing.notebook_factor("06_the_classifier.ipynb", "wt103-fwd") == 1.0
    assert timing.notebook_factor("05_lm_finetuning.ipynb", "general-fwd") == 1.0
    assert timing.notebook_factor("05_lm_finetuning.ipynb", None) == 1.0


def test_times_table_is_the_package_data():
    assert timing.TIMES_FILE.parent.name == "data" and timing.TIMES_FILE.is_file()
    times = timing.load_times()
    assert "notebooks" in times and times["reference"]["probe_seconds_per_step"] > 0
    assert timing.load_times(timing.TIMES_FILE.with_name("missing.json")) == {}


def test_hms():
    assert timing.hms(59 * 60) == "59 min"
    assert timing.hms(3600 + 5 * 60) == "1 h 05 min"
