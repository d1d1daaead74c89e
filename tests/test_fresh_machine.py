"""The course on a fresh machine: no ``../shared``, ``ULMFIT_DATA`` unset, an empty cache.

What a self-learner or a workshop participant has, minus the internet: a loopback HTTP server
(``mirror.serve``) serves a mirror (``mirror.build_mirror``) laid out at the registry's URLs and
``ULMFIT_MIRROR`` points at it. The mirror holds the poems (from ../shared) and, at the mirror path
of fastai's ``wt103-fwd.tgz``, an archive in fastai's layout (``wt103-fwd/lstm_fwd.pth`` and
``wt103-fwd/itos_wt103.pkl``) made from ``general-fwd``'s files: the real archive is not
reachable here, and a stand-in of its layout exercises the same code (trust-on-first-use record,
extraction, loading a fastai folder). The course's own ``general-*`` are *not* on the mirror, so
``pretrained.course_model()`` must choose ``wt103-fwd``, as on a learner's laptop.

Every run is a subprocess (a notebook kernel, the CLI) with that environment: nothing of this
process's imports or caches can help it. These are CI's slowest tests: about 2 minutes on the
busy 2-core development machine (notebooks 00 + 06, 70-115 s; the two train-classifier runs, 40-60
s; building the mirror, 3 s).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ulmfit_lesson import config, datasets, mirror, registry

SHARED = config.REPO_ROOT.parent / "shared"
WT103 = registry.get_entry("wt103-fwd")
WT103_PATH = registry.mirror_path(WT103, WT103.files[0])  # s3.amazonaws.com/fast-ai-modelzoo/...
NOTEBOOKS = ["notebooks/00_overview.ipynb", "notebooks/06_the_classifier.ipynb"]


def _fastai_style_archive(dest: Path, work: Path) -> None:
    """``dest``: a tar.gz in the layout of fastai's wt103-fwd.tgz, holding general-fwd's weights."""
    registry.safe_extract(SHARED / "pretrained" / "general-fwd.tgz", work)
    src = work / "general-fwd"
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(dest, "w:gz", compresslevel=1) as tf:  # level 1: seconds, not a minute
        tf.add(src / "lstm_fwd.pth", arcname="wt103-fwd/lstm_fwd.pth")
        tf.add(src / "itos.pkl", arcname="wt103-fwd/itos_wt103.pkl")


@pytest.fixture(scope="module")
def mirror_root(tmp_path_factory) -> Path:
    """The mirror folder, built once for the module from ../shared (ULMFIT_DATA set only here)."""
    assert (SHARED / "data").is_dir(), f"{SHARED} is missing: the course's shared data is required"
    root = tmp_path_factory.mktemp("mirror")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(
            "ULMFIT_DATA", os.pathsep.join([str(SHARED / "data"), str(SHARED / "pretrained")])
        )
        mp.setenv("ULMFIT_CACHE", str(tmp_path_factory.mktemp("unused-cache")))
        mirror.build_mirror(root, ["poem_sentiment"])
    _fastai_style_archive(root / WT103_PATH, tmp_path_factory.mktemp("general-fwd"))
    assert not (root / registry.LOCAL_MIRROR_PATH).exists()  # no general-*: wt103-fwd is chosen
    return root


@pytest.fixture(scope="module")
def server(mirror_root) -> Iterator[str]:
    with mirror.serve(mirror_root) as url:
        yield url


class _CutHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the mirror, but sends only the first half of wt103-fwd.tgz (announcing the full
    size) and then drops the connection: a server stopped half-way through the download."""

    def do_GET(self) -> None:
        if not self.path.endswith(WT103.files[0].filename):
            return super().do_GET()
        data = Path(self.translate_path(self.path)).read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def _cut_server(root: Path) -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_CutHandler, directory=str(root))
    )
    thread = threading.Thread(target=httpd.serve_forever, args=(0.1,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def fresh_env(cache: Path, mirror_url: str) -> dict[str, str]:
    """A fresh machine's environment: no ULMFIT_DATA, an empty cache, the room's mirror, quick."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ULMFIT_DATA", "ULMFIT_DATA_BASE", registry.PIN_ENV)
        and not k.lower().endswith("_proxy")  # loopback only, never through a proxy
    }
    env.update(
        ULMFIT_CACHE=str(cache),
        ULMFIT_MIRROR=mirror_url,
        ULMFIT_QUICK="1",
        NO_PROXY="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
    )
    return env


def _run(cmd: list[str], env: dict[str, str], timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd, cwd=config.REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def _leftovers(cache: Path) -> list[Path]:
    """Half-written things a failed download or extraction could leave in the cache."""
    return [p for p in cache.rglob("*") if p.suffix == ".part" or ".extract-" in p.name]


def test_notebooks_00_and_06_run_on_a_fresh_machine(server, mirror_root, tmp_path):
    text = "".join(Path(config.REPO_ROOT / nb).read_text() for nb in NOTEBOOKS)
    assert "course_model" in text, "the notebooks must choose their model with course_model()"
    cache = tmp_path / "cache"
    cache.mkdir()
    result = _run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", *NOTEBOOKS]
        + ["-p", "no:cacheprovider", "-q", "--nbval-cell-timeout=600"],
        fresh_env(cache, server),
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    # the poems and the model came from the mirror into the cache, verified
    poems = registry.get_entry("poem_sentiment")
    for split in ("train.tsv", "dev.tsv", "test.tsv"):  # what notebooks 00 and 06 read
        assert registry.sha256_file(cache / "poem_sentiment" / split) == poems.file(split).sha256
    model = cache / "wt103-fwd"
    assert (model / "lstm_fwd.pth").is_file() and (model / "itos_wt103.pkl").is_file()
    assert json.loads((model / registry.MARKER).read_text())["archive"] == "wt103-fwd.tgz"
    # trust on first use: the digest of what arrived is recorded beside the downloads
    records = json.loads((cache / registry.RECORDS).read_text())
    assert records["wt103-fwd.tgz"]["sha256"] == registry.sha256_file(mirror_root / WT103_PATH)
    assert records["wt103-fwd.tgz"]["size"] == (mirror_root / WT103_PATH).stat().st_size
    assert not (cache / "general-fwd").exists() and _leftovers(cache) == []


@pytest.fixture
def poems_csv(tmp_path) -> tuple[Path, Path]:
    """The poems (binary view) as the CSV files a user hands to train-classifier."""
    files = []
    for split in ("train", "dev"):
        df = datasets.load_poem_sentiment(split, view="binary", data_dir=SHARED / "data")
        path = tmp_path / f"poems_{split}.csv"
        df[["text", "label"]].to_csv(path, index=False)
        files.append(path)
    return files[0], files[1]


def test_train_classifier_after_an_interrupted_model_download(
    server, mirror_root, poems_csv, tmp_path
):
    """``train-classifier`` with the default ``--pretrained``: the model download is cut half-way
    (a clear error, nothing half-written in the cache), then the next run, with a good server,
    downloads it again and writes metrics.json."""
    cache, out = tmp_path / "cache", tmp_path / "run"
    train, dev = poems_csv
    cmd = [sys.executable, "-m", "ulmfit_lesson", "train-classifier", "--train", str(train)]
    cmd += ["--valid", str(dev), "--out", str(out), "--no-finetune-lm", "--epochs", "1"]
    cmd += ["--device", "cpu", "--no-progress"]  # the quickest run the CLI allows

    with _cut_server(mirror_root) as cut_url:
        failed = _run(cmd, fresh_env(cache, cut_url))
    assert failed.returncode == 1, failed.stdout[-3000:] + failed.stderr[-3000:]
    error = failed.stderr
    assert "wt103-fwd.tgz" in error and ("interrupted" in error or "failed" in error), error
    assert "Traceback" not in error  # a message, not a crash
    assert not (cache / "wt103-fwd").exists() and not (cache / "wt103-fwd.tgz").exists()
    assert _leftovers(cache) == [] and not list(cache.rglob("*.part"))
    records = cache / registry.RECORDS  # nothing recorded for a file that never arrived
    assert not records.exists() or "wt103-fwd.tgz" not in json.loads(records.read_text())
    assert not (out / "metrics.json").exists()

    done = _run(cmd, fresh_env(cache, server))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["settings"]["pretrained"] == "wt103-fwd"  # the default on a fresh machine
    assert metrics["n_test"] == len(datasets.read_table(dev, "text", "label")) > 0
    assert 0.0 <= metrics["accuracy"] <= 1.0
    assert (cache / "wt103-fwd" / "lstm_fwd.pth").is_file() and _leftovers(cache) == []


def test_the_stand_in_has_fastais_layout(mirror_root):
    """The mirror's wt103-fwd.tgz looks like fastai's: one folder, one .pth and one .pkl."""
    with tarfile.open(mirror_root / WT103_PATH) as tf:
        names = sorted(m.name for m in tf.getmembers() if m.isfile())
    assert names == ["wt103-fwd/itos_wt103.pkl", "wt103-fwd/lstm_fwd.pth"]
