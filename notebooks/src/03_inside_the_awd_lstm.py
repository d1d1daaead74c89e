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
# # 03 · Inside the AWD-LSTM
#
# *Read it first, with every output and figure, without running anything: [this notebook on the course site](https://ulmfit-lesson.github.io/ulmfit-lesson/notebooks/03_inside_the_awd_lstm.html).*
#
# *Paper: ULMFiT §3.1 uses "the state-of-the-art language model AWD-LSTM", a plain LSTM with
# carefully tuned dropouts, and §4.1 gives its sizes (embedding 400, 3 layers, 1150 hidden units).
# The regularisers come from AWD-LSTM (Merity, Keskar & Socher 2018): DropConnect on the
# recurrent weights (§2), locked dropout (§4.2), embedding dropout (§4.3), weight tying (§4.4), a
# small embedding size (§4.5) and AR/TAR (§4.6). Code: `ulmfit_lesson.dropout`, `awd_lstm`,
# `language_model`, `losses`.*
#
# > **Jargon: the name.** AWD-LSTM stands for *ASGD Weight-Dropped LSTM*. "Weight-dropped" is
# > DropConnect on the recurrent matrix (section 3.3 below). "ASGD" is *averaged* stochastic gradient
# > descent: the final weights are the average of the weights over the last steps of training,
# > switched on by a *non-monotonic trigger* (NT-ASGD) once the validation loss stops improving.
# > That is how the AWD-LSTM paper trained; ULMFiT keeps the architecture and the dropouts but trains
# > with Adam and its own schedules, and so does this course. **1150 or 1152?** The paper's hidden
# > size is 1150; fastai's pretrained weights (and this package) use 1152, a multiple of 8 that GPUs
# > multiply faster. Every term: [the glossary](../docs/glossary.md).
#
# **By the end you can**
#
# 1. describe what happens in one LSTM step, and check it against PyTorch's LSTM by hand;
# 2. name AWD-LSTM's five regularisers, say what each one drops or penalises, and recognise its mask;
# 3. explain weight tying and count the parameters it saves; explain why the embedding is only 400 wide;
# 4. read the package's `WeightDropout`;
# 5. train a tiny AWD-LSTM language model from scratch and judge it against a baseline.

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
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from collections import Counter
from IPython.display import display
from torch import nn

from ulmfit_lesson import awd_lstm, config, datasets, dropout, generate, language_model, lm_loader, losses, tokenizer, train
from ulmfit_lesson.course import exercises_basics, explain, figures_awd, widgets_basics
from ulmfit_lesson.vocab import Vocab

QUICK = config.is_quick()
print("mode:", "QUICK (ULMFIT_QUICK=1: small data, few epochs)" if QUICK else "FULL")

# %% [markdown]
# ## 1. The architecture at a glance
#
# The encoder, as its module docstring draws it (the language model adds a decoder on top):

# %%
print(awd_lstm.__doc__.split("\n\n")[1])

# %% [markdown]
# ## 2. LSTM recap
#
# An LSTM reads one token vector $x_t$ per step and keeps two vectors: the **cell state** $c_t$, a
# long-term memory, and the **hidden state** $h_t$, what it shows to the next layer. Four small
# networks — the *gates* — look at $[h_{t-1}, x_t]$:
#
# $$
# \begin{aligned}
# i_t &= \sigma(W_{ii} x_t + W_{hi} h_{t-1} + b_i) && \text{input gate: how much to write}\\
# f_t &= \sigma(W_{if} x_t + W_{hf} h_{t-1} + b_f) && \text{forget gate: how much to keep}\\
# g_t &= \tanh(W_{ig} x_t + W_{hg} h_{t-1} + b_g) && \text{candidate: what to write}\\
# o_t &= \sigma(W_{io} x_t + W_{ho} h_{t-1} + b_o) && \text{output gate: how much to show}\\
# c_t &= f_t \odot c_{t-1} + i_t \odot g_t, \qquad h_t = o_t \odot \tanh(c_t)
# \end{aligned}
# $$
#
# The cell state is changed only by a multiplication and an addition, so information (and
# gradient) can travel many steps along it — the point of the design.

# %%
explain.draw_lstm_cell()
plt.show()

# %% [markdown]
# PyTorch stores the four input matrices stacked in one `weight_ih_l0` of shape
# `(4 * hidden, input)`, in the order i, f, g, o, and the four recurrent ones in `weight_hh_l0`,
# `(4 * hidden, hidden)`. Let us compute one step by hand with the equations above and check it
# against `nn.LSTM`:

# %%
torch.manual_seed(0)
lstm = nn.LSTM(input_size=3, hidden_size=4, batch_first=True)
x = torch.randn(1, 1, 3)  # (bs, seq_len, features): one token
h0, c0 = torch.randn(1, 1, 4), torch.randn(1, 1, 4)
out, (h1, c1) = lstm(x, (h0, c0))

pre = x[0, 0] @ lstm.weight_ih_l0.T + lstm.bias_ih_l0 + h0[0, 0] @ lstm.weight_hh_l0.T + lstm.bias_hh_l0
i, f, g, o = pre.chunk(4)  # the four gates, stacked in PyTorch's order
i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
c = f * c0[0, 0] + i * g
h = o * torch.tanh(c)
print("by hand :", h.detach().numpy().round(4))
print("nn.LSTM :", h1[0, 0].detach().numpy().round(4))
assert torch.allclose(h, h1[0, 0], atol=1e-6) and torch.allclose(c, c1[0, 0], atol=1e-6)

# %% [markdown]
# ## 3. Why so much regularisation?
#
# ULMFiT's language model is large. Build it with a 60,000-word vocabulary (fastai's maximum) and
# count — on PyTorch's `meta` device, which creates shapes without allocating any memory:

# %%
with torch.device("meta"):
    big = language_model.build_language_model(60_000)
print(big)
parts = {
    "embedding (= decoder weight)": big.encoder.encoder.weight.numel(),
    **{f"LSTM {k + 1}": sum(p.numel() for p in rnn.parameters()) for k, rnn in enumerate(big.encoder.rnns)},
    "decoder bias": big.decoder.decoder.bias.numel(),
}
total = sum(p.numel() for p in big.parameters())
assert total == sum(parts.values())
print(f"total: {total / 1e6:.1f}M parameters")

# %% [markdown]
# Tens of millions of parameters, and in stage 2 and 3 we train them on a few thousand
# sentences: without regularisation the model would memorise the training text. AWD-LSTM's
# answer is dropout *everywhere*, but each kind designed for a recurrent network: **the same
# mask for the whole sequence**, so the recurrence sees one consistent (thinned) network, not a
# new random one at every step. Each is a small module in `ulmfit_lesson.dropout`; the pictures
# below come from running those modules on inputs of ones, so what comes out is the mask itself
# (black = dropped, white = kept and scaled by `1/(1-p)`).
#
# ### 3.1 Embedding dropout: drop whole words
#
# `EmbeddingDropout` zeroes entire **rows** of the embedding matrix for one forward pass, so a
# dropped word vanishes at every position where it occurs in the batch. Dropping single
# coordinates of a 400-wide vector would barely matter; dropping the word forces the model to
# predict without it, from context. (`embed_p`, 0.02 for the LM, 0.05 for the classifier.)

# %%
mask = explain.dropout_mask_image("embedding", 0.3, vocab_size=30, emb_size=20)  # the package's module on ones

torch.manual_seed(2)
emb = nn.Embedding(10, 6)
embed_dp = dropout.EmbeddingDropout(emb, embed_p=0.5).train()
words = torch.tensor([[3, 5, 3, 7, 5, 3, 9, 7]])  # one sequence; words 3, 5 and 7 repeat
vectors = embed_dp(words)[0]  # (seq_len, emb_size)
display(figures_awd.draw_embedding_dropout(mask, words[0].tolist(), vectors, mask_p=0.3))

dropped = {w for w, v in zip(words[0].tolist(), vectors) if (v == 0).all()}
print("dropped this time (zero at every position where they occur):", sorted(dropped))
for w, v in zip(words[0].tolist(), vectors):
    assert (v == 0).all() == (w in dropped)  # a word is dropped at all of its positions, or at none

# %% [markdown]
# ### 3.2 Locked (variational) dropout: one mask per sequence
#
# `RNNDropout` is used on the embedded inputs (`input_p`), between LSTM layers (`hidden_p`) and on
# the output (`output_p`). Ordinary dropout draws a new coin for every feature at every time
# step (left); locked dropout draws one mask of shape `(bs, 1, features)` and reuses it at every
# step (right): a feature is either off for the whole sequence or on for the whole sequence.

# %%
display(figures_awd.draw_plain_vs_locked(explain.dropout_mask_image("plain", 0.3),
                                         explain.dropout_mask_image("locked", 0.3)))

locked = dropout.RNNDropout(p=0.3).train()
out = locked(torch.ones(4, 50, 16))  # (bs, seq_len, features)
assert torch.equal(out, out[:, :1].expand_as(out))  # constant along time
assert not torch.equal(out[0], out[1])  # but each sequence has its own mask
assert torch.equal(locked.eval()(out), out)  # evaluation: no dropout at all

# %% [markdown]
# ### 3.3 Weight dropout (DropConnect) on the recurrent matrix
#
# The most important regulariser of AWD-LSTM does not touch activations at all: `WeightDropout`
# drops entries of the **hidden-to-hidden matrix** $W_{hh}$ (all four gates), once per forward
# pass. Every time step of the batch then uses the same thinned recurrence. Because the mask is on
# the *weights*, the LSTM itself stays a standard, fast, fused kernel.

# %%
explain.plot_heatmap(explain.dropout_mask_image("weight", 0.5, hidden_size=8), title="W_hh mask, p=0.5 (rows: the 4 gates x 8 units)",
                     xlabel="from unit of h_(t-1)", ylabel="to gate unit", cmap="gray")
plt.show()

# %% [markdown]
# The whole module. Note where the trainable weight lives (`weight_hh_l0_raw`, a parameter of the
# wrapper) and how each forward pass runs the LSTM with a dropped copy through PyTorch's
# `functional_call`:

# %%
explain.show_source(dropout.WeightDropout);

# %%
torch.manual_seed(0)
wd = dropout.WeightDropout(nn.LSTM(4, 4, batch_first=True), weight_p=0.5).train()
raw = wd.weight_hh_l0_raw
first, second = wd.dropped_weight(), wd.dropped_weight()
assert not torch.equal(first, second)  # a new mask for every forward pass
assert torch.equal(wd.eval().dropped_weight(), raw)  # evaluation uses the raw weight
wd.train()
out, _ = wd(torch.randn(2, 5, 4))
out.sum().backward()
assert raw.grad is not None and (raw.grad != 0).any()  # gradients reach the raw weight
print("raw weight:", tuple(raw.shape), "| zero in one dropped copy:", f"{(first == 0).float().mean():.0%}")

# %% [markdown]
# ### 3.4 Play with the masks
#
# The viewer runs the same modules. Change `p` and the kind; "new mask" draws another one. Watch
# the fraction of black, and the *shape* of the black: rows for words, rows (features held for
# all time steps) for locked dropout, salt-and-pepper for plain dropout and for DropConnect.

# %%
widgets_basics.dropout_mask_viewer(kind="locked", p=0.3)

# %% [markdown]
# ### 3.5 AR and TAR: penalise loud and jumpy activations
#
# Two more terms are added to the loss, on the last LSTM layer's output $h$ (AWD-LSTM §4.6):
#
# - **AR** (activation regularisation), $\alpha \cdot \text{mean}(h_{\text{dropped}}^2)$: large
#   activations cost. Applied after output dropout.
# - **TAR** (temporal AR), $\beta \cdot \text{mean}((h_t - h_{t-1})^2)$: fast changes from one step
#   to the next cost. Applied to the raw output.
#
# ULMFiT keeps fastai's $\alpha = 2$, $\beta = 1$.

# %%
explain.show_source(losses.ar_tar_penalty);

# %% [markdown]
# Three made-up activation sequences of one sequence, one feature: calm, loud, jittery. Which
# terms punish which?

# %%
t = torch.linspace(0, 6.28, 40)
signals = {
    "calm (small, smooth)": 0.3 * torch.sin(t),
    "loud (large, smooth)": 2.0 * torch.sin(t),
    "jittery (small, jumpy)": 0.3 * torch.sign(torch.sin(7.3 * t)),
}
rows = {}
for name, s in signals.items():
    h = s.view(1, -1, 1)  # (bs, seq_len, features)
    rows[name] = {
        "AR (alpha=2)": losses.ar_tar_penalty(h, h, alpha=2.0, beta=0.0).item(),
        "TAR (beta=1)": losses.ar_tar_penalty(h, h, alpha=0.0, beta=1.0).item(),
    }
display(figures_awd.plot_signals(signals))
pd.DataFrame(rows).T.round(3)

# %% [markdown]
# AR grows with the size of the activations (the loud signal), TAR with their changes (the
# jittery one, although it is as small as the calm one).
#
# ## 4. Weight tying and the 400-wide embedding
#
# The embedding maps a word id to a 400-vector; the decoder maps a 400-vector to one score per
# word. Both are `vocab × 400` matrices. **Weight tying** (Inan et al. 2017; Press & Wolf 2017;
# AWD-LSTM §4.4) makes them the *same* matrix: a word's input vector is also its output vector.
# That halves the parameters of the two largest matrices, and every prediction of a word also
# trains that word's embedding. In the package it is one assignment in `LinearDecoder`:
# `self.decoder.weight = tie_to.weight`.

# %%
emb_w, dec_w = big.encoder.encoder.weight, big.decoder.decoder.weight
print("same Parameter object:", dec_w is emb_w)
names = [name for name, p in big.named_parameters(remove_duplicate=False) if p is emb_w]
print("names of that one tensor:", names)
saved = emb_w.numel()
print(f"untied, the decoder would add {saved / 1e6:.1f}M parameters ({saved / total:.0%} of the tied model)")
figures_awd.plot_tied_vs_untied(parts, untied_extra=saved, vocab_size=60_000)  # parts: section 3's counts

# %% [markdown]
# **Why 400?** Tying needs the last LSTM layer to output vectors of the embedding's size, so the
# last layer maps 1152 → 400. The embedding size is then a separate choice from the LSTM's width
# (AWD-LSTM §4.5): the middle layers stay wide (1152) for capacity, while every dimension of the
# embedding costs one parameter *per vocabulary word*. The count, again on the `meta` device:

# %%
rows = []
for emb_size in [100, 200, 400, 800, 1152]:
    with torch.device("meta"):
        m = language_model.build_language_model(60_000, emb_size=emb_size)
    rows.append({"emb_size": emb_size,
                 "embedding (M)": m.encoder.encoder.weight.numel() / 1e6,
                 "whole model (M)": sum(p.numel() for p in m.parameters()) / 1e6})
pd.DataFrame(rows).set_index("emb_size").round(1)

# %% [markdown]
# An embedding as wide as the LSTM (1152) would nearly double the model, mostly in rows for rare
# words that are seen too seldom to use that many numbers. 400 is AWD-LSTM's setting, which
# ULMFiT keeps (§4.1) — and since the pretrained weights are 400 wide, everything after stage 1 is too.
#
# ## 5. A tiny language model, from scratch, in seconds
#
# Time to train one. We need text with structure a small model can learn quickly: **English
# number words**, "one , two , three , ... , nine thousand nine hundred ninety nine" (the same
# idea as fastbook's *Human Numbers*; here generated by `datasets.number_words`, nothing to
# download). The vocabulary is ~30 words, but predicting the next one requires counting: after
# "two hundred eleven ," comes "two hundred twelve". Train on the first 80% of the numbers,
# validate on the rest.

# %%
n_numbers = 3_000 if QUICK else 10_000
epochs = 3 if QUICK else 10
numbers = [datasets.number_words(i) for i in range(1, n_numbers)]
cut = int(len(numbers) * 0.8)
train_text, valid_text = " , ".join(numbers[:cut]), " , ".join(numbers[cut:])
print(train_text[:150], "...")
print("validation starts:", valid_text[:80], "...")

train_tokens, valid_tokens = tokenizer.tokenize(train_text), tokenizer.tokenize(valid_text)
vocab = Vocab.build([train_tokens], min_freq=1)
print(f"{len(train_tokens):,} training tokens, {len(valid_tokens):,} validation tokens; vocabulary:")
print([t for t in vocab.itos if t not in tokenizer.SPECIAL_TOKENS and t != "xxfake"])

# %% [markdown]
# **The baseline.** A model that always predicts the most frequent token is right as often as
# that token occurs. Anything we train must beat this:

# %%
most_common, count = Counter(valid_tokens).most_common(1)[0]
baseline = count / len(valid_tokens)
print(f"always predicting {most_common!r}: accuracy {baseline:.1%} on the validation text")

# %% [markdown]
# The model is the package's `LanguageModel` — the same class as the 44M-parameter one above —
# with a tiny configuration: embedding 64, two LSTM layers of 128 units, and LM dropouts scaled
# by `drop_mult=0.3`. The data goes through `LMLoader` (notebook 02: 64 streams, variable windows
# around 16 tokens), and `train.fit_lm` runs the loop: Adam, slanted triangular learning rates
# (notebook 05), AR/TAR, hidden state carried and detached. We use one CPU thread: for matrices
# this small, coordinating several threads costs more than it saves.

# %%
torch.set_num_threads(1)
torch.manual_seed(0)
tiny = language_model.build_language_model(len(vocab), drop_mult=0.3, emb_size=64, hidden_size=128, n_layers=2)
print(tiny)
print(f"{sum(p.numel() for p in tiny.parameters()):,} parameters")

train_loader = lm_loader.LMLoader([vocab.numericalize(train_tokens)], bs=64, bptt=16, seed=0)
valid_loader = lm_loader.LMLoader([vocab.numericalize(valid_tokens)], bs=64, bptt=16, shuffle=False, variable_bptt=False)
before = train.evaluate_lm(tiny, valid_loader)
print(f"before training: accuracy {before.accuracy:.1%}, perplexity {before.perplexity:.1f} (vocabulary {len(vocab)})")

# %%
history = train.fit_lm(tiny, train_loader, epochs=epochs, lr_max=2e-2, valid_loader=valid_loader, device="cpu", seed=0)

# %%
acc = [before.accuracy] + [e["valid_accuracy"] for e in history.epochs]
display(figures_awd.plot_lm_accuracy(acc, baseline, token=most_common))
print(f"final validation accuracy {acc[-1]:.1%} vs baseline {baseline:.1%}")
assert acc[-1] > baseline + 0.1, "the model should clearly beat the most-frequent-token baseline"

# %% [markdown]
# ### What the carried memory is worth
#
# Notebook 02 argued that carrying the hidden state from one window to the next gives the model
# context beyond the window. Measure it on the validation text cut into short windows of 5
# tokens — less than one number. `train.evaluate_lm` carries the state from window to window;
# the loop below instead starts every window from zeros, as if each were a new text.

# %%
short_windows = lm_loader.LMLoader([vocab.numericalize(valid_tokens)], bs=64, bptt=5, shuffle=False, variable_bptt=False)
tiny.eval()
correct = total = 0
with torch.no_grad():
    for batch in short_windows:
        out = tiny(batch.x, None)  # hidden=None: every window starts with an empty memory
        correct += (out.logits.argmax(-1) == batch.y).sum().item()
        total += batch.y.numel()
with_memory = train.evaluate_lm(tiny, short_windows).accuracy
print(f"accuracy with the carried hidden state:     {with_memory:.1%}")
print(f"accuracy with a fresh state at each window: {correct / total:.1%}")

# %% [markdown]
# The model also writes. Greedy generation (`temperature=0`: always the most likely token) from a
# prompt; the package's `generate` feeds each predicted token back in. Look at *where* it goes
# wrong: the shape of the text (number, comma, number) comes first, exact counting last. (In quick
# mode the model has had only a few dozen steps; expect much worse.)

# %%
prompt = "one thousand two hundred five , one thousand two hundred six ,"
print(generate.generate(tiny, vocab, prompt, n_words=20, temperature=0))

# %% [markdown]
# ## 6. Exercises
#
# ### Exercise 1: the locked-dropout mask
#
# Write `locked_mask(x, p)` for `x` of shape `(bs, seq_len, features)`: return a mask that,
# multiplied with `x`, does what `RNNDropout` does — each feature of each sequence is dropped
# with probability `p` for *all* time steps, and kept values are scaled by `1 / (1 - p)`.

# %%
def locked_mask(x: torch.Tensor, p: float) -> torch.Tensor:
    raise NotImplementedError  # your code here


exercises_basics.check_locked_mask(locked_mask)

# %% [markdown]
# ### Exercise 2: AR and TAR
#
# Write `ar_tar(raw, dropped, alpha, beta)`: the AR + TAR penalty for batch-first outputs
# `(bs, seq_len, features)` of the last layer.

# %%
def ar_tar(raw, dropped, alpha=2.0, beta=1.0):
    raise NotImplementedError  # your code here


exercises_basics.check_ar_tar(ar_tar)

# %% [markdown]
# Stuck? `exercises_basics.hint("locked_mask")`, `exercises_basics.show_solution("locked_mask")`.
#
# ## Summary
#
# - The AWD-LSTM is a plain 3-layer LSTM (400 → 1152 → 1152 → 400) with tied embedding and
#   decoder; its strength is its regularisation.
# - **Embedding dropout** drops whole words; **locked dropout** (inputs, between layers, output)
#   drops features for a whole sequence; **DropConnect** drops entries of the recurrent matrix
#   $W_{hh}$ once per forward pass; **AR/TAR** penalise large and fast-changing activations.
# - All masks are shared across time steps, so the recurrence sees one consistent network.
# - **Weight tying** uses the embedding matrix as the decoder's weight, saving `vocab × 400`
#   parameters; a 400-wide embedding keeps the per-word cost low while the LSTM stays wide.
# - A tiny model of the same class, trained in seconds on number words, clearly beats the
#   most-frequent-token baseline — and needs its carried memory to do so.

# %% [markdown]
# ## Questionnaire
#
# Answer from memory first, then look back at the section each question comes from. The answer
# sheet below the questions checks the factual ones (✔); for the others, *Our answer* shows one
# to compare with yours.

# %%
from ulmfit_lesson.course import questionnaire

questionnaire.show("03_inside_the_awd_lstm")

# %% [markdown]
# ## Further research
#
# - Merity, Keskar & Socher (2018), *Regularizing and optimizing LSTM language models*: the
#   AWD-LSTM; its ablation table says what each regulariser is worth.
# - Gal & Ghahramani (2016), *A theoretically grounded application of dropout in recurrent neural
#   networks*: why one dropout mask per sequence.
# - Wan et al. (2013), *Regularization of neural networks using DropConnect*.
# - Press & Wolf (2017), *Using the output embedding to improve language models*, and Inan, Khosravi
#   & Socher (2017): weight tying.
# - Olah (2015), *Understanding LSTM networks*: the gates, drawn.
