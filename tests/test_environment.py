"""The dependency lists agree: requirements.txt (the course's pinned runtime + notebook packages),
requirements-dev.txt (the pinned development tools), environment.yml (conda), pyproject.toml (the
package: names, torch as a range) and .pre-commit-config.yaml (the ruff hook); the minimum Python
is the same everywhere; and the running environment has what they pin."""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TORCH_VERSION = "2.13.0"
# conda-forge names that differ from PyPI's; conda-only entries that are not dependencies.
CONDA_TO_PYPI = {"pytorch": "torch"}
CONDA_TOOLING = {"python", "pip"}

MIN_PYTHON = (3, 11)  # the pinned numpy, pandas, matplotlib and ipykernel need 3.11+
DEV_TOOLS = {"pytest", "nbval", "ruff", "pre-commit", "jupytext"}


def normalise(name: str) -> str:
    """PEP 503 name normalisation: ``Foo_Bar.baz`` -> ``foo-bar-baz``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_requirement(line: str) -> tuple[str, str | None]:
    """``name==1.2.3`` -> (normalised name, '1.2.3'); other specifiers give (name, None)."""
    match = re.fullmatch(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(.*)", line)
    assert match, f"cannot parse requirement {line!r}"
    name, spec = match.groups()
    pin = re.fullmatch(r"==\s*([^\s,;]+)", spec.split(";")[0].strip())
    return normalise(name), pin.group(1) if pin else None


def read_requirements(filename: str = "requirements.txt") -> dict[str, str | None]:
    pins: dict[str, str | None] = {}
    for number, raw in enumerate((ROOT / filename).read_text().splitlines(), 1):
        line = raw.split("#")[0].strip()
        if not line:
            continue
        assert not line.startswith("-"), f"{filename}:{number}: options belong in the Makefile"
        name, pin = parse_requirement(line)
        assert name not in pins, f"{filename}:{number}: {name} listed twice"
        pins[name] = pin
    return pins


def read_dev_requirements() -> dict[str, str | None]:
    return read_requirements("requirements-dev.txt")


def parse_simple_yaml(text: str) -> dict:
    """A reader for environment.yml's simple structure, used when PyYAML is missing: top-level
    ``key: value`` or ``key:`` + ``- item`` lists, and one nested ``- pip:`` list."""
    data: dict = {}
    key = None
    pip_list = None
    for raw in text.splitlines():
        line = "" if raw.lstrip().startswith("#") else raw.split(" #")[0].rstrip()
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        item = line.strip()
        if indent == 0:
            key, _, value = item.partition(":")
            data[key] = value.strip() or []
            pip_list = None
        elif item == "- pip:":
            pip_list = []
            data[key].append({"pip": pip_list})
        elif item.startswith("- ") and pip_list is not None and indent > 4:
            pip_list.append(item[2:].strip())
        elif item.startswith("- "):
            pip_list = None
            data[key].append(item[2:].strip())
    return data


def load_yaml(path: Path) -> dict:
    """PyYAML when installed (JupyterLab brings it), else :func:`parse_simple_yaml`."""
    try:
        import yaml
    except ModuleNotFoundError:
        return parse_simple_yaml(path.read_text())
    return yaml.safe_load(path.read_text())


def read_conda() -> tuple[dict[str, tuple[str | None, str | None]], list[str]]:
    """environment.yml -> ({pypi name: (version, build)}, pip entries). Skips python and pip."""
    env = load_yaml(ROOT / "environment.yml")
    assert env["channels"] == ["conda-forge"], "conda-forge only: mixing channels breaks solves"
    specs: dict[str, tuple[str | None, str | None]] = {}
    pip_entries: list[str] = []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip_entries += dep["pip"]
            continue
        name, version, build = ([*re.split(r"\s*=\s*", dep.strip(), maxsplit=2), None, None])[:3]
        if name in CONDA_TOOLING:
            specs[name] = (version, build)
            continue
        specs[normalise(CONDA_TO_PYPI.get(name, name))] = (version, build)
    return specs, pip_entries


def read_pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_requirements_pin_every_package():
    pins = read_requirements()
    assert pins["torch"] == TORCH_VERSION
    for filename, listed in (
        ("requirements.txt", pins),
        ("requirements-dev.txt", read_dev_requirements()),
    ):
        unpinned = sorted(name for name, pin in listed.items() if pin is None)
        assert not unpinned, f"{filename}: pin these with ==: {unpinned}"


def test_a_learners_install_has_no_development_tools():
    """`make lab` installs requirements.txt only; `make test` adds requirements-dev.txt."""
    pins, dev = read_requirements(), read_dev_requirements()
    assert not DEV_TOOLS & set(pins), f"in requirements.txt: {sorted(DEV_TOOLS & set(pins))}"
    assert set(dev) == DEV_TOOLS
    assert not set(pins) & set(dev), f"listed twice: {sorted(set(pins) & set(dev))}"
    extras = read_pyproject()["optional-dependencies"]
    assert {parse_requirement(d)[0] for d in extras["dev"]} == set(dev)
    assert not DEV_TOOLS & {parse_requirement(d)[0] for d in extras["course"]}


def test_simple_yaml_reader_agrees_with_pyyaml():
    yaml = pytest.importorskip("yaml")
    text = (ROOT / "environment.yml").read_text()
    assert parse_simple_yaml(text) == yaml.safe_load(text)


def test_conda_lists_the_same_packages_and_pins():
    pins = read_requirements()
    specs, pip_entries = read_conda()
    conda = {name: spec for name, spec in specs.items() if name not in CONDA_TOOLING}
    for entry in pip_entries:
        if entry in {"-e .", "."}:
            continue
        name, pin = parse_requirement(entry)
        conda[name] = (pin, None)
    assert sorted(conda) == sorted(pins), (
        f"only in environment.yml: {sorted(set(conda) - set(pins))}; "
        f"only in requirements.txt: {sorted(set(pins) - set(conda))}"
    )
    different = {n: (conda[n][0], pins[n]) for n in pins if conda[n][0] != pins[n]}
    assert not different, f"(environment.yml, requirements.txt) versions differ: {different}"
    assert "-e ." in pip_entries, "environment.yml should install the package (pip: -e .)"


def test_conda_torch_is_the_cpu_build_of_the_pinned_version():
    specs, _ = read_conda()
    version, build = specs["torch"]
    assert version == TORCH_VERSION
    assert build == "cpu_*", "conda-forge's CPU builds are named cpu_*"


def test_conda_python_satisfies_requires_python():
    specs, _ = read_conda()
    python = tuple(int(part) for part in specs["python"][0].split("."))
    minimum = re.fullmatch(r">=\s*(\d+)\.(\d+)", read_pyproject()["requires-python"])
    assert minimum, "requires-python should read '>=X.Y'"
    assert python >= tuple(int(part) for part in minimum.groups())


def test_minimum_python_is_the_same_everywhere():
    """pyproject's requires-python, the Makefile's check, doctor's check and ruff's target."""
    from ulmfit_lesson.course import doctor

    need = ".".join(map(str, MIN_PYTHON))
    assert read_pyproject()["requires-python"] == f">={need}"
    assert doctor.MIN_PYTHON == MIN_PYTHON
    makefile = (ROOT / "Makefile").read_text()
    checks = re.findall(r"sys\.version_info < \((\d+), (\d+)\)", makefile)
    assert checks and {tuple(map(int, c)) for c in checks} == {MIN_PYTHON}, checks
    assert f"needs Python {need} or newer" in makefile
    ruff = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]
    assert ruff["target-version"] == "py" + "".join(map(str, MIN_PYTHON))


def test_pyproject_deps_are_the_pinned_packages():
    pins = read_requirements() | read_dev_requirements()
    project = read_pyproject()
    runtime = dict(parse_requirement(dep) for dep in project["dependencies"])
    assert set(runtime) <= set(pins), f"not pinned: {sorted(set(runtime) - set(pins))}"
    named = set(runtime)
    for extra, deps in project.get("optional-dependencies", {}).items():
        names = {parse_requirement(dep)[0] for dep in deps}
        assert names <= set(pins), f"extra {extra!r} not pinned: {sorted(names - set(pins))}"
        named |= names
    # Every pinned package is there for a reason pyproject states (runtime or an extra).
    assert set(pins) <= named, f"in requirements.txt only: {sorted(set(pins) - named)}"


def test_pyproject_torch_is_a_range_the_pin_satisfies():
    """A library must not force one torch: pyproject gives a lower bound, requirements.txt the
    course's tested version, which must fall inside it."""
    (torch,) = [d for d in read_pyproject()["dependencies"] if parse_requirement(d)[0] == "torch"]
    match = re.fullmatch(r"torch\s*>=\s*(\d+)\.(\d+)", torch)
    assert match, f"pyproject's torch should read 'torch>=X.Y', not {torch!r}"
    assert tuple(int(p) for p in TORCH_VERSION.split(".")[:2]) >= tuple(map(int, match.groups()))


def test_pyproject_is_a_publishable_package():
    project = read_pyproject()
    assert project["license"] == "Apache-2.0", "an SPDX expression, not the deprecated table"
    assert project["license-files"] == ["LICENSE"]
    license_text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert "END OF TERMS AND CONDITIONS" in license_text, "the full text, not a pointer"
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    assert "setuptools>=77" in requires, "SPDX license strings need setuptools 77"
    urls = project["urls"]
    assert (
        urls["Repository"] == urls["Homepage"] == "https://github.com/ulmfit-lesson/ulmfit-lesson"
    )
    assert project["scripts"]["ulmfit-lesson"] == "ulmfit_lesson.cli:main"
    from ulmfit_lesson import __version__

    assert project["version"] == __version__, "pyproject's version and ulmfit_lesson.__version__"


def test_precommit_ruff_is_the_pinned_ruff():
    config = (ROOT / ".pre-commit-config.yaml").read_text()
    versions = set(re.findall(r"ruff==([^\s'\"\],]+)", config))
    assert versions == {read_dev_requirements()["ruff"]}


def test_running_environment_matches_the_pins():
    """Catches a stale venv (run `make install`) or a conda env that drifted."""
    wrong = {}
    for name, pin in (read_requirements() | read_dev_requirements()).items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        if installed is None or installed.split("+")[0] != pin:
            wrong[name] = f"installed {installed}, pinned {pin}"
    assert not wrong, f"{sys.prefix} differs from requirements.txt (run `make install`): {wrong}"


# A development machine's own folders; /home/studio-lab-user is SageMaker Studio Lab's, detected
# on purpose by course/plan.py.
# (Spelt in pieces so that this line does not match itself.)
DEV_MACHINE_PATH = re.compile(r"(?<![\w.~-])/(?:work|root|Users|" + r"home(?!/studio-lab-user\b))/")


def test_no_absolute_path_of_a_development_machine():
    """Instructions must work on a learner's machine: say how to make a folder, not where one was."""
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout")
    files = subprocess.run(
        [git, "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    found = []
    for name in files:
        path = ROOT / name
        if name == "package-lock.json" or not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        found += [
            f"{name}:{n}: {line.strip()[:80]}"
            for n, line in enumerate(text.splitlines(), 1)
            if DEV_MACHINE_PATH.search(line)
        ]
    assert not found, "\n".join(found)
