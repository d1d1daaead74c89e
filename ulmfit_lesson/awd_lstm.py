"""The AWD-LSTM encoder (Merity, Keskar & Socher 2018), the backbone of ULMFiT (§3.1, §4.1).

    ids (bs, seq_len)
      -> EmbeddingDropout(embedding 400)           drops whole words
      -> RNNDropout(input_p)                       one mask per sequence
      -> LSTM 400->1152 (W_hh DropConnect) -> RNNDropout(hidden_p)
      -> LSTM 1152->1152 (W_hh DropConnect) -> RNNDropout(hidden_p)
      -> LSTM 1152->400 (W_hh DropConnect)         last layer back to 400 so the decoder can be tied
    output (bs, seq_len, 400), hidden state [(h, c)] per layer

Three separate one-layer LSTMs rather than one ``nn.LSTM(num_layers=3)``: each layer gets its own
size, its own DropConnect, dropout between layers, and its own learning rate (discriminative
fine-tuning, ULMFiT §3.2) and freezing (gradual unfreezing, §3.3).

Hidden state is passed in and returned explicitly. The model never detaches it: the training loop
does, between batches, which is what makes back-propagation *truncated* through time.

Submodule names match fastai v2's ``AWD_LSTM`` (``encoder``, ``encoder_dp``, ``rnns``, ``input_dp``,
``hidden_dps``) so fastai's pretrained weights load by key.
Deviation: 1152 hidden units (fastai v1/v2) rather than the paper's 1150; see ``config.py``.
"""

from __future__ import annotations

from torch import Tensor, nn

from .config import AWDLSTMConfig
from .dropout import EmbeddingDropout, RNNDropout, WeightDropout

Hidden = list[tuple[Tensor, Tensor]]  # one (h, c) per layer, each (1, bs, n_out_of_that_layer)


class AWDLSTM(nn.Module):
    """AWD-LSTM encoder: embedding, ``n_layers`` weight-dropped LSTMs, locked dropout between them."""

    init_range = 0.1  # uniform init of the embedding, as salesforce and fastai

    def __init__(self, config: AWDLSTMConfig):
        super().__init__()
        c = self.config = config
        self.encoder = nn.Embedding(c.vocab_size, c.emb_size, padding_idx=c.pad_token)
        self.encoder_dp = EmbeddingDropout(self.encoder, c.embed_p)
        sizes = [c.emb_size] + [c.hidden_size] * (c.n_layers - 1) + [c.emb_size]
        self.rnns = nn.ModuleList(
            WeightDropout(nn.LSTM(sizes[i], sizes[i + 1], 1, batch_first=True), c.weight_p)
            for i in range(c.n_layers)
        )
        self.input_dp = RNNDropout(c.input_p)
        self.hidden_dps = nn.ModuleList(RNNDropout(c.hidden_p) for _ in range(c.n_layers))
        self.encoder.weight.data.uniform_(-self.init_range, self.init_range)

    def forward(self, x: Tensor, hidden: Hidden | None = None) -> tuple[Tensor, Hidden]:
        """Run ``x`` (bs, seq_len) of token ids; return the last layer's output and the new hidden.

        Output: ``(bs, seq_len, emb_size)``, the last LSTM's raw output (no dropout after the last
        layer: the decoder or classifier head applies its own).
        """
        if hidden is None:
            hidden = self.init_hidden(x.size(0), x.device)
        output = self.input_dp(self.encoder_dp(x))  # (bs, seq_len, emb_size)
        new_hidden = []
        for layer, (rnn, hidden_dp) in enumerate(zip(self.rnns, self.hidden_dps)):
            output, layer_hidden = rnn(output, hidden[layer])  # (bs, seq_len, n_out)
            new_hidden.append(layer_hidden)
            if layer != len(self.rnns) - 1:
                output = hidden_dp(output)
        return output, new_hidden

    def init_hidden(self, bs: int, device=None) -> Hidden:
        """Zero hidden state for a batch of ``bs`` sequences: the start of every document stream."""
        weight = self.encoder.weight
        hidden = []
        for rnn in self.rnns:
            h = weight.new_zeros(1, bs, rnn.module.hidden_size, device=device)
            hidden.append((h, h.clone()))
        return hidden

    @property
    def groups(self) -> list[list[nn.Module]]:
        """Layer groups for discriminative learning rates and freezing: one per LSTM (with its
        dropout). The embedding is left out on purpose: the language model puts it last (with the
        tied decoder), the classifier first."""
        return [[rnn, dp] for rnn, dp in zip(self.rnns, self.hidden_dps)]


def detach_hidden(hidden: Hidden) -> Hidden:
    """Cut the graph between batches (truncated BPTT) while keeping the values (the memory)."""
    return [(h.detach(), c.detach()) for h, c in hidden]
