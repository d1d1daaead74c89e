"""Pretrained language models: read fastai's model-zoo archives, move them to a new vocabulary.

Stage 1 of ULMFiT (§3.1, "General-domain LM pretraining") is done once, by someone else: fastai
publishes AWD-LSTM language models pretrained on WikiText-103 (``wt103-fwd.tgz``, ``wt103-bwd.tgz``)
and this course ships ``general-fwd.tgz``/``general-bwd.tgz``, made the same way. Each archive holds

    <name>/lstm_fwd.pth    a state dict of fastai's ``SequentialRNN(AWD_LSTM, LinearDecoder)``
    <name>/itos.pkl        a pickled list of token strings: index = token id

``load_fastai_lm`` turns that into our ``LanguageModel`` (keys ``0.`` -> ``encoder.``,
``1.`` -> ``decoder.``, sizes read off the tensor shapes); ``match_embeddings`` moves it to the
target corpus' vocabulary before stage 2 (§3.2, "Target task LM fine-tuning"); ``save_fastai_lm``
writes one of our models back in fastai's layout.

Why so careful with files? A pickle is a *program*: unpickling can call any Python function
(``os.system`` included) with arguments chosen by whoever made the file. So weights go through
``torch.load(weights_only=True)`` (tensors and plain containers only) and the vocabulary through
``ItosUnpickler``, which builds lists and strings and refuses everything else.

Reference: fastai v2 ``fastai/text/learner.py`` (``match_embeds``, ``load_pretrained``,
``clean_raw_keys``) and fastai v0.7 ``courses/dl2/imdb_scripts/finetune_lm.py``.
"""

from __future__ import annotations

import dataclasses
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

from .checkpoint import CheckpointError, check_weights, verify_manifest
from .config import AWDLSTMConfig

FASTAI_PREFIXES = {"0.": "encoder.", "1.": "decoder."}  # fastai SequentialRNN index -> our name
# One embedding matrix under three names (tied decoder; EmbeddingDropout wraps the same nn.Embedding).
EMBEDDING_KEYS = (
    "encoder.encoder.weight",
    "encoder.encoder_dp.emb.weight",
    "decoder.decoder.weight",
)
DECODER_BIAS_KEY = "decoder.decoder.bias"
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
    """Raise ``ValueError`` listing every missing key, unexpected key and shape mismatch at once.

    ``load_state_dict(strict=True)`` would stop at a terse message; a learner loading the wrong
    file (another architecture, 1150 instead of 1152 hidden units, a classifier) needs the list.
    """
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in state_dict.items()}
    problems = [f"missing {k} {expected[k]}" for k in expected if k not in found]
    problems += [f"unexpected {k} {found[k]}" for k in found if k not in expected]
    problems += [
        f"shape of {k}: file {found[k]}, model {expected[k]}"
        for k in expected
        if k in found and found[k] != expected[k]
    ]
    if problems:
        raise ValueError(
            f"{source} does not fit an AWD-LSTM LM of {model.config.vocab_size} words, emb "
            f"{model.config.emb_size}, hidden {model.config.hidden_size}, "
            f"{model.config.n_layers} layers:\n  " + "\n  ".join(problems)
        )
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
        from .registry import safe_extract  # only archives and registry names need the registry

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
    from . import registry

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


# ----------------------------------------------------------------------------- vocabulary transfer


def match_embeddings(
    state_dict_or_model: Mapping[str, Tensor] | LanguageModel,
    old_itos: list[str],
    new_itos: list[str],
) -> dict[str, Tensor] | LanguageModel:
    """Move a pretrained LM to a new vocabulary: ULMFiT's vocabulary transfer (fastai ``match_embeds``).

    Stage 2 (ULMFiT §3.2) fine-tunes the general-domain LM (§3.1) on the target corpus, whose
    vocabulary differs: some words are new, some pretrained words never occur. The new model has one
    embedding row (= tied decoder row) and one decoder bias per *new* vocabulary word:

    - a word in both vocabularies keeps its pretrained row and bias (the knowledge we transfer);
    - a word the pretrained model never saw gets the *mean* row of the old embedding matrix and the
      mean old decoder bias.

    Why the mean: a new word then starts as an "average word". Its input vector has the scale and
    direction the LSTM is used to (a random vector would be noise the pretrained layers never saw,
    zeros a vector unlike any real word), and, with the tied decoder, its predicted probability starts
    at a typical value instead of an arbitrary one. Fine-tuning then moves it from there; ULMFiT
    trains the embeddings first (the last layer group, see ``LanguageModel.groups``).
    Deviation: the paper does not describe this step; it is in the released code (v0.7
    ``finetune_lm.py``: ``row_m = ew.mean(0)``; fastai v1 ``convert_weights``; v2 ``match_embeds``).

    Args:
        state_dict_or_model: a ``LanguageModel``, or its state dict (our key names).
        old_itos: the pretrained vocabulary (index -> token); new_itos: the target vocabulary.
    Returns: of the same kind as the input: a new ``LanguageModel`` (same sizes, dropouts, device
    and train/eval mode, ``len(new_itos)`` words) or a new state dict. The input is not modified.
    """
    if isinstance(state_dict_or_model, LanguageModel):
        model = state_dict_or_model
        new_state = match_embeddings(model.state_dict(), old_itos, new_itos)
        new_model = LanguageModel(dataclasses.replace(model.config, vocab_size=len(new_itos)))
        new_model.load_state_dict(new_state, strict=True)
        return new_model.to(model.encoder.encoder.weight.device).train(model.training)

    state_dict = dict(state_dict_or_model)
    if EMBEDDING_KEYS[0] not in state_dict:
        raise ValueError(
            f"no embedding {EMBEDDING_KEYS[0]!r} in the state dict (fastai keys? convert them "
            "with fastai_to_ours first)"
        )
    weight = state_dict[EMBEDDING_KEYS[0]].detach()  # (old_vocab, emb_size)
    if weight.size(0) != len(old_itos):
        raise ValueError(
            f"old_itos has {len(old_itos)} tokens, the embedding {weight.size(0)} rows"
        )
    old_stoi = {w: i for i, w in enumerate(old_itos)}
    # (new_vocab,): the old id of each new word, -1 for a word the pretrained model never saw
    old_ids = torch.tensor([old_stoi.get(w, -1) for w in new_itos], device=weight.device)
    known = old_ids >= 0

    def transfer(old: Tensor) -> Tensor:  # rows of `old` for known words, its mean row otherwise
        new = old.mean(0, keepdim=True).expand(len(new_itos), *old.shape[1:]).clone()
        new[known] = old[old_ids[known]]
        return new

    new_weight = transfer(weight)  # (new_vocab, emb_size)
    for key in EMBEDDING_KEYS:
        if key in state_dict:
            state_dict[key] = new_weight  # one tensor: the tie survives
    if DECODER_BIAS_KEY in state_dict:
        state_dict[DECODER_BIAS_KEY] = transfer(state_dict[DECODER_BIAS_KEY].detach())
    return state_dict


# ----------------------------------------------------------------------------- the course's model

_on_mirror: dict[str, bool] = {}


def served_by_mirror(name: str) -> bool:
    """Does the room's mirror (``ULMFIT_MIRROR``) serve the local-only entry ``name``? (One HEAD
    request, remembered for the session; False when no mirror is set or it does not answer.)"""
    import urllib.request

    from . import registry

    url = registry.source_url(name, registry.get_entry(name).files[0])
    if not registry.mirror_base() or url is None:
        return False
    if url not in _on_mirror:
        try:
            request = urllib.request.Request(url, method="HEAD")
            with urllib.request.urlopen(request, timeout=5) as response:
                _on_mirror[url] = response.status == 200
        except OSError:
            _on_mirror[url] = False
    return _on_mirror[url]


def course_model(direction: str = "fwd") -> str:
    """The registry name of the pretrained LM the course uses, chosen in this one place.

    The course's own ``general-fwd``/``general-bwd`` (small, made for this course, quoted in the
    notebooks) when they are on this machine (workshop kit, ``ULMFIT_DATA``, the cache) or on the
    room's mirror; otherwise fastai's ``wt103-fwd``/``wt103-bwd``, the paper's own WikiText-103
    models (ULMFiT §3.1), which anyone can download (about 100 MB each, once).
    ``direction``: ``'fwd'``, or ``'bwd'`` for the backward LM of the paper's ensemble (§3.3).
    """
    from . import registry

    if direction not in ("fwd", "bwd"):
        raise ValueError(f"direction must be 'fwd' or 'bwd', not {direction!r}")
    general = f"general-{direction}"
    if registry.available_locally(general) or served_by_mirror(general):
        return general
    return f"wt103-{direction}"


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
    "served_by_mirror",
]
