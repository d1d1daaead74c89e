"""The binary bad files of the reliability tests, made by code (no binary blobs in the repository).

Each function writes one damaged or hostile file the way a user could meet it: a checkpoint with 4 KB
overwritten, fastai-style archives whose ``lstm_fwd.pth`` is text, a plain pickle, a truncated
file or a bare tensor, an archive that is not gzip at all. The text files beside this one are the
rest of the corpus (see ``README.md``). Run ``python tests/bad_inputs/make_bad_files.py DIR`` to
write them all into ``DIR`` and try them by hand with the CLI.
"""

from __future__ import annotations

import io
import pickle
import sys
import tarfile
from pathlib import Path

import torch

from ulmfit_lesson.classifier import build_classifier
from ulmfit_lesson.language_model import build_language_model
from ulmfit_lesson.predict import TextClassifier
from ulmfit_lesson.pretrained import save_fastai_lm

SPECIALS = ["xxunk", "xxpad", "xxbos", "xxeos", "xxfld", "xxrep", "xxwrep", "xxup", "xxmaj"]
ITOS = SPECIALS + ["the", "sun", "on", "hill", "cold", "dark", "night", "a", "bright", "day"]
ITOS += [f"word{i}" for i in range(24 - len(ITOS))]  # 24: fastai rounds vocabularies to 8


def tiny_lm(seed: int = 0):
    """A 24-word AWD-LSTM language model (emb 8, hidden 8, 2 layers) and its vocabulary."""
    torch.manual_seed(seed)
    return build_language_model(len(ITOS), emb_size=8, hidden_size=8, n_layers=2), list(ITOS)


def tiny_classifier(folder: Path) -> Path:
    """Save a two-class classifier on :func:`tiny_lm` into ``folder``; return ``classifier.pt``."""
    lm, itos = tiny_lm()
    model = build_classifier(lm, 2, vocab=itos)
    return TextClassifier(model.eval(), itos, ["neg", "pos"]).save(folder)


def overwrite_tensor_bytes(path: Path, tensor: torch.Tensor, n_bytes: int = 4096) -> int:
    """Overwrite up to ``n_bytes`` of ``tensor``'s stored bytes inside the checkpoint at ``path``
    with 0xff (a NaN pattern for float32), as a disk error or a bad copy would; return the offset.

    ``torch.save`` stores tensor data uncompressed, so the bytes are found by searching the file.
    """
    data = bytearray(path.read_bytes())
    payload = tensor.detach().contiguous().numpy().tobytes()
    offset = data.find(payload)
    assert offset >= 0, "tensor bytes not found in the file"
    n = min(n_bytes, len(payload))
    data[offset : offset + n] = b"\xff" * n
    path.write_bytes(bytes(data))
    return offset


def _tgz(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def good_lm_archive(path: Path) -> Path:
    """A loadable fastai-layout archive: ``model/lstm_fwd.pth`` + ``model/itos.pkl``."""
    lm, itos = tiny_lm()
    folder = save_fastai_lm(lm, itos, path.parent / f"{path.name}.dir")
    members = {f"model/{p.name}": p.read_bytes() for p in sorted(folder.iterdir())}
    return _tgz(path, members)


def lm_archive_with_weights(path: Path, weights: bytes) -> Path:
    """An archive like :func:`good_lm_archive` whose ``model/lstm_fwd.pth`` holds ``weights``."""
    return _tgz(path, {"model/lstm_fwd.pth": weights, "model/itos.pkl": pickle.dumps(list(ITOS))})


def _saved(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def bad_weights() -> dict[str, bytes]:
    """What ``lstm_fwd.pth`` holds in each bad archive, by name."""
    lm, _ = tiny_lm()
    good = _saved({k.replace("encoder.", "0.", 1).replace("decoder.", "1.", 1): v
                   for k, v in lm.state_dict().items()})  # fmt: skip
    nan_state = {k: v.clone() for k, v in lm.state_dict().items()}
    nan_state["encoder.rnns.0.weight_hh_l0_raw"][0, 0] = float("nan")
    return {
        "text_bytes": b"this is not a model, just some text somebody saved as lstm_fwd.pth\n" * 20,
        "plain_pickle": pickle.dumps({"0.encoder.weight": [[0.0] * 8] * 24}),
        "truncated": good[: len(good) // 2],
        "bare_tensor": _saved(torch.zeros(24, 8)),
        "nan_weight": _saved(
            {
                k.replace("encoder.", "0.", 1).replace("decoder.", "1.", 1): v
                for k, v in nan_state.items()
            }
        ),  # fmt: skip
    }


def not_gzip_archive(path: Path) -> Path:
    """A ``.tgz`` that is no archive at all (an HTML error page saved under the model's name)."""
    path.write_bytes(b"<html><body>404 Not Found</body></html>\n")
    return path


def write_all(folder: Path) -> list[Path]:
    """Every binary bad file into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    made = [good_lm_archive(folder / "good-lm.tgz"), not_gzip_archive(folder / "not-gzip.tgz")]
    for name, weights in bad_weights().items():
        made.append(lm_archive_with_weights(folder / f"lm-{name}.tgz", weights))
    clas = tiny_classifier(folder / "corrupt-classifier")
    lm, _ = tiny_lm()
    overwrite_tensor_bytes(clas, build_classifier(lm, 2, vocab=ITOS).encoder.encoder.weight)
    return made + [clas]


if __name__ == "__main__":
    for made in write_all(Path(sys.argv[1] if len(sys.argv) > 1 else "bad_files")):
        print(made)
