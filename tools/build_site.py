"""Build the course as a static, offline website with slide decks and an API reference.

    python tools/build_site.py                  # execute every notebook (full mode) -> build/site/
    python tools/build_site.py --quick          # ULMFIT_QUICK=1: small data, few epochs (minutes)
    python tools/build_site.py --no-execute     # render the notebooks as they are (no kernel)
    python tools/build_site.py --quick --reuse  # keep executed copies newer than their source
    python tools/build_site.py --record-times ulmfit_lesson/data/notebook_times.json   # full mode: save timings

What it writes (open ``build/site/index.html`` from the folder; nothing is fetched from a network):

    index.html                  the notebook map: title, summary and learning goals of each notebook
    notebooks/NN_name.html      each notebook with its outputs and plots (images embedded as data:)
    notebooks/NN_name.ipynb     the executed copy, for download
    slides/story.slides.html    one reveal.js deck for the whole ULMFiT story
    slides/ulmfit-talk.html     the talk (tools/build_talk.py: ~25 slides, figures, speaker notes)
    slides/NN_name.slides.html  one deck per notebook
    slides/reveal.js/           the local copy of reveal.js the decks load (from npm: `npm ci`)
    api/index.html, api/*.html  the package's API reference, generated from its docstrings
    _static/                    site.css and KaTeX (math rendering; from npm)
    timings.json                wall time and status of each notebook in this build

Slides. A cell's slide type is the ``slideshow.slide_type`` of its metadata (in JupyterLab: the
property inspector, "Slide Type"): ``slide``, ``subslide``, ``fragment``, ``-`` (continue the
current slide), ``skip`` or ``notes`` (speaker notes, key S). A notebook's own deck is the whole
notebook; when none of its cells is tagged, headings make the slides (``#``/``##`` a slide,
``###`` a subslide). The story deck is ``site_templates/story.md`` (the paper's story: transfer
learning, the three stages, the tricks, the results) with, where it says ``{{notebooks}}``, a title
slide per notebook followed by *only the cells tagged* in that notebook.

Offline. The pages use nbconvert's lab and reveal templates with every CDN reference removed
(``site_templates/ulmfit_lab``, ``ulmfit_reveal``): no require.js, jQuery, MathJax or mermaid;
math is rendered by a local KaTeX; widgets (which need a live kernel) show their static picture,
drawn by the notebook before the widget, and a note. The build fails if a page still loads a
script or stylesheet from http(s).
"""

from __future__ import annotations

import argparse
import copy
import html
import importlib
import inspect
import json
import os
import pkgutil
import platform
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import jinja2
import nbformat
from nbconvert import HTMLExporter, SlidesExporter
from nbconvert.filters.markdown_mistune import markdown2html_mistune

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "site_templates"
NODE_MODULES = ROOT / "node_modules"
REVEAL = NODE_MODULES / "reveal.js"
KATEX = NODE_MODULES / "katex" / "dist"
SITE_TITLE = "ULMFiT, taught by doing it"
SITE_LEAD = (
    "Universal Language Model Fine-tuning (Howard & Ruder 2018), built for real in PyTorch: "
    "the AWD-LSTM, the three stages and every fine-tuning trick, one notebook at a time."
)
SLIDE_TYPES = {"slide", "subslide", "fragment", "-", "skip", "notes"}
GOAL_WORDS = re.compile(
    r"learning goals?|\bgoals?\b|objectives|you will|you'll|by the end|what you learn", re.I
)
LIST_ITEM = re.compile(r"^\s{0,3}(?:[-*+]|\d+[.)])\s+(.*)$")

sys.path.insert(0, str(ROOT / "tools"))
if str(ROOT) not in sys.path:  # the API reference imports this checkout's package
    sys.path.insert(1, str(ROOT))
try:  # the infra helper's runner: one fresh kernel of this environment per notebook
    from run_notebooks import run_notebook as _run_notebook
except ImportError:  # pragma: no cover - only if tools/run_notebooks.py goes away
    _run_notebook = None


def log(msg: str) -> None:
    print(msg, flush=True)


# ------------------------------------------------------------------------------ notebooks


@dataclass
class Page:
    """One notebook of the site."""

    src: Path
    stem: str
    number: str
    title: str = ""
    summary: str = ""  # HTML
    goals: list[str] = field(default_factory=list)  # HTML fragments
    status: str = "not run"  # 'ok' | 'failed' | 'not run'
    error: str = ""
    seconds: float | None = None
    html: str = ""  # hrefs relative to the site root
    slides: str = ""
    ipynb: str = ""
    nb: nbformat.NotebookNode | None = None

    @property
    def short_title(self) -> str:
        """The title without a leading "01 ·" / "1." / "Notebook 1:" (the map shows the number)."""
        number = re.escape(self.number.lstrip("0") or "0")
        short = re.sub(
            rf"^(?:notebook\s*)?0*{number}\s*[·.:)\-\u2013\u2014]\s*",
            "",
            self.title,
            flags=re.I,
        )
        return short or self.title

    @property
    def time(self) -> str:
        if self.seconds is None:
            return ""
        minutes, secs = divmod(round(self.seconds), 60)
        return f"{minutes}:{secs:02d}"


def _inline(markdown: str) -> str:
    """Markdown -> HTML without the wrapping <p>."""
    out = markdown2html_mistune(markdown).strip()
    if out.startswith("<p>") and out.endswith("</p>") and out.count("<p>") == 1:
        out = out[3:-4]
    return out


def _plain(markdown: str) -> str:
    """A heading's text without markdown marks or tags (for <title> and link text)."""
    text = re.sub(r"<[^>]+>", "", _inline(markdown))
    return html.unescape(text).strip()


def parse_intro(nb: nbformat.NotebookNode, fallback_title: str) -> tuple[str, str, list[str]]:
    """Title, summary (HTML) and learning goals (HTML items) from the notebook's opening
    markdown cells (those before the first code cell).

    Title: the first heading. Goals: the list under a line that mentions goals / objectives /
    "you will" / "by the end", else the first list. Summary: the first plain paragraph.
    """
    text = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            break
        if cell.cell_type == "markdown":
            text.append(cell.source)
    lines = "\n\n".join(text).splitlines()
    title, summary, goals = "", "", []
    goal_at = next(
        (
            i
            for i, line in enumerate(lines)
            if GOAL_WORDS.search(line) and not LIST_ITEM.match(line)
        ),
        None,
    )

    def list_from(start: int) -> list[str]:
        items: list[str] = []
        for line in lines[start:]:
            m = LIST_ITEM.match(line)
            if m:
                items.append(m.group(1).strip())
            elif items and line[:1] in (" ", "\t") and line.strip():
                items[-1] += " " + line.strip()  # a list item's continuation line
            elif line.strip() and (items or line.lstrip().startswith("#")):
                break  # the list ended, or a new section began before any list
        return items

    if goal_at is not None:
        goals = list_from(goal_at + 1)
    if not goals:
        first = next((i for i, line in enumerate(lines) if LIST_ITEM.match(line)), None)
        goals = list_from(first) if first is not None else []
    paragraph: list[str] = []
    for i, line in enumerate(lines):
        stripped = line.strip()
        heading = re.match(r"^#{1,6}\s+(.*)$", stripped)
        if heading and not title:
            title = _plain(heading.group(1))
        plain = (
            stripped
            and not heading
            and not LIST_ITEM.match(line)
            and i != goal_at
            and not stripped.startswith(("<", "|", "!", ">", "```"))
        )
        if plain:
            paragraph.append(stripped)
        elif paragraph:
            text = " ".join(paragraph)
            if not (text.startswith(("*", "_")) and text.endswith(("*", "_"))):
                break
            paragraph = []  # an all-italic paragraph is a citation or aside, not the summary
    summary = _inline(" ".join(paragraph)) if paragraph else ""
    return title or fallback_title, summary, [_inline(g) for g in goals]


def _has_slide_tags(nb: nbformat.NotebookNode) -> bool:
    return any(c.metadata.get("slideshow", {}).get("slide_type") for c in nb.cells)


def tag_slides_from_headings(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` with slide types from its headings (for notebooks nobody tagged):
    ``#``/``##`` start a slide, ``###`` a subslide, everything else continues the slide."""
    nb = copy.deepcopy(nb)
    for i, cell in enumerate(nb.cells):
        kind = "-"
        if cell.cell_type == "markdown":
            m = re.match(r"^\s*(#{1,6})\s", cell.source)
            if m and len(m.group(1)) <= 2:
                kind = "slide"
            elif m and len(m.group(1)) == 3:
                kind = "subslide"
        if i == 0:
            kind = "slide"
        cell.metadata["slideshow"] = {"slide_type": kind}
    return nb


WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = (
    "Interactive widget: run this notebook in JupyterLab (or Colab) to use its controls. "
    "The picture above shows its starting state."
)


def _clean_for_export(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy without live widgets: a static page has no kernel to run a widget's callbacks, so
    each widget output becomes a short note (the explorers draw a static picture first) and the
    saved widget state is dropped."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for i, output in enumerate(cell.get("outputs", [])):
            if WIDGET_MIME in output.get("data", {}):
                note = f'<div class="ulmfit-widget-note">{WIDGET_NOTE}</div>'
                cell.outputs[i] = nbformat.v4.new_output("display_data", data={"text/html": note})
    return nb


def execute(page: Page, dst: Path, quick: bool, timeout: int | None) -> None:
    """Run ``page.src`` into ``dst`` in a fresh kernel (``tools/run_notebooks.py``)."""
    if _run_notebook is None:
        raise RuntimeError("tools/run_notebooks.py is missing: cannot execute notebooks")
    os.environ["ULMFIT_QUICK"] = "1" if quick else "0"
    # The kernel imports this checkout's package even where it is not pip-installed.
    path = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if str(ROOT) not in path:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, path)])
    start = time.perf_counter()
    ok, error = _run_notebook(page.src, dst, timeout)
    page.seconds = time.perf_counter() - start
    page.status, page.error = ("ok", "") if ok else ("failed", error)
    nb = nbformat.read(dst, as_version=4)
    nb.metadata["ulmfit_build"] = {
        "mode": "quick" if quick else "full",
        "seconds": round(page.seconds, 1),
        "status": page.status,
        "error": page.error,
    }
    nbformat.write(nb, dst)


def _reusable(page: Page, dst: Path, quick: bool) -> bool:
    if not dst.is_file() or dst.stat().st_mtime < page.src.stat().st_mtime:
        return False
    info = nbformat.read(dst, as_version=4).metadata.get("ulmfit_build", {})
    if info.get("mode") != ("quick" if quick else "full") or info.get("status") != "ok":
        return False
    page.status, page.seconds = "ok", info.get("seconds")
    return True


# ------------------------------------------------------------------------------ exporters


def _exporter(cls, template: str, **kw):
    return cls(
        template_name=template,
        extra_template_basedirs=[str(TEMPLATES)],  # finds ulmfit_lab/, ulmfit_reveal/
        extra_template_paths=[str(TEMPLATES)],  # finds offline.j2, which both import
        embed_images=True,
        **kw,
    )


def export_page(nb: nbformat.NotebookNode, page: Page, dst: Path, nav: dict) -> None:
    exporter = _exporter(HTMLExporter, "ulmfit_lab")
    resources = {
        "metadata": {"name": page.title, "path": str(page.src.parent)},
        "ulmfit": {**nav, "widget_note": WIDGET_NOTE},
    }
    body, _ = exporter.from_notebook_node(_clean_for_export(nb), resources=resources)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(_doc_links(body), encoding="utf-8")


DOC_PAGES = ("cheatsheet", "glossary")  # docs/NAME.md, published as docs/NAME.html
DOC_LINK = re.compile(r'href="((?:\.\./)?(?:docs/)?)(' + "|".join(DOC_PAGES) + r')\.md(#[^"]*)?"')


def _doc_links(html: str) -> str:
    """Links to the docs pages the site publishes point at their HTML pages."""
    return DOC_LINK.sub(lambda m: f'href="{m.group(1)}{m.group(2)}.html{m.group(3) or ""}"', html)


def export_doc(name: str, out: Path, static: str) -> Path:
    """``docs/NAME.md`` as a page of the site (one markdown cell through the same template)."""
    src = ROOT / "docs" / f"{name}.md"
    text = src.read_text(encoding="utf-8")
    title = next((ln.lstrip("#").strip() for ln in text.splitlines() if ln.startswith("# ")), name)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text)])
    page = Page(src=src, stem=name, number="", title=title)
    nav = dict(home="../index.html", api="../api/index.html", static=static, slides="", ipynb="")
    nav.update(prev=None, next=None, error="")
    dst = out / "docs" / f"{name}.html"
    export_page(nb, page, dst, nav)
    return dst


def export_deck(
    nb: nbformat.NotebookNode, title: str, src_dir: Path, dst: Path, static: str
) -> None:
    exporter = _exporter(
        SlidesExporter,
        "ulmfit_reveal",
        reveal_url_prefix="reveal.js",
        reveal_theme="white",
        reveal_scroll=True,
    )
    nb = _clean_for_export(nb)
    if not _has_slide_tags(nb):
        nb = tag_slides_from_headings(nb)
    resources = {
        "metadata": {"name": title, "path": str(src_dir)},
        "ulmfit": {"static": static, "widget_note": WIDGET_NOTE},
    }
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(body, encoding="utf-8")


def _md_cell(source: str, slide_type: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_markdown_cell(source)
    cell.metadata["slideshow"] = {"slide_type": slide_type}
    return cell


def story_cells(story_md: str) -> list[nbformat.NotebookNode | str]:
    """Cells of the story frame: one markdown cell per slide (+ a notes cell), and the string
    '{{notebooks}}' where the notebooks go."""
    story_md = re.sub(r"<!--.*?-->", "", story_md, flags=re.S)
    cells: list[nbformat.NotebookNode | str] = []
    for chunk in re.split(r"^---\s*$", story_md, flags=re.M):
        chunk = chunk.strip()
        if not chunk:
            continue
        if chunk == "{{notebooks}}":
            cells.append(chunk)
            continue
        body, _, notes = chunk.partition("\nNote:")
        cells.append(_md_cell(body.strip(), "slide"))
        if notes.strip():
            cells.append(_md_cell(notes.strip(), "notes"))
    return cells


def story_notebook(pages: list[Page], story_md: str) -> nbformat.NotebookNode:
    """The whole-story deck: the frame from ``story.md`` around each notebook's title slide and
    its tagged cells (untagged cells belong to the notebook's own deck only)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["title"] = "ULMFiT: the whole story"
    for item in story_cells(story_md):
        if item != "{{notebooks}}":
            nb.cells.append(item)
            continue
        for page in pages:
            goals = "".join(f"\n- {html.unescape(re.sub('<[^>]+>', '', g))}" for g in page.goals)
            link = f"\n\n[this notebook's slides]({Path(page.slides).name})" if page.slides else ""
            nb.cells.append(
                _md_cell(f"# {page.number} · {page.short_title}\n{goals}{link}", "slide")
            )
            for cell in page.nb.cells if page.nb is not None else []:
                kind = cell.metadata.get("slideshow", {}).get("slide_type")
                if kind in SLIDE_TYPES and kind != "skip":
                    nb.cells.append(copy.deepcopy(cell))
    for i, cell in enumerate(nb.cells):  # ids must be unique once cells of notebooks are merged
        cell["id"] = f"story-{i}"
    return nb


# -------------------------------------------------------------------------- API reference


class _Raw(str):
    """An annotation shown as written (``from __future__ import annotations`` keeps them as
    strings, which ``inspect`` would print quoted)."""

    def __repr__(self) -> str:
        return str(self)


def _signature(obj) -> str:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return ""

    def raw(annotation):
        return _Raw(annotation) if isinstance(annotation, str) else annotation

    params = [p.replace(annotation=raw(p.annotation)) for p in sig.parameters.values()]
    return str(sig.replace(parameters=params, return_annotation=raw(sig.return_annotation)))


def _doc(obj) -> str:
    doc = inspect.getdoc(obj) or ""
    return markdown2html_mistune(doc) if doc else ""


def _is_own(obj, module) -> bool:
    return getattr(obj, "__module__", None) == module.__name__


def _class_members(cls) -> list[dict]:
    members = []
    for name, value in vars(cls).items():
        if name.startswith("_") and name != "__call__":
            continue
        if isinstance(value, (staticmethod, classmethod)):
            func, kind = value.__func__, type(value).__name__
        elif isinstance(value, property):
            members.append(dict(name=name, kind="property", signature="", doc=_doc(value)))
            continue
        elif inspect.isfunction(value):
            func, kind = value, "method"
        else:
            continue
        members.append(dict(name=name, kind=kind, signature=_signature(func), doc=_doc(func)))
    return members


def module_members(module) -> list[dict]:
    """Public functions, classes and constants of ``module``: its ``__all__``, or else the
    non-underscore names it defines (constants: UPPER_CASE names)."""
    explicit = getattr(module, "__all__", None)
    names = list(explicit) if explicit is not None else sorted(vars(module))
    members = []
    for name in names:
        if name.startswith("_") or not hasattr(module, name):
            continue
        obj = getattr(module, name)
        if inspect.ismodule(obj):
            continue
        if inspect.isclass(obj):
            if explicit is None and not _is_own(obj, module):
                continue
            members.append(
                dict(
                    name=name,
                    kind="class",
                    signature=_signature(obj),
                    doc=_doc(obj),
                    members=_class_members(obj),
                )
            )
        elif callable(obj):
            if explicit is None and not _is_own(obj, module):
                continue
            members.append(
                dict(name=name, kind="function", signature=_signature(obj), doc=_doc(obj))
            )
        elif explicit is not None or name.isupper():
            value = repr(obj)
            value = value if len(value) <= 160 else value[:157] + "..."
            members.append(dict(name=name, kind="constant", signature="", doc="", value=value))
    return members


def build_api(out: Path, package: str = "ulmfit_lesson") -> list[Path]:
    """One page per module of ``package`` (plus an index) from docstrings via ``inspect``."""
    env = _jinja()
    pkg = importlib.import_module(package)
    names = [package] + sorted(
        m.name
        for m in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}.")
        if not m.name.rsplit(".", 1)[-1].startswith("_")
    )
    out.mkdir(parents=True, exist_ok=True)
    version = getattr(pkg, "__version__", "")
    written, index = [], []
    for name in names:
        try:
            module = importlib.import_module(name)
            info = dict(name=name, doc=_doc(module), members=module_members(module), error="")
            summary = (inspect.getdoc(module) or "").split("\n\n")[0].replace("\n", " ")
        except Exception as err:  # a module that needs an optional dependency
            info = dict(name=name, doc="", members=[], error=f"{type(err).__name__}: {err}")
            summary = f"(could not import: {type(err).__name__})"
        href = f"{name}.html"
        page = env.get_template("api.html.j2").render(
            module=info, title=f"{name} - API reference", package=package, version=version
        )
        (out / href).write_text(page, encoding="utf-8")
        written.append(out / href)
        index.append(dict(name=name, href=href, summary=summary))
    page = env.get_template("api.html.j2").render(
        module=None,
        modules=index,
        title=f"{package} API reference",
        package=package,
        version=version,
    )
    (out / "index.html").write_text(page, encoding="utf-8")
    return [out / "index.html", *written]


# ------------------------------------------------------------------------------ the site


def _jinja() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=False,  # values are escaped with |e in the templates; docs are trusted HTML
        keep_trailing_newline=True,
    )


def copy_static(out: Path, slides: bool) -> dict[str, bool]:
    """site.css, KaTeX (if installed) into ``out/_static``; reveal.js into ``out/slides``."""
    static = out / "_static"
    static.mkdir(parents=True, exist_ok=True)
    shutil.copy2(TEMPLATES / "site.css", static / "site.css")
    have = {"katex": (KATEX / "katex.min.js").is_file(), "reveal": (REVEAL / "dist").is_dir()}
    if have["katex"]:
        dst = static / "katex"
        (dst / "contrib").mkdir(parents=True, exist_ok=True)
        (dst / "fonts").mkdir(exist_ok=True)
        for name in ("katex.min.js", "katex.min.css"):
            shutil.copy2(KATEX / name, dst / name)
        shutil.copy2(KATEX / "contrib" / "auto-render.min.js", dst / "contrib")
        for font in (KATEX / "fonts").glob("*.woff2"):
            shutil.copy2(font, dst / "fonts")
        shutil.copy2(KATEX.parent / "LICENSE", dst / "LICENSE")
    else:
        log("  note: KaTeX not installed (run `npm ci`): math shows as TeX source")
    if slides and have["reveal"]:
        dst = out / "slides" / "reveal.js"
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(
            REVEAL / "dist", dst / "dist", ignore=shutil.ignore_patterns("*.d.ts", "*.mjs")
        )
        shutil.copy2(REVEAL / "LICENSE", dst / "LICENSE")
    return have


REMOTE = re.compile(
    r"""<(?:script|link|iframe)\b[^>]*?\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//[^"'\s>]+"""
    r"""|@import\s+(?:url\()?["']?(?:https?:)?//|\bimport\s*\(\s*["'](?:https?:)?//""",
    re.I,
)


def remote_loads(path: Path) -> list[str]:
    """Scripts, stylesheets, frames or imports that ``path`` would fetch from a network."""
    text = path.read_text(encoding="utf-8", errors="replace")
    return [m.group(0)[:160] for m in REMOTE.finditer(text)]


def find_notebooks(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for p in paths:
        if p.is_dir():
            found += [q for q in sorted(p.glob("*.ipynb")) if not q.name.startswith(".")]
        elif p.is_file():
            found.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such notebook or folder")
    return sorted(found, key=lambda p: p.name)


def _number(path: Path, i: int) -> str:
    m = re.match(r"^(\d+[a-z]?)(?=_)", path.stem)  # "03", or "03a" for a notebook between 03 and 04
    return m.group(1) if m else f"{i:02d}"


@dataclass
class BuildResult:
    out: Path
    pages: list[Page]
    mode: str
    slides: bool
    problems: list[str]

    @property
    def failed(self) -> list[Page]:
        return [p for p in self.pages if p.status == "failed"]


def build(
    notebooks: list[Path],
    out: Path,
    execute_nbs: bool = True,
    quick: bool = False,
    slides: bool = True,
    api: bool = True,
    api_package: str = "ulmfit_lesson",
    timeout: int | None = None,
    reuse: bool = False,
    keep_going: bool = True,
    talk: bool = False,
) -> BuildResult:
    """Build the site into ``out`` (see the module docstring). Notebooks that fail still get a
    page (with the traceback); ``BuildResult.failed`` lists them."""
    start_all = time.perf_counter()
    mode = ("quick" if quick else "full") if execute_nbs else "as saved"
    out.mkdir(parents=True, exist_ok=True)
    have = copy_static(out, slides)
    if slides and not have["reveal"]:
        raise FileNotFoundError(
            f"{REVEAL} not found: the decks need a local reveal.js. Run `npm ci` in {ROOT} "
            "(or build with --no-slides)."
        )
    static_from_sub = "../_static" if have["katex"] else ""
    pages = [Page(src=p, stem=p.stem, number=_number(p, i)) for i, p in enumerate(notebooks, 1)]
    stop = False
    for page in pages:
        dst = out / "notebooks" / f"{page.stem}.ipynb"
        page.ipynb = f"notebooks/{page.stem}.ipynb"
        page.html = f"notebooks/{page.stem}.html"
        if stop:
            page.status, page.error = "not run", "an earlier notebook failed"
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(page.src, dst)
        elif execute_nbs and reuse and _reusable(page, dst, quick):
            log(f"-> {page.src.name}: reusing the executed copy ({page.time})")
        elif execute_nbs:
            log(f"-> {page.src.name}: executing ({mode} mode) ...")
            execute(page, dst, quick, timeout)
            log(f"   {page.status} in {page.time}" + (f": {page.error}" if page.error else ""))
            stop = page.status == "failed" and not keep_going
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(page.src, dst)
        page.nb = nbformat.read(dst, as_version=4)
        page.title, page.summary, page.goals = parse_intro(page.nb, page.stem)
        if slides:
            page.slides = f"slides/{page.stem}.slides.html"

    for i, page in enumerate(pages):
        nav = {
            "home": "../index.html",
            "api": "../api/index.html",
            "static": static_from_sub,
            "slides": f"../{page.slides}" if page.slides else "",
            "ipynb": f"{page.stem}.ipynb",
            "prev": {"href": f"{pages[i - 1].stem}.html", "title": pages[i - 1].title}
            if i > 0
            else None,
            "next": {"href": f"{pages[i + 1].stem}.html", "title": pages[i + 1].title}
            if i + 1 < len(pages)
            else None,
            "error": page.error if page.status == "failed" else "",
        }
        export_page(page.nb, page, out / page.html, nav)
        if slides:
            export_deck(page.nb, page.title, page.src.parent, out / page.slides, static_from_sub)
    story = ""
    if slides:
        story_nb = story_notebook(pages, (TEMPLATES / "story.md").read_text(encoding="utf-8"))
        src_dir = pages[0].src.parent if pages else ROOT
        export_deck(
            story_nb,
            story_nb.metadata["title"],
            src_dir,
            out / "slides" / "story.slides.html",
            static_from_sub,
        )
        story = "slides/story.slides.html"
    talk_deck, talk_problems = "", []
    if slides and talk:  # the talk deck beside the others (make slides adds its PDFs)
        import build_talk

        try:
            talk_deck = f"slides/{build_talk.build(out / 'slides').deck.name}"
        except Exception as err:  # the site is still useful without it
            talk_problems.append(f"the talk (tools/build_talk.py) failed: {err}")
    docs = [export_doc(name, out, static_from_sub) for name in DOC_PAGES]
    if api:
        log(f"-> API reference of {api_package}")
        build_api(out / "api", api_package)

    index = (
        _jinja()
        .get_template("index.html.j2")
        .render(
            title=SITE_TITLE,
            lead=SITE_LEAD,
            notebooks=pages,
            docs=[(p.relative_to(out).as_posix(), p.stem) for p in docs],
            story=story,
            talk=talk_deck,
            decks=slides,
            mode=mode,
            built=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        )
    )
    (out / "index.html").write_text(index, encoding="utf-8")
    timings = {
        "mode": mode,
        "built": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} ({platform.platform()}, {os.cpu_count()} CPUs)",
        "total_seconds": round(time.perf_counter() - start_all, 1),
        "notebooks": {
            p.src.name: {
                "title": p.title,
                "status": p.status,
                "seconds": p.seconds,
                "error": p.error,
            }
            for p in pages
        },
    }
    (out / "timings.json").write_text(json.dumps(timings, indent=1) + "\n", encoding="utf-8")
    problems = [
        f"{path.relative_to(out)}: loads {what}"
        for path in sorted(out.rglob("*.html"))
        for what in remote_loads(path)
    ]
    return BuildResult(out, pages, mode, slides, problems + talk_problems)


def record_times(path: Path, result: BuildResult, probe_seconds: float = 8.0) -> None:
    """Write this build's per-notebook times (and, for a full build, this machine's speed probe)
    into the reference table ``path`` (ulmfit_lesson/data/notebook_times.json) that ``doctor`` scales."""
    data = json.loads(path.read_text()) if path.is_file() else {}
    key = "full_seconds" if result.mode == "full" else "quick_seconds"
    table = data.setdefault("notebooks", {})
    for page in result.pages:
        if page.status != "ok":
            continue
        row = table.setdefault(page.src.name, {})
        row["title"] = page.title
        row[key] = round(page.seconds or 0.0, 1)
    if result.mode == "full":
        sys.path.insert(0, str(ROOT))
        from ulmfit_lesson.course.timing import speed_probe

        probe = speed_probe(probe_seconds)
        data["reference"] = {
            "machine": f"{platform.platform()}, {os.cpu_count()} CPUs, {probe['threads']} torch threads",
            "measured_on": datetime.now(UTC).strftime("%Y-%m-%d"),
            "probe_seconds_per_step": round(probe["seconds_per_step"], 3),
        }
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    log(f"recorded {key} for {len(result.pages)} notebook(s) in {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "site")
    parser.add_argument("--quick", action="store_true", help="execute with ULMFIT_QUICK=1")
    parser.add_argument(
        "--no-execute", action="store_true", help="render the notebooks as saved (no kernel)"
    )
    parser.add_argument("--reuse", action="store_true", help="keep up-to-date executed copies")
    parser.add_argument(
        "--timeout", type=int, default=1800, help="seconds per cell before it counts as hung"
    )
    parser.add_argument(
        "--stop-on-error", action="store_true", help="do not run notebooks after a failed one"
    )
    parser.add_argument("--no-slides", action="store_true", help="skip the reveal.js decks")
    parser.add_argument("--no-api", action="store_true", help="skip the API reference")
    parser.add_argument("--no-talk", action="store_true", help="skip the talk deck")
    parser.add_argument(
        "--record-times",
        type=Path,
        metavar="JSON",
        help="save the measured times (and, in full mode, the speed probe) into JSON",
    )
    args = parser.parse_args(argv)
    try:
        notebooks = find_notebooks(args.notebooks or [ROOT / "notebooks"])
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not notebooks:
        print("error: no notebooks to build", file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:
        result = build(
            notebooks,
            args.out,
            execute_nbs=not args.no_execute,
            quick=args.quick,
            slides=not args.no_slides,
            api=not args.no_api,
            timeout=args.timeout,
            reuse=args.reuse,
            keep_going=not args.stop_on_error,
            talk=not args.no_talk,
        )
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.record_times:
        record_times(args.record_times, result)
    width = max(len(p.src.name) for p in result.pages)
    log("")
    for p in result.pages:
        log(f"  {p.src.name:<{width}}  {p.status:<8} {p.time:>7}")
    log(f"site: {result.out / 'index.html'} ({result.mode}; {time.perf_counter() - start:.0f} s)")
    for problem in result.problems:
        print(f"error: not offline: {problem}", file=sys.stderr)
    if result.failed:
        print(
            f"error: {len(result.failed)} notebook(s) failed: "
            + ", ".join(p.src.name for p in result.failed),
            file=sys.stderr,
        )
    return 1 if result.failed or result.problems else 0


if __name__ == "__main__":
    sys.exit(main())
