"""Where a classifier's encoder comes from: every way a user can name a language model, resolved once.

ULMFiT §3.3 builds the classifier on the encoder of the fine-tuned language model: the embedding
and the LSTM layers, without the LM's decoder. A user can name that model in many ways::

    an LM in memory        a LanguageModel, (model, itos) as load_fastai_lm returns, an LMResult
    an encoder in memory   an AWDLSTM, a ULMFiTClassifier (its encoder), a state dict of either
    a registry name        'general-fwd', 'wt103-fwd' (downloaded once, sha256-checked)
    a fastai model         a folder holding *.pth + itos.pkl, or an archive of one (.tgz, .zip)
    one of our files       encoder.pt, lm.pt or classifier.pt (checkpoint.load_checkpoint)
    a run folder           a folder holding one of those (the encoder first: it is all we need)

:func:`resolve` turns any of them into a :class:`ModelSource`: the encoder's weights (keys of
``AWDLSTM.state_dict()``), its config and vocabulary when known, and a name for error messages.
Each file is read once; whoever needs the vocabulary (``clas_recipes``) and whoever needs the
weights (``classifier.build_classifier``) share the result.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from .awd_lstm import AWDLSTM
from .checkpoint import RUN_FILES, encoder_state_dict, encoder_weights, load_checkpoint
from .config import AWDLSTMConfig
from .language_model import LanguageModel
from .pretrained import ARCHIVE_SUFFIXES, load_fastai_lm


@dataclass
class ModelSource:
    """A language model's encoder, resolved: what ``build_classifier`` copies into a classifier.

    ``encoder_state``: the AWD-LSTM's weights (``AWDLSTM.state_dict()`` keys); ``config``: the
    ``AWDLSTMConfig`` fields when known (the padding id; sizes are read off the weights); ``itos``:
    the vocabulary when known; ``vocab``: the ``Vocab`` object a recipe returned, when there is one
    (a backwards LM's ``ReversedVocab`` numericalizes in reverse, which ``itos`` alone would lose);
    ``name``: how error messages call it.
    """

    encoder_state: dict[str, Tensor]
    config: dict | None
    itos: list[str] | None
    name: str
    vocab: Any = None


def resolve(source: Any) -> ModelSource:
    """The encoder of ``source``, any of the forms listed in the module docstring.

    Raises: ``TypeError`` for anything else; ``FileNotFoundError`` / ``ValueError`` (its subclass
    ``CheckpointError`` for a damaged or foreign file) naming the path.
    """
    if isinstance(source, ModelSource):
        return source
    if hasattr(source, "model") and hasattr(source, "vocab"):  # lm_recipes.LMResult
        found = resolve(source.model)
        return dataclasses.replace(found, itos=list(source.vocab.itos), vocab=source.vocab)
    if isinstance(source, tuple) and len(source) == 2:  # (model, itos), as load_fastai_lm returns
        return dataclasses.replace(resolve(source[0]), itos=list(source[1]))
    if isinstance(source, nn.Module):
        return _from_module(source)
    if isinstance(source, Mapping):
        return ModelSource(encoder_weights(source), None, None, "the state dict")
    if isinstance(source, (str, Path)):
        file = _checkpoint_file(Path(source))
        if file is not None:
            return _from_checkpoint(file)
        model, itos = load_fastai_lm(source)  # a registry name, a fastai folder or archive
        return dataclasses.replace(_from_module(model), itos=itos, name=str(source))
    raise TypeError(
        "the language model must be a LanguageModel, an AWDLSTM, (model, itos), an LMResult, a "
        "state dict, a registry name or a path (a checkpoint, a run folder, a fastai folder or "
        f"archive); got {type(source).__name__}"
    )


def _from_module(module: nn.Module) -> ModelSource:
    if isinstance(module, AWDLSTM):
        return ModelSource(module.state_dict(), module.config.to_dict(), None, "the encoder")
    encoder = getattr(module, "encoder", None)
    if not isinstance(encoder, AWDLSTM):
        raise TypeError(f"a {type(module).__name__} has no AWD-LSTM encoder to reuse")
    name = "the language model" if isinstance(module, LanguageModel) else "the classifier's encoder"
    return ModelSource(encoder.state_dict(), encoder.config.to_dict(), None, name)


def _checkpoint_file(path: Path) -> Path | None:
    """``path`` if it is a file but not an archive (one of our checkpoints, ``.pt``), the first of
    ``RUN_FILES`` in a run folder, else ``None`` (a registry name, a fastai folder or archive)."""
    if path.is_dir():
        return next((path / n for n in RUN_FILES if (path / n).is_file()), None)
    return path if path.is_file() and not path.name.endswith(ARCHIVE_SUFFIXES) else None


def _from_checkpoint(path: Path) -> ModelSource:
    state = load_checkpoint(path)
    fields = {f.name for f in dataclasses.fields(AWDLSTMConfig)}
    config = {k: v for k, v in (state.get("config") or {}).items() if k in fields} or None
    return ModelSource(encoder_state_dict(state), config, state.get("itos"), str(path))


__all__ = ["ModelSource", "resolve"]
