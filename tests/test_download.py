"""download.py: archives are checked member by member before anything is extracted.

The downloads themselves (checksums, trust on first use, interrupted transfers) are exercised
through ``registry.download`` in ``tests/test_registry.py``, against a local HTTP server.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from ulmfit_lesson.download import human_size, safe_extract


def test_human_size():
    assert human_size(57_329_989) == "57.3 MB"
    assert human_size(2_500) == "2.5 kB"
    assert human_size(12) == "12 bytes"


def _evil_tar(path: Path, info: tarfile.TarInfo, data: bytes = b"") -> Path:
    with tarfile.open(path, "w:gz") as tf:
        good = tarfile.TarInfo("ok.txt")
        tf.addfile(good, io.BytesIO(b""))
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return path


def _link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


@pytest.mark.parametrize(
    "info, bad",
    [
        (tarfile.TarInfo("../evil.txt"), "../evil.txt"),
        (tarfile.TarInfo("sub/../../evil.txt"), "sub/../../evil.txt"),
        (tarfile.TarInfo("/tmp/evil.txt"), "/tmp/evil.txt"),
        (_link("link", "../../outside", tarfile.SYMTYPE), "link"),
        (_link("link", "/etc/passwd", tarfile.SYMTYPE), "link"),
        (_link("hard", "../outside", tarfile.LNKTYPE), "hard"),
        (_link("dev", "", tarfile.CHRTYPE), "dev"),
    ],
)
def test_safe_extract_refuses(tmp_path, info, bad):
    archive = _evil_tar(tmp_path / "evil.tgz", info, b"pwned" if info.isfile() else b"")
    dest = tmp_path / "out" / "dest"
    with pytest.raises(ValueError, match="refusing") as err:
        safe_extract(archive, dest)
    assert repr(bad) in str(err.value)
    assert list(dest.iterdir()) == []  # refused before anything was written
    assert not list(tmp_path.rglob("evil.txt"))


def test_safe_extract_refuses_zip_traversal(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../evil.txt", "pwned")
    with pytest.raises(ValueError, match=r"'\.\./evil\.txt'"):
        safe_extract(archive, tmp_path / "dest")
    assert not (tmp_path / "evil.txt").exists()


def test_safe_extract_allows_internal_links(tmp_path):
    archive = tmp_path / "ok.tgz"
    with tarfile.open(archive, "w:gz") as tf:
        info = tarfile.TarInfo("d/a.txt")
        info.size = 2
        tf.addfile(info, io.BytesIO(b"hi"))
        tf.addfile(_link("d/b.txt", "a.txt", tarfile.SYMTYPE))
    safe_extract(archive, tmp_path / "dest")
    assert (tmp_path / "dest" / "d" / "b.txt").read_text() == "hi"
