"""ulmfit_lesson.course.doctor: the pre-flight checklist, its exit code and its fixes."""

from __future__ import annotations

import pytest

from tests.course_fakes import MODEL_TGZ, NAMES, sha
from ulmfit_lesson import registry
from ulmfit_lesson.course import cli_workshop, doctor, timing
from ulmfit_lesson.registry import Entry, FileSpec

pytest_plugins = ["tests.course_fakes"]  # the fixtures fake_registry and fresh


def test_doctor_healthy(fake_registry):
    lines: list[str] = []
    code = doctor.run_doctor(NAMES, probe=False, out=lines.append)
    text = "\n".join(lines)
    assert code == 0, text
    for check in ("python", "torch", "ipywidgets", "data fake_ds", "data fake-fwd", "disk"):
        assert f"] {check}:" in text, check
    assert "READY" in text and "NOT READY" not in text


def test_doctor_names_a_missing_dataset_and_the_fix(fake_registry):
    (fake_registry / "fake_ds" / "dev.tsv").unlink()
    lines: list[str] = []
    code = doctor.run_doctor(NAMES, probe=False, out=lines.append)
    text = "\n".join(lines)
    assert code == 1
    assert "[FAIL] data fake_ds: missing: dev.tsv (no public URL)" in text
    assert "unpack-kit ulmfit-kit.tar.gz" in text and "ULMFIT_MIRROR" in text
    assert "[ ok ] data fake-fwd" in text
    assert "NOT READY" in text and "data fake_ds" in text.splitlines()[-1]


def test_doctor_reports_a_corrupt_copy(fake_registry):
    (fake_registry / "fake_ds" / "dev.tsv").write_bytes(b"changed")
    check = doctor.check_entry("fake_ds")
    assert check.status == "fail" and "corrupt" in check.detail and "dev.tsv" in check.fix


def test_doctor_cli_and_json(fake_registry, capsys):
    assert cli_workshop.main(["doctor", "--no-probe", "--names", *NAMES]) == 0
    assert "data fake_ds" in capsys.readouterr().out
    assert cli_workshop.main(["doctor", "--no-probe", "--json", "--names", "fake_ds"]) == 0
    assert '"name": "data fake_ds"' in capsys.readouterr().out


def test_check_speed_predicts_the_course_time_and_suggests_quick_mode(monkeypatch):
    times = {
        "reference": {"probe_seconds_per_step": 2.0},
        "notebooks": {n: {"full_seconds": t} for n, t in [("01", 600), ("02", 300), ("03", 900)]},
    }
    fake = {"seconds_per_step": 4.0, "steps": 3, "threads": 2, "device": "cpu"}
    monkeypatch.setattr(timing, "speed_probe", lambda seconds: dict(fake))
    check = doctor.check_speed(1, times=times)
    assert check.status == "ok" and "2.0x" in check.detail and "1 h 00 min" in check.detail
    fake["seconds_per_step"] = 8.0  # 4x the reference: suggest quick mode
    check = doctor.check_speed(1, times=times)
    assert check.status == "warn" and "ULMFIT_QUICK=1" in check.fix
    check = doctor.check_speed(1, times={})
    assert check.status == "info" and "no course-time prediction" in check.detail


def test_doctor_on_a_fresh_machine_is_ready_and_says_what_it_downloads(fresh):
    lines: list[str] = []
    code = doctor.run_doctor(probe=False, out=lines.append)
    text = "\n".join(lines)
    assert code == 0, text
    assert "READY for the course" in text and "NOT READY" not in text
    assert "[info] notebook 00: runs after downloading poem_sentiment (68.5 kB), wt103-fwd " in text
    assert "wt103-fwd (size announced when it downloads)" in text
    assert "[ ok ] notebook 03: ready, no data" in text
    assert "general_corpus is rebuilt on first use from wikitext-2" in text
    assert "the notebooks use wt103-fwd" in text
    assert "python -m ulmfit_lesson fetch" in text
    assert "general-fwd.tgz" not in text and "shared" not in text


def test_doctor_predicts_time_for_the_model_used(fresh):
    times = {
        "reference": {"probe_seconds_per_step": 1.0},
        "notebooks": {
            "00_overview.ipynb": {"full_seconds": 600},
            "05_lm_finetuning.ipynb": {"full_seconds": 600},
        },
    }
    checks = {c.name: c for c in doctor.check_notebooks(probe_seconds=2.0, times=times)}
    assert "about 20 min here" in checks["notebook 00"].detail  # classifier only: x1
    factor = 1 + timing.LM_SHARE["05_lm_finetuning.ipynb"] * (timing.LM_STEP_FACTOR - 1)
    assert f"about {round(20 * factor)} min here, x{factor:.2f} for wt103-fwd" in (
        checks["notebook 05"].detail
    )
    assert "reasoned, not measured" in checks["model"].detail
    wt103 = {nb: timing.notebook_factor(nb, "wt103-fwd") for nb in times["notebooks"]}
    assert timing.predict_course_seconds(2.0, times, wt103) == pytest.approx(
        2 * 600 + 2 * 600 * factor
    )
    assert timing.notebook_factor("05_lm_finetuning.ipynb", "general-fwd") == 1.0


def test_a_missing_ulmfit_data_folder_is_reported(fresh, tmp_path, monkeypatch):
    monkeypatch.setenv("ULMFIT_DATA", str(tmp_path / "no-such-folder"))
    checks = doctor.doctor(probe=False)
    assert any(c.status == "warn" and str(tmp_path / "no-such-folder") in c.detail for c in checks)


def test_doctor_checks_a_file_without_published_sha256_against_its_record(fresh, monkeypatch):
    """Trust on first use: the recorded digest is what a later copy must match."""
    entry = Entry(
        "tofu-fwd",
        "pretrained",
        (FileSpec("tofu-fwd.tgz", "https://example.invalid/tofu-fwd.tgz", None),),
        "CC0",
        "Nobody 2024",
        "a model without a published sha256",
        extracts_to="fake-fwd",
    )
    monkeypatch.setitem(registry.REGISTRY, entry.name, entry)
    fresh.mkdir(parents=True)
    (fresh / "tofu-fwd.tgz").write_bytes(MODEL_TGZ)
    check = doctor.check_entry(entry.name)
    assert check.status == "ok" and "no published sha256" in check.detail
    registry.record_sha256(entry.files[0], sha(MODEL_TGZ), len(MODEL_TGZ), "test")
    check = doctor.check_entry(entry.name)
    assert check.status == "ok" and "recorded at its first download" in check.detail
    (fresh / "tofu-fwd.tgz").write_bytes(MODEL_TGZ[:-1] + b"x")  # changed after the record
    check = doctor.check_entry(entry.name)
    assert check.status == "fail" and "corrupt copy" in check.detail
