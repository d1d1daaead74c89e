"""tools/build_site.py: the offline site (pages, map, decks, API reference) from tiny notebooks.

One build of two small notebooks made here (one kernel each) serves most tests; the parsing and
slide helpers are tested on notebooks in memory. The decks need reveal.js from npm (`npm ci`):
without it those tests skip, except in CI where they fail.
"""

from __future__ import annotations

import base64
import os
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import build_site  # noqa: E402

HAVE_REVEAL = (build_site.REVEAL / "dist" / "reveal.js").is_file()
# A 1x1 PNG, for a markdown image that must end up embedded.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def need_reveal():
    if HAVE_REVEAL:
        return
    msg = "reveal.js not installed: run `npm ci` (tools/setup_browser.sh)"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


def md(source: str, slide_type: str | None = None) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_markdown_cell(source)
    if slide_type:
        cell.metadata["slideshow"] = {"slide_type": slide_type}
    return cell


def code(source: str, slide_type: str | None = None) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    if slide_type:
        cell.metadata["slideshow"] = {"slide_type": slide_type}
    return cell


def notebook(*cells) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = list(cells)
    return nb


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    src = tmp_path_factory.mktemp("notebooks")
    (src / "pixel.png").write_bytes(PIXEL)
    nbformat.write(
        notebook(
            md(
                "# 01 · Squares\n\nPlotting the first squares, $n^2$.\n\n"
                "## Learning goals\n\n- draw a **plot**\n- embed an image ![a pixel](pixel.png)\n"
            ),
            code(
                "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
                "%matplotlib inline\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.title('squares')\nplt.show()",
                "slide",
            ),
            md("## Second heading\n\nNot tagged: only in this notebook's own deck."),
        ),
        src / "01_squares.ipynb",
    )
    nbformat.write(
        notebook(
            md("# Words\n\nBy the end you can:\n\n1. count words\n2. print them"),
            code("print('hi')"),
        ),
        src / "02_words.ipynb",
    )
    out = tmp_path_factory.mktemp("site")
    result = build_site.build(
        build_site.find_notebooks([src]), out, quick=True, slides=HAVE_REVEAL, api=True
    )
    return result


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_notebooks_ran_and_are_on_the_map(site):
    assert [p.status for p in site.pages] == ["ok", "ok"], [p.error for p in site.pages]
    index = read(site.out / "index.html")
    for stem in ("01_squares", "02_words"):
        assert f'href="notebooks/{stem}.html"' in index
        assert (site.out / "notebooks" / f"{stem}.html").is_file()
        assert (site.out / "notebooks" / f"{stem}.ipynb").is_file()  # the executed copy
    assert 'href="api/index.html"' in index
    # title (without the repeated number), summary and goals from the first markdown cell
    assert ">Squares</a>" in index and "Plotting the first squares" in index
    assert "<li>draw a <strong>plot</strong></li>" in index
    assert "<li>count words</li>" in index and "<li>print them</li>" in index
    timings = (site.out / "timings.json").read_text()
    assert '"01_squares.ipynb"' in timings and '"status": "ok"' in timings


def test_pages_embed_their_images(site):
    page = read(site.out / "notebooks" / "01_squares.html")
    assert re.search(r'<img[^>]+src="data:image/png;base64,', page)  # the plot
    assert "pixel.png" not in re.findall(r'src="([^"]+)"', page)  # the markdown image, embedded
    assert page.count('src="data:image/png;base64,') >= 2
    assert "squares" in page and "02_words.html" in page  # next-notebook link


def test_api_reference_from_docstrings(site):
    api = site.out / "api"
    index = read(api / "index.html")
    assert 'href="ulmfit_lesson.registry.html"' in index
    registry_page = read(api / "ulmfit_lesson.registry.html")
    assert "Return a directory holding the entry" in registry_page  # registry.fetch's docstring
    assert "<code>fetch</code>" in registry_page
    assert "(name: str | Entry) -&gt; Path" in registry_page  # annotations unquoted


def test_nothing_is_loaded_from_a_network(site):
    pages = sorted(site.out.rglob("*.html"))
    assert len(pages) > 5
    remote = re.compile(r"""<(script|link)\b[^>]*\b(src|href)=["']?(https?:)?//""", re.IGNORECASE)
    for page in pages:
        text = read(page)
        assert not remote.search(text), f"{page} loads a remote script or stylesheet"
        assert "cdn.jsdelivr" not in text and "unpkg.com" not in text and "cdnjs" not in text, page
    assert site.problems == []


def test_decks_render_offline(site):
    need_reveal()
    slides = site.out / "slides"
    assert (slides / "reveal.js" / "dist" / "reveal.js").is_file()
    deck = read(slides / "01_squares.slides.html")
    assert 'src="reveal.js/dist/reveal.js"' in deck
    assert "<section" in deck and "Reveal.initialize" in deck
    story = read(slides / "story.slides.html")
    assert "Universal Language Model Fine-tuning" in story  # the frame from story.md
    assert "01 · Squares" in story and "02 · Words" in story  # a title slide per notebook
    assert "data:image/png;base64," in story  # the tagged code cell and its plot ...
    assert "Not tagged" not in story  # ... but not the untagged one
    assert "Not tagged" in deck  # which is in the notebook's own deck


def test_parse_intro_variants():
    title, summary, goals = build_site.parse_intro(
        notebook(
            md(
                "# Stage 2: fine-tuning\n\nWe adapt the LM.\n\n**Goals**\n\n* one\n* two\n  continued"
            ),
            code("x = 1"),
            md("- not an intro list"),
        ),
        "fallback",
    )
    assert title == "Stage 2: fine-tuning"
    assert summary == "We adapt the LM."
    assert goals == ["one", "two continued"]
    title, summary, goals = build_site.parse_intro(notebook(code("1")), "03_nothing")
    assert (title, summary, goals) == ("03_nothing", "", [])


def test_headings_become_slides_when_nothing_is_tagged():
    nb = notebook(md("intro text"), md("# A"), code("1"), md("### sub"), md("#### deep"))
    tagged = build_site.tag_slides_from_headings(nb)
    kinds = [c.metadata["slideshow"]["slide_type"] for c in tagged.cells]
    assert kinds == ["slide", "slide", "-", "subslide", "-"]
    assert "slideshow" not in nb.cells[0].metadata  # the original is untouched


def test_widget_outputs_become_a_note():
    cell = code("w")
    cell.outputs = [
        nbformat.v4.new_output(
            "execute_result",
            data={
                build_site.WIDGET_MIME: {"model_id": "abc", "version_major": 2},
                "text/plain": "VBox(children=...)",
            },
            execution_count=1,
        )
    ]
    nb = notebook(cell)
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {}}
    clean = build_site._clean_for_export(nb)
    assert "widgets" not in clean.metadata
    (out,) = clean.cells[0].outputs
    assert out.output_type == "display_data" and "Interactive widget" in out.data["text/html"]


def test_story_frame_has_the_paper_story():
    cells = build_site.story_cells((build_site.TEMPLATES / "story.md").read_text())
    assert "{{notebooks}}" in cells
    text = "\n".join(c.source for c in cells if not isinstance(c, str))
    for topic in ("Transfer learning", "three stages", "tricks", "Results", "4.6"):
        assert topic in text, topic
