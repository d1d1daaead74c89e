"""docs/install.md writes out the commands `make lab` / `make test` run, for doing it by hand
(Linux, macOS) and on Windows; they stay the Makefile's commands: the Makefile's dry run
(`make -n`) and the documented blocks must list the same pip installs, in the same order."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from ulmfit_lesson.config import REPO_ROOT

INSTALL_MD = REPO_ROOT / "docs" / "install.md"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# Options the Makefile adds for its own reasons (quiet, speed); a person typing may leave them out.
QUIET = {"--disable-pip-version-check", "--no-compile"}

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def make_dry_run(target: str, **variables: str) -> list[str]:
    """The commands ``make -n target`` would run for a venv that does not exist yet."""
    args = ["make", "-n", "--no-print-directory", target, "VENV=.venv-never-made"]
    args += [f"{k}={v}" for k, v in {"PYTHON": sys.executable, **variables}.items()]
    # Not the flags of a `make test` this may run under (they would carry its variables along).
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    out = subprocess.run(
        args, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    return out.splitlines()


def pip_installs(lines: list[str]) -> list[list[str]]:
    """Each ``<python> -m pip install ARGS`` line -> ARGS, without the Makefile's quiet options."""
    found = []
    for line in lines:
        line = line.split(" #")[0]
        match = re.search(r"-m pip install (.*)$", line)
        if match and not line.lstrip().startswith("#"):
            found.append([a for a in match.group(1).split() if a not in QUIET])
    return found


def documented(block: str) -> list[str]:
    text = INSTALL_MD.read_text(encoding="utf-8")
    match = re.search(
        rf"<!-- commands:{block} -->\n```\w*\n(.*?)```\n<!-- /commands:{block} -->", text, re.S
    )
    assert match, f"docs/install.md has no <!-- commands:{block} --> code block"
    return match.group(1).splitlines()


def test_the_makefile_dry_run_is_what_the_test_expects():
    """Guards the parsing below: the dry run holds the torch line only when a CPU index is set."""
    with_cpu = pip_installs(make_dry_run("install-dev", TORCH_INDEX=CPU_INDEX))
    without = pip_installs(make_dry_run("install-dev", TORCH_INDEX=""))
    assert with_cpu[0] == ["--no-deps", "torch==2.13.0", "--extra-index-url", CPU_INDEX]
    assert with_cpu[1:] == without
    assert ["-r", "requirements.txt"] in without and ["-r", "requirements-dev.txt"] in without


def test_linux_macos_commands_are_the_makefiles():
    expected = pip_installs(make_dry_run("install-dev", TORCH_INDEX=CPU_INDEX))
    lines = documented("linux-macos")
    assert pip_installs(lines) == expected
    assert all(
        line.startswith(".venv/bin/python -m pip install")
        for line in lines
        if "pip install" in line
    )
    assert "python3 -m venv .venv" in lines


def test_windows_commands_are_the_makefiles_without_the_cpu_index():
    """PyPI's Windows torch wheel is the CPU build already: no extra index."""
    expected = pip_installs(make_dry_run("install-dev", TORCH_INDEX=""))
    lines = documented("windows")
    assert pip_installs(lines) == expected
    assert all(
        line.startswith(".venv\\Scripts\\python -m pip install")
        for line in lines
        if "pip install" in line
    )
    assert re.match(r"py -3\.\d+ -m venv \.venv$", lines[0])


def test_the_documented_notebook_is_the_one_make_lab_opens():
    lab = [
        line
        for line in make_dry_run("lab", TORCH_INDEX="")
        if " lab " in f" {line} " and "jupyter" in line
    ]
    assert len(lab) == 1, lab
    first = lab[0].split()[-1]  # LAB_ARGS is empty: the notebook is the last argument
    assert first == "notebooks/00_overview.ipynb"
    assert f".venv/bin/jupyter lab {first}" in documented("linux-macos")
    assert f".venv\\Scripts\\jupyter lab {first.replace('/', chr(92))}" in documented("windows")


def test_make_lab_installs_no_development_tools():
    lines = make_dry_run("lab", TORCH_INDEX="")
    assert not any("requirements-dev.txt" in line for line in lines)
    assert any("requirements-dev.txt" in line for line in make_dry_run("test", TORCH_INDEX=""))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the CPU index is Linux's")
@pytest.mark.parametrize("gpu", [True, False])
def test_linux_picks_the_cpu_wheel_unless_nvidia_smi_finds_a_gpu(tmp_path, gpu):
    """A fake `nvidia-smi` first on PATH: listing a GPU -> the default (CUDA) build; failing (a
    driver without a GPU) or absent -> torch from PyTorch's CPU index first."""
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H200'\n" if gpu else "#!/bin/sh\nexit 9\n")
    fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    env.pop("TORCH_INDEX", None)
    env["PATH"] = f"{tmp_path}{os.pathsep}{env['PATH']}"
    out = subprocess.run(
        ["make", "-n", "install", "VENV=.venv-never-made", f"PYTHON={sys.executable}"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    torch_lines = [i for i in pip_installs(out.splitlines()) if any("torch" in a for a in i)]
    if gpu:
        assert torch_lines == []
    else:
        assert torch_lines == [["--no-deps", "torch==2.13.0", "--extra-index-url", CPU_INDEX]]
