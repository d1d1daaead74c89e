"""The course site's publication: .github/workflows/pages.yml builds the site that every notebook
links to, and this test builds that site here (without executing the notebooks) and follows the
links: each lesson's link under its title must land on a page of the built site."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import build_site  # noqa: E402
import notebook_cells  # noqa: E402

WORKFLOW = ROOT / ".github" / "workflows" / "pages.yml"


def _steps() -> list[dict]:
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    return [step for job in jobs.values() for step in job.get("steps", [])]


def _make_target(name: str) -> str:
    makefile = (ROOT / "Makefile").read_text()
    m = re.search(rf"^{re.escape(name)}:[^\n]*\n((?:\t[^\n]*\n)+)", makefile, re.M)
    assert m, f"Makefile has no target {name}"
    return m.group(1)


def test_the_workflow_builds_the_full_site_and_publishes_that_folder():
    steps = _steps()
    runs = [s["run"] for s in steps if "run" in s]
    assert any(r.strip() == "make site-full" for r in runs), runs
    recipe = _make_target("site-full")
    assert "tools/build_site.py" in recipe and "--quick" not in recipe  # outputs of real runs
    upload = [s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact")]
    assert upload and upload[0]["with"]["path"] == "build/site"
    deploy = [s for s in steps if s.get("uses", "").startswith("actions/deploy-pages")]
    assert deploy, "the site is built but never deployed"


def test_every_lesson_links_to_its_page_and_the_built_site_has_it(tmp_path):
    lessons = sorted(
        p for p in (ROOT / "notebooks").glob("*.ipynb") if notebook_cells.LESSON.match(p.stem)
    )
    assert len(lessons) >= 10
    site = notebook_cells.site_url(notebook_cells.read_project())
    result = build_site.build(
        lessons, tmp_path / "site", execute_nbs=False, slides=False, api=False
    )
    assert not result.problems, result.problems
    for path in lessons:
        title = next(
            c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"
        )
        links = re.findall(re.escape(site) + r"([^)\s]+)", title.source)
        assert links == [f"notebooks/{path.stem}.html"], (path.name, links)
        assert (tmp_path / "site" / links[0]).is_file(), f"{links[0]} is not in the built site"
    index = (tmp_path / "site" / "index.html").read_text()
    for name in build_site.DOC_PAGES:
        page = tmp_path / "site" / "docs" / f"{name}.html"
        assert page.is_file() and f'href="docs/{name}.html"' in index
    glossary = (tmp_path / "site" / "docs" / "glossary.html").read_text()
    assert 'href="cheatsheet.html"' in glossary  # docs links point at the site's pages
