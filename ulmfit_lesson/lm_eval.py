"""Evaluating a language model: loss, accuracy and perplexity on held-out text.

The text is read as in training (``lm_loader.py``): ``bs`` streams in windows of ``bptt`` tokens,
the hidden state carried from window to window, but with no shuffle and fixed-length windows, so
the numbers do not depend on a seed. Every predicted token weighs the same.

Reference: pytorch/examples ``word_language_model/main.py`` (``evaluate``), fastai's validation
loop (``Learner.validate`` with a language-model ``DataLoaders``).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import BPTT, BS
from .distributed import RankSlice, all_reduce_sum, autocast
from .lm_loader import LMBatch, LMLoader


class LMMetrics(NamedTuple):
    """Language-model quality over ``n_tokens`` predicted tokens.

    loss: mean cross-entropy per token (nats); perplexity: ``exp(loss)``, the effective number of
    equally likely choices the model hesitates between; accuracy: how often the most likely next
    token is the right one.
    """

    loss: float
    accuracy: float
    perplexity: float
    n_tokens: int

    def as_dict(self) -> dict[str, float]:
        return self._asdict()


def is_loader(data: Any) -> bool:
    return isinstance(data, (LMLoader, RankSlice)) or (
        isinstance(data, (list, tuple)) and bool(data) and isinstance(data[0], LMBatch)
    )


def as_docs(data: Any) -> list:
    """Documents from a 1-D tensor / list of ids (one document) or a list of documents."""
    if isinstance(data, Tensor):
        return [data] if data.dim() == 1 else list(data)
    data = list(data)
    if data and isinstance(data[0], int):
        return [data]
    return data


def as_loader(data: Any, bs: int = BS, bptt: int = BPTT) -> Any:
    """``data`` if it is a loader; documents (or one 1-D tensor of ids) read as ``bs`` streams in
    fixed ``bptt`` windows, in order: the layout every evaluation uses."""
    if is_loader(data):
        return data
    return LMLoader(as_docs(data), bs, bptt, shuffle=False, variable_bptt=False)


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def evaluate_lm(
    model: nn.Module,
    data: Any,
    bs: int = BS,
    bptt: int = BPTT,
    device: str | torch.device | None = None,
    amp: str | None = None,
    max_batches: int | None = None,
) -> LMMetrics:
    """Loss, accuracy and perplexity of a language model on held-out text.

    Args:
        model: a ``LanguageModel`` (or DDP wrapper); put in eval mode (no dropout) for the call and
            restored afterwards.
        data: an ``LMLoader`` (used as it is, so make it ``shuffle=False, variable_bptt=False``), a list
            of numericalized documents, or one 1-D tensor of ids.
        bs, bptt: the layout when ``data`` is not a loader: ``bs`` streams read in fixed ``bptt``
            windows, hidden state carried from window to window (from zeros at the start).
        device: default: where the model is. amp: ``None``, ``'bf16'`` or ``'fp16'``.
        max_batches: stop after that many windows (quick looks).
    Returns: :class:`LMMetrics`, every predicted token weighted equally (sums over all tokens divided
    by their number, not a mean of per-batch means). Under ``torchrun`` with a :class:`RankSlice`
    loader the sums are added over processes.

    To compare with fastai's reported validation numbers use its layout: ``bs=128, bptt=72`` for the
    ``general-*`` models (fastai weights each batch equally; the last, shorter window makes that
    differ from token weighting by well under 0.1%).
    """
    model = getattr(model, "module", model)
    device = torch.device(device) if device is not None else model_device(model)
    loader = as_loader(data, bs, bptt)
    was_training = model.training
    model.eval()
    loss_sum = correct = n_tokens = 0.0
    hidden = None
    cast = autocast(device, amp)
    try:
        for i, batch in enumerate(loader):
            if max_batches is not None and i >= max_batches:
                break
            x, y = batch.x.to(device), batch.y.to(device)  # (bs, seq_len)
            with cast:
                raw, hidden = model.encoder(x, hidden)  # (bs, seq_len, emb_size)
            # The decoder's logits are (bs, seq_len, vocab): 9216 x 26856 floats (1 GB) for a
            # 128 x 72 window. Decode a few rows at a time to keep memory small.
            rows = max(1, (1 << 24) // max(1, raw.size(1) * model.config.vocab_size))
            for r in range(0, raw.size(0), rows):
                with cast:
                    logits, _ = model.decoder(raw[r : r + rows])  # (rows, seq_len, vocab)
                logits = logits.float().reshape(-1, logits.size(-1))
                target = y[r : r + rows].reshape(-1)
                loss_sum += F.cross_entropy(logits, target, reduction="sum").item()
                correct += (logits.argmax(-1) == target).sum().item()
            n_tokens += y.numel()
    finally:
        model.train(was_training)
    if isinstance(loader, RankSlice):
        loss_sum, correct, n_tokens = all_reduce_sum([loss_sum, correct, n_tokens], device)
    if n_tokens == 0:
        raise ValueError("no tokens to evaluate: the data is shorter than one window")
    loss = loss_sum / n_tokens
    return LMMetrics(loss, correct / n_tokens, math.exp(loss), int(n_tokens))


__all__ = ["LMMetrics", "as_docs", "as_loader", "evaluate_lm", "is_loader"]
