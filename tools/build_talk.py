"""Build the talk: a reveal.js deck with speaker notes and figures drawn at build time, and its PDFs.

    python tools/build_talk.py              # -> build/slides/ulmfit-talk.html (+ figures/, reveal.js/)
    python tools/build_talk.py --pdf        # also ulmfit-talk.pdf and ulmfit-talk-handout.pdf
    python tools/build_talk.py --no-model   # skip the figures that need the pretrained LM
    python tools/build_talk.py --reuse-figures   # only the slides changed: keep the figures
    make slides                             # the same as --pdf

The slides are ``tools/talk/slides.md`` (its opening comment describes the format); the figures and
the numbers the slides quote come from ``tools/talk_figures.py`` (the package's drawing functions,
the committed CSVs in ``experiments/results/full/``, a CPU timing, the live demo's quick run). No
notebook is executed: about a minute on a 2-core CPU.

Offline: reveal.js is copied from ``node_modules`` (``npm ci``) next to the deck, the theme's fonts
are inside its CSS, figures are local files, and there is no math (so no KaTeX). The build fails if
the page would load anything from http(s). Press S in the deck for the speaker view (notes, timer).

PDF: ``tools/talk_pdf.mjs`` opens the deck with reveal.js's ``?print-pdf`` in the Debian Chromium
(playwright-core, as the browser test) and prints one page per slide; the handout adds
``showNotes: 'separate-page'``: each slide's page is followed by a page with its notes.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
from nbconvert.filters.markdown_mistune import markdown2html_mistune

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "tools" / "talk" / "slides.md"
OUT = ROOT / "build" / "slides"
REVEAL = ROOT / "node_modules" / "reveal.js"
PDF_SCRIPT = ROOT / "tools" / "talk_pdf.mjs"
DECK_NAME = "ulmfit-talk.html"
PDF_NAME = "ulmfit-talk.pdf"
HANDOUT_NAME = "ulmfit-talk-handout.pdf"
TITLE = "ULMFiT: transfer learning for text, done carefully"
MAX_WORDS = 40  # per main slide, notes excluded (appendix tables are exempt)
WORD_SLACK = 5  # "~40 words": the build fails above MAX_WORDS + WORD_SLACK
REMOTE = re.compile(
    r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|@import\s+url\(\s*["']?https?:""", re.I
)

sys.path.insert(0, str(ROOT / "tools"))


def log(msg: str) -> None:
    print(msg, flush=True)


@dataclass
class Slide:
    body_md: str
    notes_md: str
    classes: list[str] = field(default_factory=list)
    appendix: bool = False
    html: str = ""
    notes_html: str = ""
    words: int = 0
    title: str = ""


@dataclass
class TalkResult:
    deck: Path
    slides: list[Slide]
    figures: dict[str, str]
    numbers: dict
    seconds: float
    pdf: Path | None = None
    handout: Path | None = None

    @property
    def main_slides(self) -> list[Slide]:
        return [s for s in self.slides if not s.appendix]


# ------------------------------------------------------------------------------ slides


def _f3(x) -> str:
    return f"{float(x):.3f}"


def _millions(x) -> str:
    return f"{float(x) / 1e6:.0f}M" if float(x) >= 1e7 else f"{float(x) / 1e6:.1f}M"


def render_source(text: str, numbers: dict) -> str:
    """The slide source with its ``{{ n.X }}`` numbers filled in (jinja2, undefined = error)."""
    text = re.sub(r"\A\s*<!--.*?^-->\s*$", "", text, flags=re.S | re.M)  # the format comment
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters.update(f3=_f3, millions=_millions)
    return env.from_string(text).render(n=numbers)


def _markdown(text: str) -> str:
    """Markdown to HTML without nbconvert's heading anchors (the pilcrow links)."""
    out = markdown2html_mistune(text)
    out = re.sub(r'<a class="anchor-link"[^>]*>.*?</a>', "", out, flags=re.S)
    return re.sub(r'(<h[1-6]) id="[^"]*"', r"\1", out)


def visible_words(markup: str) -> int:
    text = html.unescape(re.sub(r"<[^>]+>", " ", markup))
    return len(re.findall(r"[\w'’.,%±→-]*\w[\w'’.,%±→-]*", text))


def parse_slides(text: str, figures: dict[str, str], fig_prefix: str) -> list[Slide]:
    """Split the rendered source into slides; markdown to HTML; ``fig:NAME`` to the figure file."""
    slides, appendix = [], False
    for chunk in re.split(r"^---\s*$", text, flags=re.M):
        chunk = chunk.strip()
        if not chunk:
            continue
        classes = re.findall(r"<!--\s*class:\s*([\w-]+)\s*-->", chunk)
        if re.search(r"<!--\s*appendix\s*-->", chunk):
            appendix = True
        chunk = re.sub(r"<!--.*?-->", "", chunk, flags=re.S).strip()
        parts = re.split(r"^Note:\s*$", chunk, maxsplit=1, flags=re.M)
        body, notes = parts[0].strip(), (parts[1].strip() if len(parts) > 1 else "")

        def figure(m: re.Match) -> str:
            name = m.group(2)
            if name not in figures:
                raise KeyError(
                    f"slide {len(slides) + 1}: no figure {name!r} (tools/talk_figures.py)"
                )
            return f"![{m.group(1)}]({fig_prefix}{figures[name]})"

        body = re.sub(r"!\[([^\]]*)\]\(fig:([\w-]+)\)", figure, body)
        slide = Slide(body, notes, classes, appendix)
        slide.html = _markdown(body)
        slide.notes_html = _markdown(notes) if notes else ""
        slide.words = visible_words(slide.html)
        heading = re.search(r"^#{1,3}\s+(.*)$", body, flags=re.M)
        slide.title = heading.group(1).strip() if heading else body.splitlines()[0]
        slides.append(slide)
    return slides


def check_slides(slides: list[Slide]) -> list[str]:
    """Problems: a slide without notes, a main slide far over ~40 words."""
    problems = []
    for i, s in enumerate(slides, 1):
        if not s.notes_html.strip():
            problems.append(f"slide {i} ({s.title}): no speaker notes")
        if not s.appendix and s.words > MAX_WORDS + WORD_SLACK:
            problems.append(f"slide {i} ({s.title}): {s.words} words (at most ~{MAX_WORDS})")
    return problems


# ------------------------------------------------------------------------------ the page

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{reveal}/dist/reset.css">
<link rel="stylesheet" href="{reveal}/dist/reveal.css">
<link rel="stylesheet" href="{reveal}/dist/theme/white.css">
<style>
.reveal {{ font-size: 34px; }}
.reveal h1, .reveal h2 {{ text-transform: none; }}
.reveal h1 {{ font-size: 2.0em; }}
.reveal h2 {{ font-size: 1.35em; margin-bottom: 0.4em; }}
.reveal section img {{ width: 92%; height: auto; max-height: 440px; object-fit: contain;
  margin: 0.2em auto; border: 0; box-shadow: none; display: block; }}
.reveal section.title img {{ max-height: 300px; }}
.reveal ul {{ display: block; margin-left: 1.2em; }}
.reveal li {{ margin: 0.25em 0; }}
.reveal p {{ margin: 0.4em 0; }}
.reveal table {{ font-size: 0.7em; margin: 0.3em auto; }}
.reveal section.section h1 {{ color: #2c7fb8; }}
.reveal section.appendix::before {{ content: "backup"; position: absolute; top: -10px; right: 0;
  font-size: 0.45em; color: #999; }}
.reveal code {{ font-size: 0.9em; }}
.reveal .speaker-notes-pdf[data-layout="separate-page"] {{ font-size: 24px; line-height: 1.45; }}
</style>
</head>
<body>
<div class="reveal">
<div class="slides">
{sections}
</div>
</div>
<script src="{reveal}/dist/reveal.js"></script>
<script src="{reveal}/dist/plugin/notes.js"></script>
<script>
var handout = /[?&]handout\\b/.test(window.location.search);
Reveal.initialize({{
  hash: true,
  controls: true,
  progress: true,
  slideNumber: "c/t",
  transition: "fade",
  width: 1280,
  height: 720,
  margin: 0.04,
  center: true,
  showNotes: handout ? "separate-page" : false,
  pdfMaxPagesPerSlide: 1,
  pdfSeparateFragments: false,
  plugins: [RevealNotes]
}});
</script>
</body>
</html>
"""


def page_html(slides: list[Slide], reveal: str) -> str:
    sections = []
    for i, s in enumerate(slides, 1):
        classes = " ".join(s.classes + (["appendix"] if s.appendix else []))
        attrs = f' class="{classes}"' if classes else ""
        sections.append(
            f'<section id="slide-{i}" data-words="{s.words}"{attrs}>\n{s.html}\n'
            f'<aside class="notes">\n{s.notes_html}\n</aside>\n</section>'
        )
    return PAGE.format(title=html.escape(TITLE), reveal=reveal, sections="\n".join(sections))


def copy_reveal(out: Path) -> None:
    if not (REVEAL / "dist").is_dir():
        raise FileNotFoundError(
            f"{REVEAL} not found: the deck needs a local reveal.js. Run `npm ci` in {ROOT}."
        )
    dst = out / "reveal.js"
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(REVEAL / "dist", dst / "dist", ignore=shutil.ignore_patterns("*.d.ts", "*.mjs"))
    shutil.copy2(REVEAL / "LICENSE", dst / "LICENSE")


# ------------------------------------------------------------------------------ PDF


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if candidate and Path(candidate).is_file():
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


def print_pdf(deck: Path, pdf: Path, handout: bool = False, timeout: int = 180) -> Path:
    """Print ``deck`` to ``pdf`` with reveal.js's print layout in headless Chromium."""
    browser = chromium_path()
    if shutil.which("node") is None or browser is None:
        raise FileNotFoundError(
            "the PDF needs Node.js and Chromium: run `bash tools/setup_browser.sh`"
        )
    env = dict(os.environ, CHROMIUM=browser)
    cmd = ["node", str(PDF_SCRIPT), str(deck), str(pdf)] + (["--handout"] if handout else [])
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0 or not pdf.is_file():
        raise RuntimeError(
            f"printing {pdf.name} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        )
    return pdf


# ------------------------------------------------------------------------------ build


def build(
    out: Path = OUT,
    pdf: bool = False,
    use_model: bool = True,
    source: Path = SOURCE,
    strict: bool = True,
    reuse_figures: bool = False,
) -> TalkResult:
    """Build the deck (and with ``pdf`` both PDFs) into ``out``; see the module docstring."""
    import talk_figures

    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    copy_reveal(out)
    saved = out / "figures" / "numbers.json"
    if reuse_figures and saved.is_file():  # the slides changed, the figures did not
        made = json.loads(saved.read_text())
        log(f"-> reusing the figures of {saved.parent}")
    else:
        log(f"-> talk figures into {out / 'figures'}")
        made = talk_figures.make_figures(out / "figures", use_model=use_model, log=log)
    text = render_source(source.read_text(encoding="utf-8"), made["numbers"])
    slides = parse_slides(text, made["files"], "figures/")
    problems = check_slides(slides)
    if problems and strict:
        raise ValueError("the talk's slides:\n  " + "\n  ".join(problems))
    deck = out / DECK_NAME
    deck.write_text(page_html(slides, "reveal.js"), encoding="utf-8")
    remote = REMOTE.findall(deck.read_text(encoding="utf-8"))
    if remote:
        raise ValueError(f"{deck} is not offline: it loads {remote[:3]}")
    result = TalkResult(deck, slides, made["files"], made["numbers"], 0.0)
    n_main = len(result.main_slides)
    log(f"   {deck}: {len(slides)} slides ({n_main} + {len(slides) - n_main} backup)")
    if pdf:
        result.pdf = print_pdf(deck, out / PDF_NAME)
        result.handout = print_pdf(deck, out / HANDOUT_NAME, handout=True)
        for p in (result.pdf, result.handout):
            log(f"   {p} ({p.stat().st_size / 1e6:.1f} MB)")
    result.seconds = time.perf_counter() - start
    (out / "talk.json").write_text(
        json.dumps(
            {
                "slides": len(slides),
                "main": n_main,
                "seconds": round(result.seconds, 1),
                "titles": [s.title for s in slides],
            },
            indent=1,
        )
    )
    log(f"talk built in {result.seconds:.0f} s")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--pdf", action="store_true", help="also print the PDF and the handout")
    parser.add_argument("--no-model", action="store_true", help="skip figures needing the LM")
    parser.add_argument(
        "--reuse-figures", action="store_true", help="keep the figures of the last build"
    )
    args = parser.parse_args(argv)
    try:
        build(args.out, pdf=args.pdf, use_model=not args.no_model, reuse_figures=args.reuse_figures)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
