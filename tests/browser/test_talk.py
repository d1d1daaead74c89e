"""Real-browser test of the talk: the deck, its speaker notes, offline loading and the PDFs.

Builds the talk afresh into a temporary folder with ``tools/build_talk.py`` (figures, deck, PDF and
handout, as ``make slides`` does), then runs ``talk_e2e.mjs``: headless Chromium steps through every
slide with the keyboard, checks that each has speaker notes, that its images loaded and that no
request failed or left the machine, and that S opens the speaker view with the notes. The PDFs are
checked with poppler (``pdfinfo``, ``pdftotext``, ``pdftoppm``): one page per slide (the handout: a
slide page and its notes page per slide), text on every page, no blank page, and a reasonable size.
Screenshots of a few slides go to ``build/screenshots/talk_*.png``. A first test checks the slide
source alone (every slide has notes, ~40 words, its figures; no browser needed).

Needs Node.js, ``npm ci`` (playwright-core, reveal.js), Chromium and poppler-utils
(``tools/setup_browser.sh`` installs them). Without them the test is skipped, except in CI (``CI``
set) or with ``ULMFIT_REQUIRE_BROWSER=1``, where it fails, as ``test_lab.py`` does.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from e2e import run_e2e

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "talk_e2e.mjs"
sys.path.insert(0, str(ROOT / "tools"))

# A PDF of the deck is about 1 MB (vector figures, the theme's fonts embedded once); far more means
# images went in at the wrong resolution, far less that pages are missing their content.
PDF_MIN_BYTES, PDF_MAX_BYTES = 100_000, 15_000_000
POPPLER = ("pdfinfo", "pdftotext", "pdftoppm", "pdffonts")
EXTRA_TOOLS = {tool: "apt-get install poppler-utils" for tool in POPPLER}


@pytest.fixture(scope="module")
def talk(tmp_path_factory, browser_tools):
    """The talk, built afresh: deck, figures, PDF and handout."""
    import build_talk

    out = tmp_path_factory.mktemp("slides")
    start = time.monotonic()
    result = build_talk.build(out, pdf=True)
    result.build_seconds = time.monotonic() - start
    return result


def pdf_pages(path: Path) -> int:
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))


def page_texts(path: Path) -> list[str]:
    """The text of each page (pdftotext ends every page with a form feed)."""
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    return text.split("\f")[:-1]


def ink_per_page(path: Path, folder: Path) -> list[float]:
    """The share of non-white pixels of each page, rendered small by pdftoppm (grey levels)."""
    from PIL import Image

    prefix = folder / path.stem
    subprocess.run(["pdftoppm", "-r", "15", "-gray", str(path), str(prefix)], check=True)
    shares = []
    for png in sorted(folder.glob(f"{path.stem}-*.pgm")):
        pixels = np.asarray(Image.open(png))
        shares.append(float((pixels < 235).mean()))
    return shares


def pdf_fonts(path: Path) -> list[tuple[str, str]]:
    """(name, embedded yes/no) of every font of the PDF (pdffonts' table)."""
    out = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    rows = out.splitlines()[2:]  # a header line and a dashed line
    return [(row.split()[0], row.split()[-5]) for row in rows if row.strip()]


def test_slide_source_is_complete(tmp_path):
    """No browser needed: the slide source renders with the figures' numbers, every slide has
    notes, main slides stay near 40 words, and the BERT-base figure is the one docs/results.md
    quotes."""
    import build_talk
    import talk_figures

    made = talk_figures.make_figures(tmp_path / "figures", use_model=False, log=lambda _: None)
    text = build_talk.render_source(build_talk.SOURCE.read_text(encoding="utf-8"), made["numbers"])
    assert "{{" not in text and "{%" not in text
    slides = build_talk.parse_slides(text, made["files"], "figures/")
    assert build_talk.check_slides(slides) == []
    main = [s for s in slides if not s.appendix]
    assert 22 <= len(main) <= 30 and len(slides) > len(main)
    assert all(s.words <= build_talk.MAX_WORDS + build_talk.WORD_SLACK for s in main)
    used = {m for s in slides for m in re.findall(r"figures/([\w.-]+)", s.html)}
    assert used <= set(made["files"].values())
    assert len(used) >= 18
    for name in used:
        assert (tmp_path / "figures" / name).stat().st_size > 1_000, name
    results_md = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    quoted = f"fine-tuned BERT-base {talk_figures.BERT_BASE_POEMS_ACC:.3f} accuracy (published"
    assert quoted in results_md, (
        "the slides' BERT-base figure is not the one docs/results.md quotes"
    )
    today = next(s for s in slides if "fine-tuned transformer" in s.title)
    assert "0.865" in today.html and "docs/results.md" in today.notes_md


def test_talk_deck_and_pdf_in_a_real_browser(talk, browser_tools, tmp_path):
    slides = talk.slides
    n = len(slides)
    main = [s for s in slides if not s.appendix]
    assert 22 <= len(main) <= 30, f"{len(main)} main slides: the talk is ~25"
    assert n > len(main), "no appendix (backup slides)"
    figure_slide = 1 + next(i for i, s in enumerate(slides) if "fine-tuned transformer" in s.title)
    first_backup = 1 + next(i for i, s in enumerate(slides) if s.appendix)
    env = dict(
        DECK=str(talk.deck),
        CHROMIUM=browser_tools,
        SHOT_SLIDES=f"1,{figure_slide},{first_backup + 1}",
    )
    result, stderr, seconds = run_e2e(SCRIPT, env, ("talk_*.png",))
    report = (
        f"browser ({seconds:.0f} s; build {talk.build_seconds:.0f} s): "
        f"error {result.get('error')}\nfailed {result.get('failed')}\n"
        f"external {result.get('external')}\npage errors {result.get('errors')}\n"
        f"node stderr (tail):\n{stderr[-2000:]}"
    )
    assert result.get("ok"), report

    # Every slide was shown, in order, with notes and its pictures; nothing failed or went online.
    assert result["total"] == n, report
    assert [s["index"] for s in result["slides"]] == list(range(n)), report
    for shown, built in zip(result["slides"], slides):
        where = f"slide {shown['index'] + 1} ({shown['title']})"
        assert shown["notes"] >= 80, f"{where}: speaker notes missing or too short"
        assert shown["imagesOk"], f"{where}: an image did not load"
        assert shown["words"] > 0, f"{where}: empty"
        assert shown["appendix"] == built.appendix, where
    with_pictures = sum(1 for s in result["slides"] if s["images"])
    assert with_pictures >= 18, f"only {with_pictures} slides have a figure"
    assert not result["failed"] and not result["external"] and not result["errors"], report
    assert len(result["speaker"]["notes"]) > 20, report  # S: the presenter view shows the notes
    for path in result["shots"]:
        assert Path(path).stat().st_size > 5_000, path

    # The PDF: one page per slide, each with text and ink, of a reasonable size.
    assert pdf_pages(talk.pdf) == n
    texts = page_texts(talk.pdf)
    assert len(texts) == n
    for i, (text, slide) in enumerate(zip(texts, slides), 1):
        words = slide.title.split()
        assert words[-1].strip("?:") in text, f"PDF page {i}: {slide.title!r} not on it"
    ink = ink_per_page(talk.pdf, tmp_path)
    assert len(ink) == n and min(ink) > 0.005, f"a blank PDF page: {ink}"
    size = talk.pdf.stat().st_size
    assert PDF_MIN_BYTES < size < PDF_MAX_BYTES, f"PDF is {size / 1e6:.2f} MB"
    fonts = pdf_fonts(talk.pdf)
    assert fonts and all(emb == "yes" for _, emb in fonts), f"fonts not embedded: {fonts}"

    # The handout: each slide's page followed by its notes page.
    pages = pdf_pages(talk.handout)
    assert pages == 2 * n, f"handout has {pages} pages for {n} slides"
    handout = page_texts(talk.handout)
    assert all(t.strip() for t in handout), "a handout page without text"
    first_note = slides[0].notes_md.split()[:4]
    assert " ".join(first_note) in " ".join(handout[1].split()), "notes of slide 1 not on page 2"
    assert talk.handout.stat().st_size < PDF_MAX_BYTES
    print(
        f"{n} slides ({len(main)} main); PDF {n} pages, {size / 1e6:.2f} MB; handout {pages} "
        f"pages, {talk.handout.stat().st_size / 1e6:.2f} MB; build {talk.build_seconds:.0f} s\n"
        + report
    )
