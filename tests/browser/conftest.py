"""What both real-browser tests need: Node.js, the npm packages and Debian's Chromium.

``browser_tools`` (a fixture) returns Chromium's path. When something is missing the test is
skipped, except in CI (``CI`` set) or with ``ULMFIT_REQUIRE_BROWSER=1``, where it fails: CI must
not pass by skipping a browser test. A test module that needs more command-line tools names them
in ``EXTRA_TOOLS`` (tool -> how to install it).
"""

from __future__ import annotations

import os

import pytest
from e2e import chromium_path, missing_tools


@pytest.fixture(scope="module")
def browser_tools(request) -> str:
    missing = missing_tools(getattr(request.module, "EXTRA_TOOLS", {}))
    if missing:
        msg = f"{request.module.__name__} needs {', '.join(missing)}: run `bash tools/setup_browser.sh`"
        if os.environ.get("CI") or os.environ.get("ULMFIT_REQUIRE_BROWSER") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return chromium_path()
