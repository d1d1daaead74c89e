"""The cells that several notebooks share, written once here.

Every notebook starts with the same setup cell, and every notebook that loads a pretrained
language model (ULMFiT's stage 1, §3.1) chooses it with the same cell. A notebook holds a copy of
each (a learner on Colab opens one ``.ipynb`` alone, so the text must be in it);
``tools/check_notebook_sources.py`` checks that every copy equals the text here, and its ``--fix``
rewrites the copies, so an edit is made once, here. ``docs/colab.md`` shows the setup cell too.

The setup cell's install URL and dependency list come from ``pyproject.toml`` (``[project.urls]
Repository``, ``[project] dependencies``), the one place they are written.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# A notebook's metadata, exactly: JupyterLab adds the kernel's Python version and more to
# language_info when it saves, which would make every developer's save a diff.
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
NOTEBOOK_METADATA = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}


@dataclass(frozen=True)
class SharedCell:
    """A code cell copied into several notebooks; ``marker`` is the line that finds its copies."""

    name: str
    source: str
    marker: str


def read_project(pyproject: Path = ROOT / "pyproject.toml") -> dict:
    with open(pyproject, "rb") as f:
        return tomllib.load(f)["project"]


def repository_url(project: dict) -> str:
    """The public repository (``[project.urls] Repository``), without a trailing slash.

    Raises ``SystemExit`` when it is missing or not an https URL: every notebook installs from it.
    """
    url = project.get("urls", {}).get("Repository", "")
    if not re.fullmatch(r"https://[^\s\"'<>]+", url):
        raise SystemExit(
            f"pyproject.toml: [project.urls] Repository is {url!r}; the setup cell of every notebook "
            'installs from it, so set it to the public repository (Repository = "https://github.com/...").'
        )
    return url.rstrip("/")


def site_url(project: dict) -> str:
    """The course site (``[project.urls] "Course site"``, published by .github/workflows/pages.yml)."""
    url = project.get("urls", {}).get("Course site", "")
    if not re.fullmatch(r"https://[^\s\"'<>]+/", url):
        raise SystemExit(
            f'pyproject.toml: [project.urls] "Course site" is {url!r}; expected https://.../'
        )
    return url


LESSON = re.compile(r"^\d\d[a-z]?_")  # notebooks/NN_name.ipynb: the lessons the site publishes


def site_link(stem: str, project: dict | None = None) -> str:
    """The line under a lesson's title that links to its rendered page (outputs included)."""
    url = f"{site_url(project or read_project())}notebooks/{stem}.html"
    return f"*Read it first, with every output and figure, without running anything: [this notebook on the course site]({url}).*"


def runtime_dependencies(project: dict) -> list[str]:
    """``[project] dependencies``; refuses an exact pin (``==``), which the setup cell relies on not having."""
    deps = project.get("dependencies", [])
    pinned = [d for d in deps if "==" in d]
    if pinned:
        raise SystemExit(
            f"pyproject.toml pins {pinned} exactly. The setup cell installs the package with its "
            "dependencies on Colab, where an exact torch pin would download a second PyTorch of several "
            "GB over the GPU build Colab provides: keep ranges in pyproject.toml (exact pins belong in "
            "requirements.txt), or change setup_cell() in tools/notebook_cells.py."
        )
    return deps


def setup_cell(project: dict | None = None) -> SharedCell:
    """Every notebook's first code cell: installs the package on Colab and other hosted Jupyter,
    and changes nothing on a machine set up with ``make lab``.

    With its dependencies (no ``--no-deps``) because they are ranges that Colab and Kaggle already
    satisfy, so pip installs only this package and keeps the service's own PyTorch; on a bare
    JupyterHub it installs what is missing. Not the ``[course]`` extra: JupyterLab and friends are
    the service's job.
    """
    project = read_project() if project is None else project
    deps = ", ".join(runtime_dependencies(project))
    source = f"""\
# Setup: on Google Colab or another hosted Jupyter, install the course package if it is missing
# (on a machine set up with `make lab` this changes nothing). Datasets and the pretrained model
# download on first use. KIT: optional path or URL of a workshop kit (ulmfit-kit.tar.gz, for a
# room without internet; see docs/facilitator_guide.md).
KIT = ""
try:
    import ulmfit_lesson
except ImportError:
    # Its dependencies ({deps}) are already on Colab and Kaggle:
    # pip adds only this package, and keeps the service's PyTorch.
    %pip install -q "ulmfit-lesson @ git+{repository_url(project)}"
from ulmfit_lesson.course import plan

plan.hosted_setup(KIT)"""
    return SharedCell("setup", source, marker="plan.hosted_setup(KIT)")


# One place chooses the pretrained model, and says which one it got and why
# (pretrained.course_model decides, plan.describe_model explains).
PRETRAINED_CHOICE = SharedCell(
    "pretrained choice",
    """\
# The pretrained language model (ULMFiT's stage 1), chosen in one place for the whole notebook: the
# course's general-fwd where it is on this machine (workshop kit, ULMFIT_DATA) or the room's mirror,
# otherwise fastai's wt103-fwd, the paper's own model (downloaded once, about 100 MB). The numbers
# quoted in the text were measured with general-fwd.
PRETRAINED = pretrained.course_model()
print("pretrained model:", plan.describe_model(PRETRAINED))""",
    marker="PRETRAINED = pretrained.course_model()",
)


def shared_cells(project: dict | None = None) -> list[SharedCell]:
    """Every shared cell; the setup cell first (it must also be each notebook's first code cell)."""
    return [setup_cell(project), PRETRAINED_CHOICE]


# docs/colab.md shows the setup cell between these two lines.
COLAB_DOC = ROOT / "docs" / "colab.md"
COLAB_BEGIN = "<!-- the setup cell: kept equal to tools/notebook_cells.py, do not edit here -->"
COLAB_END = "<!-- end of the setup cell -->"


def colab_doc(text: str, cell: SharedCell) -> str:
    """``docs/colab.md``'s text with the setup cell between its markers replaced by ``cell``."""
    before, begin, rest = text.partition(COLAB_BEGIN)
    _, end, after = rest.partition(COLAB_END)
    if not (begin and end):
        raise SystemExit(f"{COLAB_DOC}: the lines {COLAB_BEGIN!r} and {COLAB_END!r} are missing")
    return f"{before}{COLAB_BEGIN}\n```python\n{cell.source}\n```\n{COLAB_END}{after}"
