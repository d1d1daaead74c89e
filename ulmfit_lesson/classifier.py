"""Stage 3 of ULMFiT: the text classifier (ULMFiT §3.3, "Target task classifier fine-tuning").

    ids (bs, width), mask (bs, width)
      -> BPT3C: the fine-tuned AWD-LSTM reads each document in ``bptt``-token chunks,
         carrying its hidden state from chunk to chunk; outputs of the last ``max_len`` tokens kept
      -> concat pooling  h_c = [h_T, maxpool(H), meanpool(H)]            (bs, 3 * emb_size)
      -> BatchNorm -> Dropout(output_p) -> Linear(1200, 50) -> ReLU
      -> BatchNorm -> Dropout(0.1)      -> Linear(50, n_classes)          logits (bs, n_classes)

**BPT3C** ("backpropagation through time for text classification", ULMFiT §3.3): a review can be
thousands of tokens long. The document is cut into chunks of ``bptt`` tokens; the model starts each
chunk from the final hidden state of the previous one, so it reads the whole text. Chunks before the
last ``max_len`` tokens run under ``torch.no_grad()``: they only prepare the hidden state, their
outputs are thrown away and no graph is kept, so memory depends on ``max_len``, not on the document's
length. Gradients flow through the kept chunks (including through the hidden state between them).

**Padding** (see ``clas_loader.pad_chunks``): documents in a batch have different lengths. Each row is
``[front padding in whole chunks] + [document] + [end padding < bptt]``, so every document starts on
a chunk boundary and ends inside the batch's last chunk (which is only as long as it needs to be)::

    bptt = 4        chunk 0   chunk 1   chunk 2
    doc A (10 tok)  a a a a | a a a a | a a       starts in chunk 0
    doc B (5 tok)   . . . . | b b b b | b .       one whole chunk of front padding
    doc C (2 tok)   . . . . | . . . . | c c       two whole chunks of front padding
                    ^ hidden of B, C forced to 0 until their first real chunk

A row's hidden state is multiplied by 0 until the row's document has started, so B begins at chunk 1
from exactly the zero state it would have alone. End padding comes *after* the last real token, and an
LSTM never looks ahead, so it cannot change any real output. That is why a text gets the same
prediction alone and inside a batch (fastai issue #3379 shows what happens when documents start
mid-chunk, after some padding: the padding leaks into the hidden state).

Deviation from fastai (not from the paper): the classifier's dropouts are ULMFiT §4.1's as they stand
(``DROP_MULT = 1.0``); fastai's ``text_classifier_learner`` halves them (``drop_mult=0.5``). On the
poems, 3-fold cross-validation over the training verses preferred the paper's values (README, "What
moved it"); pass ``drop_mult=0.5`` for fastai's.

Reference: fastai v2 ``SentenceEncoder``, ``masked_concat_pool``, ``PoolingLinearClassifier``,
``awd_lstm_clas_split`` (``fastai/text/models/core.py``, ``awdlstm.py``); fastai v0.7
``MultiBatchRNN`` (``max_seq = 20 * bptt``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import torch
from torch import Tensor, nn

from .awd_lstm import AWDLSTM
from .config import BPTT, CLAS_DROPOUTS, AWDLSTMConfig
from .integrity import check_fits
from .model_source import resolve
from .schedules import clas_layer_groups

MAX_LEN_CHUNKS = 20  # fastai v0.7 train_clas.py: max_seq = 20 * bptt (1400 tokens)
HEAD_HIDDEN = 50  # ULMFiT §4.1: "a hidden layer of size 50" in the classifier head
HEAD_LAST_P = 0.1  # fastai: dropout before the last linear layer (``ps=[0.1]``, not scaled)
# ULMFiT §4.1's classifier dropouts unscaled. fastai's ``text_classifier_learner`` scales them by 0.5;
# on the poems, 3-fold cross-validation over the training verses preferred 1.0 (README "What moved it").
DROP_MULT = 1.0


class ClassifierOutput(NamedTuple):
    """What a classifier forward pass returns.

    logits:         (bs, n_classes), unnormalised scores (softmax or sigmoid in the loss)
    raw_output:     (bs, kept, emb_size), the encoder's last-layer outputs of the kept chunks
    dropped_output: the same tensor: the classifier has no output dropout on the sequence (its
                    dropout acts on the pooled vector), exactly as fastai's ``(x, out, out)``
    mask:           (bs, kept) bool, True at real tokens of the kept chunks (AR/TAR skip padding)
    """

    logits: Tensor
    raw_output: Tensor
    dropped_output: Tensor
    mask: Tensor


# ----------------------------------------------------------------------------- BPT3C


def document_spans(mask: Tensor, bptt: int) -> tuple[Tensor, Tensor]:
    """First and one-past-last real position of each row, checking the padding scheme.

    Args: ``mask`` (bs, width) bool, True at real tokens.
    Returns: ``(starts, ends)``, each (bs,) long.
    Raises: ``ValueError`` naming the row if it is empty, has padding inside the document, or
    does not start on a multiple of ``bptt`` (the bug of fastai issue #3379).
    """
    bs, width = mask.shape
    pos = torch.arange(width, device=mask.device).expand(bs, width)  # (bs, width)
    n_real = mask.sum(1)  # (bs,)
    starts = torch.where(mask, pos, width).min(1).values  # (bs,)
    ends = torch.where(mask, pos, -1).max(1).values + 1  # (bs,)
    for name, bad in (
        ("has no real token", n_real == 0),
        ("has padding inside the document", (n_real > 0) & (ends - starts != n_real)),
        (f"does not start on a multiple of bptt={bptt}", (n_real > 0) & (starts % bptt != 0)),
    ):
        if bad.any():
            row = int(bad.nonzero()[0])
            raise ValueError(
                f"row {row} of the batch {name} (start {int(starts[row])}, end {int(ends[row])}, "
                f"{int(n_real[row])} real tokens); pad batches with clas_loader.pad_chunks: "
                "whole chunks of padding in front, the rest at the end"
            )
    return starts, ends


def bpt3c_encode(
    awd_lstm: AWDLSTM, x: Tensor, mask: Tensor, bptt: int = BPTT, max_len: int | None = None
) -> tuple[Tensor, Tensor]:
    """Run ``awd_lstm`` over documents in ``bptt`` chunks; keep the outputs of the last ``max_len``.

    Args:
        awd_lstm: the encoder.
        x: (bs, width) token ids, padded as ``clas_loader.pad_chunks`` does.
        mask: (bs, width) bool, True at real tokens.
        bptt: the chunk length (70 in the paper).
        max_len: how many of the last positions keep their outputs and gradients; rounded down to
            whole chunks (at least one). Default ``20 * bptt`` (fastai v0.7 ``max_seq``).
    Returns:
        ``(output, kept_mask)``: (bs, kept, emb_size) last-layer outputs of the kept chunks and their
        (bs, kept) mask. Each row's last real token is in the last chunk, so it is always kept.

    Paper: ULMFiT §3.3, BPT3C: "We divide the document into fixed-length batches of size b. At the
    beginning of each batch, the model is initialized with the final state of the previous batch ...
    gradients are back-propagated to the batches whose hidden states contributed to the final
    prediction."
    Why ``no_grad`` for the early chunks: their graphs would hold every activation of the document
    until ``backward``; a 200,000-token text would not fit in memory.
    Deviation: fastai detaches the hidden state at every chunk, so gradient reaches an earlier kept
    chunk only through the pooling; here it also flows through the hidden state inside the kept
    window (free: the kept activations are stored anyway), as plain BPTT over ``max_len`` tokens.
    fastai skips the rows that have not started (``real_bs``, which needs a longest-first sort);
    here they run on padding and their hidden state is zeroed until their start, so any batch order
    works.
    """
    max_len = MAX_LEN_CHUNKS * bptt if max_len is None else max_len
    if max_len < bptt:
        raise ValueError(f"max_len ({max_len}) must be at least one chunk (bptt={bptt})")
    bs, width = x.shape
    starts, ends = document_spans(mask, bptt)
    # First chunk with a real token in any row; all-padding chunks before it are skipped.
    first = int(starts.min()) // bptt * bptt
    # Keep the chunks that start at i with width - i <= max_len (fastai's `sl - i <= max_len`).
    n_chunks = -(-width // bptt)
    kept_from = max(n_chunks - max_len // bptt, 0) * bptt
    kept_from = max(kept_from, first)
    if (ends <= kept_from).any():  # e.g. right padding: a short row ends before the kept chunks
        row = int((ends <= kept_from).nonzero()[0])
        raise ValueError(
            f"row {row} of the batch ends at position {int(ends[row])}, before the kept last "
            f"{width - kept_from} positions (max_len={max_len}): its outputs would be thrown away; "
            "pad batches with clas_loader.pad_chunks so every document ends in the last chunk"
        )
    hidden = awd_lstm.init_hidden(bs, x.device)
    outputs = []
    for i in range(first, width, bptt):
        # Rows whose document starts at or after i have not started: reset them to zero state.
        started = (starts < i).to(hidden[0][0].dtype).view(1, bs, 1)  # (1, bs, 1)
        hidden = [(h * started, c * started) for h, c in hidden]
        chunk = x[:, i : i + bptt]  # (bs, <= bptt)
        if i < kept_from:
            with torch.no_grad():  # only the hidden state matters; no graph is kept
                _, hidden = awd_lstm(chunk, hidden)
        else:
            out, hidden = awd_lstm(chunk, hidden)  # (bs, <= bptt, emb_size)
            outputs.append(out)
    return torch.cat(outputs, dim=1), mask[:, kept_from:]


# ----------------------------------------------------------------------------- pooling and head


def last_positions(mask: Tensor) -> Tensor:
    """(bs,) index of the last True of each row of ``mask`` (bs, seq_len): the true last token."""
    pos = torch.arange(mask.size(1), device=mask.device).expand_as(mask)  # (bs, seq_len)
    return torch.where(mask, pos, -1).max(1).values


def concat_pool(output: Tensor, mask: Tensor) -> Tensor:
    """Masked concat pooling ``h_c = [h_T, maxpool(H), meanpool(H)]``, ignoring padding.

    Args:
        output: (bs, seq_len, n) encoder outputs ``H``.
        mask: (bs, seq_len) bool, True at real tokens (each row needs at least one).
    Returns:
        (bs, 3 * n): ``h_T`` = the output at each row's *last real* token (not the last position,
        which may be padding), the max over real positions (padding filled with ``-inf``), and the
        mean over real positions (sum divided by the true length).

    Paper: ULMFiT §3.3, "Concat pooling". Why: "the signal in text classification tasks is
    often contained in a few words, which may occur anywhere in the document"; ``h_T`` alone would
    have to remember them through every later token.
    """
    bs = output.size(0)
    real = mask.unsqueeze(-1)  # (bs, seq_len, 1)
    h_last = output[torch.arange(bs, device=output.device), last_positions(mask)]  # (bs, n)
    max_pool = output.masked_fill(~real, float("-inf")).max(dim=1).values  # (bs, n)
    lengths = mask.sum(1, keepdim=True).to(output.dtype)  # (bs, 1)
    mean_pool = output.masked_fill(~real, 0.0).sum(dim=1) / lengths  # (bs, n)
    return torch.cat([h_last, max_pool, mean_pool], dim=1)


class PoolingClassifierHead(nn.Module):
    """Two blocks of BatchNorm1d -> Dropout -> Linear, ReLU between: 3 * emb_size -> 50 -> n_classes.

    Paper: ULMFiT §3.3: "two additional linear blocks ... Each block uses batch normalization and
    dropout, with ReLU activations for the intermediate layer and a softmax activation that outputs a
    probability distribution over target classes at the last layer" (the softmax is in the loss).
    Reference: fastai ``PoolingLinearClassifier`` of ``LinBnDrop`` blocks. Like fastai, the linear
    layers have no bias: the BatchNorm in front of them has one.
    """

    def __init__(self, n_in: int, n_classes: int, hidden: int = HEAD_HIDDEN, ps=(0.2, HEAD_LAST_P)):
        super().__init__()
        dims = [n_in, hidden, n_classes]
        blocks = []
        for i, p in enumerate(ps):
            block = [nn.BatchNorm1d(dims[i]), nn.Dropout(p), nn.Linear(dims[i], dims[i + 1], False)]
            if i < len(ps) - 1:
                block.append(nn.ReLU(inplace=True))
            blocks.append(nn.Sequential(*block))
        self.layers = nn.Sequential(*blocks)

    def forward(self, pooled: Tensor) -> Tensor:
        """(bs, n_in) pooled features -> (bs, n_classes) logits."""
        return self.layers(pooled)


# ----------------------------------------------------------------------------- the classifier


class ULMFiTClassifier(nn.Module):
    """The ULMFiT classifier: ``encoder`` (an AWD-LSTM read with BPT3C) and ``head``.

    ``forward(x, mask=None)``: ``x`` (bs, width) ids padded by ``clas_loader.pad_chunks``; ``mask``
    (bs, width) bool, True at real tokens (default ``x != pad_token``).
    """

    def __init__(
        self,
        config: AWDLSTMConfig,
        n_classes: int,
        bptt: int = BPTT,
        max_len: int | None = None,
        head_hidden: int = HEAD_HIDDEN,
        head_last_p: float = HEAD_LAST_P,
    ):
        super().__init__()
        if n_classes < 1:
            raise ValueError(f"n_classes must be >= 1, got {n_classes}")
        self.config = config
        self.n_classes, self.bptt, self.head_hidden = n_classes, bptt, head_hidden
        self.max_len = MAX_LEN_CHUNKS * bptt if max_len is None else max_len
        self.head_last_p = head_last_p
        self.encoder = AWDLSTM(config)
        # fastai: ps = [output_p] + [0.1]; output_p is already scaled by drop_mult in `config`.
        self.head = PoolingClassifierHead(
            3 * config.emb_size, n_classes, head_hidden, (config.output_p, head_last_p)
        )

    def forward(self, x: Tensor, mask: Tensor | None = None) -> ClassifierOutput:
        if mask is None:
            mask = x != self.config.pad_token
        output, kept_mask = bpt3c_encode(self.encoder, x, mask, self.bptt, self.max_len)
        logits = self.head(concat_pool(output, kept_mask))  # (bs, n_classes)
        return ClassifierOutput(logits, output, output, kept_mask)

    @property
    def groups(self) -> list[list[nn.Module]]:
        """fastai's ``awd_lstm_clas_split``: [embedding], rnn0, rnn1, rnn2, [head] (lowest first)."""
        return clas_layer_groups(self.encoder, self.head)

    def hparams(self) -> dict:
        """Everything needed to rebuild this module (saved next to its weights)."""
        return dict(
            config=self.config.to_dict(),
            n_classes=self.n_classes,
            bptt=self.bptt,
            max_len=self.max_len,
            head_hidden=self.head_hidden,
            head_last_p=self.head_last_p,
        )

    @classmethod
    def from_hparams(cls, hparams: Mapping) -> ULMFiTClassifier:
        h = dict(hparams)
        return cls(AWDLSTMConfig(**h.pop("config")), **h)


# ----------------------------------------------------------------------------- building from an LM


def _sizes_from_state(state: Mapping[str, Tensor]) -> dict[str, int]:
    if "encoder.weight" not in state:
        raise ValueError(
            f"no embedding 'encoder.weight' among the encoder keys {sorted(state)[:6]}"
        )
    vocab_size, emb_size = state["encoder.weight"].shape
    n_layers = sum(1 for k in state if k.endswith("weight_hh_l0_raw"))
    hidden = state["rnns.0.weight_hh_l0_raw"].shape[1] if n_layers > 1 else emb_size
    return dict(vocab_size=vocab_size, emb_size=emb_size, hidden_size=hidden, n_layers=n_layers)


def build_classifier(
    encoder_source,
    n_classes: int,
    vocab=None,
    drop_mult: float = DROP_MULT,
    dropouts: Mapping[str, float] | None = None,
    bptt: int = BPTT,
    max_len: int | None = None,
    head_hidden: int = HEAD_HIDDEN,
    **sizes: int,
) -> ULMFiTClassifier:
    """A classifier whose encoder is a copy of the (fine-tuned) language model's.

    Args:
        encoder_source: anything ``model_source.resolve`` accepts: a ``LanguageModel``, an
            ``AWDLSTM``, a state dict of either, a checkpoint or run folder, a registry name, or
            the ``ModelSource`` it returns (then nothing is read again).
        n_classes: the number of outputs.
        vocab: optional; the vocabulary the texts will be numericalized with (a ``Vocab``, an
            ``itos`` list or its size). It must be the language model's: checked.
        drop_mult: scales every classifier dropout (``CLAS_DROPOUTS``, ULMFiT §4.1); 1.0, the paper's.
        dropouts: replaces ``CLAS_DROPOUTS``.
        sizes: optional ``vocab_size``/``emb_size``/``hidden_size``/``n_layers`` you expect; checked.
    Raises: ``ValueError`` naming both sizes when the vocabulary or the architecture does not match
    (ULMFiT's classifier must read the tokens the language model was fine-tuned on; loading another
    vocabulary would silently pair every word with another word's embedding).
    Paper: ULMFiT §3.3: the classifier is the fine-tuned LM plus two linear blocks.
    """
    source = resolve(encoder_source)
    state, config_dict, name, source_itos = (
        source.encoder_state,
        source.config,
        source.name,
        source.itos,
    )
    found = _sizes_from_state(state)
    # The source's config knows its padding id; the sizes are read off the weights themselves.
    base = AWDLSTMConfig(**{**(config_dict or {}), **found})
    if vocab is not None:
        n_vocab = vocab if isinstance(vocab, int) else len(vocab)
        if n_vocab != found["vocab_size"]:
            raise ValueError(
                f"vocabulary mismatch: {name} has {found['vocab_size']} tokens but the "
                f"classifier's vocabulary has {n_vocab}; numericalize the texts with the "
                "vocabulary the language model was fine-tuned with"
            )
        itos = getattr(vocab, "itos", vocab)
        if source_itos is not None and not isinstance(itos, int) and list(itos) != source_itos:
            first = next(i for i, (a, b) in enumerate(zip(itos, source_itos)) if a != b)
            raise ValueError(
                f"vocabulary mismatch: {name} and the classifier's vocabulary both have "
                f"{n_vocab} tokens but differ from id {first} ({source_itos[first]!r} vs "
                f"{itos[first]!r}); numericalize with the language model's vocabulary"
            )
    for key, want in sizes.items():
        if key not in found:
            raise TypeError(f"unknown size {key!r}; expected one of {sorted(found)}")
        if want != found[key]:
            raise ValueError(f"architecture mismatch: {name} has {key}={found[key]}, asked {want}")
    config = base.with_dropouts(dict(dropouts or CLAS_DROPOUTS), drop_mult)
    model = ULMFiTClassifier(config, n_classes, bptt, max_len, head_hidden)
    check_fits(model.encoder.state_dict(), state, name, "the classifier's encoder")
    model.encoder.load_state_dict(state, strict=True)
    return model


__all__ = [
    "BPTT",
    "MAX_LEN_CHUNKS",
    "HEAD_HIDDEN",
    "ClassifierOutput",
    "document_spans",
    "bpt3c_encode",
    "last_positions",
    "concat_pool",
    "PoolingClassifierHead",
    "ULMFiTClassifier",
    "build_classifier",
]
