# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03a · From an RNN to the AWD-LSTM, one idea at a time
#
# *Read it first, with every output and figure, without running anything: [this notebook on the course site](https://ulmfit-lesson.github.io/ulmfit-lesson/notebooks/03a_from_rnn_to_awd_lstm.html).*
#
# *Paper: AWD-LSTM (Merity, Keskar & Socher 2018, "Regularizing and Optimizing LSTM Language
# Models"): DropConnect on the recurrent weights (§2), its optimiser (§3, which we replace by Adam),
# embedding dropout, locked dropout, weight tying and AR/TAR (§4); ULMFiT §3.1 takes that model unchanged ("a regular LSTM ... with various
# tuned dropout hyperparameters"). Code: this notebook writes its own; at the end it checks it
# against `ulmfit_lesson.awd_lstm`, `dropout`, `language_model` and `losses`.*
#
# Notebook 03 took the AWD-LSTM apart. This one builds it up, in the spirit of chapter 12 of
# *fastbook*: start from the simplest recurrent language model, add **one idea at a time**, and
# measure each on text the model has not seen. Each idea is a few lines. Some will help on our
# small corpus, and some may not; the table at the end says which, and we read it honestly.
#
# **By the end you can**
#
# 1. write a recurrent language model from an embedding, recurrent layers and a decoder, and train
#    it with truncated backpropagation through time;
# 2. explain what carrying the hidden state from one window to the next buys, and why it is detached;
# 3. add each AWD-LSTM regulariser in a few lines, and say where in the network it acts;
# 4. read a table of validation perplexities: which idea helped on this data at this budget, which
#    did not, and why;
# 5. show that your model *is* the package's AWD-LSTM, by loading the same weights into both.

# %%
# Setup: on Google Colab or another hosted Jupyter, install the course package if it is missing
# (on a machine set up with `make lab` this changes nothing). Datasets and the pretrained model
# download on first use. KIT: optional path or URL of a workshop kit (ulmfit-kit.tar.gz, for a
# room without internet; see docs/facilitator_guide.md).
KIT = ""
try:
    import ulmfit_lesson
except ImportError:
    # Its dependencies (torch>=2.4, numpy, pandas, matplotlib, tqdm) are already on Colab and Kaggle:
    # pip adds only this package, and keeps the service's PyTorch.
    # %pip install -q "ulmfit-lesson @ git+https://github.com/ulmfit-lesson/ulmfit-lesson"
from ulmfit_lesson.course import plan

plan.hosted_setup(KIT)

# %%
# %matplotlib inline
import math
import time

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from ulmfit_lesson import awd_lstm, config, corpus_builder, dropout, language_model, lm_loader, losses, tokenizer
from ulmfit_lesson.course import explain, figures_awd
from ulmfit_lesson.vocab import Vocab

QUICK = config.is_quick()
print("mode:", "QUICK (ULMFIT_QUICK=1: small data, few epochs)" if QUICK else "FULL")

# %% [markdown]
# ## 1. The plan
#
# Eight models, each the previous one plus one idea. The picture is the last of them; the numbers
# say at which step each idea enters:
#
# 1. a plain **RNN** language model, its memory wiped at the start of every window;
# 2. the same model, **stateful**: its memory carried from one window to the next;
# 3. **LSTM** cells instead of plain RNN cells;
# 4. **embedding dropout**: drop whole words (AWD-LSTM §4.3);
# 5. **locked dropout**: one mask per sequence on the inputs, between the layers and on the output (§4.2);
# 6. **DropConnect** on the recurrent matrix $W_{hh}$ (§2);
# 7. **AR/TAR**: penalise loud and jumpy activations (§4.6);
# 8. **weight tying**: the decoder *is* the embedding (§4.4).

# %%
figures_awd.draw_awd_ladder()

# %% [markdown]
# ## 2. A corpus small enough to overfit
#
# Regularisation is a cure for one disease: a model that learns its training text by heart and
# then stumbles on new text. To see the cure work, the patient must be ill, so we want a corpus
# that a small model can overfit within a few minutes on a laptop CPU: real English, with its long
# tail of rare words, but small. We take the validation split of the course's general corpus
# (notebook 04's pretraining text: Wikipedia articles, presidential speeches, Shakespeare and
# Milton, the King James Bible) and keep about a third of it. The *number words* of notebook 03
# would not do: thirty words in a rigid pattern leave little to memorise.
#
# Each document is cut in two: its first 80% is training text, its last 20% validation text.
# Both then hold the same mix of styles (a split by document would put, say, the Bible only in
# validation), and the validation text is still unseen. The vocabulary comes from the training
# text only, keeping words seen at least 3 times; the rest become `xxunk`.

# %%
corpus = corpus_builder.load_pretraining_corpus("valid")
keep = 0.1 if QUICK else 0.35  # the fraction of each document we use
train_docs, valid_docs = [], []
for tokens in tokenizer.tokenize_texts(corpus.text):
    tokens = tokens[: int(len(tokens) * keep)]
    cut = int(len(tokens) * 0.8)
    train_docs.append(tokens[:cut])
    valid_docs.append(tokens[cut:])

vocab = Vocab.build(train_docs, min_freq=3)
train_ids = [vocab.numericalize(doc) for doc in train_docs]
valid_ids = [vocab.numericalize(doc) for doc in valid_docs]
n_train, n_valid = sum(map(len, train_ids)), sum(map(len, valid_ids))
print(f"{len(corpus)} documents: {n_train:,} training tokens, {n_valid:,} validation tokens, vocabulary {len(vocab):,}")
print(" ".join(train_docs[0][:40]))

# %% [markdown]
# ## 3. One training loop for every step
#
# Every model gets the same batches, the same optimiser and the same number of epochs; only the
# model changes, so any difference in the results is the model's.
#
# - **Batches** come from the package's `LMLoader` (notebook 02): the text cut into `bs = 32`
#   streams, read in windows of 35 tokens. Notebook 02's *variable-length* windows are another
#   AWD-LSTM idea (§4.1); we keep the windows fixed so that every step sees exactly the same batches.
# - **Optimiser**: Adam with a constant learning rate, and the gradient norm clipped at 0.5 (a
#   rare huge gradient, easy to get in a recurrent network, then cannot throw the weights far).
#   AWD-LSTM itself trains with SGD and then averaged SGD (§3), which needs many more epochs than
#   we can afford here.
# - **Measure**: validation **perplexity**, $\exp$ of the mean cross-entropy per token. A model
#   with perplexity 50 is, on average, as unsure as if it chose uniformly among 50 words; guessing
#   uniformly over the whole vocabulary gives the vocabulary size. Lower is better.
#
# A model here returns four things, as the package's `LanguageModel` does: the next-token scores,
# the last layer's output before and after output dropout (AR/TAR need them in step 7), and the new
# hidden state. `stateful` says whether the loop carries the hidden state from one window to the
# next; `alpha` and `beta` switch on AR and TAR. Both are explained at the step that uses them.
#
# We use one CPU thread: for matrices this small, coordinating several threads costs more than it
# saves.

# %%
torch.set_num_threads(1)
BS, BPTT = 32, 35
EPOCHS = 2 if QUICK else 14
LR, CLIP = 6e-3, 0.5
EMB, HIDDEN = 64, 128  # embedding width and the first layer's width (ULMFiT: 400 and 1152)

valid_loader = lm_loader.LMLoader(valid_ids, bs=BS, bptt=BPTT, shuffle=False, variable_bptt=False)


def detach(hidden):
    """Keep the hidden state's values but cut the graph behind them (truncated BPTT).

    A plain RNN's state per layer is one tensor h; an LSTM's is a pair (h, c)."""
    return [tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach() for state in hidden]


def evaluate(model, stateful=True):
    """Validation perplexity, dropout off: exp(mean cross-entropy per token)."""
    model.eval()
    hidden, total_loss, n_tokens = None, 0.0, 0
    with torch.no_grad():
        for batch in valid_loader:
            logits, _, _, hidden = model(batch.x, hidden if stateful else None)
            total_loss += F.cross_entropy(logits.flatten(0, 1), batch.y.flatten(), reduction="sum").item()
            n_tokens += batch.y.numel()
    return math.exp(total_loss / n_tokens)


def fit(model, stateful=True, alpha=0.0, beta=0.0):
    """Train for EPOCHS epochs; return one row per epoch: training and validation perplexity."""
    torch.manual_seed(1)  # the dropout masks: the same draws for every model that drops
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    train_loader = lm_loader.LMLoader(train_ids, bs=BS, bptt=BPTT, variable_bptt=False, seed=0)
    rows = []
    for epoch in range(EPOCHS):
        model.train()
        hidden, total_loss, n_batches = None, 0.0, 0
        for batch in train_loader:
            logits, raw, dropped, hidden = model(batch.x, hidden if stateful else None)
            hidden = detach(hidden)
            loss = F.cross_entropy(logits.flatten(0, 1), batch.y.flatten())  # (bs*seq_len, vocab) vs (bs*seq_len,)
            total_loss, n_batches = total_loss + loss.item(), n_batches + 1
            if alpha:  # AR: large activations cost (step 7)
                loss = loss + alpha * dropped.pow(2).mean()
            if beta:  # TAR: fast changes between consecutive steps cost (step 7)
                loss = loss + beta * (raw[:, 1:] - raw[:, :-1]).pow(2).mean()
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), CLIP)
            optimizer.step()
        rows.append({"epoch": epoch + 1, "train": math.exp(total_loss / n_batches), "valid": evaluate(model, stateful)})
    return pd.DataFrame(rows).set_index("epoch")


results = {}  # step name -> what fit returned, and how long it took


def run(step, model, **fit_args):
    """Train one step's model, keep its history, print its last epoch."""
    start = time.time()
    history = fit(model, **fit_args)
    n_params = sum(p.numel() for p in model.parameters())  # a tied matrix counts once
    results[step] = {"history": history, "params": n_params, "seconds": time.time() - start}
    last = history.iloc[-1]
    print(f"{step}: {n_params:,} parameters, validation perplexity {last['valid']:.1f} (training {last['train']:.1f}), "
          f"{results[step]['seconds']:.0f} s")
    return model

# %% [markdown]
# ## 4. Step 1: a plain RNN language model
#
# A recurrent language model has two halves, and every step below keeps them:
#
# - the **encoder**: an embedding that turns each token id into a vector, then recurrent layers
#   that read the vectors left to right, each keeping a hidden state $h_t = \tanh(W_{ih} x_t +
#   W_{hh} h_{t-1} + b)$ as its memory;
# - the **decoder**: a linear layer from the last layer's output to one score per vocabulary word.
#
# ULMFiT splits the model there too, because stage 3 keeps the encoder and replaces the decoder by
# a classifier (ULMFiT §3.3). The attribute names (`encoder.encoder`, `rnns`, `decoder.decoder`)
# are the package's, which are fastai's; step 8 needs them to load the same weights into both.
#
# Two layers, of widths 64 → 128 → 64. The last layer goes back to the embedding's width, as in
# the AWD-LSTM; step 8 will show why.
#
# One choice differs from the package: the embedding and the decoder start uniform in ±1, not
# ±0.1. A score is a dot product of a 64-wide output with a decoder row; with rows in ±0.1 the
# scores start tiny, and the network first spends hundreds of steps saturating its outputs to make
# them bigger. The package's ±0.1 is meant for 400-wide vectors, whose dot products are larger.

# %%
INIT_RANGE = 1.0


class Encoder(nn.Module):
    """Embedding, then recurrent layers of widths EMB -> HIDDEN -> EMB (``cell``: nn.RNN or nn.LSTM)."""

    def __init__(self, vocab_size, cell=nn.RNN):
        super().__init__()
        self.encoder = nn.Embedding(vocab_size, EMB)
        self.encoder.weight.data.uniform_(-INIT_RANGE, INIT_RANGE)
        self.rnns = nn.ModuleList([cell(EMB, HIDDEN, batch_first=True), cell(HIDDEN, EMB, batch_first=True)])

    def forward(self, x, hidden=None):  # x: (bs, seq_len) token ids
        hidden = hidden or [None] * len(self.rnns)  # None: the layer starts from zeros
        output, new_hidden = self.encoder(x), []  # (bs, seq_len, EMB)
        for rnn, state in zip(self.rnns, hidden):
            output, state = rnn(output, state)  # (bs, seq_len, that layer's width)
            new_hidden.append(state)
        return output, new_hidden


class Decoder(nn.Module):
    """A linear layer from the last layer's output to one score per word."""

    def __init__(self, vocab_size):
        super().__init__()
        self.decoder = nn.Linear(EMB, vocab_size)
        self.decoder.weight.data.uniform_(-INIT_RANGE, INIT_RANGE)
        nn.init.zeros_(self.decoder.bias)

    def forward(self, output):
        return self.decoder(output), output  # scores, and the output they were computed from


class LM(nn.Module):
    """Encoder then decoder; returns (scores, raw output, dropped output, hidden) like the package."""

    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, x, hidden=None):
        raw, hidden = self.encoder(x, hidden)
        logits, dropped = self.decoder(raw)  # (bs, seq_len, vocab_size)
        return logits, raw, dropped, hidden

# %% [markdown]
# The classic way to train it: cut the text into windows and start every window with an empty
# memory (`stateful=False`). Gradients flow back through the 35 steps of a window and no further;
# that is *truncated* backpropagation through time.

# %%
torch.manual_seed(0)
rnn_lm = run("1 plain RNN", LM(Encoder(len(vocab)), Decoder(len(vocab))), stateful=False)

# %% [markdown]
# ## 5. Step 2: carry the memory from window to window
#
# The `LMLoader`'s rows are contiguous (notebook 02): row `i` of the next batch continues exactly
# where row `i` of this batch stopped. So the hidden state at the end of a window is the right
# memory to begin the next one with, and the first word of a window need no longer be predicted
# blind. The loop carries it and **detaches** it: the values go forward, the gradient stops at
# the window boundary, so one step of training still costs 35 steps of backpropagation, not the
# whole text.
#
# The model does not change at all, only the loop (`stateful=True`). The validation text is read
# the same way, so the model is measured as it was trained.

# %%
torch.manual_seed(0)
run("2 + stateful", LM(Encoder(len(vocab)), Decoder(len(vocab))), stateful=True);

# %% [markdown]
# ## 6. Step 3: LSTM cells
#
# A plain RNN rewrites its whole memory at every step through a `tanh`, and the gradient through
# many such steps shrinks or explodes. An LSTM (notebook 03, section 2) adds a cell state that is
# changed only by a gated multiplication and an addition, so information and gradient can travel
# far. In code it is one word: `nn.LSTM` instead of `nn.RNN`. Its state per layer becomes a pair
# `(h, c)`, which `detach` already handles.

# %%
torch.manual_seed(0)
run("3 LSTM", LM(Encoder(len(vocab), cell=nn.LSTM), Decoder(len(vocab))));

# %% [markdown]
# ## 7. Step 4: embedding dropout
#
# From here on each step is a regulariser. The first acts on the words themselves: for each
# batch, drop whole **rows** of the embedding matrix, so a dropped word is zero at every position
# where it occurs, and scale the kept rows by $1/(1-p)$ so the expected input stays the same. The
# model must then predict without that word, from the context (AWD-LSTM §4.3). Dropping single
# coordinates would barely matter: the other 63 would carry the word anyway.
#
# The probabilities of all dropouts here are fastai's language-model values (`config.LM_DROPOUTS`,
# the package's defaults), given as the package's names:

# %%
P = config.LM_DROPOUTS
print(P)


# Every dropout below multiplies by a mask: 0 with probability p, else 1/(1-p), so the expected
# input is unchanged and nothing needs rescaling at evaluation time. Drawing millions of such coins
# fast on a CPU is engineering, not the lesson, so we borrow the package's (its docstring says how
# it draws them); that also keeps our random draws in step with the package's for section 13.
dropout_mask = dropout.dropout_mask


class EmbeddingDropout(nn.Module):
    """Zero whole rows (words) of an embedding matrix, a new choice of words per forward pass."""

    def __init__(self, emb, embed_p):
        super().__init__()
        self.emb, self.embed_p = emb, embed_p  # the encoder's own nn.Embedding: one weight, two names

    def forward(self, words):
        weight = self.emb.weight  # (vocab_size, EMB)
        if self.training and self.embed_p > 0:
            weight = weight * dropout_mask(weight, (weight.size(0), 1), self.embed_p)  # one coin per word
        return F.embedding(words, weight)


class EncoderED(Encoder):
    """Step 4: the embedding is read through EmbeddingDropout."""

    def __init__(self, vocab_size):
        super().__init__(vocab_size, cell=nn.LSTM)
        self.encoder_dp = EmbeddingDropout(self.encoder, P["embed_p"])

    def forward(self, x, hidden=None):
        hidden = hidden or [None] * len(self.rnns)
        output, new_hidden = self.encoder_dp(x), []  # new: words dropped
        for rnn, state in zip(self.rnns, hidden):
            output, state = rnn(output, state)
            new_hidden.append(state)
        return output, new_hidden


torch.manual_seed(0)
run("4 + embedding dropout", LM(EncoderED(len(vocab)), Decoder(len(vocab))));

# %% [markdown]
# ## 8. Step 5: locked dropout on inputs, between layers and on the output
#
# Ordinary dropout draws a new mask at every time step, so the recurrence would see a different
# network at each step and the noise would swamp the memory. **Locked** (variational) dropout draws
# one mask per sequence, shape `(bs, 1, features)`, and uses it at every step (AWD-LSTM §4.2, after
# Gal & Ghahramani 2016). The package calls it `RNNDropout`, fastai's name. It goes in three places:
# on the embedded input (`input_p`), between the layers (`hidden_p`) and on the last layer's output
# before the decoder (`output_p`).

# %%
class LockedDropout(nn.Module):
    """Dropout with one mask per sequence, shared by all its time steps."""

    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):  # x: (bs, seq_len, features)
        if not self.training or self.p == 0:
            return x
        return x * dropout_mask(x, (x.size(0), 1, x.size(2)), self.p)  # (bs, 1, features): broadcast over time


class EncoderLD(EncoderED):
    """Step 5: locked dropout on the embedded input and between the layers."""

    def __init__(self, vocab_size):
        super().__init__(vocab_size)
        self.input_dp = LockedDropout(P["input_p"])
        self.hidden_dps = nn.ModuleList(LockedDropout(P["hidden_p"]) for _ in self.rnns)

    def forward(self, x, hidden=None):
        hidden = hidden or [None] * len(self.rnns)
        output, new_hidden = self.input_dp(self.encoder_dp(x)), []  # new: input_dp
        for layer, (rnn, hidden_dp, state) in enumerate(zip(self.rnns, self.hidden_dps, hidden)):
            output, state = rnn(output, state)
            new_hidden.append(state)
            if layer < len(self.rnns) - 1:  # new: between layers; the decoder drops the last output itself
                output = hidden_dp(output)
        return output, new_hidden


class DroppedDecoder(Decoder):
    """Step 5: locked dropout on the last layer's output, then the linear layer."""

    def __init__(self, vocab_size):
        super().__init__(vocab_size)
        self.output_dp = LockedDropout(P["output_p"])

    def forward(self, output):
        dropped = self.output_dp(output)
        return self.decoder(dropped), dropped


locked = LockedDropout(0.5).train()
mask = locked(torch.ones(2, 6, 4))  # (bs, seq_len, features) of ones: what comes out is the mask
assert torch.equal(mask, mask[:, :1].expand_as(mask))  # the same mask at every time step
print(mask[0].T)  # one sequence: features down, time across; each row is all 0 or all 2

torch.manual_seed(0)
run("5 + locked dropout", LM(EncoderLD(len(vocab)), DroppedDecoder(len(vocab))));

# %% [markdown]
# ## 9. Step 6: DropConnect on the recurrent weights
#
# The regulariser the AWD-LSTM is named after ("ASGD Weight-Dropped LSTM", §2). Instead of
# dropping activations, drop entries of the hidden-to-hidden matrix $W_{hh}$, once per forward
# pass (Wan et al. 2013, *DropConnect*). The memory update $W_{hh} h_{t-1}$ is then regularised
# with the same thinned matrix at every step of the batch, and because the mask sits on a weight,
# PyTorch's fast fused LSTM kernel still does all the work.
#
# The wrapper takes $W_{hh}$ away from the LSTM and keeps the trainable copy itself, as
# `weight_hh_l0_raw`. Each forward pass runs the LSTM with a dropped copy, substituted by
# `torch.func.functional_call` (PyTorch's way to run a module with other parameters). In eval mode
# the raw weight is used as it is.

# %%
class WeightDropout(nn.Module):
    """DropConnect on the wrapped LSTM's W_hh (``weight_hh_l0``)."""

    def __init__(self, lstm, weight_p):
        super().__init__()
        self.module, self.weight_p = lstm, weight_p
        raw = lstm.weight_hh_l0
        del lstm._parameters["weight_hh_l0"]  # the LSTM no longer owns W_hh ...
        self.weight_hh_l0_raw = nn.Parameter(raw.detach().clone())  # ... the wrapper does
        lstm.weight_hh_l0 = raw.detach().clone()  # a plain tensor the LSTM's bookkeeping expects

    def forward(self, x, hidden=None):
        raw = self.weight_hh_l0_raw
        # view_as: a plain tensor, so functional_call does not register the Parameter in the LSTM.
        w_hh = raw * dropout_mask(raw, raw.shape, self.weight_p) if self.training and self.weight_p > 0 else raw.view_as(raw)
        return functional_call(self.module, {"weight_hh_l0": w_hh}, (x, hidden))


class EncoderWD(EncoderLD):
    """Step 6: the same network, each LSTM wrapped in WeightDropout. forward() does not change."""

    def __init__(self, vocab_size):
        super().__init__(vocab_size)
        self.rnns = nn.ModuleList(WeightDropout(rnn, P["weight_p"]) for rnn in self.rnns)


torch.manual_seed(0)
run("6 + DropConnect", LM(EncoderWD(len(vocab)), DroppedDecoder(len(vocab))));

# %% [markdown]
# ## 10. Step 7: AR and TAR
#
# Two penalties added to the loss, on the last layer's output (AWD-LSTM §4.6), with ULMFiT's
# weights $\alpha = 2$, $\beta = 1$ (`config.AR_ALPHA`, `config.TAR_BETA`):
#
# - **AR**, $\alpha \cdot \text{mean}(h_{\text{dropped}}^2)$: large activations cost (after output dropout);
# - **TAR**, $\beta \cdot \text{mean}((h_t - h_{t-1})^2)$: fast changes from one step to the next
#   cost (before output dropout).
#
# They were in `fit` from the start, switched off. The model is step 6's. First a check that the
# two lines in `fit` compute what the package's `losses.ar_tar_penalty` does:

# %%
raw, dropped = torch.randn(3, 7, 5), torch.randn(3, 7, 5)  # (bs, seq_len, features)
ours = 2.0 * dropped.pow(2).mean() + 1.0 * (raw[:, 1:] - raw[:, :-1]).pow(2).mean()
torch.testing.assert_close(ours, losses.ar_tar_penalty(raw, dropped, alpha=2.0, beta=1.0))

torch.manual_seed(0)
run("7 + AR/TAR", LM(EncoderWD(len(vocab)), DroppedDecoder(len(vocab))), alpha=config.AR_ALPHA, beta=config.TAR_BETA);

# %% [markdown]
# ## 11. Step 8: weight tying
#
# The embedding maps a word to a 64-vector; the decoder maps a 64-vector to a score per word. Both
# are `vocab × 64` matrices. **Weight tying** (Inan et al. 2017; Press & Wolf 2017; AWD-LSTM §4.4)
# makes them one matrix: a word's input vector is also its output vector, every prediction of a
# word also trains its embedding, and the two largest matrices become one. It is why the last
# layer maps back to the embedding's width: the decoder's input must be as wide as its rows.
# In code it is one assignment: the decoder's `weight` *is* the embedding's Parameter.

# %%
class TiedDecoder(DroppedDecoder):
    """Step 8: the decoder's weight is the embedding's (the same Parameter object)."""

    def __init__(self, vocab_size, embedding):
        super().__init__(vocab_size)
        self.decoder.weight = embedding.weight  # tying, not copying


torch.manual_seed(0)
encoder = EncoderWD(len(vocab))
awd = LM(encoder, TiedDecoder(len(vocab), encoder.encoder))
assert awd.decoder.decoder.weight is awd.encoder.encoder.weight
run("8 + weight tying", awd, alpha=config.AR_ALPHA, beta=config.TAR_BETA);

# %% [markdown]
# ## 12. What each idea did
#
# Two numbers per step, because they answer two questions. **Last epoch**: how good is the model
# after the whole training budget? **Best epoch**: how good would it be had we stopped at the right
# moment (early stopping)? When the two differ, the model got *worse* with more training: it
# overfitted. Beside them, the training perplexity of the last epoch (averaged over its batches,
# with dropout on, so a regularised model's number is pessimistic): a model far better on its
# training text than on the validation text has learned the training text by heart.

# %%
table = pd.DataFrame({
    step: {
        "valid (last epoch)": r["history"].valid.iloc[-1],
        "valid (best epoch)": r["history"].valid.min(),
        "best epoch": r["history"].valid.idxmin(),
        "train (last epoch)": r["history"].train.iloc[-1],
        "parameters": r["params"],
        "seconds": r["seconds"],
    }
    for step, r in results.items()
}).T.astype({"best epoch": int, "parameters": int})
table["change, last epoch"] = table["valid (last epoch)"].diff()  # vs the previous step
table["change, best epoch"] = table["valid (best epoch)"].diff()
table.round(1)

# %%
last, best = table["valid (last epoch)"], table["valid (best epoch)"]
figures_awd.plot_ladder_results(last, best, {step: r["history"] for step, r in results.items()})

# %% [markdown]
# Now read it. The next cell writes, from the numbers above, what each step did to both numbers,
# and whether the model was still improving when training stopped (then more epochs would help
# it) or had passed its best epoch (it had begun to overfit). In quick mode the numbers come from
# a tiny slice of the text and two epochs; read the full run's.

# %%
def change(value):
    return "" if pd.isna(value) else (f"lowered by {-value:.1f}" if value < 0 else f"raised by {value:.1f}")


print(f"{'step':24s} {'last':>6s} {'best':>6s}   change vs the previous step (last / best epoch)")
for step, row in table.iterrows():
    still = "still improving at the end" if row["best epoch"] == EPOCHS else f"best at epoch {row['best epoch']:.0f}, then worse"
    print(f"{step:24s} {row['valid (last epoch)']:6.1f} {row['valid (best epoch)']:6.1f}   "
          f"{change(row['change, last epoch']):17s} / {change(row['change, best epoch']):17s} ({still})")
print(f"\nbest after the last epoch: {last.idxmin()} ({last.min():.1f}); worst: {last.idxmax()} ({last.max():.1f})")
regularisers = table.iloc[3:]  # steps 4-8
print("regularisers that lowered the last-epoch perplexity:",
      regularisers.index[regularisers["change, last epoch"] < 0].tolist() or "none")
print("regularisers that lowered the best-epoch perplexity:",
      regularisers.index[regularisers["change, best epoch"] < 0].tolist() or "none")

# %% [markdown]
# What to look for, and why it comes out as it does:
#
# - **State and cells** (steps 2 and 3) are about *fitting* text better: the carried memory gives
#   the first words of every window a context, at no extra cost, and LSTM cells let information
#   and gradients travel further than plain RNN cells. Compare their *best* epochs. Their *last*
#   epochs can tell another story: a model that fits better also memorises faster. Look at the
#   training perplexity of step 3 against its validation perplexity.
# - **The regularisers** (steps 4-8) are about fitting *unseen* text better, at the price of
#   fitting the training text worse: each one makes training harder (the training column rises).
#   Their first effect is to stop the decline after the best epoch, which shows in the last-epoch
#   column; whether they also lower the best epoch depends on how long the model trains. A model
#   that is "still improving" at the end was stopped early; with more epochs, a bigger model or
#   less data, regularisation can pay off more. The AWD-LSTM was tuned over hundreds of epochs on
#   the Penn Treebank (about a million words) and WikiText-2 (two million); our few epochs on a
#   few tens of thousands of words are a small taste.
# - **One step at a time is not the whole story.** A trick measured on top of the previous ones
#   can look useless because the others already regularise enough, and the dropout strengths are
#   the package's defaults, not tuned for this corpus. A fair study would tune each and average
#   over several seeds; a difference of one or two perplexity points here is within the noise.
# - **Weight tying** also removes `vocab × 64` parameters (compare the `parameters` column): as
#   good a model with fewer parameters is a gain in itself.
#
# ## 13. Is it the package's AWD-LSTM?
#
# Our step 8 claims to be the AWD-LSTM language model. The proof: the package's
# `language_model.LanguageModel`, built with the same sizes and dropouts, accepts our trained
# weights with `strict=True` (every name and shape must match, none missing, none extra) and then
# computes the same scores.

# %%
package_config = config.AWDLSTMConfig(vocab_size=len(vocab), emb_size=EMB, hidden_size=HIDDEN, n_layers=2, **P)
package_lm = language_model.LanguageModel(package_config)
ours_state = awd.state_dict()
print(pd.DataFrame({"ours": {k: tuple(v.shape) for k, v in ours_state.items()},
                    "package": {k: tuple(v.shape) for k, v in package_lm.state_dict().items()}}))
package_lm.load_state_dict(ours_state, strict=True)

x = next(iter(valid_loader)).x[:4]  # 4 sequences of validation text
awd.eval()
package_lm.eval()
with torch.no_grad():
    ours_out, package_out = awd(x), package_lm(x)
torch.testing.assert_close(ours_out[0], package_out.logits)  # the scores
for (h, c), (ph, pc) in zip(ours_out[3], package_out.hidden):  # and the new memory
    torch.testing.assert_close(h, ph)
    torch.testing.assert_close(c, pc)
print("eval mode: the same scores and hidden state")

# %% [markdown]
# In training mode the outputs depend on the dropout masks. Ours draw them in the package's order
# (embedding, input, each layer's $W_{hh}$, between the layers, output) and with the same random
# calls, so from the same seed the masks, and the scores, are the same too:

# %%
awd.train()
package_lm.train()
torch.manual_seed(123)
ours_out = awd(x)
torch.manual_seed(123)
package_out = package_lm(x)
torch.testing.assert_close(ours_out[0], package_out.logits)
torch.testing.assert_close(ours_out[2], package_out.dropped_output)
print("train mode, same seed: the same masks, the same scores")

# %% [markdown]
# The package's encoder forward, for comparison with our `EncoderLD.forward` (one difference the
# check cannot see: the package's embedding marks `xxpad` as `padding_idx`, which only stops
# gradients into that row, and a language-model stream has no padding):

# %%
explain.show_source(awd_lstm.AWDLSTM.forward);

# %% [markdown]
# ## Summary
#
# - A recurrent language model is an encoder (embedding + recurrent layers) and a decoder (a linear
#   layer to one score per word), trained to predict the next token with truncated BPTT.
# - **Stateful** training carries the detached hidden state from one window to the next: context
#   beyond the window, at no extra cost in backpropagation.
# - **LSTM** cells keep a cell state that is only gated and added to, so they learn long-range
#   patterns more easily than a plain RNN.
# - AWD-LSTM's regularisers each take a few lines: **embedding dropout** (whole words), **locked
#   dropout** (one mask per sequence), **DropConnect** on $W_{hh}$ (once per forward pass),
#   **AR/TAR** (penalties on the last layer's output), and **weight tying** (one matrix for
#   embedding and decoder).
# - Regularisers trade training fit for generalisation; they pay off when a model overfits, which
#   depends on the model's size, the data's size and how long it trains. Measure, and read the
#   table you got, not the one you expected.
# - Our final module and the package's `LanguageModel` have the same parameter names and compute
#   the same function: they are the same model.
#
# Three facts from the steps above, checked in code:

# %%
assert table.loc["8 + weight tying", "parameters"] == table.loc["7 + AR/TAR", "parameters"] - len(vocab) * EMB  # tying saves one vocab × emb matrix
assert set(P) == {"embed_p", "input_p", "hidden_p", "weight_p", "output_p"}  # the five dropouts
assert "encoder.rnns.0.weight_hh_l0_raw" in ours_state and "encoder.rnns.0.module.weight_hh_l0" not in ours_state  # DropConnect keeps the raw W_hh

# %% [markdown]
# ## Questionnaire
#
# Answer from memory first, then look back at the section each question comes from. The answer
# sheet below the questions checks the factual ones (✔); for the others, *Our answer* shows one
# to compare with yours.

# %%
from ulmfit_lesson.course import questionnaire

questionnaire.show("03a_from_rnn_to_awd_lstm")

# %% [markdown]
# ## Further research
#
# - Train longer: set `EPOCHS = 30` (or `keep = 1.0` for the whole text) and rerun. Which
#   regularisers change their verdict?
# - Turn on variable-length BPTT (`LMLoader(..., variable_bptt=True)`) and scale the learning rate
#   by `batch.lr_scale` (AWD-LSTM §4.1, notebook 02).
# - Tune one dropout at a time (say `weight_p` in 0, 0.2, 0.5) with three seeds each, and plot
#   the mean and spread: is the difference larger than the noise?
# - Read AWD-LSTM §3 on NT-ASGD, the optimiser the paper pairs with these regularisers, and try
#   `torch.optim.swa_utils.AveragedModel` for the averaging.
# - Melis, Dyer & Blunsom (2018), "On the State of the Art of Evaluation in Neural Language
#   Models": how much of a model's gain is careful tuning.
# - Gal & Ghahramani (2016) for variational (locked) dropout; Wan et al. (2013) for DropConnect;
#   Inan et al. (2017) and Press & Wolf (2017) for weight tying; fastbook chapter 12 for the same
#   ladder on *Human Numbers*.
