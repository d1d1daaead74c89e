"""Pretrained language models: read fastai's model-zoo archives, move them to a new vocabulary.

Stage 1 of ULMFiT (§3.1, "General-domain LM pretraining") is done once, by someone else: fastai
publishes AWD-LSTM language models pretrained on WikiText-103 (``wt103-fwd.tgz``, ``wt103-bwd.tgz``)
and this course ships ``general-fwd.tgz``/``general-bwd.tgz``, made the same way. Each archive holds

    <name>/lstm_fwd.pth    a state dict of fastai's ``SequentialRNN(AWD_LSTM, LinearDecoder)``
    <name>/itos.pkl        a pickled list of token strings: index = token id

``load_fastai_lm`` turns that into our ``LanguageModel`` (keys ``0.`` -> ``encoder.``,
``1.`` -> ``decoder.``, sizes read off the tensor shapes); ``match_embeddings``
(``vocab_transfer.py``) moves it to the target corpus' vocabulary before stage 2 (§3.2, "Target task
LM fine-tuning"); ``save_fastai_lm`` writes one of our models back in fastai's layout.
``course_model`` (``registry.py``) names the pretrained LM the course uses.

Why so careful with files? A pickle is a *program*: unpickling can call any Python function
(``os.system`` included) with arguments chosen by whoever made the file. So weights go through
``torch.load(weights_only=True)`` (tensors and plain containers only) and the vocabulary through
``ItosUnpickler``, which builds lists and strings and refuses everything else.

Reference: fastai v2 ``fastai/text/learner.py`` (``match_embeds``, ``load_pretrained``,
``clean_raw_keys``) and fastai v0.7 ``courses/dl2/imdb_scripts/finetune_lm.py``.
"""

from __future__ import annotations

import os
import pickle
import tarfile
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import Tensor

from ulmfit_lesson.language_model import LanguageModel, build_language_model

from . import registry
from .config import AWDLSTMConfig
from .download import safe_extract
from .integrity import CheckpointError, check_fits, check_weights, verify_manifest
from .registry import course_model
from .vocab_transfer import EMBEDDING_KEYS, match_embeddings

FASTAI_PREFIXES = {"0.": "encoder.", "1.": "decoder."}  # fastai SequentialRNN index -> our name
ARCHIVE_SUFFIXES = (".tgz", ".tar.gz", ".tar", ".zip")


# ----------------------------------------------------------------------------- vocabulary


class ItosUnpickler(pickle.Unpickler):
    """An unpickler that refuses every global: no class, no function, nothing importable.

    Why this is enough: pickle builds lists and strings with opcodes of its own, while anything else
    (``os.system``, ``builtins.eval``, any class) must be looked up by name through ``find_class``.
    Refusing there rejects a malicious file *before* any of its code can run.
    """

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(
            f"refusing to load the global {module}.{name}: "
            "a vocabulary must be a plain list of strings"
        )


def read_itos(path: str | Path) -> list[str]:
    """Read a pickled vocabulary (``itos``: index -> token string) without running any code.

    Args: ``path``, a ``.pkl`` holding a list of str (fastai's ``itos.pkl`` / ``itos_wt103.pkl``).
    Returns: the list; token id ``i`` is ``itos[i]``.
    Raises: ``ValueError`` naming the file if it is not a pickle, asks for any Python global
    (``os.system`` through ``__reduce__``, a class, ...) or holds anything but a list of str.
    """
    path = Path(path)
    with open(path, "rb") as f:
        try:
            itos = ItosUnpickler(f).load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError) as err:
            raise ValueError(f"{path}: not a safe vocabulary pickle ({err})") from err
    if not isinstance(itos, list):
        raise ValueError(f"{path}: expected a list of token strings, got a {type(itos).__name__}")
    bad = [(i, type(s).__name__) for i, s in enumerate(itos) if not isinstance(s, str)]
    if bad:
        shown = ", ".join(f"item {i} is a {t}" for i, t in bad[:5])
        raise ValueError(f"{path}: expected a list of token strings; {len(bad)} are not: {shown}")
    return itos


# ----------------------------------------------------------------------------- state dicts


def fastai_to_ours(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename fastai LM keys to ours (``0.`` -> ``encoder.``, ``1.`` -> ``decoder.``), in float32.

    Keys with any other prefix are kept as they are, so that the shape check can name them.
    Files of fastai v1 (``wt103-*.tgz``) also hold ``module.weight_hh_l0`` beside
    ``weight_hh_l0_raw``: a stale copy of W_hh (possibly with a dropout mask applied). As fastai's
    ``clean_raw_keys`` does, we drop it: the raw weight is the trained one.
    fastai stores zoo models in float16 to halve the download; we compute in float32.
    """
    out = {}
    for key, tensor in state_dict.items():
        stale = key.endswith(".module.weight_hh_l0")
        if stale and key.replace(".module.weight_hh_l0", ".weight_hh_l0_raw") in state_dict:
            continue
        for theirs, ours in FASTAI_PREFIXES.items():
            if key.startswith(theirs):
                key = ours + key[len(theirs) :]
                break
        out[key] = tensor.float() if tensor.is_floating_point() else tensor
    return out


def ours_to_fastai(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The inverse renaming: ``encoder.`` -> ``0.``, ``decoder.`` -> ``1.``."""
    back = {ours: theirs for theirs, ours in FASTAI_PREFIXES.items()}
    out = {}
    for key, tensor in state_dict.items():
        prefix = next((p for p in back if key.startswith(p)), None)
        out[back[prefix] + key[len(prefix) :] if prefix else key] = tensor
    return out


def infer_sizes(state_dict: Mapping[str, Tensor]) -> dict[str, int]:
    """``vocab_size``, ``emb_size``, ``hidden_size``, ``n_layers`` from the shapes of our keys.

    The embedding is ``(vocab_size, emb_size)``; there is one ``rnns.<i>.weight_hh_l0_raw`` per
    layer, ``(4 * n_out, n_out)`` (four gates); every layer but the last outputs ``hidden_size``.
    """
    if "encoder.encoder.weight" not in state_dict:
        raise ValueError(
            "not an AWD-LSTM language model: no embedding 'encoder.encoder.weight' "
            f"(fastai '0.encoder.weight'); keys: {sorted(state_dict)[:8]}"
        )
    vocab_size, emb_size = state_dict["encoder.encoder.weight"].shape
    n_layers = 0
    while f"encoder.rnns.{n_layers}.weight_hh_l0_raw" in state_dict:
        n_layers += 1
    if n_layers == 0:
        raise ValueError("not an AWD-LSTM language model: no 'encoder.rnns.0.weight_hh_l0_raw'")
    # One layer maps emb -> emb and has no hidden size of its own; keep the default then.
    first = state_dict["encoder.rnns.0.weight_hh_l0_raw"]
    hidden_size = first.shape[1] if n_layers > 1 else AWDLSTMConfig.hidden_size
    return dict(
        vocab_size=vocab_size, emb_size=emb_size, hidden_size=hidden_size, n_layers=n_layers
    )


def check_state_dict(model: LanguageModel, state_dict: Mapping[str, Tensor], source: str) -> None:
    """Raise ``ValueError`` if a fastai state dict does not fit ``model``: every missing key,
    unexpected key and shape mismatch at once (``integrity.check_fits``), or untied embeddings."""
    c = model.config
    target = (
        f"an AWD-LSTM LM of {c.vocab_size} words, emb {c.emb_size}, hidden {c.hidden_size}, "
        f"{c.n_layers} layers"
    )
    check_fits(model.state_dict(), state_dict, source, target)
    tied = [k for k in EMBEDDING_KEYS if k in state_dict]
    if any(not torch.equal(state_dict[tied[0]], state_dict[k]) for k in tied[1:]):
        raise ValueError(
            f"{source}: the tied embedding/decoder weights ({', '.join(tied)}) differ; "
            "this model ties them, so they must be equal"
        )


# ----------------------------------------------------------------------------- loading


def _find_files(folder: Path) -> tuple[Path, Path]:
    """The one ``*.pth`` and the vocabulary ``*.pkl`` of a model-zoo folder (or its one subfolder)."""
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    subdirs = [p for p in entries if p.is_dir()]
    if not any(p.suffix in (".pth", ".pkl") for p in entries) and len(subdirs) == 1:
        return _find_files(subdirs[0])  # an archive's top-level folder
    weights = sorted(p for p in entries if p.suffix == ".pth")
    vocabs = sorted(p for p in entries if p.suffix == ".pkl")
    if len(vocabs) > 1 and folder / "itos.pkl" in vocabs:
        vocabs = [folder / "itos.pkl"]
    if len(weights) != 1 or len(vocabs) != 1:
        raise FileNotFoundError(
            f"{folder}: expected one .pth state dict and one .pkl vocabulary, found "
            f".pth: {[p.name for p in weights]}, .pkl: {[p.name for p in vocabs]}"
        )
    return weights[0], vocabs[0]


def _load_folder(
    folder: Path,
    drop_mult: float,
    dropouts: dict[str, float] | None,
    name: Callable[[Path], str] = str,
) -> tuple[LanguageModel, list[str]]:
    """Build the model of a model-zoo folder, checking every file before trusting it.

    ``name`` turns a path into what error messages call it: an archive's members are extracted to a
    temporary folder that is gone by the time a user reads the message, so ``load_fastai_lm`` names
    them ``archive.tgz: member`` instead. A ``manifest.json`` beside the files (sha256 of each) is
    checked first when there is one.
    """
    try:
        verify_manifest(folder)
        weights_path, itos_path = _find_files(folder)
        itos = read_itos(itos_path)
    except (ValueError, FileNotFoundError) as err:
        raise type(err)(_renamed(str(err), folder, name)) from None
    raw = _read_weights(weights_path, name(weights_path))
    state_dict = fastai_to_ours(raw)
    try:
        model = build_language_model(
            dropouts=dropouts, drop_mult=drop_mult, **infer_sizes(state_dict)
        )
        check_state_dict(model, state_dict, name(weights_path))
    except ValueError as err:
        raise CheckpointError(f"{name(weights_path)}: {err}") from None
    check_weights(state_dict, None, name(weights_path))  # a NaN weight is an error, not a model
    if len(itos) != model.config.vocab_size:
        raise CheckpointError(
            f"{name(itos_path)} has {len(itos)} tokens but the embedding in {name(weights_path)} "
            f"has {model.config.vocab_size} rows"
        )
    model.load_state_dict(state_dict, strict=True)
    return model.eval(), itos


def _renamed(message: str, folder: Path, name: Callable[[Path], str]) -> str:
    """``message`` with every path under ``folder`` written as ``name`` writes it."""
    if name is str:
        return message
    for path in sorted(folder.rglob("*"), key=lambda p: -len(str(p))):  # longest first
        message = message.replace(str(path), name(path))
    return message.replace(str(folder), name(folder))


def _read_weights(path: Path, shown: str) -> dict[str, Tensor]:
    """The state dict in ``path`` (``torch.load(weights_only=True)``), or ``CheckpointError``.

    Refused, naming ``shown``: a file ``torch.load`` cannot read (text, a truncated or foreign file,
    a pickle asking for Python globals), and one holding anything but a mapping of names to tensors
    (a bare tensor, a list, a whole pickled model).
    """
    try:
        with warnings.catch_warnings():  # torch's remarks on a foreign pickle; the error says more
            warnings.simplefilter("ignore", UserWarning)
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a damaged file can fail anywhere in the zip or pickle readers
        # The first sentence only: torch goes on to suggest weights_only=False, unsafe advice here.
        first = str(err).splitlines()[0].split(". ")[0] if str(err) else ""
        why = "asks to import Python objects" if "Unsupported global" in str(err) else "unreadable"
        raise CheckpointError(
            f"{shown} is not a PyTorch state dict ({why}: {type(err).__name__}: {first}); "
            f"{path.stat().st_size:,} bytes. A truncated download or the wrong file?"
        ) from None
    if isinstance(raw, Mapping) and isinstance(raw.get("model"), Mapping):
        raw = raw["model"]  # saved by fastai's Learner.save with the optimizer state
    if not isinstance(raw, Mapping):
        raise CheckpointError(
            f"{shown} holds a {type(raw).__name__}, not a state dict (names -> tensors)"
        )
    bad = [str(k) for k, v in raw.items() if not isinstance(k, str) or not isinstance(v, Tensor)]
    if bad:
        raise CheckpointError(
            f"{shown} is not a state dict: {len(bad)} entries are not named tensors "
            f"({', '.join(bad[:5])})"
        )
    return dict(raw)


def load_fastai_lm(
    source: str | Path, drop_mult: float = 1.0, dropouts: dict[str, float] | None = None
) -> tuple[LanguageModel, list[str]]:
    """Load a fastai AWD-LSTM language model: our ``LanguageModel`` and its vocabulary ``itos``.

    Args:
        source: a folder holding one ``*.pth`` and one ``*.pkl`` (or a folder holding that folder),
            an archive of one (``.tgz``, ``.tar.gz``, ``.tar``, ``.zip``; extracted safely to a
            temporary folder), or a registry name such as ``'general-fwd'`` or ``'wt103-fwd'``.
        drop_mult, dropouts: the dropouts of the new model (``LM_DROPOUTS`` times ``drop_mult`` by
            default); they are not stored in the file.
    Returns: ``(model, itos)``; the model is in eval mode (call ``.train()`` to fine-tune), float32,
    on the CPU, with sizes read from the file (vocab, emb, hidden, layers).
    Raises: ``ValueError`` (``CheckpointError`` for the weights) naming the file - for an archive,
    the archive and the member - that is unreadable, not an archive, not a state dict, holds
    non-finite weights, does not fit (every missing/unexpected key and shape mismatch), or is an
    unsafe vocabulary pickle; ``FileNotFoundError`` if the files are not there.
    Paper: ULMFiT §3.1 (the general-domain LM), §4.1 (its architecture).
    """
    path = Path(source)
    if path.is_dir():
        return _load_folder(path, drop_mult, dropouts)
    if path.is_file():
        if not path.name.endswith(ARCHIVE_SUFFIXES):
            raise ValueError(
                f"{path}: expected a folder, an archive ({', '.join(ARCHIVE_SUFFIXES)}) "
                "or a registry name"
            )
        with tempfile.TemporaryDirectory(prefix="ulmfit-lm-") as tmp:
            try:
                safe_extract(path, tmp)
            except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, ValueError) as err:
                if isinstance(err, ValueError) and "refusing" in str(err):
                    raise  # an unsafe member: safe_extract's message names it
                detail = " ".join(str(err).split())  # tarfile lists each method tried, a line each
                raise CheckpointError(
                    f"{path} is not a readable {''.join(path.suffixes[-2:]) or 'archive'} "
                    f"({type(err).__name__}: {detail}); {path.stat().st_size:,} bytes. A "
                    "truncated download, or another kind of file renamed?"
                ) from None

            def member(p: Path) -> str:  # the archive and the member, not the temporary path
                inside = p.relative_to(tmp).as_posix() if p != Path(tmp) else ""
                return f"{path}: {inside}" if inside else str(path)

            return _load_folder(Path(tmp), drop_mult, dropouts, name=member)
    if str(source) not in registry.REGISTRY:
        raise FileNotFoundError(
            f"{source!r} is neither a folder, an archive, nor a registry name; "
            f"pretrained models in the registry: "
            f"{', '.join(n for n, e in registry.REGISTRY.items() if e.kind == 'pretrained')}"
        )
    return _load_folder(registry.fetch(str(source)), drop_mult, dropouts)


def save_fastai_lm(
    model: LanguageModel,
    itos: list[str],
    folder: str | Path,
    name: str = "lstm_fwd",
    half: bool = False,
) -> Path:
    """Write ``model`` and ``itos`` in fastai's layout: ``folder/<name>.pth`` + ``folder/itos.pkl``.

    fastai users load the result with ``language_model_learner(..., pretrained_fnames=...)`` and
    we with ``load_fastai_lm(folder)``. ``half=True`` stores float16 (half the size, as fastai's
    zoo does). Files are written to a temporary name and renamed, so a crash leaves no half file.
    Returns the folder.
    """
    if len(itos) != model.config.vocab_size:
        raise ValueError(f"itos has {len(itos)} tokens, the model {model.config.vocab_size} rows")
    if not all(isinstance(s, str) for s in itos):
        raise ValueError("itos must be a list of str")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ours = {
        k: (v.detach().half() if half and v.is_floating_point() else v.detach()).cpu()
        for k, v in model.state_dict().items()
    }
    for key in EMBEDDING_KEYS[1:]:  # .half()/.cpu() copy: re-tie, so the matrix is stored once
        ours[key] = ours[EMBEDDING_KEYS[0]]
    state_dict = ours_to_fastai(ours)
    for target, write in (
        (folder / f"{name}.pth", lambda f: torch.save(state_dict, f)),
        (folder / "itos.pkl", lambda f: pickle.dump(list(itos), f, protocol=4)),
    ):
        tmp = target.with_name(f".{target.name}.tmp")
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, target)
    return folder


__all__ = [
    "ItosUnpickler",
    "read_itos",
    "load_fastai_lm",
    "save_fastai_lm",
    "match_embeddings",
    "fastai_to_ours",
    "ours_to_fastai",
    "infer_sizes",
    "check_state_dict",
    "course_model",
]
