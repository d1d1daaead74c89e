"""Helpers of the real-browser tests: find the tools, run a playwright-core script.

``conftest.py`` turns ``missing_tools`` into the ``browser_tools`` fixture; the tests call
``run_e2e`` to run their ``*_e2e.mjs`` script and read the JSON result it prints.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "screenshots"


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if candidate and Path(candidate).is_file():
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


def missing_tools(extra: dict[str, str]) -> list[str]:
    missing = [] if shutil.which("node") else ["Node.js (node)"]
    for package in ("playwright-core", "reveal.js"):
        if not (ROOT / "node_modules" / package).is_dir():
            missing.append(f"{package} (npm ci)")
    if chromium_path() is None:
        missing.append("Chromium (apt-get install chromium)")
    return missing + [f"{tool} ({how})" for tool, how in extra.items() if not shutil.which(tool)]


def run_e2e(script: Path, env: dict[str, str], shots: tuple[str, ...]) -> tuple[dict, str, float]:
    """Run a playwright-core script (``node script``) with ``env`` added to the environment, after
    removing this test's earlier screenshots (``shots``: glob patterns in ``SHOTS``).

    Returns ``(result, stderr, seconds)``: ``result`` is the JSON object the script prints last
    (``{"ok": False, "error": "no output"}`` when it printed nothing)."""
    for pattern in shots:
        for old in SHOTS.glob(pattern) if SHOTS.is_dir() else []:
            old.unlink()  # screenshots of this run only
    start = time.monotonic()
    proc = subprocess.run(
        ["node", str(script)], cwd=ROOT, env={**os.environ, "SHOTS": str(SHOTS), **env},
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    lines = proc.stdout.strip().splitlines()
    result = json.loads(lines[-1]) if lines else {"ok": False, "error": "no output"}
    return result, proc.stderr, time.monotonic() - start
