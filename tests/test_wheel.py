"""A real package: the wheel built from pyproject.toml installs into a fresh environment and works
outside the checkout (package data included, the console script, ``--version``, ``doctor``,
``predict --help``), with downloads going to the user's cache, not into ``site-packages``.

Offline on purpose: the wheel is built without build isolation (the running environment's
setuptools) and installed with ``--no-index``; the fresh venv sees the running environment's
packages (torch & co.) through a ``.pth`` file, so pip finds every dependency already satisfied.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from ulmfit_lesson import __version__
from ulmfit_lesson.config import REPO_ROOT

pytestmark = pytest.mark.slow

SOURCES = ("pyproject.toml", "README.md", "LICENSE", "ulmfit_lesson")


def run(
    args, cwd: Path, env: dict | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("wheel")
    # Build from a copy of what an sdist holds, so nothing is written into the checkout.
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        path = REPO_ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, src / name)
    dist = tmp / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "-q", "-w", dist, src], cwd=tmp)  # fmt: skip
    (wheel,) = dist.glob("ulmfit_lesson-*.whl")

    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    site = Path(
        run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp
        ).stdout.strip()
    )
    # The course's dependencies, already installed here, visible to the fresh venv after its own.
    (site / "_course_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # --force-reinstall: the checkout's editable install is visible through that .pth file with the
    # same version, and pip would otherwise call the wheel "already satisfied" and skip it.
    run([sys.executable, "-m", "pip", "--python", python, "install", "--no-index", "-q",
         "--disable-pip-version-check", "--force-reinstall", "--no-deps", wheel], cwd=tmp)  # fmt: skip
    # ... then the [course] extra resolves against what is installed (nothing to download).
    run([sys.executable, "-m", "pip", "--python", python, "install", "--no-index", "-q",
         "--disable-pip-version-check", f"{wheel}[course]"], cwd=tmp)  # fmt: skip

    home = tmp / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in {"ULMFIT_CACHE", "PYTHONPATH"}}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), PYTHONNOUSERSITE="1")
    env["PATH"] = str(python.parent) + os.pathsep + env.get("PATH", "")
    outside = tmp / "elsewhere"  # the working directory: not the repository
    outside.mkdir()
    return dict(wheel=wheel, python=python, site=site, env=env, cwd=outside, home=home)


def test_the_wheel_holds_the_package_data_and_its_metadata(installed):
    with zipfile.ZipFile(installed["wheel"]) as whl:
        names = set(whl.namelist())
        meta = whl.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "ulmfit_lesson/data/notebook_times.json" in names
    # what the lessons read at run time: questionnaires, the paper's tables, the sample reviews
    assert "ulmfit_lesson/data/questionnaires/05_lm_finetuning.toml" in names
    assert {
        "ulmfit_lesson/data/paper_results.toml",
        "ulmfit_lesson/data/sample_reviews.csv",
    } <= names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not any(n.startswith(("tests/", "notebooks/", "docs/")) for n in names)
    assert "License-Expression: Apache-2.0" in meta
    assert "Requires-Dist: torch>=2.4" in meta
    assert "Requires-Python: >=3.11" in meta
    assert "Project-URL: Repository, https://github.com/ulmfit-lesson/ulmfit-lesson" in meta


def test_the_installed_package_is_the_wheel_not_the_checkout(installed):
    code = (
        "import json, ulmfit_lesson, ulmfit_lesson.course.timing as w, ulmfit_lesson.config as c;"
        "print(json.dumps([ulmfit_lesson.__file__, str(w.TIMES_FILE), len(w.load_times()['notebooks']),"
        " str(c.cache_dir())]))"
    )
    proc = run([installed["python"], "-c", code], cwd=installed["cwd"], env=installed["env"])
    module, times_file, n_notebooks, cache = json.loads(proc.stdout)
    site = installed["site"].resolve()
    assert Path(module).resolve().is_relative_to(site), module
    assert Path(times_file).resolve().is_relative_to(site), times_file
    assert n_notebooks == len(list((REPO_ROOT / "notebooks").glob("*.ipynb")))
    # Downloads go to the user's cache, never into site-packages (nor the venv).
    assert not Path(cache).resolve().is_relative_to(site.parent.parent.parent), cache


def test_version_from_the_module_and_the_console_script(installed):
    for args in (
        [installed["python"], "-m", "ulmfit_lesson", "--version"],
        ["ulmfit-lesson", "--version"],
    ):
        exe = shutil.which(str(args[0]), path=installed["env"]["PATH"])
        proc = run([exe, *args[1:]], cwd=installed["cwd"], env=installed["env"])
        assert proc.stdout.strip() == f"ulmfit-lesson {__version__}"
    assert Path(exe).resolve().parent == installed["python"].parent.resolve()


def test_the_console_script_names_itself(installed):
    exe = shutil.which("ulmfit-lesson", path=installed["env"]["PATH"])
    proc = run([exe, "predict", "--help"], cwd=installed["cwd"], env=installed["env"])
    assert proc.stdout.startswith("usage: ulmfit-lesson predict")
    proc = run([installed["python"], "-m", "ulmfit_lesson", "predict", "--help"],
               cwd=installed["cwd"], env=installed["env"])  # fmt: skip
    assert proc.stdout.startswith("usage: python -m ulmfit_lesson predict")


def test_doctor_runs_outside_the_checkout(installed):
    proc = run(
        [installed["python"], "-m", "ulmfit_lesson", "doctor", "--no-probe", "--json"],
        cwd=installed["cwd"], env=installed["env"], check=False,
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr  # 1: some data missing on this machine
    checks = {c["name"]: c for c in json.loads(proc.stdout)}
    assert checks["python"]["status"] == "ok"
    assert checks["torch"]["status"] in ("ok", "warn")
    # Where it looks for data ends with the user's cache (HOME is the test's), not site-packages.
    assert str(installed["home"]) in checks["data dirs"]["detail"]
    assert "site-packages" not in checks["data dirs"]["detail"]
