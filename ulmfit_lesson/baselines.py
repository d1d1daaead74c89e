"""Baselines that ULMFiT has to beat: always-the-majority-class and TF-IDF + logistic regression.

Both are written out here in numpy/torch (no scikit-learn), small enough to read in one sitting.

**TF-IDF** (bag of words, the classic baseline of the paper's Table 2/3 era):

    tf(t, d)  = count of term t in document d            (raw counts, as scikit-learn's default)
    idf(t)    = ln((1 + n_docs) / (1 + df(t))) + 1        (smoothed, scikit-learn's ``smooth_idf``)
    x_d       = tf(., d) * idf / ||tf(., d) * idf||_2     (each row L2-normalised)

Terms are the course tokenizer's tokens (lower-cased words plus ``xxmaj``/``xxup`` markers), and
optionally word bigrams, seen in at least ``min_df`` training documents. The vocabulary and the idf
come from the training texts only.

**Logistic regression**: a linear layer and softmax (multinomial), trained with full-batch L-BFGS on
the mean cross-entropy plus an L2 penalty ``1 / (2 C n)``-scaled like scikit-learn's ``C``
(``C=1`` by default); ``class_weight='balanced'`` reweights rare classes by ``n / (k * n_c)``.

**Multi-label** (each text has a set of labels, GoEmotions' 28 emotions): one-vs-rest, one sigmoid
per label on the binary cross-entropy, every label its own two-class problem. The labels share no
weights, so fitting them together is fitting each alone (scikit-learn's ``OneVsRestClassifier``);
``'balanced'`` weighs each label's present and absent examples by ``n / (2 * n_present)`` and
``n / (2 * n_absent)``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .labels import balanced_class_weights, encode_labels, label_names_of
from .tokenizer import BOS, tokenize_texts

# ---------------------------------------------------------------------------------------------------
# Majority class
# ---------------------------------------------------------------------------------------------------


def majority_class(train_labels: Sequence) -> str:
    """The most frequent training label (ties: the first in sorted order), as a string."""
    counts = Counter(str(y) for y in train_labels)
    if not counts:
        raise ValueError("majority_class needs at least one training label")
    best = max(counts.values())
    return min(label for label, c in counts.items() if c == best)


# ---------------------------------------------------------------------------------------------------
# TF-IDF
# ---------------------------------------------------------------------------------------------------


def _terms(tokens: Sequence[str], ngram_range: tuple[int, int]) -> list[str]:
    """Unigrams and (optionally) n-grams joined by a space; ``xxbos`` is dropped (every text has it)."""
    tokens = [t for t in tokens if t != BOS]
    out = []
    for n in range(ngram_range[0], ngram_range[1] + 1):
        out.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return out


@dataclass
class TfidfVectorizer:
    """``fit`` on training token lists, ``transform`` any token lists into (n_docs, n_terms) rows."""

    ngram_range: tuple[int, int] = (1, 1)
    min_df: int = 1
    vocabulary: dict[str, int] = field(default_factory=dict)
    idf: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def fit(self, docs: Sequence[Sequence[str]]) -> TfidfVectorizer:
        df = Counter()
        for doc in docs:
            df.update(set(_terms(doc, self.ngram_range)))
        terms = sorted(t for t, c in df.items() if c >= self.min_df)
        self.vocabulary = {t: i for i, t in enumerate(terms)}
        n = len(docs)
        self.idf = np.array([math.log((1 + n) / (1 + df[t])) + 1 for t in terms])
        return self

    def transform(self, docs: Sequence[Sequence[str]]) -> torch.Tensor:
        """A sparse ``(n_docs, n_terms)`` float64 tensor (``.to_dense()`` to look at it).

        Why sparse: a comment has a few dozen of the terms; stored densely, GoEmotions' 39,555
        training comments with uni- and bigrams would take tens of gigabytes.
        """
        rows, cols, values = [], [], []
        for row, doc in enumerate(docs):
            for term, count in Counter(_terms(doc, self.ngram_range)).items():
                col = self.vocabulary.get(term)
                if col is not None:
                    rows.append(row)
                    cols.append(col)
                    values.append(count * self.idf[col])
        rows_t = torch.tensor(rows, dtype=torch.long)
        values_t = torch.tensor(values, dtype=torch.float64)
        norms = (
            torch.zeros(len(docs), dtype=torch.float64).index_add_(0, rows_t, values_t**2).sqrt()
        )
        values_t = values_t / norms[rows_t]  # rows with no known term have no entries: all zeros
        shape = (len(docs), len(self.vocabulary))
        index = torch.stack([rows_t, torch.tensor(cols, dtype=torch.long)])
        return torch.sparse_coo_tensor(index, values_t, shape, check_invariants=True).coalesce()

    def fit_transform(self, docs: Sequence[Sequence[str]]) -> torch.Tensor:
        return self.fit(docs).transform(docs)


# ---------------------------------------------------------------------------------------------------
# Logistic regression
# ---------------------------------------------------------------------------------------------------


def _sparse(x) -> torch.Tensor:
    """Features as a sparse float64 tensor: ``TfidfVectorizer``'s output as it is, or any dense
    array (a test's hand-made rows)."""
    if isinstance(x, torch.Tensor) and x.is_sparse:
        return x.double()
    return torch.as_tensor(np.asarray(x), dtype=torch.float64).to_sparse()


@dataclass
class LogisticRegression:
    """Multinomial logistic regression: ``p(y | x) = softmax(x W + b)``, L2-penalised (``C``).
    Given 0/1 rows ``(n, k)`` instead of class ids, one-vs-rest: ``p(y_j | x) = sigmoid(x W_j + b_j)``.
    """

    C: float = 1.0
    class_weight: str | None = None  # None or "balanced"
    max_iter: int = 200
    weight: np.ndarray | None = None  # (n_features, n_classes)
    bias: np.ndarray | None = None  # (n_classes,)
    n_classes: int = 0
    multi_label: bool = False

    def fit(
        self, x: np.ndarray, y: Sequence[int], n_classes: int | None = None
    ) -> LogisticRegression:
        # Sparse: a TF-IDF row holds a few dozen non-zeros out of tens of thousands of terms, so each
        # L-BFGS step costs the non-zeros (measured: 0.03 s instead of 5 s a step on 4,000 comments).
        x_t = _sparse(x)
        self.multi_label = np.ndim(y) == 2
        if self.multi_label:
            loss_fn, k = self._one_vs_rest_loss(np.asarray(y))
        else:
            loss_fn, k = self._multinomial_loss(np.asarray(y), n_classes)
        self.n_classes = k
        w = torch.zeros(x_t.shape[1], k, dtype=torch.float64, requires_grad=True)
        b = torch.zeros(k, dtype=torch.float64, requires_grad=True)
        # scikit-learn minimises  sum_i c_i * loss_i + ||W||^2 / (2C); we divide all by n.
        l2 = 1.0 / (2 * self.C * x_t.shape[0])
        optimizer = torch.optim.LBFGS(
            [w, b], lr=1, max_iter=self.max_iter, tolerance_grad=1e-8, line_search_fn="strong_wolfe"
        )

        def closure():
            optimizer.zero_grad()
            loss = loss_fn(x_t @ w + b) + l2 * (w**2).sum()
            loss.backward()
            return loss

        # One thread: the problem is small, and extra OpenMP threads only spin on a busy machine
        # (measured: 11 s with 2 threads vs 0.1 s with 1 on a loaded 2-core CPU).
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            optimizer.step(closure)
        finally:
            torch.set_num_threads(threads)
        self.weight, self.bias = w.detach().numpy(), b.detach().numpy()
        return self

    def _multinomial_loss(self, y: np.ndarray, n_classes: int | None):
        """Softmax cross-entropy, each example weighted by its class's weight."""
        y_t = torch.as_tensor(y, dtype=torch.long)
        k = n_classes or int(y_t.max()) + 1
        counts = torch.bincount(y_t, minlength=k).double()
        if self.class_weight == "balanced":
            weights = len(y_t) / (k * counts.clamp(min=1))
        else:
            weights = torch.ones(k, dtype=torch.float64)

        def loss(logits):
            return (F.cross_entropy(logits, y_t, reduction="none") * weights[y_t]).mean()

        return loss, k

    def _one_vs_rest_loss(self, y: np.ndarray):
        """Binary cross-entropy per label, summed over labels (one independent problem each)."""
        y_t = torch.as_tensor(y, dtype=torch.float64)
        if self.class_weight == "balanced":  # per label: [w_absent, w_present], scikit-learn's
            wts = torch.from_numpy(balanced_class_weights(y, y.shape[1], True, power=1.0))
            weights = wts[:, 0] * (1 - y_t) + wts[:, 1] * y_t  # (n, k)
        else:
            weights = torch.ones_like(y_t)

        def loss(logits):
            bce = F.binary_cross_entropy_with_logits(logits, y_t, reduction="none")
            return (bce * weights).sum(1).mean()

        return loss, y.shape[1]

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(n, k): each row sums to 1 (softmax); multi-label, each entry is its label's own
        probability (sigmoid)."""
        if self.weight is None:
            raise ValueError("call fit before predict_proba")
        logits = (_sparse(x) @ torch.from_numpy(self.weight)).numpy() + self.bias
        if self.multi_label:
            return 1.0 / (1.0 + np.exp(-logits))
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class ids (n,); multi-label, 0/1 rows (n, k): each label on at probability 0.5."""
        probs = self.predict_proba(x)
        return (probs >= 0.5).astype(np.int64) if self.multi_label else probs.argmax(axis=1)


# ---------------------------------------------------------------------------------------------------
# Text classifier = TF-IDF + logistic regression
# ---------------------------------------------------------------------------------------------------


@dataclass
class TfidfLogReg:
    """Raw texts in, labels out: the tokenizer, TF-IDF and logistic regression chained."""

    ngram_range: tuple[int, int] = (1, 2)
    min_df: int = 1
    C: float = 10.0
    class_weight: str | None = "balanced"
    label_names: list[str] = field(default_factory=list)
    vectorizer: TfidfVectorizer | None = None
    model: LogisticRegression | None = None

    def fit(
        self, texts: Sequence[str], labels: Sequence, label_names: Sequence[str] | None = None
    ) -> TfidfLogReg:
        """``labels``: one name per text, or (multi-label) a list of names per text.
        ``label_names``: the column order (default: the training labels, sorted)."""
        multi_label = any(isinstance(v, (list, tuple)) for v in labels)
        if label_names is None:  # the training labels, sorted (multi-label: any text's labels)
            label_names = (
                label_names_of(labels, multi_label=True)
                if multi_label
                else sorted({str(y) for y in labels})
            )
        self.label_names = list(label_names)
        self.vectorizer = TfidfVectorizer(self.ngram_range, self.min_df)
        x = self.vectorizer.fit_transform(tokenize_texts(list(texts)))
        y = encode_labels(
            [v if multi_label else str(v) for v in labels], self.label_names, multi_label
        )
        self.model = LogisticRegression(self.C, self.class_weight)
        self.model.fit(x, y, len(self.label_names))
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n_texts, n_classes) probabilities, columns in ``label_names`` order (multi-label:
        each label's own)."""
        return self.model.predict_proba(self.vectorizer.transform(tokenize_texts(list(texts))))

    def predict(self, texts: Sequence[str]) -> list:
        """A label per text; multi-label, the list of labels whose probability reaches 0.5."""
        probs = self.predict_proba(texts)
        if self.model.multi_label:
            return [[n for n, p in zip(self.label_names, row) if p >= 0.5] for row in probs]
        return [self.label_names[i] for i in probs.argmax(axis=1)]


__all__ = ["majority_class", "TfidfVectorizer", "LogisticRegression", "TfidfLogReg"]
