"""Vocabulary transfer: move a pretrained LM to the target corpus' vocabulary (ULMFiT §3.2).

Stage 2 of ULMFiT fine-tunes the general-domain LM on the target texts, whose vocabulary differs
from the pretrained one. ``match_embeddings`` builds the new embedding (and tied decoder) row by row:
the pretrained row for a known word, the mean row for a new one.

Reference: fastai v2 ``fastai/text/learner.py`` (``match_embeds``); fastai v0.7
``courses/dl2/imdb_scripts/finetune_lm.py``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import torch
from torch import Tensor

from .language_model import LanguageModel

# One embedding matrix under three names (tied decoder; EmbeddingDropout wraps the same nn.Embedding).
EMBEDDING_KEYS = (
    "encoder.encoder.weight",
    "encoder.encoder_dp.emb.weight",
    "decoder.decoder.weight",
)
DECODER_BIAS_KEY = "decoder.decoder.bias"


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


__all__ = ["EMBEDDING_KEYS", "DECODER_BIAS_KEY", "match_embeddings"]
