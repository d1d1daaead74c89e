"""Verified downloads: checksums, trust on first use, and archives extracted safely.

Everything the course downloads is *untrusted* input from the internet.

- A sha256 turns "some bytes from a URL" into "exactly the bytes the results in this course were
  computed on". It catches truncated or corrupted transfers, a file silently changed upstream
  (so your numbers would no longer match the notebooks) and a tampered mirror.
- Trust on first use, for files whose publisher gives no sha256 (fastai's wt103-*, WikiText-103):
  the first complete download (its size equal to what the server announced) is accepted and its
  sha256 written to a record in the cache; every later use must match it. The first download
  still could have been tampered with, but nothing can change the file afterwards unnoticed.
- An archive is a list of paths chosen by whoever made it. A member called ``../../.bashrc``, an
  absolute path ``/etc/cron.d/x``, or a symlink pointing outside the target folder would let an
  archive write anywhere your user can ("path traversal", CVE-2007-4559 for Python's ``tarfile``).
  ``safe_extract`` checks every member first and refuses the whole archive if one is bad.

Writes are atomic: a download goes to a temporary file in the target directory and is moved into
place (``os.replace``) only once complete and verified. Which files exist and where they come from
is ``registry.py``'s business.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import stat
import tarfile
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING

from tqdm.auto import tqdm

from . import config

if TYPE_CHECKING:
    from .catalogue import FileSpec

CHUNK = 1 << 20


class ChecksumError(ValueError):
    """A file's sha256 is not the one the registry expects."""


class DownloadError(OSError):
    """A download failed (HTTP error, connection lost, fewer bytes than announced)."""


def human_size(n: int) -> str:
    """``57329989`` -> ``'57.3 MB'`` (decimal units, as download pages print them)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


# --- checksums and trust on first use ------------------------------------------------------------


def sha256_file(path: Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


# The trust-on-first-use records, a file in the cache (see the module docstring).
RECORDS = "recorded_sha256.json"
PIN_ENV = "ULMFIT_SHA256"  # "wt103-fwd.tgz=<sha256>,wt103-bwd.tgz=<sha256>": a facilitator's pin


def _records_path() -> Path:
    return config.cache_dir() / RECORDS


def recorded_sha256() -> dict[str, dict]:
    """The trust-on-first-use records: filename -> {sha256, size, url, recorded}."""
    path = _records_path()
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ChecksumError(
            f"{path} is not a valid record of checksums ({err}); remove it"
        ) from err


def record_sha256(spec: FileSpec, digest: str, size: int, url: str) -> None:
    """Remember ``digest`` as the trusted sha256 of ``spec`` (trust on first use, or a pin made
    permanent by ``fetch --sha256``)."""
    records = recorded_sha256()
    records[spec.filename] = {
        "sha256": digest,
        "size": size,
        "url": url,
        "recorded": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }
    path = _records_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(records, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def _pins() -> dict[str, str]:
    pins = {}
    for item in os.environ.get(PIN_ENV, "").replace(",", " ").split():
        name, sep, digest = item.partition("=")
        if not sep or len(digest) != 64:
            raise ValueError(f"{PIN_ENV}: expected FILENAME=<64 hex digits>, got {item!r}")
        pins[name] = digest.lower()
    return pins


def expected_sha256(spec: FileSpec) -> tuple[str | None, str]:
    """The digest ``spec`` must have, and where that value comes from: a pin in ``ULMFIT_SHA256``,
    the registry (the publisher's or the course's), the trust-on-first-use record, or none yet."""
    pinned = _pins().get(spec.filename)
    if pinned:
        return pinned, f"pinned by {PIN_ENV}"
    if spec.sha256:
        return spec.sha256, "the registry"
    record = recorded_sha256().get(spec.filename)
    if record:
        return record["sha256"], f"recorded at its first download on {record['recorded']}"
    return None, ""


def check_digest(spec: FileSpec, actual: str, where: str) -> None:
    expected, origin = expected_sha256(spec)
    if expected is not None and actual != expected:
        raise ChecksumError(
            f"sha256 mismatch for {spec.filename} ({where}):\n  expected {expected} ({origin})"
            f"\n  actual   {actual}\nThe file is corrupt, truncated or not the one this course "
            "uses. Delete it and fetch it again."
        )


# --- downloads ---------------------------------------------------------------------------------


def download_url(url: str, spec: FileSpec, dest_dir: Path, label: str = "") -> Path:
    """Download ``url`` (the file ``spec``) into ``dest_dir``, verify it, return its path.

    Streams to a temporary file in ``dest_dir`` and moves it into place only when complete and
    verified. On any failure the temporary file is removed: no partial file is ever left behind.
    A file without a published sha256 must have the size the server announced; its digest is then
    recorded (trust on first use). Raises ``DownloadError`` (HTTP error, lost connection, short
    read, no size announced for an unverifiable file) or ``ChecksumError``.
    """
    filename = spec.filename
    req = urllib.request.Request(url, headers={"User-Agent": "ulmfit-lesson"})
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest_dir, prefix=f".{filename}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        h, got = hashlib.sha256(), 0
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(req, timeout=60) as resp:
                total = int(resp.headers.get("Content-Length") or 0) or None
                size = f" ({human_size(total)})" if total else ""
                tqdm.write(f"Downloading {label or filename}{size} from {url} into {dest_dir}")
                with tqdm(
                    total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=filename
                ) as bar:
                    while chunk := resp.read(CHUNK):
                        out.write(chunk)
                        h.update(chunk)
                        got += len(chunk)
                        bar.update(len(chunk))
        # URLError and socket errors are OSErrors; IncompleteRead & co. are HTTPExceptions
        except (OSError, http.client.HTTPException) as err:
            raise DownloadError(f"downloading {filename} from {url} failed: {err}") from err
        if total is not None and got != total:
            raise DownloadError(
                f"downloading {filename} from {url} was interrupted: got {got:,} of {total:,} "
                "bytes. Run it again to retry."
            )
        digest = h.hexdigest()
        expected, _ = expected_sha256(spec)
        if expected is None and total is None:
            raise DownloadError(
                f"{filename} from {url}: the server announced no size and there is no sha256 "
                "to check the file against, so a truncated download could not be told apart."
            )
        check_digest(spec, digest, f"the download from {url}")
        target = dest_dir / filename
        os.replace(tmp, target)
        if expected is None:  # trust on first use: remember what arrived
            record_sha256(spec, digest, got, url)
            tqdm.write(
                f"{filename}: its publisher gives no sha256, so this first download was checked "
                f"against the size the server announced ({got:,} bytes) and its sha256 recorded "
                f"in {_records_path()} ({digest[:16]}...); every later use is checked against it."
            )
        return target
    finally:
        tmp.unlink(missing_ok=True)


# --- safe extraction -------------------------------------------------------------------------


def _inside(dest: str, path: str) -> bool:
    return os.path.commonpath([dest, os.path.realpath(path)]) == dest


def _check_name(archive: Path, dest: str, name: str) -> None:
    if (
        name.startswith(("/", "\\"))
        or PureWindowsPath(name).drive
        or PurePosixPath(name).is_absolute()
    ):
        raise ValueError(f"refusing to extract {archive}: entry {name!r} is an absolute path")
    if not _inside(dest, os.path.join(dest, name)):
        raise ValueError(f"refusing to extract {archive}: entry {name!r} would land outside {dest}")


def safe_extract(archive: str | Path, dest: str | Path) -> None:
    """Extract a .tgz/.tar.gz/.tar/.zip into ``dest`` after checking *every* member first.

    Refused (``ValueError`` naming the entry, nothing extracted): absolute paths, paths escaping
    ``dest`` through ``..``, symlinks or hard links pointing outside ``dest``, device files and
    FIFOs, and symlinks inside zips. Tar archives are then extracted with ``filter='data'``
    (Python's own safety filter, PEP 706) as a second line of defence.
    """
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    real = os.path.realpath(dest)
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                _check_name(archive, real, info.filename)
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise ValueError(
                        f"refusing to extract {archive}: entry {info.filename!r} is a symlink"
                    )
            zf.extractall(dest)
        return
    if not archive.name.endswith((".tgz", ".tar.gz", ".tar")):
        raise ValueError(f"{archive}: unknown archive type (expected .tgz, .tar.gz, .tar or .zip)")
    with tarfile.open(archive) as tf:
        members = tf.getmembers()
        for m in members:
            _check_name(archive, real, m.name)
            if m.issym() or m.islnk():
                if os.path.isabs(m.linkname):
                    raise ValueError(
                        f"refusing to extract {archive}: link {m.name!r} -> {m.linkname!r} is absolute"
                    )
                # a symlink's target is relative to its folder, a hard link's to the archive root
                base = os.path.dirname(m.name) if m.issym() else ""
                if not _inside(real, os.path.join(real, base, m.linkname)):
                    raise ValueError(
                        f"refusing to extract {archive}: link {m.name!r} -> {m.linkname!r} points outside {dest}"
                    )
            elif not (m.isfile() or m.isdir()):
                raise ValueError(
                    f"refusing to extract {archive}: entry {m.name!r} is a device file or FIFO"
                )
        if hasattr(tarfile, "data_filter"):
            tf.extractall(dest, members=members, filter="data")
        else:  # Python without PEP 706: our checks above are the only defence
            tf.extractall(dest, members=members)


__all__ = [
    "ChecksumError",
    "DownloadError",
    "PIN_ENV",
    "RECORDS",
    "human_size",
    "sha256_file",
    "recorded_sha256",
    "record_sha256",
    "expected_sha256",
    "check_digest",
    "download_url",
    "safe_extract",
]
