"""Feature extraction: the pretrained encoder frozen, a linear classifier on its pooled outputs.

This is the alternative ULMFiT argues against (§1 and §2, "Transfer learning in NLP"): CoVe
(McCann et al. 2017) and ELMo (Peters et al. 2018) take the hidden states of a pretrained encoder
as *fixed features* and train only a task model on top; ULMFiT fine-tunes the whole network
instead. Here the same pretrained AWD-LSTM serves both, so the two can be compared on one task::

    texts -> tokenizer -> ids -> frozen AWD-LSTM, read as the classifier reads (BPT3C, eval mode)
          -> concat pooling  h_c = [h_T, maxpool(H), meanpool(H)]          (n, 3 * emb_size)
          -> standardised with the training features' mean and std
          -> multinomial logistic regression (``baselines.LogisticRegression``)

The features are exactly what the classifier's head receives (``classifier.concat_pool`` over
``predict.encode_for_inference``), so the only difference from stage 3 is what is trained: a linear
layer on frozen features here, every layer there.

Deviation from ELMo: ELMo learns a weighted sum of all its layers' states; here only the last
layer's outputs are pooled, as ULMFiT's classifier pools them, so the comparison changes one thing.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from .awd_lstm import AWDLSTM
from .baselines import LogisticRegression
from .clas_loader import ClasLoader
from .classifier import BPTT, concat_pool
from .metrics import accuracy, macro_f1
from .predict import encode_for_inference
from .tokenizer import tokenize_texts
from .vocab import Vocab


def frozen_encoder(model: nn.Module) -> AWDLSTM:
    """The AWD-LSTM inside ``model``: an ``AWDLSTM`` itself, or the ``encoder`` of a
    ``LanguageModel`` or ``ULMFiTClassifier``."""
    encoder = model if isinstance(model, AWDLSTM) else getattr(model, "encoder", None)
    if not isinstance(encoder, AWDLSTM):
        raise TypeError(
            f"a {type(model).__name__} has no AWD-LSTM encoder to extract features from"
        )
    return encoder


@torch.no_grad()
def encode_features(
    model: nn.Module,
    vocab: Vocab | Sequence[str],
    texts: Sequence[str],
    bs: int = 64,
    bptt: int = BPTT,
    max_len: int | None = None,
) -> Tensor:
    """Concat-pooled outputs of the frozen encoder for each text, in the order of ``texts``.

    Args:
        model: an ``AWDLSTM``, or a ``LanguageModel`` / ``ULMFiTClassifier`` holding one.
        vocab: the vocabulary the model was trained with (a ``Vocab``, or its ``itos`` list).
        texts: raw texts (tokenized here with the course tokenizer).
        bs, bptt, max_len: batching and BPT3C reading, as the classifier's (ULMFiT §3.3).
    Returns:
        (len(texts), 3 * emb_size) float tensor on the CPU.

    Runs in eval mode (no dropout) and restores the model's mode. Batches are length-sorted and
    padded in whole chunks (``clas_loader``), so a text gets the same features alone or in a batch.
    """
    encoder = frozen_encoder(model)
    vocab = vocab if isinstance(vocab, Vocab) else Vocab(list(vocab))
    if len(vocab) != encoder.config.vocab_size:
        raise ValueError(
            f"vocabulary mismatch: {len(vocab)} tokens, the encoder's embedding has "
            f"{encoder.config.vocab_size} rows"
        )
    docs = [torch.as_tensor(vocab.numericalize(t), dtype=torch.long) for t in tokenize_texts(texts)]
    device = next(encoder.parameters()).device
    out = torch.empty(len(docs), 3 * encoder.config.emb_size)
    was_training = encoder.training
    encoder.eval()
    try:
        for batch in ClasLoader(docs, bs=bs, bptt=bptt, pad_id=encoder.config.pad_token):
            x, mask = batch.x.to(device), batch.mask.to(device)
            output, kept = encode_for_inference(encoder, x, mask, bptt, max_len)
            out[batch.idx] = concat_pool(output, kept).float().cpu()
    finally:
        encoder.train(was_training)
    return out


@dataclass
class FeatureExtractionClassifier:
    """Raw texts in, labels out: frozen-encoder features, standardised, and logistic regression.

    Why standardise: the three pooled parts have different scales (a maximum over positions is
    larger than a mean over them), and one L2 penalty ``C`` treats all features alike only on a
    common scale. The mean and std come from the training texts only.
    ``class_weight='balanced'`` as ``baselines.TfidfLogReg``: the poems are two thirds
    ``no_impact``, and macro-F1 counts every class the same.
    """

    model: nn.Module
    vocab: Vocab | Sequence[str]
    C: float = 1.0
    class_weight: str | None = "balanced"
    bs: int = 64
    label_names: list[str] = field(default_factory=list)
    mean: Tensor | None = None
    std: Tensor | None = None
    linear: LogisticRegression | None = None

    def standardise(self, features: Tensor) -> np.ndarray:
        """``encode_features`` output -> float64 array scaled with the training mean and std."""
        if self.mean is None:
            raise ValueError("call fit before predicting")
        return ((features - self.mean) / self.std).double().numpy()

    def features(self, texts: Sequence[str]) -> np.ndarray:
        """(n, 3 * emb_size) standardised features of raw texts (after ``fit``)."""
        return self.standardise(encode_features(self.model, self.vocab, texts, bs=self.bs))

    def fit(
        self, texts: Sequence[str], labels: Sequence, features: Tensor | None = None
    ) -> FeatureExtractionClassifier:
        """Train the linear layer; ``features``: ``encode_features(texts)`` if already computed."""
        self.label_names = sorted({str(y) for y in labels})
        index = {name: i for i, name in enumerate(self.label_names)}
        x = (
            features
            if features is not None
            else encode_features(self.model, self.vocab, texts, bs=self.bs)
        )
        self.mean = x.mean(0)
        self.std = x.std(0).clamp(min=1e-6)  # a constant feature would divide by zero
        y = [index[str(v)] for v in labels]
        self.linear = LogisticRegression(self.C, self.class_weight)
        self.linear.fit(self.standardise(x), y, len(self.label_names))
        return self

    def predict_proba(self, texts: Sequence[str], features: Tensor | None = None) -> np.ndarray:
        """(n_texts, n_classes) probabilities, columns in ``label_names`` order; ``features``:
        ``encode_features(texts)`` if already computed (``texts`` is then not read)."""
        if self.linear is None:
            raise ValueError("call fit before predicting")
        x = self.standardise(features) if features is not None else self.features(texts)
        return self.linear.predict_proba(x)

    def predict(self, texts: Sequence[str], features: Tensor | None = None) -> list[str]:
        probs = self.predict_proba(texts, features)
        return [self.label_names[i] for i in probs.argmax(axis=1)]

    def score(
        self, texts: Sequence[str] | None, labels: Sequence, features: Tensor | None = None
    ) -> dict[str, float]:
        """``accuracy`` and ``macro_f1`` of the predictions for ``texts`` (or their ``features``)."""
        index = {name: i for i, name in enumerate(self.label_names)}
        unknown = sorted({str(v) for v in labels} - set(index))
        if unknown:
            raise ValueError(f"the test labels hold classes the training labels do not: {unknown}")
        y_true = [index[str(v)] for v in labels]
        y_pred = [index[p] for p in self.predict(texts, features)]
        n = len(self.label_names)
        return dict(accuracy=accuracy(y_true, y_pred), macro_f1=macro_f1(y_true, y_pred, n))


def feature_extraction_baseline(
    model: nn.Module,
    vocab: Vocab | Sequence[str],
    train_texts: Sequence[str],
    train_labels: Sequence,
    test_texts: Sequence[str],
    test_labels: Sequence,
    C: float = 1.0,
    class_weight: str | None = "balanced",
) -> dict:
    """Train :class:`FeatureExtractionClassifier` on the training texts, score it on the test texts.

    Returns: ``accuracy``, ``macro_f1``, ``seconds`` (encoding and training together),
    ``n_features`` and the fitted ``classifier``.
    """
    start = time.time()
    clf = FeatureExtractionClassifier(model, vocab, C=C, class_weight=class_weight)
    scores = clf.fit(train_texts, train_labels).score(test_texts, test_labels)
    return dict(
        **scores,
        seconds=time.time() - start,
        n_features=3 * frozen_encoder(model).config.emb_size,
        classifier=clf,
    )


__all__ = [
    "frozen_encoder",
    "encode_features",
    "FeatureExtractionClassifier",
    "feature_extraction_baseline",
]
