"""Running the course as a workshop: an offline kit of data and weights, and a pre-flight check.

A room full of laptops on one conference Wi-Fi cannot each download 150 MB, and two entries of the
course (``general_corpus``, ``general-fwd``/``general-bwd``) cannot be downloaded at all: they ship
with the course's shared data. So the facilitator packs everything once:

    python -m ulmfit_lesson pack-kit --out ulmfit-kit.tar.gz     # on a machine that has the data

and hands the archive around on USB sticks. Extracted, its folder ``ulmfit-kit/`` *is* a data
directory in the registry's layout (``NAME/<files>`` for datasets, ``pretrained/<archive>`` for
models), so ``ULMFIT_DATA=/path/to/ulmfit-kit`` is all a participant sets. ``SHA256SUMS`` inside
the kit lets anyone check a copy (``sha256sum -c SHA256SUMS``, or ``unpack-kit`` which does it),
and every file is also checked against the registry's own sha256 when it is packed: a kit can only
hold the bytes the course's results were computed on.

    python -m ulmfit_lesson unpack-kit ulmfit-kit.tar.gz --to ~/   # extract + verify, prints the
                                                                    # ULMFIT_DATA line to set
    python -m ulmfit_lesson doctor                                  # is this machine ready?

``doctor`` prints a checklist (Python and package versions, every dataset and model present and
verified, disk space, a few-second speed probe that predicts how long the course takes on this
machine) with a ``fix:`` line for each problem, and exits non-zero when something essential is
missing. The prediction scales the per-notebook times measured on a reference machine
(``docs/notebook_times.json``) by how much slower or faster this machine runs the same probe.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from . import __version__, config

# What the notebooks read: the two classification datasets, the stage-1 corpus and the two
# pretrained LMs that stand in for fastai's WikiText-103 models.
COURSE_ENTRIES: tuple[str, ...] = (
    "poem_sentiment",
    "goemotions",
    "general_corpus",
    "general-fwd",
    "general-bwd",
)
KIT_DIR = "ulmfit-kit"  # the archive's single top-level folder
SUMS = "SHA256SUMS"
MANIFEST = "kit.json"
TIMES_FILE = config.REPO_ROOT / "docs" / "notebook_times.json"

# Packages doctor checks (PyPI names). Missing runtime packages break `import ulmfit_lesson`;
# missing course packages break the notebooks. Versions are compared with requirements.txt's pins.
RUNTIME_PACKAGES = ("torch", "numpy", "pandas", "matplotlib", "tqdm")
COURSE_PACKAGES = ("jupyterlab", "ipykernel", "ipywidgets", "nbclient", "nbformat")
MIN_PYTHON = (3, 10)
DISK_WARN_BYTES = 2 * 1024**3
DISK_FAIL_BYTES = 512 * 1024**2

# The speed probe: forward + backward + Adam step of a full-size AWD-LSTM LM (ULMFiT §4.1 sizes:
# emb 400, 3 layers, 1152 hidden) on one batch. The same workload runs on the reference machine
# (recorded by tools/build_site.py --record-times) and here, so the ratio of the two times scales
# the reference notebook times. Small batch and vocabulary keep one step around a second.
PROBE = dict(vocab_size=8000, bs=4, bptt=70)
PROBE_MODEL: dict[str, int] = {}  # AWD-LSTM sizes (emb_size, ...); empty: the paper's full size

Report = Callable[[str], None]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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
    from . import registry

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
    from . import registry

    try:
        return registry.get_entry(name).file(filename).sha256
    except ValueError:  # a file of an extracted fastai archive: not listed in the registry
        return None


def _kit_readme(files: list[KitFile], names: Sequence[str]) -> str:
    from . import registry

    lines = [
        "# ULMFiT course: workshop kit",
        "",
        f"Made by ulmfit_lesson {__version__} on {datetime.now(timezone.utc):%Y-%m-%d}.",
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
    from . import registry

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
        f.sha256, f.size = _sha256(f.source), f.source.stat().st_size
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
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
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
        elif _sha256(path) != digest:
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
    from . import registry

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


def hosted_environment() -> str | None:
    """'Google Colab', 'Kaggle' or 'SageMaker Studio Lab' when running there, else None."""
    if "google.colab" in sys.modules or os.environ.get("COLAB_RELEASE_TAG"):
        return "Google Colab"
    if os.environ.get("KAGGLE_KERNEL_RUN_TYPE"):
        return "Kaggle"
    if os.environ.get("SAGEMAKER_INTERNAL_IMAGE_URI") or Path("/home/studio-lab-user").is_dir():
        return "SageMaker Studio Lab"
    return None


def hosted_setup(kit: str | Path | None = None, names: Iterable[str] = COURSE_ENTRIES) -> None:
    """What each notebook's first cell calls: use ``kit`` if given, and say in one line where
    data comes from. On a hosted Jupyter with no kit and course data missing, say how to get it."""
    where = hosted_environment()
    if kit:
        use_kit(kit)
    missing = [name for name in names if _quick_presence(name) is False]
    data = os.environ.get("ULMFIT_DATA") or "(ULMFIT_DATA unset: the data/ cache and downloads)"
    mode = "quick" if config.is_quick() else "full"
    print(
        f"ulmfit_lesson {__version__} | {mode} mode | data: {data}"
        + (f" | {where}" if where else "")
    )
    if missing:
        print(
            f"Not found yet: {', '.join(missing)}. The public datasets download on first use; the "
            "course's own corpus and models come with the workshop kit: upload ulmfit-kit.tar.gz "
            "and run `workshop.use_kit('ulmfit-kit.tar.gz')` (or pass its URL), see docs/colab.md."
        )


def _quick_presence(name: str) -> bool | None:
    """Is entry ``name`` on disk (without hashing)? None if the registry does not know it."""
    from . import registry

    try:
        entry = registry.get_entry(name)
    except ValueError:
        return None
    dirs = config.data_dirs()
    if entry.is_archive:
        fn = entry.files[0].filename
        if any((d / entry.name).is_dir() and any((d / entry.name).iterdir()) for d in dirs):
            return True
        return any((d / fn).is_file() or (d / "pretrained" / fn).is_file() for d in dirs)
    return any(all((d / entry.name / f.filename).is_file() for f in entry.files) for d in dirs)


# ------------------------------------------------------------------------------------ doctor


@dataclass
class Check:
    """One line of the doctor's checklist."""

    name: str
    status: str  # 'ok' | 'warn' | 'fail' | 'info'
    detail: str
    fix: str = ""
    data: dict = field(default_factory=dict)


def _pins() -> dict[str, str | None]:
    """Pinned versions from the repo's requirements.txt; names only when it is not there."""
    pins: dict[str, str | None] = dict.fromkeys(RUNTIME_PACKAGES + COURSE_PACKAGES)
    req = config.REPO_ROOT / "requirements.txt"
    if req.is_file():
        for raw in req.read_text().splitlines():
            line = raw.split("#")[0].strip()
            name, sep, version = line.partition("==")
            key = name.strip().lower().replace("_", "-")
            if sep and key in pins:
                pins[key] = version.strip()
    return pins


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def check_python() -> Check:
    v = sys.version_info
    found = f"Python {v.major}.{v.minor}.{v.micro}"
    need = ".".join(map(str, MIN_PYTHON))
    if v[:2] < MIN_PYTHON:
        return Check(
            "python",
            "fail",
            f"{found} (the course needs >= {need})",
            f"install Python {need} or newer (python.org, or conda), then `make lab PYTHON=python3.11`",
        )
    return Check("python", "ok", f"{found} ({sys.executable})")


def check_packages(hosted: str | None = None) -> list[Check]:
    checks = []
    install = (
        "%pip install -q <name> in a notebook cell"
        if hosted
        else "`make install` (or: pip install -r requirements.txt)"
    )
    for name, pin in _pins().items():
        have = _installed(name)
        essential = name in RUNTIME_PACKAGES or not (hosted and name == "jupyterlab")
        if have is None:
            checks.append(
                Check(
                    name,
                    "fail" if essential else "info",
                    "not installed" + ("" if essential else f" (not needed on {hosted})"),
                    install.replace("<name>", name) if essential else "",
                )
            )
        elif pin and have.split("+")[0] != pin:
            checks.append(
                Check(
                    name,
                    "warn",
                    f"{have} (the course is tested with {pin})",
                    f"{install.replace('<name>', f'{name}=={pin}')}; other versions usually work",
                )
            )
        else:
            checks.append(Check(name, "ok", have))
    return checks


def check_widgets() -> Check:
    if _installed("ipywidgets") is None:
        return Check("widgets", "warn", "ipywidgets missing: the explorers will not show")
    if _installed("jupyterlab_widgets") is None and _installed("widgetsnbextension") is None:
        return Check(
            "widgets",
            "warn",
            "ipywidgets installed without its front-end extension: sliders show as text",
            "pip install jupyterlab_widgets, then restart JupyterLab",
        )
    return Check("widgets", "ok", f"ipywidgets {_installed('ipywidgets')} with its lab extension")


def check_entry(name: str) -> Check:
    """Is registry entry ``name`` on this machine and intact? (``registry.verify``; hashes files)."""
    from . import registry

    label = f"data {name}"
    try:
        entry = registry.get_entry(name)
    except ValueError as err:
        return Check(label, "fail", str(err))
    checks = registry.verify(entry)
    bad = [c for c in checks if c.status == "mismatch"]
    if bad:
        paths = ", ".join(str(c.path) for c in bad)
        return Check(
            label,
            "fail",
            f"corrupt copy: {paths} (sha256 differs from the registry's)",
            f"delete {paths} and copy it again from the workshop kit (or re-download it)",
        )
    found = {c.filename for c in checks if c.status in ("ok", "unverified")}
    if entry.is_archive:
        archive = entry.files[0].filename
        present = archive in found or (
            bool(entry.contents) and all(c.filename in found for c in entry.contents)
        )
        need = [archive]
    else:
        need = [f.filename for f in entry.files if f.filename not in found]
        present = not need
    if not present:
        downloadable = all(f.url for f in entry.files)
        fix = (
            "set ULMFIT_DATA to the extracted workshop kit (python -m ulmfit_lesson unpack-kit "
            "ulmfit-kit.tar.gz)"
        )
        fix += (
            f', or let it download on first use (needs internet): python -c "from ulmfit_lesson '
            f"import registry; registry.fetch('{name}')\""
            if downloadable
            else f"; {name} cannot be downloaded, it ships with the course's shared data"
        )
        return Check(label, "fail", f"missing: {', '.join(need)}", fix)
    where = sorted({str(c.path.parent) for c in checks if c.path is not None})
    unverified = sorted({c.filename for c in checks if c.status == "unverified"})
    detail = f"present and verified ({'; '.join(where)})"
    if unverified:
        detail += f"; no published sha256 for {', '.join(unverified)}"
    return Check(label, "ok", detail)


def check_disk(path: Path | None = None) -> Check:
    path = Path(path or config.cache_dir())
    probe = path
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    detail = f"{free / 1024**3:.1f} GiB free at {probe}"
    if free < DISK_FAIL_BYTES:
        return Check("disk", "fail", detail, "free at least 2 GiB (models extract and runs/ grows)")
    if free < DISK_WARN_BYTES:
        return Check("disk", "warn", detail, "2 GiB or more is comfortable for checkpoints")
    return Check("disk", "ok", detail)


def speed_probe(seconds: float = 6.0, min_steps: int = 2, threads: int | None = None) -> dict:
    """Time training steps of an AWD-LSTM LM (``PROBE`` batch, ``PROBE_MODEL`` sizes: the paper's
    full size by default) for about ``seconds``.

    Returns ``seconds_per_step`` (the median over the timed steps, after one warm-up step),
    ``steps``, ``threads`` and ``device`` ('cpu'). CPU on purpose: the course's times are CPU
    times. ``threads``: torch's intra-op threads for the probe (default: torch's own choice, as in
    a notebook). A machine so slow that the warm-up step alone takes ``seconds`` is reported from
    that one step (an overestimate), to keep the check short.
    """
    import torch
    import torch.nn.functional as F

    from .models import build_language_model

    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        vocab, bs, bptt = PROBE["vocab_size"], PROBE["bs"], PROBE["bptt"]
        model = build_language_model(vocab, **PROBE_MODEL)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        x = torch.randint(0, vocab, (bs, bptt))
        y = torch.randint(0, vocab, (bs, bptt))

        def step() -> float:
            start = time.perf_counter()
            logits = model(x).logits
            loss = F.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            return time.perf_counter() - start

        warm_up = step()  # allocations, first-call overheads
        times: list[float] = []
        if warm_up >= seconds:  # a very slow (or very busy) machine: one step says enough
            times.append(warm_up)
        begin = time.perf_counter()
        while len(times) < min_steps or time.perf_counter() - begin < seconds:
            if warm_up >= seconds or len(times) >= 50:
                break
            times.append(step())
        times.sort()
        used = torch.get_num_threads()
    finally:
        torch.set_num_threads(old_threads)
    return {
        "seconds_per_step": times[len(times) // 2],
        "steps": len(times),
        "threads": used,
        "device": "cpu",
        **PROBE,
    }


def load_times(path: Path = TIMES_FILE) -> dict:
    """The reference times table (``docs/notebook_times.json``); {} when it is not there."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def predict_course_seconds(probe_seconds: float, times: dict) -> float | None:
    """Predicted full-mode wall time of all notebooks here, or None if times are not measured.

    The reference machine's measured times, scaled by ``probe_seconds / reference probe``.
    """
    ref = (times.get("reference") or {}).get("probe_seconds_per_step")
    measured = [(nb or {}).get("full_seconds") for nb in (times.get("notebooks") or {}).values()]
    if not ref or not measured or any(t is None for t in measured):
        return None
    return sum(measured) * probe_seconds / ref


def _hms(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def check_speed(seconds: float = 6.0, times: dict | None = None) -> Check:
    try:
        probe = speed_probe(seconds)
    except Exception as err:  # torch missing or broken: reported above; say it here too
        return Check("speed", "fail", f"the probe could not run: {type(err).__name__}: {err}")
    per = probe["seconds_per_step"]
    detail = f"{per:.2f} s per full-size LM training step ({probe['threads']} threads)"
    times = load_times() if times is None else times
    predicted = predict_course_seconds(per, times)
    if predicted is None:
        return Check(
            "speed",
            "info",
            detail + "; no course-time prediction yet (docs/notebook_times.json not measured)",
            data=probe,
        )
    ref = times["reference"]["probe_seconds_per_step"]
    ratio = per / ref
    detail += f"; {ratio:.1f}x the reference machine's time: the notebooks take about {_hms(predicted)} here"
    probe["predicted_seconds"] = predicted
    if ratio > 3:
        return Check(
            "speed",
            "warn",
            detail,
            "slow machine: run the notebooks in quick mode (ULMFIT_QUICK=1), or use a hosted GPU "
            "notebook (docs/colab.md), or pair up with a neighbour",
            data=probe,
        )
    return Check("speed", "ok", detail, data=probe)


def doctor(
    names: Iterable[str] = COURSE_ENTRIES, probe: bool = True, probe_seconds: float = 6.0
) -> list[Check]:
    """Run every check; see ``run_doctor`` for the printed checklist and exit code."""
    hosted = hosted_environment()
    checks = [check_python()]
    checks += check_packages(hosted)
    checks.append(check_widgets())
    data = os.environ.get("ULMFIT_DATA")
    checks.append(
        Check(
            "data dirs",
            "info",
            " : ".join(str(d) for d in config.data_dirs())
            + ("" if data else " (ULMFIT_DATA unset)"),
        )
    )
    try:
        from . import registry  # noqa: F401  (needs tqdm)
    except ImportError as err:
        checks.append(Check("registry", "fail", f"cannot import: {err}", "`make install`"))
    else:
        checks += [check_entry(n) for n in names]
    checks.append(check_disk())
    if probe:
        checks.append(check_speed(probe_seconds))
    return checks


_MARK = {"ok": "[ ok ]", "warn": "[warn]", "fail": "[FAIL]", "info": "[info]"}


def format_checks(checks: Sequence[Check]) -> str:
    lines = [
        f"ULMFiT course pre-flight check (ulmfit_lesson {__version__}, {platform.platform()})",
        "",
    ]
    for c in checks:
        lines.append(f"  {_MARK[c.status]} {c.name}: {c.detail}")
        if c.fix:
            lines.append(f"         fix: {c.fix}")
    fails = [c.name for c in checks if c.status == "fail"]
    warns = [c.name for c in checks if c.status == "warn"]
    lines.append("")
    if fails:
        lines.append(
            f"NOT READY: {len(fails)} problem(s) to fix ({', '.join(fails)}); see the fix: lines."
        )
    else:
        extra = f" ({len(warns)} warning(s): {', '.join(warns)})" if warns else ""
        lines.append(f"READY for the course{extra}.")
    return "\n".join(lines)


def run_doctor(
    names: Iterable[str] = COURSE_ENTRIES,
    probe: bool = True,
    probe_seconds: float = 6.0,
    as_json: bool = False,
    out: Report = print,
) -> int:
    """Print the checklist (or JSON); return 1 if any essential check failed, else 0."""
    checks = doctor(names, probe=probe, probe_seconds=probe_seconds)
    if as_json:
        out(json.dumps([asdict(c) for c in checks], indent=1, default=str))
    else:
        out(format_checks(checks))
    return 1 if any(c.status == "fail" for c in checks) else 0


__all__ = [
    "COURSE_ENTRIES",
    "Check",
    "doctor",
    "format_checks",
    "hosted_setup",
    "load_times",
    "pack_kit",
    "predict_course_seconds",
    "run_doctor",
    "speed_probe",
    "use_kit",
    "verify_kit",
]
