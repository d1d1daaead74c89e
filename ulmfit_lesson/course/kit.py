"""The workshop's offline kit and the room's mirror: the course's data, packed or served.

A workshop participant gets the files from the facilitator rather than the internet:

    python -m ulmfit_lesson pack-kit --out ulmfit-kit.tar.gz     # facilitator: one archive
    python -m ulmfit_lesson unpack-kit ulmfit-kit.tar.gz --to ~/ # participant: extract + verify
    python -m ulmfit_lesson serve-kit [--kit ulmfit-kit.tar.gz]  # facilitator: serve the room

The kit: extracted, its folder ``ulmfit-kit/`` *is* a data directory in the registry's layout
(``NAME/<files>`` for datasets, ``pretrained/<archive>`` for models), so ``ULMFIT_DATA=/path/to/
ulmfit-kit`` is all a participant sets. ``SHA256SUMS`` inside lets anyone check a copy, and every
file is checked against the registry's sha256 when packed: a kit can only hold the bytes the
course's results were computed on. The mirror (``serve-kit``, ``mirror.py``): the same files laid
out at their public URLs' paths and served over HTTP; participants set ``ULMFIT_MIRROR``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import tarfile
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from ulmfit_lesson import __version__, config, mirror, registry

# What a kit holds (and a room's mirror serves): the two classification datasets, the stage-1
# corpus and the course's two pretrained LMs. What each notebook reads is plan.NOTEBOOK_NEEDS.
COURSE_ENTRIES: tuple[str, ...] = (
    "poem_sentiment",
    "goemotions",
    "general_corpus",
    "general-fwd",
    "general-bwd",
)
# Besides the course's entries, a room's mirror serves these when this machine has them: fastai's
# models (for anyone without general-*) and the public sources general_corpus is rebuilt from
# (plan.CORPUS_SOURCES).
MIRROR_EXTRAS = ("wt103-fwd", "wt103-bwd", "wikitext-2", "nltk_public_domain_speeches")
KIT_DIR = "ulmfit-kit"  # the archive's single top-level folder
SUMS = "SHA256SUMS"
MANIFEST = "kit.json"

Report = Callable[[str], None]


# ----------------------------------------------------------------------------------- pack-kit


@dataclass
class KitFile:
    """One file of a kit: where it comes from, where it goes, and its digest."""

    entry: str
    source: Path
    relpath: str  # inside the kit folder, '/'-separated
    sha256: str = ""
    size: int = 0
    verified: bool = False  # True: equal to the registry's sha256; False: the registry has none


def _kit_files(name: str) -> list[KitFile]:
    """Locate (downloading what can be downloaded) the files of one registry entry for a kit.

    Archives go in as the archive (``pretrained/<archive>`` for models, ``<archive>`` for a
    dataset archive), which ``registry.fetch`` verifies and extracts on first use. When only an
    extracted copy exists, its files go in as ``NAME/<file>``, which ``fetch`` uses as is.
    """
    entry = registry.get_entry(name)
    if not entry.is_archive:
        return [
            KitFile(
                entry.name, registry.fetch_file(entry, f.filename), f"{entry.name}/{f.filename}"
            )
            for f in entry.files
        ]
    spec = entry.files[0]
    where = "pretrained/" if entry.kind == "pretrained" else ""
    try:
        return [
            KitFile(entry.name, registry.fetch_file(entry, spec.filename), where + spec.filename)
        ]
    except FileNotFoundError:
        folder = registry.fetch(entry)  # an extracted copy, if there is one (raises otherwise)
    names = [c.filename for c in entry.contents] or sorted(
        p.name for p in folder.iterdir() if p.is_file() and p.name != registry.MARKER
    )
    return [KitFile(entry.name, folder / n, f"{entry.name}/{n}") for n in names]


def _expected_sha(name: str, filename: str) -> str | None:
    try:
        return registry.get_entry(name).file(filename).sha256
    except ValueError:  # a file of an extracted fastai archive: not listed in the registry
        return None


def _kit_readme(files: list[KitFile], names: Sequence[str]) -> str:
    lines = [
        "# ULMFiT course: workshop kit",
        "",
        f"Made by ulmfit_lesson {__version__} on {datetime.now(UTC):%Y-%m-%d}.",
        "This folder is a data directory for the course. Point the course at it:",
        "",
        "    export ULMFIT_DATA=/path/to/ulmfit-kit        (Windows: set ULMFIT_DATA=C:\\path\\to\\ulmfit-kit)",
        "    python -m ulmfit_lesson doctor                 (checks everything is found and intact)",
        "",
        "or run `python -m ulmfit_lesson unpack-kit ulmfit-kit.tar.gz --to DIR`, which extracts,",
        "verifies and prints that line. Check a copy by hand with `sha256sum -c SHA256SUMS`.",
        "",
        "## Contents, licences and what to cite",
        "",
    ]
    for name in names:
        entry = registry.get_entry(name)
        mine = [f for f in files if f.entry == name]
        lines += [
            f"### {name} ({entry.kind})",
            "",
            entry.description,
            "",
            f"- files: {', '.join(f.relpath for f in mine)}",
            f"- licence: {entry.licence}",
            f"- cite: {entry.citation}",
            "",
        ]
    return "\n".join(lines)


def _add_bytes(tf: tarfile.TarFile, arcname: str, data: bytes) -> None:
    info = tarfile.TarInfo(arcname)
    info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
    tf.addfile(info, io.BytesIO(data))


def pack_kit(
    out: str | Path, names: Iterable[str] = COURSE_ENTRIES, report: Report = print
) -> Path:
    """Pack the files of ``names`` (registry entries) into one archive ``out`` (.tar.gz or .tar).

    Every file is found through the registry (``ULMFIT_DATA``, then the cache; downloaded if it
    can be and is missing) and hashed; a file whose sha256 differs from the registry's stops the
    packing (``registry.ChecksumError``). The archive holds one folder, ``ulmfit-kit/``, laid out
    as a data directory, plus ``SHA256SUMS``, ``kit.json`` (the manifest) and ``README.md``
    (how to use it, licences, citations). Written atomically: ``out`` appears only when complete.
    """
    out = Path(out)
    names = list(dict.fromkeys(names))
    if not out.name.endswith((".tar.gz", ".tgz", ".tar")):
        raise ValueError(f"{out}: the kit must be a .tar.gz, .tgz or .tar file")
    files: list[KitFile] = []
    missing: list[str] = []
    for name in names:
        try:
            files += _kit_files(name)
        except FileNotFoundError as err:
            missing.append(f"{name}: {err}")
    if missing:
        raise FileNotFoundError(
            "cannot pack the kit, these entries are not on this machine:\n\n" + "\n\n".join(missing)
        )
    for f in files:
        report(f"  hashing {f.relpath} ({f.source})")
        f.sha256, f.size = registry.sha256_file(f.source), f.source.stat().st_size
        expected = _expected_sha(f.entry, Path(f.relpath).name)
        if expected is not None and f.sha256 != expected:
            raise registry.ChecksumError(
                f"{f.source} ({f.entry}) has sha256 {f.sha256}, the registry expects {expected}: "
                "it is corrupt or not the file the course uses. Delete it and fetch it again."
            )
        f.verified = expected is not None

    sums = "".join(f"{f.sha256}  {f.relpath}\n" for f in files)
    manifest = {
        "kit_format": 1,
        "ulmfit_lesson": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "entries": names,
        "files": [{k: v for k, v in asdict(f).items() if k != "source"} for f in files],
    }
    mode = "w" if out.name.endswith(".tar") else "w:gz"
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with tarfile.open(tmp, mode, **({"compresslevel": 6} if mode == "w:gz" else {})) as tf:
            for f in files:
                report(f"  adding  {f.relpath} ({f.size / 1e6:.1f} MB)")
                tf.add(f.source, arcname=f"{KIT_DIR}/{f.relpath}", recursive=False)
            _add_bytes(tf, f"{KIT_DIR}/{SUMS}", sums.encode())
            _add_bytes(tf, f"{KIT_DIR}/{MANIFEST}", json.dumps(manifest, indent=1).encode())
            _add_bytes(tf, f"{KIT_DIR}/README.md", _kit_readme(files, names).encode())
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    total = sum(f.size for f in files)
    report(
        f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB; {len(files)} files, {total / 1e6:.1f} MB)"
    )
    return out


# --------------------------------------------------------------------------------- unpack-kit


def verify_kit(folder: str | Path) -> list[str]:
    """Check every file listed in ``folder/SHA256SUMS``; return the problems (empty: intact)."""
    folder = Path(folder)
    sums = folder / SUMS
    if not sums.is_file():
        return [f"{sums} not found: {folder} is not a workshop kit folder"]
    problems = []
    for number, line in enumerate(sums.read_text().splitlines(), 1):
        if not line.strip():
            continue
        digest, _, rel = line.partition("  ")
        path = folder / rel
        if not path.is_file():
            problems.append(f"{rel}: missing (SHA256SUMS line {number})")
        elif registry.sha256_file(path) != digest:
            problems.append(f"{rel}: sha256 differs from SHA256SUMS: the copy is corrupt")
    return problems


def _download_kit(url: str, dest: Path, report: Report) -> Path:
    name = url.rstrip("/").rsplit("/", 1)[-1].split("?")[0] or "ulmfit-kit.tar.gz"
    target = dest / name
    report(f"downloading {url} -> {target}")
    dest.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest, prefix=f".{name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=60) as resp:
            shutil.copyfileobj(resp, f, 1 << 20)
        os.replace(tmp_name, target)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    return target


def use_kit(
    source: str | Path, dest: str | Path | None = None, set_env: bool = True, report: Report = print
) -> Path:
    """Make a kit usable: ``source`` is a kit folder, a kit archive, or an http(s) URL of one.

    An archive is extracted (safely, ``registry.safe_extract``) into ``dest`` (default: next to
    the archive) unless already extracted; the folder is then verified against ``SHA256SUMS``
    (``ValueError`` listing the problems) and, with ``set_env``, put first in this process's
    ``ULMFIT_DATA`` (what a notebook kernel needs on Colab). Returns the kit folder.
    """
    text = str(source)
    if text.startswith(("http://", "https://")):
        source = _download_kit(text, Path(dest or Path.home()), report)
    source = Path(source).expanduser()
    if source.is_dir():
        folder = source if (source / SUMS).is_file() else source / KIT_DIR
    elif source.is_file():
        base = Path(dest).expanduser() if dest else source.parent
        folder = base / KIT_DIR
        if not (folder / SUMS).is_file():
            report(f"extracting {source} -> {base}")
            registry.safe_extract(source, base)
    else:
        raise FileNotFoundError(f"{source}: no such kit (a folder, a .tar.gz file or a URL)")
    problems = verify_kit(folder)
    if problems:
        raise ValueError(f"the kit in {folder} is not intact:\n  " + "\n  ".join(problems))
    report(f"kit verified: {folder}")
    if set_env:
        dirs = [d for d in os.environ.get("ULMFIT_DATA", "").split(os.pathsep) if d]
        dirs = [str(folder)] + [d for d in dirs if Path(d) != folder]
        os.environ["ULMFIT_DATA"] = os.pathsep.join(dirs)
    return folder


# ---------------------------------------------------------------------------------- serve-kit


def lan_address() -> str | None:
    """This machine's IPv4 address on the local network as its own name resolves, or None.

    Sends nothing: only the host's name is looked up (``/etc/hosts``, the local resolver). It can
    be wrong on a machine with several interfaces: check with ``hostname -I`` (Linux),
    ``ipconfig getifaddr en0`` (macOS) or ``ipconfig`` (Windows)."""
    host = socket.gethostname()
    try:
        candidates = [socket.gethostbyname(host)]
    except OSError:
        candidates = []
    try:
        candidates += [a[4][0] for a in socket.getaddrinfo(host, None, socket.AF_INET)]
    except OSError:
        pass
    return next((ip for ip in candidates if not ip.startswith("127.")), None)


def build_room_mirror(
    dest: str | Path,
    names: Iterable[str] | None = None,
    copy: bool = False,
    report: Report = print,
) -> list[str]:
    """Lay out in ``dest`` (``mirror.build_mirror``) every entry of ``names`` found on this machine
    (default: ``COURSE_ENTRIES`` plus ``MIRROR_EXTRAS`` present). Returns the entries laid out;
    ``FileNotFoundError`` if none of them is here. Missing ones are reported and skipped."""
    if names is None:
        names = list(COURSE_ENTRIES) + [n for n in MIRROR_EXTRAS if registry.available_locally(n)]
    served, skipped = [], []
    for name in names:
        try:
            mirror.build_mirror(dest, [name], copy=copy)
            served.append(name)
        except FileNotFoundError:
            skipped.append(name)
    if not served:
        raise FileNotFoundError(
            f"none of {', '.join(names)} is on this machine (looked in "
            f"{', '.join(str(d) for d in config.data_dirs())}): nothing to serve. Use --kit, or set "
            "ULMFIT_DATA to the folders holding the course's data."
        )
    if skipped:
        report(f"not on this machine, not served: {', '.join(skipped)}")
    size = sum(p.stat().st_size for p in Path(dest).rglob("*") if p.is_file())
    report(f"mirror laid out in {dest}: {', '.join(served)} ({size / 1e6:.1f} MB)")
    return served


def serve_kit(
    kit: str | Path | None = None,
    out: str | Path | None = None,
    host: str = "0.0.0.0",
    port: int = 8000,
    report: Report = print,
    stop: threading.Event | None = None,
) -> int:
    """The facilitator's ``serve-kit``: serve the room's mirror until Ctrl-C (or ``stop``).

    The files come from ``kit`` (an archive or folder: verified, extracted beside it, put first
    in ``ULMFIT_DATA``) or from this machine's data folders; they are laid out in the mirror layout
    (``mirror.build_mirror``) in ``out`` (copied: a folder any web server can serve, e.g.
    ``python -m http.server``; then nothing is served here) or in a temporary folder of links.
    Prints the line participants set. Returns the exit code.
    """
    if kit:
        use_kit(kit, report=report)
    if out is not None:
        out = Path(out)
        build_room_mirror(out, copy=True, report=report)
        report(
            f"Serve it with any web server from that folder, e.g. `cd {out} && python -m "
            f"http.server {port}`; participants set ULMFIT_MIRROR=http://<your address>:{port}"
        )
        return 0
    with tempfile.TemporaryDirectory(prefix="ulmfit-mirror-") as tmp:
        build_room_mirror(tmp, report=report)
        with mirror.serve(tmp, host, port) as url:
            bound = int(url.rsplit(":", 1)[1])
            address = host if host not in ("", "0.0.0.0") else lan_address()
            line = f"{registry.MIRROR_ENV}=http://{address or 'YOUR-ADDRESS'}:{bound}"
            report(
                f"Serving the course's mirror on port {bound} (Ctrl-C to stop). Participants set, "
                f"before starting Jupyter:\n\n    {line}\n\n"
                f"  (macOS/Linux: export {line}; Windows: set {line}; on Colab: "
                f"os.environ['{registry.MIRROR_ENV}'] = '...' in the setup cell, if it can reach "
                "this machine)\n"
                + (
                    "Check the address"
                    if address
                    else "Replace YOUR-ADDRESS with this machine's "
                    "address on the room's network; find it"
                )
                + " with `hostname -I` (Linux), `ipconfig getifaddr en0` (macOS) or "
                "`ipconfig` (Windows); a participant checks with `python -m ulmfit_lesson doctor`."
            )
            try:
                if stop is not None:
                    stop.wait()
                else:
                    while True:
                        time.sleep(3600)
            except KeyboardInterrupt:
                report("stopped")
    return 0


__all__ = [
    "COURSE_ENTRIES",
    "MIRROR_EXTRAS",
    "KitFile",
    "build_room_mirror",
    "lan_address",
    "pack_kit",
    "serve_kit",
    "use_kit",
    "verify_kit",
]
