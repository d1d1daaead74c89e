"""The notebook times printed in docs/results.md, the facilitator's guide and the README (the total)
are the measured ones (``ulmfit_lesson/data/notebook_times.json``, package data that ``doctor``
reads, written by ``tools/build_site.py --record-times``), not copies that drifted: re-measuring
without updating the docs fails here."""

import json
import re

from ulmfit_lesson.config import REPO_ROOT
from ulmfit_lesson.course import timing

TIMES_FILE = REPO_ROOT / "ulmfit_lesson" / "data" / "notebook_times.json"
TIMES = json.loads(TIMES_FILE.read_text(encoding="utf-8"))


def mmss(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


def rows(text: str) -> dict[str, list[str]]:
    """Markdown table rows naming a notebook (`` `NN_name` `` or `` `NN_name.ipynb` ``) ->
    {NN_name: [the cells after that one]}."""
    out = {}
    for line in text.splitlines():
        cells = (
            [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        )
        for i, cell in enumerate(cells):
            m = re.fullmatch(r"`(\d\d[a-z]?_[a-z_]+)(?:\.ipynb)?`", cell)
            if m:
                out[m.group(1)] = cells[i + 1 :]
    return out


def test_every_notebook_is_measured_in_both_modes():
    names = sorted(p.name for p in (REPO_ROOT / "notebooks").glob("*.ipynb"))
    assert sorted(TIMES["notebooks"]) == names
    for name in names:
        assert TIMES["notebooks"][name]["full_seconds"] > 0
        assert TIMES["notebooks"][name]["quick_seconds"] > 0
    assert TIMES["reference"]["probe_seconds_per_step"] > 0


def test_doctor_reads_the_same_file():
    assert timing.TIMES_FILE.resolve() == TIMES_FILE.resolve()
    assert timing.load_times() == TIMES
    assert not (REPO_ROOT / "docs" / "notebook_times.json").exists(), "one copy only"


def test_results_and_facilitator_guide_print_the_measured_times():
    results_md = (REPO_ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    table = rows(results_md.split("| notebook | full mode")[1])
    guide = rows((REPO_ROOT / "docs" / "facilitator_guide.md").read_text(encoding="utf-8"))
    for name, t in TIMES["notebooks"].items():
        stem = name.removesuffix(".ipynb")
        full, quick = mmss(t["full_seconds"]), mmss(t["quick_seconds"])
        assert table[stem][:2] == [full, quick], f"docs/results.md row of {stem}"
        assert guide[stem][:2] == [full, quick], f"facilitator guide row of {stem}"
    total = sum(t["full_seconds"] for t in TIMES["notebooks"].values())
    assert f"**{mmss(total)}**" in results_md
    assert f"**{mmss(total)}**" in (REPO_ROOT / "README.md").read_text(encoding="utf-8"), (
        "README's prerequisites show the whole course's machine time"
    )
