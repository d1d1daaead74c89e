"""What both real-browser tests need: Node.js, the npm packages and Debian's Chromium.

``browser_tools`` (a fixture) returns Chromium's path. When something is missing the test is
skipped, except in CI (``CI`` set) or with ``ULMFIT_REQUIRE_BROWSER=1``, where it fails: CI must
not pass by skipping a browser test. A test module that needs more command-line tools names them
in ``EXTRA_TOOLS`` (tool -> how to install it).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


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


@pytest.fixture(scope="module")
def browser_tools(request) -> str:
    missing = missing_tools(getattr(request.module, "EXTRA_TOOLS", {}))
    if missing:
        msg = f"{request.module.__name__} needs {', '.join(missing)}: run `bash tools/setup_browser.sh`"
        if os.environ.get("CI") or os.environ.get("ULMFIT_REQUIRE_BROWSER") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return chromium_path()
