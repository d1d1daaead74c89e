"""The language model: an AWD-LSTM encoder plus a decoder tied to its embedding (ULMFiT §3.1).

    ids (bs, seq_len) -> AWDLSTM -> (bs, seq_len, 400) -> RNNDropout(output_p) -> Linear(400, vocab)

Weight tying (Inan et al. 2017; Press & Wolf 2017): the decoder's weight *is* the embedding matrix.
A word's input vector and its output vector are the same 400 numbers, which halves the parameters
of the two biggest matrices and lets every prediction train the embedding of the predicted word.
That is why the last LSTM layer maps back to 400 units.

State-dict keys match fastai's ``SequentialRNN(AWD_LSTM, LinearDecoder)`` with ``0.`` -> ``encoder.``
and ``1.`` -> ``decoder.``.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor, nn
from torch.nn import functional as F

from .awd_lstm import AWDLSTM, Hidden
from .config import LM_DROPOUTS, AWDLSTMConfig
from .dropout import RNNDropout


class LMOutput(NamedTuple):
    """What a language-model forward pass returns.

    logits:         (bs, seq_len, vocab_size), next-token scores (n_words if given ``words``)
    raw_output:     (bs, seq_len, emb_size), last LSTM output before output dropout (TAR uses it)
    dropped_output: (bs, seq_len, emb_size), the same after output dropout (AR uses it)
    hidden:         new hidden state, one (h, c) per layer (not detached)
    """

    logits: Tensor
    raw_output: Tensor
    dropped_output: Tensor
    hidden: Hidden


class LinearDecoder(nn.Module):
    """Output dropout then a linear layer to the vocabulary, its weight tied to the embedding."""

    def __init__(self, vocab_size: int, emb_size: int, output_p: float, tie_to: nn.Embedding):
        super().__init__()
        self.output_dp = RNNDropout(output_p)
        self.decoder = nn.Linear(emb_size, vocab_size)
        self.decoder.weight = tie_to.weight  # the same Parameter object: tying, not copying
        nn.init.zeros_(self.decoder.bias)

    def forward(self, x: Tensor, words: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Scores for every word, or only for ``words`` (token ids, ``(n_words,)``): then the last
        dimension of the logits is ``n_words``, the i-th score is ``words[i]``'s. Stage 2 uses the
        latter under ``finetune_lm(corpus_softmax=True)``; evaluation and generation score every word.
        """
        dropped = self.output_dp(x)
        if words is None:
            return self.decoder(dropped), dropped
        # Only these rows of the (tied) weight take part: a product 400 x n_words instead of
        # 400 x vocab, and the gradient reaches only these rows of the embedding through the output.
        return F.linear(dropped, self.decoder.weight[words], self.decoder.bias[words]), dropped


class LanguageModel(nn.Module):
    """AWD-LSTM language model: ``encoder`` (AWDLSTM) and tied ``decoder`` (LinearDecoder)."""

    def __init__(self, config: AWDLSTMConfig):
        super().__init__()
        self.config = config
        self.encoder = AWDLSTM(config)
        self.decoder = LinearDecoder(
            config.vocab_size, config.emb_size, config.output_p, self.encoder.encoder
        )

    def forward(
        self, x: Tensor, hidden: Hidden | None = None, words: Tensor | None = None
    ) -> LMOutput:
        """``words``: score only these token ids (``LinearDecoder.forward``); None: all."""
        raw, hidden = self.encoder(x, hidden)
        logits, dropped = self.decoder(raw, words)
        return LMOutput(logits, raw, dropped, hidden)

    @property
    def groups(self) -> list[list[nn.Module]]:
        """fastai's ``awd_lstm_lm_split``: the three LSTMs, then embedding + tied decoder *last*.

        Why last: freezing everything but the last group (``freeze_to(-1)``) then trains only the
        embeddings, which is what new words from the target corpus need first (ULMFiT §3.2).
        """
        return self.encoder.groups + [[self.encoder.encoder, self.encoder.encoder_dp, self.decoder]]


def build_language_model(
    vocab_size: int, drop_mult: float = 1.0, dropouts: dict[str, float] | None = None, **sizes
) -> LanguageModel:
    """An AWD-LSTM LM with fastai's LM dropouts (``LM_DROPOUTS``) times ``drop_mult``.

    ``sizes`` overrides ``emb_size``, ``hidden_size``, ``n_layers`` (e.g. a tiny model for a notebook).
    """
    config = AWDLSTMConfig(vocab_size=vocab_size, **sizes)
    config = config.with_dropouts(dropouts or LM_DROPOUTS, drop_mult)
    return LanguageModel(config)
