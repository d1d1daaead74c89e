"""A mirror of the course's downloads: one machine serves a workshop room (and the tests).

Thirty laptops on one conference Wi-Fi should not each fetch 60 MB from the internet. With a mirror,
the facilitator's machine serves the files and every participant sets one variable:

    ULMFIT_MIRROR=http://192.168.1.10:8000     # every download of https://HOST/PATH then
                                                # fetches http://192.168.1.10:8000/HOST/PATH

The layout is a *pull-through* one: a file whose public URL is ``https://HOST/PATH`` lives at
``HOST/PATH`` inside the mirror, so one folder serves every origin (GitHub, fastai's model zoo,
WikiText) and nothing needs configuring per file. The course's own entries, which have no public URL
(``general_corpus``, ``general-fwd``, ``general-bwd``), live at ``ulmfit-lesson-local/NAME/FILE``
(``registry.LOCAL_MIRROR_PATH``). Files are still checked against the registry's sha256 on arrival,
so a mirror can only serve the bytes the course expects.

``build_mirror`` lays out the local copies of some entries (from ``ULMFIT_DATA``, a kit, the cache)
in that layout; ``serve`` serves a folder over HTTP with Python's own ``http.server``.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from . import registry


def _local_file(entry: registry.Entry, spec: registry.FileSpec) -> Path | None:
    """The local copy of one file of an entry (archives: the archive itself), or None."""
    from . import config

    if entry.is_archive:
        candidates = registry._archive_candidates(entry)
    else:
        candidates = [d / entry.name / spec.filename for d in config.data_dirs()]
    return next((p for p in candidates if p.is_file()), None)


def build_mirror(dest: str | Path, names: Iterable[str], *, copy: bool = False) -> Path:
    """Lay out the local copies of the registry entries ``names`` under ``dest`` in the mirror layout.

    Each file is symlinked (``copy=True``: copied) to ``dest/registry.mirror_path(...)``. Archives
    go in as the archive, which is what clients download. Raises ``FileNotFoundError`` naming the
    entry and file when a local copy is missing. Returns ``dest``.
    """
    dest = Path(dest)
    for name in names:
        entry = registry.get_entry(name)
        for spec in entry.files:
            source = _local_file(entry, spec)
            if source is None:
                raise FileNotFoundError(
                    f"cannot mirror {entry.name!r}: no local copy of {spec.filename} in "
                    f"{', '.join(str(d) for d in registry.config.data_dirs())}"
                )
            target = dest / registry.mirror_path(entry, spec)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)
            if copy:
                shutil.copyfile(source, target)
            else:
                os.symlink(source.resolve(), target)
    return dest


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # one line per request would drown the notebook output
        pass


@contextlib.contextmanager
def serve(root: str | Path, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve the folder ``root`` over HTTP in a background thread; yields its base URL.

    ``port=0`` picks a free port. The server stops when the ``with`` block ends.
    """
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer((host, port), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.1,), daemon=True)
    thread.start()
    try:
        shown = "127.0.0.1" if host in ("", "0.0.0.0") else host
        yield f"http://{shown}:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


__all__ = ["build_mirror", "serve"]
