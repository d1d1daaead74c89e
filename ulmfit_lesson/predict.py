"""Using a trained ULMFiT classifier: raw texts in, labels and probabilities out, in input order.

``TextClassifier`` bundles what inference needs and nothing else: the model, the vocabulary it reads,
the label names, whether it is multi-label (and its per-label thresholds), a single-label decision
rule tuned for macro-F1 if it has one (``offsets``) and the settings it was trained with. ::

    clf = TextClassifier.load("runs/poems")
    clf.predict(["the sun on the hill", "o death, where is thy sting"])
    # [('positive', {'negative': 0.03, 'no_impact': 0.10, 'positive': 0.87}), ('negative', {...})]

Batches are length-sorted for speed and padded in whole chunks (``clas_loader``); the results are put
back in the order of ``texts``. A text gets the same probabilities alone and inside a batch: the
model runs in eval mode (dropout off, BatchNorm on its running statistics) and padding never reaches
a real token's hidden state (see ``classifier.py``).

``contributions(text)`` explains one prediction, for a notebook to draw as coloured words: gradient x
input on the word embeddings (how much each word pushed the predicted class's score), and which
positions won the max-pool for how many of the pooled features.

Files (``save``/``load``): ``DIR/classifier.pt``, one checkpoint (``checkpoint.save_checkpoint``:
atomic, read back with ``torch.load(weights_only=True)``) holding weights, vocabulary, architecture,
label names, thresholds and offsets. Paper: ULMFiT §3.3 (the classifier being used).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor

from . import checkpoint as ckpt
from .awd_lstm import AWDLSTM
from .clas_loader import ClasLoader, pad_chunks
from .classifier import (
    MAX_LEN_CHUNKS,
    ULMFiTClassifier,
    bpt3c_encode,
    concat_pool,
    document_spans,
)
from .metrics import predict_with_offsets
from .tokenizer import tokenize, tokenize_texts
from .vocab import Vocab

FILENAME = ckpt.CLASSIFIER_FILE  # the classifier in a run folder
KIND = "ulmfit_classifier"
# Inference reads a document in segments of up to this many bptt chunks (2,240 tokens), not one
# chunk at a time: the same numbers, a fraction of the calls (see `encode_for_inference`).
SEGMENT_CHUNKS = 32


class Contributions(NamedTuple):
    """Why the classifier chose ``label`` for one text, token by token.

    tokens:       the tokens the model read (``xxbos``, ``xxmaj`` ... included)
    scores:       gradient x input on each token's embedding, for ``label``'s logit: positive pushed
                  towards ``label``, negative away from it
    maxpool_wins: for each token, how many of the ``emb_size`` max-pooled features took their value
                  at that position (concat pooling's max part, ULMFiT §3.3)
    label, probs: the explained class and the prediction's probabilities
    """

    tokens: list[str]
    scores: list[float]
    maxpool_wins: list[int]
    label: str
    probs: dict[str, float]


@torch.no_grad()
def predict_logits(model: ULMFiTClassifier, loader) -> Tensor:
    """Logits for every document of ``loader`` (a ``clas_loader.ClasLoader``), in the INPUT order.

    Returns: (n_docs, n_classes) float tensor on the model's device; row ``i`` belongs to
    ``loader.docs[i]`` however the loader sorted its batches (each batch carries ``idx``).
    Runs in eval mode (dropout off, BatchNorm running statistics) and restores the model's mode.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = torch.empty(len(loader.docs), model.n_classes, device=device)
    for batch in loader:
        out[batch.idx.to(device)] = model(batch.x.to(device), batch.mask.to(device)).logits.float()
    model.train(was_training)
    return out


def encode_for_inference(
    awd_lstm: AWDLSTM, x: Tensor, mask: Tensor, bptt: int, max_len: int | None = None
) -> tuple[Tensor, Tensor]:
    """``classifier.bpt3c_encode``'s ``(output, kept_mask)`` without gradients, in fewer, longer calls.

    Where the time of a long text goes: an LSTM step at batch size 1 multiplies the hidden state by
    every recurrent weight matrix, so each token reads all of them (about 45 MB for the 1152-unit
    AWD-LSTM) from memory; nothing else is comparable. ``bpt3c_encode`` adds a fixed cost per
    ``bptt`` chunk on top: three LSTM calls, each setting up its kernel and (oneDNN) repacking the
    weights, 70 tokens at a time. With no gradient to keep, nothing ties inference to 70-token
    pieces: a run of chunks with carried hidden state computes the same numbers as those chunks one
    by one. So here a call covers up to ``SEGMENT_CHUNKS`` chunks, cut only where
    ``bpt3c_encode`` does something between chunks: where a row's document starts (its hidden
    state is zeroed there) and where the kept last ``max_len`` positions begin. A row that has not
    started runs on padding inside a segment and is zeroed at its start, as ``bpt3c_encode`` zeroes
    it at every chunk until then; its outputs before its start are masked in the pooling either
    way. Memory stays bounded: a segment's activations are freed before the next.
    """
    max_len = MAX_LEN_CHUNKS * bptt if max_len is None else max_len
    bs, width = x.shape
    starts, ends = document_spans(mask, bptt)
    first = int(starts.min()) // bptt * bptt
    n_chunks = -(-width // bptt)
    kept_from = max(max(n_chunks - max_len // bptt, 0) * bptt, first)
    if (ends <= kept_from).any():  # outputs would be dropped: bpt3c_encode's check, same message
        return bpt3c_encode(awd_lstm, x, mask, bptt, max_len)
    cuts = sorted({kept_from, width, *(int(s) for s in starts.tolist() if first < s < width)})
    hidden = awd_lstm.init_hidden(bs, x.device)
    outputs, i = [], first
    for cut in cuts:
        while i < cut:
            end = min(cut, i + SEGMENT_CHUNKS * bptt)
            started = (starts < i).to(hidden[0][0].dtype).view(1, bs, 1)  # (1, bs, 1)
            hidden = [(h * started, c * started) for h, c in hidden]
            out, hidden = awd_lstm(x[:, i:end], hidden)  # (bs, end - i, emb_size)
            if i >= kept_from:
                outputs.append(out)
            i = end
    return torch.cat(outputs, dim=1), mask[:, kept_from:]


@torch.no_grad()
def inference_logits(model: ULMFiTClassifier, loader: ClasLoader) -> Tensor:
    """``predict.predict_logits`` through :func:`encode_for_inference`: (n_docs, n_classes)
    logits in the input order, in eval mode (the model's mode is restored)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = torch.empty(len(loader.docs), model.n_classes, device=device)
    try:
        for batch in loader:
            x, mask = batch.x.to(device), batch.mask.to(device)
            output, kept = encode_for_inference(model.encoder, x, mask, model.bptt, model.max_len)
            out[batch.idx.to(device)] = model.head(concat_pool(output, kept)).float()
    finally:
        model.train(was_training)
    return out


class NonFiniteOutputError(ValueError):
    """The model produced NaN or infinite probabilities: its weights or inputs are broken."""


def check_finite(probs: Tensor, source: str) -> None:
    """Raise ``NonFiniteOutputError`` naming ``source`` and the texts if ``probs`` is not finite.

    Why an error: a NaN probability printed as a prediction (``neg nan``) looks like an answer; it
    is a broken model, and the only honest output is none.
    """
    bad = (~torch.isfinite(probs)).any(dim=-1).nonzero().flatten().tolist()
    if bad:
        shown = ", ".join(str(i + 1) for i in bad[:10])
        raise NonFiniteOutputError(
            f"{source} gave NaN or infinite probabilities for text(s) {shown} of {len(probs)}; "
            "nothing is reported. Its weights are probably damaged or diverged: retrain it, or "
            "restore the file from a backup."
        )


class TextClassifier:
    """A trained classifier ready for raw text (see the module docstring)."""

    def __init__(
        self,
        model: ULMFiTClassifier,
        vocab: Vocab | Sequence[str],
        label_names: Sequence[str],
        multi_label: bool = False,
        thresholds: Sequence[float] | None = None,
        settings: dict[str, Any] | None = None,
        offsets: Sequence[float] | None = None,
    ):
        """``offsets``: single-label only, one per label, added to the log-probabilities before the
        argmax (``metrics.tune_class_offsets``, tuned on dev by ``train_classifier(tune_decision=
        "macro_f1")``); None = plain argmax."""
        self.model = model.eval()
        self.vocab = vocab if isinstance(vocab, Vocab) else Vocab(list(vocab))
        self.label_names = [str(n) for n in label_names]
        if len(self.label_names) != model.n_classes:
            raise ValueError(
                f"{len(self.label_names)} label names for a model with {model.n_classes} outputs"
            )
        if len(self.vocab) != model.config.vocab_size:
            raise ValueError(
                f"vocabulary mismatch: {len(self.vocab)} tokens, the model's embedding has "
                f"{model.config.vocab_size} rows"
            )
        self.multi_label = multi_label
        if thresholds is None:
            thresholds = [0.5] * len(self.label_names) if multi_label else None
        self.thresholds = list(thresholds) if thresholds is not None else None
        if offsets is not None and (multi_label or len(offsets) != len(self.label_names)):
            raise ValueError(
                f"offsets are for single-label classifiers, one per label ({len(self.label_names)}); "
                f"got {len(offsets)}" + (" for a multi-label one" if multi_label else "")
            )
        self.offsets = [float(v) for v in offsets] if offsets is not None else None
        self.settings = dict(settings or {})
        self.source = "the classifier"  # what errors call it; load() sets the file

    def __repr__(self) -> str:
        kind = "multi-label" if self.multi_label else "single-label"
        return (
            f"TextClassifier({kind}, labels={self.label_names}, vocab {len(self.vocab)} tokens, "
            f"emb {self.model.config.emb_size})"
        )

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # ----------------------------------------------------------------------------- predicting
    def numericalize(self, texts: Sequence[str]) -> list[Tensor]:
        """Raw texts -> 1-D LongTensors of token ids (tokenizer, then this vocabulary)."""
        return [
            torch.as_tensor(self.vocab.numericalize(tokens), dtype=torch.long)
            for tokens in tokenize_texts(texts)
        ]

    def probabilities(self, logits: Tensor) -> Tensor:
        """Softmax (one label per text) or per-label sigmoid (multi-label) of (n, n_classes) logits."""
        return torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=-1)

    def predict_proba(self, texts: Sequence[str] | str, bs: int = 64) -> Tensor:
        """(n_texts, n_classes) probabilities on the CPU, row ``i`` for ``texts[i]``."""
        if isinstance(texts, str):
            texts = [texts]
        if len(texts) == 0:
            return torch.zeros(0, len(self.label_names))
        loader = ClasLoader(self.numericalize(list(texts)), bs=bs, bptt=self.model.bptt)
        probs = self.probabilities(inference_logits(self.model, loader)).cpu()
        check_finite(probs, self.source)
        return probs

    def decide(self, probs: Tensor) -> list:
        """Labels from (n, n_classes) probabilities: the argmax (with ``offsets``: the argmax of
        log-probabilities + offsets), or (multi-label) every label whose probability reaches its
        threshold. The probabilities themselves are the model's, untouched by either rule."""
        if not self.multi_label:
            ids = predict_with_offsets(probs.detach().cpu().numpy(), self.offsets).tolist()
            return [self.label_names[i] for i in ids]
        above = probs >= torch.tensor(self.thresholds, dtype=probs.dtype)
        return [[n for n, on in zip(self.label_names, row) if on] for row in above.tolist()]

    def predict(self, texts: Sequence[str] | str, bs: int = 64, as_frame: bool = False):
        """Predict ``texts`` (one string or a list), in their order.

        Returns: a list of ``(label, {label_name: probability})``, ``label`` a name (or, multi-label,
        a list of names); with ``as_frame=True`` a pandas DataFrame: ``text``, ``label``, and one
        probability column per label.
        """
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        probs = self.predict_proba(texts, bs)
        labels = self.decide(probs)
        rows = [dict(zip(self.label_names, p)) for p in probs.tolist()]
        if as_frame:
            import pandas as pd

            df = pd.DataFrame(rows, columns=self.label_names)
            df.insert(0, "label", labels)
            df.insert(0, "text", texts)
            return df
        return list(zip(labels, rows))

    # ----------------------------------------------------------------------------- explaining
    def contributions(self, text: str, label: str | None = None) -> Contributions:
        """Per-token scores for the prediction of ``text`` (explaining ``label``, default the
        predicted one: the top one, or the one ``offsets`` pick).

        Gradient x input: the dot product of each token's embedding with the gradient of the label's
        logit with respect to it, a first-order estimate of how much that word moved the logit.
        The whole text is read with gradients (``max_len`` raised to its length for this call).
        Why both views: gradient x input says *how much*; the max-pool wins say *where* the pooled
        features came from (a word can win many features and still matter little).
        """
        model = self.model.eval()
        tokens = tokenize(text)
        ids = torch.as_tensor(self.vocab.numericalize(tokens), dtype=torch.long)
        x, mask = pad_chunks([ids], model.bptt, model.config.pad_token)
        x, mask = x.to(self.device), mask.to(self.device)
        captured: list[Tensor] = []

        def keep_embedding(module, inputs, output):  # a leaf we can read the gradient of
            leaf = output.detach().requires_grad_(True)
            captured.append(leaf)
            return leaf

        handle = model.encoder.encoder_dp.register_forward_hook(keep_embedding)
        try:
            with torch.enable_grad():
                output, kept = bpt3c_encode(
                    model.encoder, x, mask, model.bptt, max(model.max_len, x.size(1))
                )
                logits = model.head(concat_pool(output, kept))  # (1, n_classes)
                probs = self.probabilities(logits.detach())[0].cpu()
                if label is None and not self.multi_label:
                    label = self.decide(probs[None])[0]
                index = int(probs.argmax()) if label is None else self.label_names.index(str(label))
                logits[0, index].backward()
        finally:
            handle.remove()
        emb = torch.cat(captured, dim=1)  # (1, width from the first chunk, emb_size)
        grads = torch.cat([c.grad for c in captured], dim=1)
        start = x.size(1) - emb.size(1)  # chunks skipped before the first real token
        real = mask[0, start:]
        scores = (emb * grads).sum(-1)[0][real]  # (n_tokens,)
        # Which position won the max-pool of each feature: argmax over real positions only.
        masked = output.detach()[0].masked_fill(~kept[0].unsqueeze(-1), float("-inf"))
        winners = masked.argmax(dim=0)  # (emb_size,) positions in the kept window
        wins = torch.bincount(winners, minlength=kept.size(1))[kept[0]]
        return Contributions(
            tokens=tokens,
            scores=scores.tolist(),
            maxpool_wins=wins.tolist(),
            label=self.label_names[index],
            probs=dict(zip(self.label_names, probs.tolist())),
        )

    # ----------------------------------------------------------------------------- files
    def save(self, folder: str | Path) -> Path:
        """Write ``folder/classifier.pt`` (atomic; readable with ``weights_only=True``). Returns it."""
        folder = Path(folder)
        extra = {
            "kind": KIND,
            "hparams": self.model.hparams(),
            "label_names": self.label_names,
            "multi_label": self.multi_label,
            "thresholds": self.thresholds,
            "offsets": self.offsets,
            "settings": _plain(self.settings),
        }
        return ckpt.save_checkpoint(
            folder / FILENAME, self.model, self.vocab.itos, self.model.config, extra=extra
        )

    @classmethod
    def load(cls, folder: str | Path, map_location: str | torch.device = "cpu") -> TextClassifier:
        """Read a classifier saved by ``save`` (a folder, or the ``classifier.pt`` file itself).

        Verified first (``checkpoint.load_checkpoint``): the file against the run's
        ``manifest.json`` (when the folder has one), every weight against its sha256 and for
        finiteness.
        """
        path = Path(folder)
        if path.is_dir():
            path = path / FILENAME
        state = ckpt.load_checkpoint(path)
        extra = state.get("extra") or {}
        if extra.get("kind") != KIND:
            raise ckpt.CheckpointError(
                f"{path} is not a saved classifier (kind {extra.get('kind')!r}); "
                "train one with `python -m ulmfit_lesson train-classifier`"
            )
        model = ULMFiTClassifier.from_hparams(extra["hparams"])
        ckpt.load_into(model, state, source=str(path))
        classifier = cls(
            model.to(map_location),
            state["itos"],
            extra["label_names"],
            multi_label=extra["multi_label"],
            thresholds=extra.get("thresholds"),
            settings=extra.get("settings"),
            offsets=extra.get("offsets"),  # None: a file saved without a tuned decision rule
        )
        classifier.source = str(path)
        return classifier


def _plain(value: Any) -> Any:
    """Keep only what a weights_only checkpoint can hold (str for anything else)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


__all__ = ["TextClassifier", "Contributions", "FILENAME", "NonFiniteOutputError", "check_finite"]
