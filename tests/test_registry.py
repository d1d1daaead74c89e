"""Registry: resolution order, verified downloads from a loopback server, safe extraction, real data."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import tarfile
import threading

import pytest

from ulmfit_lesson import download, registry
from ulmfit_lesson.config import REPO_ROOT
from ulmfit_lesson.registry import ChecksumError, DownloadError, Entry, FileSpec

SHARED = REPO_ROOT.parent / "shared"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def toy_entry(base: str, files: dict[str, bytes], **kw) -> Entry:
    specs = tuple(FileSpec(n, f"{base}/{n}" if base else None, sha(b)) for n, b in files.items())
    return Entry("toy", "dataset", specs, "CC0", "nobody 2024", "a toy dataset", **kw)


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    """Two ULMFIT_DATA dirs and an empty cache, all under tmp_path."""
    a, b, cache = tmp_path / "a", tmp_path / "b", tmp_path / "cache"
    for d in (a, b):
        d.mkdir()
    monkeypatch.setenv("ULMFIT_DATA", os.pathsep.join([str(a), str(b)]))
    monkeypatch.setenv("ULMFIT_CACHE", str(cache))
    return a, b, cache


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[bytes, int | None]] = {}  # path -> (body, Content-Length to announce)
    hits: list[str] = []

    def do_GET(self):
        self.hits.append(self.path)
        if self.path not in self.routes:
            self.send_error(404)
            return
        body, length = self.routes[self.path]
        self.send_response(200)
        if length != -1:  # -1: announce no size at all
            self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)  # if `length` is larger, the connection now closes mid-transfer
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """A real HTTP server on 127.0.0.1 (random port); yields (base_url, routes, hits)."""
    routes: dict[str, tuple[bytes, int | None]] = {}
    hits: list[str] = []
    handler = type("H", (_Handler,), {"routes": routes, "hits": hits})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}", routes, hits
    httpd.shutdown()
    httpd.server_close()


# --- resolution ----------------------------------------------------------------------------------


def test_resolution_order(dirs):
    a, b, cache = dirs
    entry = toy_entry("", {"train.tsv": b"x\t1\n"})
    (b / "toy").mkdir()
    (b / "toy" / "train.tsv").write_bytes(b"x\t1\n")
    assert registry.fetch(entry) == b / "toy"  # only in the second dir
    assert registry.fetch_file(entry, "train.tsv") == b / "toy" / "train.tsv"
    (a / "toy").mkdir()
    (a / "toy" / "train.tsv").write_bytes(b"x\t1\n")
    assert registry.fetch(entry) == a / "toy"  # the first dir wins
    assert registry.fetch_file(entry, "train.tsv") == a / "toy" / "train.tsv"
    assert not cache.exists()  # nothing written anywhere


def test_not_found_lists_every_place_and_url(dirs, server):
    a, b, cache = dirs
    base, _, _ = server
    entry = toy_entry(base, {"train.tsv": b"data"})  # the server has no route: 404
    with pytest.raises(FileNotFoundError) as info:
        registry.fetch_file(entry, "train.tsv")
    msg = str(info.value)
    for d in (a, b, cache):
        assert str(d / "toy" / "train.tsv") in msg
    assert f"{base}/train.tsv" in msg and "404" in msg
    assert not (cache / "toy" / "train.tsv").exists()


def test_not_found_local_only_says_how_to_get_it(dirs):
    entry = Entry(
        "toy", "dataset", (FileSpec("a.jsonl", None, None),), "CC0", "-", "-", note="Built by X."
    )
    with pytest.raises(
        FileNotFoundError, match=r"(?s)a\.jsonl.*no public download URL.*Built by X"
    ):
        registry.fetch(entry)


# --- downloads -----------------------------------------------------------------------------------


def test_download_success_and_reuse(dirs, server):
    _, _, cache = dirs
    base, routes, hits = server
    body = b"hello\tworld\n" * 1000
    routes["/train.tsv"] = (body, None)
    entry = toy_entry(base, {"train.tsv": body})
    path = registry.fetch(entry)
    assert path == cache / "toy"
    assert (path / "train.tsv").read_bytes() == body
    assert sorted(p.name for p in path.iterdir()) == ["train.tsv"]  # no temp file left
    assert registry.fetch_file(entry, "train.tsv") == path / "train.tsv"
    assert hits == ["/train.tsv"]  # the second call found the cached file
    assert [c.status for c in registry.verify(entry)] == ["ok"]


def test_download_checksum_mismatch_leaves_nothing(tmp_path, server):
    base, routes, _ = server
    routes["/train.tsv"] = (b"tampered", None)
    entry = toy_entry(base, {"train.tsv": b"original"})
    with pytest.raises(ChecksumError) as info:
        registry.download(entry, "train.tsv", tmp_path)
    msg = str(info.value)
    assert "train.tsv" in msg and sha(b"original") in msg and sha(b"tampered") in msg
    assert list(tmp_path.iterdir()) == []


def test_download_interrupted_leaves_nothing(tmp_path, server):
    base, routes, _ = server
    body = b"x" * 5000
    routes["/train.tsv"] = (body[:2000], 5000)  # announces 5000 bytes, sends 2000, closes
    entry = toy_entry(base, {"train.tsv": body})
    with pytest.raises(DownloadError, match=r"train\.tsv.*(interrupted|failed)"):
        registry.download(entry, "train.tsv", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_no_published_sha256_is_trusted_on_first_use_then_checked(dirs, server):
    _, _, cache = dirs
    base, routes, _ = server
    routes["/model.bin"] = (b"weights", None)
    entry = Entry(
        "toy", "pretrained", (FileSpec("model.bin", f"{base}/model.bin", None),), "-", "-", "-"
    )
    spec = entry.files[0]
    assert download.expected_sha256(spec) == (None, "")
    path = registry.download(entry, "model.bin", cache)
    assert path.read_bytes() == b"weights"
    record = json.loads((cache / download.RECORDS).read_text())["model.bin"]
    assert (record["sha256"], record["size"]) == (sha(b"weights"), 7)
    digest, origin = download.expected_sha256(spec)
    assert digest == sha(b"weights") and origin.startswith("recorded at its first download")
    routes["/model.bin"] = (b"tampered", None)  # the file changed upstream: refused from now on
    with pytest.raises(ChecksumError, match=r"(?s)model\.bin.*recorded at its first download"):
        registry.download(entry, "model.bin", cache)
    assert path.read_bytes() == b"weights"  # the good copy is untouched


def test_no_sha256_and_no_announced_size_is_refused(dirs, server):
    _, _, cache = dirs
    base, routes, _ = server
    routes["/model.bin"] = (b"weights", -1)  # no Content-Length: a truncation would go unseen
    entry = Entry(
        "toy", "pretrained", (FileSpec("model.bin", f"{base}/model.bin", None),), "-", "-", "-"
    )
    with pytest.raises(DownloadError, match="announced no size"):
        registry.download(entry, "model.bin", cache)
    assert list(cache.iterdir()) == []


def test_a_pin_overrides_trust_on_first_use(dirs, server, monkeypatch):
    _, _, cache = dirs
    base, routes, _ = server
    routes["/model.bin"] = (b"weights", None)
    entry = Entry(
        "toy", "pretrained", (FileSpec("model.bin", f"{base}/model.bin", None),), "-", "-", "-"
    )
    monkeypatch.setenv("ULMFIT_SHA256", f"model.bin={sha(b'other')}")
    with pytest.raises(ChecksumError, match="pinned by ULMFIT_SHA256"):
        registry.download(entry, "model.bin", cache)
    monkeypatch.setenv("ULMFIT_SHA256", f"model.bin={sha(b'weights')}")
    assert registry.download(entry, "model.bin", cache).read_bytes() == b"weights"
    monkeypatch.setenv("ULMFIT_SHA256", "model.bin=abc")
    with pytest.raises(ValueError, match="ULMFIT_SHA256: expected FILENAME="):
        download.expected_sha256(entry.files[0])


def test_mirror_serves_public_files_at_host_path_and_local_ones_at_their_path(
    dirs, server, monkeypatch
):
    _, _, cache = dirs
    base, routes, hits = server
    routes["/example.org/data/train.tsv"] = (b"a\tb\n", None)
    routes[f"/{registry.LOCAL_MIRROR_PATH}/toy/local.jsonl"] = (b"{}\n", None)
    entry = Entry(
        "toy",
        "dataset",
        (
            FileSpec("train.tsv", "https://example.org/data/train.tsv", sha(b"a\tb\n")),
            FileSpec("local.jsonl", None, sha(b"{}\n")),
        ),
        "-",
        "-",
        "-",
    )
    assert registry.source_url(entry, entry.files[1]) is None
    assert not registry.downloadable(entry)
    monkeypatch.setenv("ULMFIT_MIRROR", base + "/")
    assert registry.downloadable(entry)
    assert registry.source_url(entry, entry.files[0]) == f"{base}/example.org/data/train.tsv"
    folder = registry.fetch(entry)
    assert folder == cache / "toy" and (folder / "local.jsonl").read_bytes() == b"{}\n"
    assert sorted(hits) == [
        "/example.org/data/train.tsv",
        f"/{registry.LOCAL_MIRROR_PATH}/toy/local.jsonl",
    ]


def test_available_locally_and_download_size(dirs):
    a, _, _ = dirs
    entry = Entry(
        "toy",
        "dataset",
        (
            FileSpec("x.tsv", "https://example.org/x.tsv", sha(b"x"), 1),
            FileSpec("y.tsv", "https://example.org/y.tsv", sha(b"yy"), 2),
        ),
        "-",
        "-",
        "-",
    )
    assert not registry.available_locally(entry) and registry.download_size(entry) == 3
    (a / "toy").mkdir()
    (a / "toy" / "x.tsv").write_bytes(b"x")
    assert registry.download_size(entry) == 2
    (a / "toy" / "y.tsv").write_bytes(b"yy")
    assert registry.available_locally(entry) and registry.download_size(entry) == 0
    unknown = Entry(
        "m",
        "pretrained",
        (FileSpec("m.tgz", "https://e.org/m.tgz", None),),
        "-",
        "-",
        "-",
        extracts_to="m",
    )
    assert registry.download_size(unknown) is None


def test_relative_and_missing_data_dirs(tmp_path, monkeypatch):
    from ulmfit_lesson import config

    (tmp_path / "kit").mkdir()
    monkeypatch.setenv("ULMFIT_DATA_BASE", str(tmp_path))
    monkeypatch.setenv("ULMFIT_DATA", os.pathsep.join(["kit", "nowhere"]))
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path / "kit")  # the working directory does not matter
    assert config.data_dirs()[:2] == [tmp_path / "kit", tmp_path / "nowhere"]
    assert config.missing_data_dirs() == [tmp_path / "nowhere"]
    entry = toy_entry("", {"a.tsv": b"a"})
    with pytest.raises(
        FileNotFoundError, match="ULMFIT_DATA names a folder that does not exist: .*nowhere"
    ):
        registry.fetch(entry)


def test_cache_dir_of_an_installed_package_is_the_users_cache(monkeypatch, tmp_path):
    from ulmfit_lesson import config

    monkeypatch.delenv("ULMFIT_CACHE", raising=False)
    monkeypatch.setattr(config, "_in_checkout", lambda: False)
    monkeypatch.setattr(config.sys, "platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert config.cache_dir() == tmp_path / "ulmfit_lesson"
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "mine"))
    assert config.cache_dir() == tmp_path / "mine"


def _tgz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_archive_download_extract_and_marker(dirs, server):
    _, _, cache = dirs
    base, routes, hits = server
    archive = _tgz({"toy-model/weights.pth": b"w" * 100, "toy-model/itos.pkl": b"v"})
    routes["/toy.tgz"] = (archive, None)
    entry = Entry(
        "toy",
        "pretrained",
        (FileSpec("toy.tgz", f"{base}/toy.tgz", sha(archive)),),
        "-",
        "-",
        "-",
        extracts_to="toy-model",
        contents=(FileSpec("weights.pth", None, sha(b"w" * 100)),),
    )
    path = registry.fetch(entry)
    assert path == cache / "toy"
    assert (path / "weights.pth").read_bytes() == b"w" * 100
    assert json.loads((path / registry.MARKER).read_text())["sha256"] == sha(archive)
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # no temp dirs left
    assert registry.fetch_file(entry, "itos.pkl") == path / "itos.pkl"
    with pytest.raises(FileNotFoundError, match=r"nope\.txt.*itos\.pkl, weights\.pth"):
        registry.fetch_file(entry, "nope.txt")
    assert hits == ["/toy.tgz"]
    assert {c.filename: c.status for c in registry.verify(entry)} == {
        "toy.tgz": "ok",
        "weights.pth": "ok",
    }


def test_archive_in_name_folder_without_known_contents(dirs):
    """Like fastai's wt103 archives: contents not listed, top folder named differently."""
    a, _, cache = dirs
    archive = _tgz({"other-name/lstm.pth": b"w", "other-name/vocab.pkl": b"v"})
    (a / "toy").mkdir()
    (a / "toy" / "toy.tgz").write_bytes(archive)  # DIR/NAME/<archive>: not an extracted copy
    entry = Entry(
        "toy",
        "pretrained",
        (FileSpec("toy.tgz", None, sha(archive)),),
        "-",
        "-",
        "-",
        extracts_to="toy",
    )
    assert registry.fetch(entry) == cache / "toy"
    assert sorted(p.name for p in (cache / "toy").iterdir()) == [
        registry.MARKER,
        "lstm.pth",
        "vocab.pkl",
    ]


def test_local_archive_with_bad_checksum_is_not_extracted(dirs):
    a, _, cache = dirs
    (a / "toy.tgz").write_bytes(_tgz({"toy/x.txt": b"x"}))
    entry = Entry(
        "toy",
        "pretrained",
        (FileSpec("toy.tgz", None, "0" * 64),),
        "-",
        "-",
        "-",
        extracts_to="toy",
    )
    with pytest.raises(ChecksumError, match="toy.tgz"):
        registry.fetch(entry)
    assert not (cache / "toy").exists()


# --- the real registry against the course's shared copies ----------------------------------------


@pytest.fixture
def shared_env(tmp_path, monkeypatch):
    # CI always has ../shared: a missing folder is an error, not a skip.
    assert (SHARED / "data").is_dir(), f"{SHARED} is missing: the course's shared data is required"
    monkeypatch.setenv("ULMFIT_DATA", f"{SHARED / 'data'}{os.pathsep}{SHARED / 'pretrained'}")
    monkeypatch.setenv("ULMFIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_fetch_real_dataset(shared_env):
    assert registry.fetch("poem_sentiment") == SHARED / "data" / "poem_sentiment"
    assert (
        registry.fetch_file("goemotions", "emotions.txt")
        == SHARED / "data" / "goemotions" / "emotions.txt"
    )


def test_fetch_real_pretrained(shared_env, monkeypatch):
    path = registry.fetch("general-fwd")  # verifies and extracts the 57 MB archive into the cache
    assert path == shared_env / "general-fwd"
    assert {p.name for p in path.iterdir()} >= {"lstm_fwd.pth", "itos.pkl", "train_log.json"}
    itos = registry.get_entry("general-fwd").file("itos.pkl")
    assert registry.sha256_file(path / "itos.pkl") == itos.sha256

    def no_rehash(path):
        raise AssertionError(f"hashed {path} again")

    monkeypatch.setattr(registry, "sha256_file", no_rehash)  # the marker says it is done
    assert registry.fetch_file("general-fwd", "lstm_fwd.pth") == path / "lstm_fwd.pth"
    archive = SHARED / "pretrained" / "general-fwd.tgz"
    assert registry.fetch_file("general-fwd", "general-fwd.tgz") == archive


@pytest.mark.parametrize(
    "name",
    [
        "poem_sentiment",
        "goemotions",
        "general_corpus",
        "wikitext-2",
        "nltk_public_domain_speeches",
        "general-bwd",
    ],
)
def test_registry_digests_match_shared_copies(shared_env, name):
    """Every sha256 in the registry was copied correctly (hashes the shared copies)."""
    checks = registry.verify(name)
    assert checks and all(c.status == "ok" for c in checks if c.path), checks
    files = [f.filename for f in registry.get_entry(name).files]
    assert all(c.path for c in checks if c.filename in files), checks
