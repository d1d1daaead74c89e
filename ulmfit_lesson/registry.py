"""The registry of datasets and pretrained models: where each file comes from and how to check it.

Every file the course uses is listed in ``catalogue.py`` with its public URL, its sha256, its
licence and the paper to cite. ``fetch(name)`` finds an entry's files in the directories of ``config.data_dirs()``
(each ``ULMFIT_DATA`` directory, then the project's cache) and downloads what is missing into the
cache. ``ULMFIT_DATA`` directories are only ever read: downloads and extracted archives go to
``config.cache_dir()``.

Why checksums and safe extraction? Everything we download is *untrusted* input from the internet:
``download.py`` verifies each file against its sha256 (the registry's, a pin, or the one recorded at
its first download) and checks every member of an archive before extracting it. An archive is
extracted into a temporary directory and renamed, so an interrupted run never leaves a half-written
folder that a later run would mistake for a good one.

Layout inside a data directory ``DIR``: a dataset ``NAME`` lives in ``DIR/NAME/<files>``; an
archive in ``DIR/<archive>``, ``DIR/pretrained/<archive>`` or ``DIR/NAME/<archive>``; its extracted
folder, wherever found, is ``DIR/NAME/``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path
from typing import NamedTuple

from . import config
from .catalogue import REGISTRY, Entry, FileSpec, get_entry
from .download import (
    PIN_ENV,
    RECORDS,
    ChecksumError,
    DownloadError,
    check_digest,
    download_url,
    expected_sha256,
    human_size,
    record_sha256,
    recorded_sha256,
    safe_extract,
    sha256_file,
)

# Written into each folder we extract: which archive (and sha256) it came from, so the 57 MB+
# archives are hashed once, when extracted, not on every fetch.
MARKER = ".ulmfit-verified.json"


# --- where a file comes from: the public URL, or the room's mirror -----------------------------

MIRROR_ENV = "ULMFIT_MIRROR"
# Where a mirror serves the entries that have no public URL (the course's own corpus and models):
# MIRROR/ulmfit-lesson-local/<entry>/<filename>. Everything else is pulled through as HOST/PATH.
LOCAL_MIRROR_PATH = "ulmfit-lesson-local"


def mirror_base() -> str | None:
    """The room's mirror (``ULMFIT_MIRROR``, e.g. ``http://192.168.1.10:8000``), or None."""
    base = os.environ.get(MIRROR_ENV, "").strip().rstrip("/")
    return base or None


def mirror_path(entry: str | Entry, spec: FileSpec) -> str:
    """The path of a file inside a mirror: ``HOST/PATH`` of its public URL (a pull-through layout,
    so one mirror serves every origin), or ``ulmfit-lesson-local/NAME/FILE`` for a local-only file."""
    entry = get_entry(entry)
    if spec.url is None:
        return f"{LOCAL_MIRROR_PATH}/{entry.name}/{spec.filename}"
    parts = urllib.parse.urlsplit(spec.url)
    return f"{parts.netloc}{parts.path}"


def source_url(entry: str | Entry, spec: FileSpec) -> str | None:
    """Where ``spec`` is downloaded from: the mirror when ``ULMFIT_MIRROR`` is set, else its public
    URL; None when it has no public URL and no mirror is set."""
    base = mirror_base()
    if base:
        return f"{base}/{mirror_path(entry, spec)}"
    return spec.url


def download(entry: str | Entry, filename: str, dest_dir: Path) -> Path:
    """Download ``filename`` of ``entry`` into ``dest_dir`` from its source (the room's mirror or
    the public URL), verify it (``download.download_url``), return its path."""
    entry = get_entry(entry)
    spec = entry.file(filename)
    url = source_url(entry, spec)
    if url is None:
        raise DownloadError(f"{filename} has no public download URL and no mirror is set")
    return download_url(url, spec, dest_dir, label=f"{entry.name}: {filename}")


# --- resolution --------------------------------------------------------------------------------


def _not_found(
    entry: Entry, spec: FileSpec, looked: list[Path], reason: str = ""
) -> FileNotFoundError:
    """The error for a file that is neither on disk nor downloadable: where we looked, why the
    download failed, and what to do, for each kind of reader (self-learner, workshop, developer)."""
    places = [str(p) for p in looked]
    if entry.is_archive:  # fetch also looked for an already extracted copy
        places = [
            f"{d / entry.name}{os.sep} (an extracted copy)" for d in config.data_dirs()
        ] + places
    msg = f"{spec.filename} of {entry.name!r} not found. Looked in:\n"
    msg += "".join(f"  - {p}\n" for p in places)
    for missing in config.missing_data_dirs():
        msg += f"ULMFIT_DATA names a folder that does not exist: {missing}\n"
    if reason:
        msg += f"The download failed: {reason}\n"
    folder = config.cache_dir() / (entry.name if not entry.is_archive else "")
    if spec.url:
        msg += (
            f"- On your own: it downloads on first use from {spec.url}. Offline, fetch that URL "
            f"on a connected machine and put the file in {folder}{os.sep}, then run again.\n"
            "- In a workshop: use the kit (`python -m ulmfit_lesson unpack-kit ulmfit-kit.tar.gz`) "
            "or the room's mirror (set ULMFIT_MIRROR to the address the facilitator gives you).\n"
        )
    else:
        msg += f"It has no public download URL. {entry.note}".rstrip() + "\n"
    msg += (
        "- Developing the course: point ULMFIT_DATA at the project's data folders "
        "(the Makefile does this when the shared folder is beside the repository)."
    )
    return FileNotFoundError(msg)


def _fetch_raw(entry: Entry, spec: FileSpec, candidates: list[Path], cache: Path) -> Path:
    """The first existing candidate path, else the file downloaded into ``cache``."""
    for p in candidates:
        if p.is_file():
            return p
    if source_url(entry, spec) is None:
        raise _not_found(entry, spec, candidates)
    try:
        return download(entry, spec.filename, cache)
    except DownloadError as err:
        raise _not_found(entry, spec, candidates, str(err)) from err


def available_locally(name: str | Entry) -> bool:
    """Is the entry on disk in a data directory (no download, no hashing)?"""
    entry = get_entry(name)
    dirs = config.data_dirs()
    if entry.is_archive:
        if any(_extracted_ok(entry, d / entry.name) for d in dirs):
            return True
        return any(p.is_file() for p in _archive_candidates(entry))
    return any(all((d / entry.name / f.filename).is_file() for f in entry.files) for d in dirs)


def download_size(name: str | Entry) -> int | None:
    """Bytes a ``fetch(name)`` would download now: 0 when the entry is on disk; None when some
    missing file's size is unknown (fastai publishes no sizes: the server announces it)."""
    entry = get_entry(name)
    if available_locally(entry):
        return 0
    dirs = config.data_dirs()
    missing = (
        entry.files[:1]
        if entry.is_archive
        else [
            f for f in entry.files if not any((d / entry.name / f.filename).is_file() for d in dirs)
        ]
    )
    sizes = [f.size for f in missing]
    return None if None in sizes else sum(sizes)


def downloadable(name: str | Entry) -> bool:
    """Can ``fetch(name)`` get what is missing (a public URL, or a mirror for local-only files)?
    Says nothing about whether the network is up."""
    entry = get_entry(name)
    return all(source_url(entry, f) is not None for f in entry.files)


def _archive_candidates(entry: Entry) -> list[Path]:
    fn = entry.files[0].filename
    return [
        p for d in config.data_dirs() for p in (d / fn, d / "pretrained" / fn, d / entry.name / fn)
    ]


def _extracted_ok(entry: Entry, folder: Path) -> bool:
    if not folder.is_dir():
        return False
    marker = folder / MARKER
    if marker.is_file():  # made by us: trust it only if it came from the archive we expect
        expected, _ = expected_sha256(entry.files[0])  # published, pinned or recorded
        if expected and json.loads(marker.read_text()).get("sha256") != expected:
            return False
    if entry.contents:
        return all((folder / c.filename).is_file() for c in entry.contents)
    # contents unknown (fastai's archives): any file but the archive itself
    return any(p.is_file() and p.name != entry.files[0].filename for p in folder.iterdir())


def _extract(entry: Entry, archive: Path) -> Path:
    """Verify ``archive`` once, extract it atomically to ``cache_dir()/NAME``, record a marker."""
    spec = entry.files[0]
    digest = sha256_file(archive)
    check_digest(spec, digest, str(archive))
    if expected_sha256(spec)[0] is None:  # placed by hand, never downloaded: trust it from now on
        record_sha256(spec, digest, archive.stat().st_size, str(archive))
    cache = config.cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    final = cache / entry.name
    tmp = Path(tempfile.mkdtemp(dir=cache, prefix=f".{entry.name}.extract-"))
    try:
        safe_extract(archive, tmp)
        top = list(tmp.iterdir())
        root = tmp / str(entry.extracts_to)
        if not root.is_dir():  # the archive's folder has another name, or there is none
            root = top[0] if len(top) == 1 and top[0].is_dir() else tmp
        missing = [c.filename for c in entry.contents if not (root / c.filename).is_file()]
        if missing:
            held = sorted(p.name for p in root.iterdir())
            raise ValueError(f"{archive} does not hold {', '.join(missing)} (it holds {held})")
        marker = {"archive": spec.filename, "source": str(archive), "sha256": digest}
        (root / MARKER).write_text(json.dumps(marker))
        if _extracted_ok(entry, final):  # another process finished first
            return final
        if (final / MARKER).is_file():
            shutil.rmtree(final)  # a stale extraction of ours (from another version of the archive)
        try:
            os.rename(root, final)  # atomic: `final` is either absent or complete
        except OSError as err:
            if _extracted_ok(entry, final):  # another process extracted it first
                return final
            raise FileExistsError(
                f"cannot extract {archive} to {final}: that folder exists but does not hold "
                f"the files of {entry.name!r}. Remove it and try again."
            ) from err
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fetch(name: str | Entry) -> Path:
    """Return a directory holding the entry's files, downloading (and extracting) what is missing.

    Datasets: the first ``DIR/NAME`` (``DIR`` in ``config.data_dirs()``) that holds every file,
    else ``cache_dir()/NAME`` after downloading the missing files. Archives (pretrained models,
    WikiText-103): an extracted ``DIR/NAME`` if there is one, else the archive found in a data dir
    (or downloaded) is verified and extracted to ``cache_dir()/NAME``.
    """
    entry = get_entry(name)
    dirs = config.data_dirs()
    if entry.is_archive:
        for d in dirs:
            if _extracted_ok(entry, d / entry.name):
                return d / entry.name
        archive = _fetch_raw(entry, entry.files[0], _archive_candidates(entry), config.cache_dir())
        return _extract(entry, archive)
    for d in dirs:
        if all((d / entry.name / f.filename).is_file() for f in entry.files):
            return d / entry.name
    cache = config.cache_dir() / entry.name
    for f in entry.files:
        _fetch_raw(entry, f, [d / entry.name / f.filename for d in dirs], cache)
    return cache


def fetch_file(name: str | Entry, filename: str) -> Path:
    """Return the path of one file of an entry (for archives: the archive or a file inside it)."""
    entry = get_entry(name)
    if entry.is_archive and filename != entry.files[0].filename:
        path = fetch(entry) / filename
        if not path.is_file():
            held = sorted(p.name for p in path.parent.iterdir() if p.name != MARKER)
            raise FileNotFoundError(f"{path} not found: {entry.name!r} holds {', '.join(held)}")
        return path
    spec = entry.file(filename)
    if entry.is_archive:
        return _fetch_raw(entry, spec, _archive_candidates(entry), config.cache_dir())
    candidates = [d / entry.name / filename for d in config.data_dirs()]
    return _fetch_raw(entry, spec, candidates, config.cache_dir() / entry.name)


class FileCheck(NamedTuple):
    filename: str
    path: Path | None
    status: str  # 'ok' | 'mismatch' | 'missing' | 'unverified' (no published sha256)
    expected: str | None
    actual: str | None


def verify(name: str | Entry) -> list[FileCheck]:
    """Hash every local copy of an entry's files (and of an extracted archive's contents) and
    compare with the registry. Downloads nothing; reports files found nowhere as 'missing'."""
    entry = get_entry(name)
    dirs = config.data_dirs()
    places: list[tuple[FileSpec, list[Path]]] = []
    if entry.is_archive:
        places.append((entry.files[0], _archive_candidates(entry)))
        places += [(c, [d / entry.name / c.filename for d in dirs]) for c in entry.contents]
    else:
        places += [(f, [d / entry.name / f.filename for d in dirs]) for f in entry.files]
    checks = []
    for spec, candidates in places:
        found = [p for p in candidates if p.is_file()]
        if not found:
            checks.append(FileCheck(spec.filename, None, "missing", spec.sha256, None))
        for p in found:
            actual = sha256_file(p)
            status = "ok" if actual == spec.sha256 else "mismatch"
            if spec.sha256 is None:
                status = "unverified"
            checks.append(FileCheck(spec.filename, p, status, spec.sha256, actual))
    return checks


# --- the course's pretrained model -------------------------------------------------------------

_on_mirror: dict[str, bool] = {}


def served_by_mirror(name: str) -> bool:
    """Does the room's mirror (``ULMFIT_MIRROR``) serve the local-only entry ``name``? (One HEAD
    request, remembered for the session; False when no mirror is set or it does not answer.)"""
    url = source_url(name, get_entry(name).files[0])
    if not mirror_base() or url is None:
        return False
    if url not in _on_mirror:
        try:
            request = urllib.request.Request(url, method="HEAD")
            with urllib.request.urlopen(request, timeout=5) as response:
                _on_mirror[url] = response.status == 200
        except OSError:
            _on_mirror[url] = False
    return _on_mirror[url]


def course_model(direction: str = "fwd") -> str:
    """The registry name of the pretrained LM the course uses, chosen in this one place.

    The course's own ``general-fwd``/``general-bwd`` (small, made for this course, quoted in the
    notebooks) when they are on this machine (workshop kit, ``ULMFIT_DATA``, the cache) or on the
    room's mirror; otherwise fastai's ``wt103-fwd``/``wt103-bwd``, the paper's own WikiText-103
    models (ULMFiT §3.1), which anyone can download (about 100 MB each, once).
    ``direction``: ``'fwd'``, or ``'bwd'`` for the backward LM of the paper's ensemble (§3.3).
    """
    if direction not in ("fwd", "bwd"):
        raise ValueError(f"direction must be 'fwd' or 'bwd', not {direction!r}")
    general = f"general-{direction}"
    if available_locally(general) or served_by_mirror(general):
        return general
    return f"wt103-{direction}"


__all__ = [
    "MARKER",
    "MIRROR_ENV",
    "LOCAL_MIRROR_PATH",
    "FileSpec",
    "Entry",
    "REGISTRY",
    "get_entry",
    "mirror_base",
    "mirror_path",
    "source_url",
    "download",
    "available_locally",
    "download_size",
    "downloadable",
    "fetch",
    "fetch_file",
    "FileCheck",
    "verify",
    "course_model",
    "served_by_mirror",
    # The download machinery (download.py) that the workshop kit and doctor reach through here.
    "PIN_ENV",
    "RECORDS",
    "ChecksumError",
    "DownloadError",
    "human_size",
    "sha256_file",
    "expected_sha256",
    "record_sha256",
    "recorded_sha256",
    "safe_extract",
]
