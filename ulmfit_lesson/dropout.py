"""The AWD-LSTM's three kinds of dropout (Merity, Keskar & Socher 2018, "Regularizing and Optimizing
LSTM Language Models", §4; used unchanged by ULMFiT §3.1).

Plain dropout draws a fresh mask for every element at every time step. That is wrong for an RNN:
the recurrent connection would see a different network at each step and the noise would swamp the
memory. AWD-LSTM therefore drops *consistently*:

- ``RNNDropout`` (variational / locked dropout): one mask per sequence, the same at every time step.
- ``EmbeddingDropout``: drops whole rows of the embedding matrix, i.e. every occurrence of a word.
- ``WeightDropout`` (DropConnect): drops entries of the hidden-to-hidden matrix W_hh, once per
  forward pass, so the recurrence itself is regularised while the LSTM kernel stays a black box.

Reference implementations: fastai v2 ``fastai/text/models/awdlstm.py`` and salesforce/awd-lstm-lm
(``locked_dropout.py``, ``embed_regularize.py``, ``weight_drop.py``). Parameter names follow fastai so
its pretrained state dicts load key for key (``weight_hh_l0_raw``, ``module.weight_ih_l0``, ``emb.weight``).
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call


def dropout_mask(x: Tensor, size: tuple[int, ...], p: float) -> Tensor:
    """An inverted-dropout mask of ``size``: 0 with probability ``p``, else ``1/(1-p)``.

    Why 1/(1-p): scaling the kept units at training time keeps the expected activation unchanged,
    so nothing needs rescaling at evaluation time.

    Why not ``bernoulli_(1 - p)`` or ``F.dropout``: the mask is the same coin, but how fast it is
    drawn matters. W_hh's masks are 5.3 million coins per LSTM layer per step; on a CPU PyTorch
    draws random numbers on one core whatever the thread count, one 32-bit draw per float, so
    drawing them was a tenth of a classifier step on two cores (``bench/bench_train_step.py``). A
    coin needs far fewer bits than a float: here each unit gets 16 random bits (four units per
    64-bit draw), and is kept when they read at least ``k = round(p * 65,536)`` as a number in
    [0, 65,536). So p is rounded to the nearest 1/65,536 (0.15 becomes 0.149994), and the kept
    units are scaled by ``1/(1 - k/65,536)``, which keeps the expectation exact.
    """
    n = math.prod(size)
    k = min(round(p * 2**16), 2**16 - 1)  # p < 1: at least one value in 65,536 is kept
    # Full-range 64-bit integers (from -2**63, no upper bound): every bit is a fair coin.
    bits = torch.empty((n + 3) // 4, dtype=torch.int64, device=x.device).random_(-(2**63), None)
    keep = bits.view(torch.int16)[:n].view(size) >= k - 2**15  # int16 reads [0, 65,536) shifted
    return keep.to(x.dtype).div_(1 - k / 2**16)


class RNNDropout(nn.Module):
    """Locked (variational) dropout: one mask per sequence, shared over all time steps.

    Input ``(bs, seq_len, features)``; the mask has shape ``(bs, 1, features)`` and broadcasts over
    time. Paper: AWD-LSTM §4.2 "Variational dropout"; ULMFiT uses it on inputs, between LSTM layers and
    on the output (``input_p``, ``hidden_p``, ``output_p``).
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        mask = dropout_mask(x, (x.size(0), 1, *x.shape[2:]), self.p)  # (bs, 1, features)
        return x * mask

    def extra_repr(self) -> str:
        return f"p={self.p}"


class EmbeddingDropout(nn.Module):
    """Drop whole words: zero entire rows of the embedding matrix for one forward pass.

    Why rows: dropping single coordinates of an embedding barely hurts a model that can read the
    other 399; dropping the word type forces it not to rely on any one word (AWD-LSTM §4.3, Gal &
    Ghahramani 2016). The mask is ``(vocab_size, 1)`` so every occurrence of a dropped word in the
    batch is zeroed, and kept rows are scaled by ``1/(1-embed_p)``.
    """

    def __init__(self, emb: nn.Embedding, embed_p: float):
        super().__init__()
        self.emb = emb  # the same nn.Embedding the encoder owns: one weight, two names (as fastai)
        self.embed_p = embed_p

    def forward(self, words: Tensor) -> Tensor:
        weight = self.emb.weight
        # padding_idx only stops gradients into the pad row; the lookup itself is an index.
        vectors = F.embedding(words, weight, self.emb.padding_idx)  # (bs, seq_len, emb_size)
        if self.training and self.embed_p != 0:
            mask = dropout_mask(weight, (weight.size(0), 1), self.embed_p)  # one coin per word
            # The same as looking words up in ``weight * mask`` (fastai's way), but multiplying
            # only the rows this batch reads: the whole matrix is 27,053 x 400 numbers, which
            # the product and its gradient would touch twice per step for a few hundred words.
            vectors = vectors * mask[words]
        return vectors

    def extra_repr(self) -> str:
        return f"embed_p={self.embed_p}"


class WeightDropout(nn.Module):
    """DropConnect on an LSTM's hidden-to-hidden matrix ``weight_hh_l0`` (AWD-LSTM §2).

    The trainable copy is ``weight_hh_l0_raw`` (a parameter of this wrapper); the wrapped LSTM keeps
    no W_hh parameter of its own. Each forward pass draws one mask over W_hh (all four gates) and
    runs the LSTM with the dropped matrix, so the same dropped recurrence is used at every time step
    of the batch - which lets PyTorch's fused LSTM kernel (and cuDNN on a GPU) do the work.
    In eval mode the raw weight is used as it is.

    Why not ``setattr`` the dropped weight into the module (as fastai and salesforce do): that hack
    broke with several PyTorch releases (salesforce/awd-lstm-lm #86, #114, #119). ``functional_call``
    is PyTorch's public way to run a module with substitute parameters.
    """

    def __init__(self, module: nn.LSTM, weight_p: float, layer_name: str = "weight_hh_l0"):
        super().__init__()
        self.module, self.weight_p, self.layer_name = module, weight_p, layer_name
        raw = getattr(module, layer_name)
        # Move W_hh out of the LSTM: the raw weight here is the only trainable copy.
        del module._parameters[layer_name]
        self.register_parameter(f"{layer_name}_raw", nn.Parameter(raw.detach().clone()))
        # The LSTM still needs an attribute of that name for its own bookkeeping (_flat_weights).
        setattr(module, layer_name, raw.detach().clone())

    def dropped_weight(self) -> Tensor:
        """The W_hh this forward pass uses: DropConnect'ed in training, the raw one in eval."""
        raw = getattr(self, f"{self.layer_name}_raw")
        if self.training and self.weight_p > 0:
            return raw * dropout_mask(raw, raw.shape, self.weight_p)  # F.dropout, drawn faster
        # A plain-Tensor view, not the Parameter itself: given an nn.Parameter, functional_call
        # would register one in the LSTM, and a stray `module.weight_hh_l0` would then show up in
        # parameters() and state_dict() after the call.
        return raw.view_as(raw)

    def forward(self, x: Tensor, hidden: tuple[Tensor, Tensor] | None = None):
        weights = {self.layer_name: self.dropped_weight()}
        if x.is_cuda:
            # cuDNN warns that substituted weights are not one contiguous block (it copies them
            # once per call, which is what DropConnect needs anyway).
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*contiguous chunk of memory.*")
                return functional_call(self.module, weights, (x, hidden))
        return functional_call(self.module, weights, (x, hidden))

    def extra_repr(self) -> str:
        return f"weight_p={self.weight_p}, layer_name={self.layer_name!r}"


__all__ = ["dropout_mask", "RNNDropout", "EmbeddingDropout", "WeightDropout"]
