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
# # 02 · Language-model batches
#
# *Read it first, with every output and figure, without running anything: [this notebook on the course site](https://ulmfit-lesson.github.io/ulmfit-lesson/notebooks/02_language_model_batches.html).*
#
# *Paper: ULMFiT §3.1-3.2 (the language model is trained on one long stream of text) and §3.3
# ("In practice, we use variable length backpropagation sequences"); AWD-LSTM (Merity, Keskar &
# Socher 2018) §4.1, variable-length backpropagation through time and its learning-rate rescale.
# Code: `ulmfit_lesson.lm_loader`.*
#
# Notebook 01 turned text into ids. A language model learns from those ids without any labels:
# the text is its own answer key. This notebook builds the batches it learns from.
#
# **By the end you can**
#
# 1. build the inputs `x` and targets `y` of a language model from a stream of ids;
# 2. lay a corpus out as `bs` parallel streams and read it as successive batches, and draw that layout;
# 3. explain why the hidden state is carried from one batch to the next, and why it is detached;
# 4. explain variable-length BPTT: why the window length is random, the exact sampling rule, and
#    why the learning rate is rescaled by `seq_len / bptt`;
# 5. check that one epoch shows the model every token exactly once.

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
import numpy as np
import pandas as pd
import torch
from IPython.display import HTML, display

from ulmfit_lesson import config, datasets, lm_loader, tokenizer
from ulmfit_lesson.course import exercises_basics, explain, figures_basics, widgets_basics
from ulmfit_lesson.lm_loader import LMLoader
from ulmfit_lesson.vocab import Vocab

QUICK = config.is_quick()
print("mode:", "QUICK (ULMFIT_QUICK=1: small data, few epochs)" if QUICK else "FULL")

# %% [markdown]
# ## 1. The text is its own label
#
# A language model is trained to predict each token from the ones before it. So for any stretch
# of text, the **input** `x` is the tokens and the **target** `y` is the same tokens shifted one
# step to the left. No annotator is needed: every text is training data. That is what makes
# stage 1 of ULMFiT (pretraining on a large general corpus) possible at all.

# %%
poems = datasets.load_poem_sentiment("train", view="all")
poem_tokens = tokenizer.tokenize_texts(poems.text)
# min_freq=1: every word gets an id, so decoding gives back exactly the tokens (no xxunk).
vocab = Vocab.build(poem_tokens, min_freq=1)

verse = poem_tokens[1]
pd.DataFrame({"input x": verse[:-1], "target y (next token)": verse[1:]}).T

# %% [markdown]
# ## 2. One stream, cut into `bs` rows
#
# Training one verse at a time would waste the hardware: we want a **batch** of `bs` sequences
# processed in parallel. The language-model loader therefore
#
# 1. concatenates all documents into **one stream** (in a shuffled *document* order each epoch —
#    the tokens inside a document are never shuffled, and each starts with `xxbos`);
# 2. cuts the stream into `bs` **contiguous** rows of equal length `L = (n - 1) // bs` (the `- 1`
#    keeps one extra token so that the last input still has a target);
# 3. walks along all rows together, one window of `seq_len` columns per batch.
#
# Below: the first 91 tokens of the poem stream, `bs = 6` rows of `L = 15` tokens, read in
# windows of 5. Each colour is one batch; read a row left to right and it is ordinary text.

# %%
stream = [tok for tokens in poem_tokens for tok in tokens]  # documents in their file order
first = stream[:91]
tables = lm_loader.stream_table(first, bs=6, seq_len=5)  # tables[k][i]: row i of batch k
display(HTML(explain.stream_table_html(tables)))

# %% [markdown]
# The model sees one colour at a time. Here are the three batches as the model receives them, each
# `bs × seq_len = 6 × 5`, followed by the targets of batch 1 (every token moved one place
# left — the last column comes from the first column of batch 2):

# %%
for k, table in enumerate(tables):
    print(f"batch {k + 1}: x")
    display(HTML(explain.stream_table_html([table], first_batch=k, show_header=False)))

targets_1 = [first[i * 15 + 1 : i * 15 + 6] for i in range(6)]
print("batch 1: y (targets)")
display(HTML(explain.stream_table_html([targets_1], show_header=False)))

# %% [markdown]
# That picture is exactly what `LMLoader` produces. We check it: numericalize the 91 tokens, ask
# the loader for fixed windows of 5 without shuffling, and decode each batch:

# %%
ids = vocab.numericalize(first)
loader = LMLoader([ids], bs=6, bptt=5, shuffle=False, variable_bptt=False)
for k, batch in enumerate(loader):
    print(f"batch {k + 1}: x {tuple(batch.x.shape)}, y {tuple(batch.y.shape)}, seq_len {batch.seq_len}")
    assert [vocab.textify(row) for row in batch.x] == tables[k]
    assert torch.equal(batch.x[:, 1:], batch.y[:, :-1])  # y is x shifted by one token
assert [vocab.textify(row) for row in batch.y][0][-1] == first[15]  # the last target crosses into the next row's text
print("LMLoader's batches are the coloured tables.")

# %% [markdown]
# The heart of the loader is a reshape and a slice:

# %%
explain.show_source(LMLoader._batches);

# %% [markdown]
# ## 3. Why the hidden state is carried from batch to batch
#
# Look at row 0 again: batch 2's row 0 starts with the token that follows batch 1's row 0. Every
# row *continues* where it stopped. So the LSTM's hidden state at the end of batch 1 — its memory
# of row 0 so far — is exactly the right starting state for row 0 of batch 2. The training loop
# (`train.fit_lm`) passes it on:
#
# ```
# stream 0:   [batch 1 window] --h--> [batch 2 window] --h--> [batch 3 window]
# gradients:   <-------------- | cut    <-------------- | cut   <--------------
# ```
#
# Values flow forward across the boundaries; **gradients do not**. Before each batch the loop
# calls `detach_hidden`, which keeps the numbers of the hidden state but forgets how they were
# computed. Without that cut, the backward pass of batch 100 would run back through all 99
# earlier batches: memory and time would grow with every step. This compromise — remember
# everything, back-propagate through one window — is **truncated backpropagation through time**
# (BPTT), and the window length is called `bptt`.
#
# The carry only makes sense because rows are contiguous. The check below confirms it for every
# row and boundary of the small example. (In notebook 03 you will *measure* what the carried
# memory is worth to a trained model.)

# %%
batches = list(loader)
for k in range(len(batches) - 1):
    for i in range(loader.bs):
        end_of_k = i * 15 + 5 * (k + 1)  # position in the stream right after row i of batch k
        assert batches[k + 1].x[i, 0].item() == ids[end_of_k]
print("each row of each batch continues the same row of the previous batch")

# %% [markdown]
# ## 4. Variable-length BPTT
#
# With a fixed window of 70, the windows cut the stream at the same places every epoch (only the
# document order moves them). A token that starts a window always starts it: its prediction
# never back-propagates into any earlier token of the window, and the tokens at the window ends
# always get the longest gradient paths. AWD-LSTM's fix is to **draw a new window length for
# every batch** (§4.1), and ULMFiT keeps it. The rule, as in salesforce/awd-lstm-lm's `main.py`:
#
# 1. with probability 0.95 the base length is `bptt`, otherwise `bptt / 2`;
# 2. add normal noise: `seq_len = int(N(base, 5))`;
# 3. never below 5: `seq_len = max(5, seq_len)`.
#
# Mostly close to 70, sometimes close to 35: the window boundaries land somewhere new every time.
# The package's sampler:

# %%
explain.show_source(lm_loader.sample_bptt_lengths);

# %% [markdown]
# Step by step, with the same random generator, for the first eight windows of an epoch — and a
# check that we did exactly what the package does:

# %%
bptt = 70
rng = np.random.default_rng(0)
by_hand = []
for _ in range(8):
    base = bptt if rng.random() < 0.95 else bptt / 2  # step 1: usually bptt, sometimes half
    seq_len = int(rng.normal(base, 5))                # step 2: jitter
    by_hand.append(max(5, seq_len))                   # step 3: at least 5 tokens

from_package = lm_loader.sample_bptt_lengths(100_000, bptt, np.random.default_rng(0))[:8]
print("by hand:    ", by_hand)
print("lm_loader:  ", from_package)
assert by_hand == from_package

# %% [markdown]
# Over many windows the lengths form two bumps, a big one at `bptt` and a small one at `bptt / 2`.
# The explorer below draws them with the package's sampler; move the sliders (the redraw happens
# when you release one). Try `p` = 1 (always full length), `p` = 0.5, `sd` = 0 (fixed lengths)
# and a small `bptt` (the floor of 5 starts to show).

# %%
widgets_basics.bptt_sampler()

# %% [markdown]
# ### The learning-rate rescale
#
# The loss of a batch is the *mean* over its `bs × seq_len` predictions. A 20-token window and a
# 75-token window would therefore produce gradient steps of the same size, although the long one
# is based on almost four times as much text; short windows would be over-weighted. AWD-LSTM
# scales the learning rate of each step by `seq_len / bptt`. Each `LMBatch` carries that factor as
# `lr_scale`, and `train.fit_lm` multiplies every layer group's learning rate by it.
# (fastai v0.7's and early fastai v1's `LanguageModelLoader` sampled lengths the same way, without
# rescaling in v0.7; fastai v2's `LMDataLoader` uses a fixed length.)
#
# One epoch over the poems with `bs = 8` and `bptt = 70`:

# %%
poem_ids = [vocab.numericalize(tokens) for tokens in poem_tokens]
poem_loader = LMLoader(poem_ids, bs=8, bptt=70, seed=1)
epoch = list(poem_loader)
lr = 1e-3
for b in epoch:
    assert b.lr_scale == b.seq_len / poem_loader.bptt

seq_lens = [b.seq_len for b in epoch]
lrs = [lr * b.lr_scale for b in epoch]  # what train.fit_lm uses at each step
figures_basics.plot_lr_rescale(seq_lens, lrs, bptt=poem_loader.bptt, lr=lr)

# %% [markdown]
# ## 5. Every token, once per epoch
#
# Random lengths must not lose or repeat text. Check it on the whole poem corpus: glue each
# epoch's windows back together along the time axis; we must get back the `bs` rows of that
# epoch's stream, untouched. Only the last `n - bs·L` tokens (fewer than `bs + 1`) are not used
# as inputs, because the rows must have equal length.

# %%
loader = LMLoader(poem_ids, bs=16, bptt=20, seed=0)
n, L = loader.n_tokens, loader.n_tokens_per_stream
for epoch in range(2):
    stream = loader.stream()  # this epoch's document order, concatenated
    batches = list(loader)
    seen_x = torch.cat([b.x for b in batches], dim=1)  # (bs, L): all windows side by side
    seen_y = torch.cat([b.y for b in batches], dim=1)
    assert torch.equal(seen_x, stream[: 16 * L].view(16, L))  # every input position exactly once
    assert torch.equal(seen_y, stream[1 : 16 * L + 1].view(16, L))  # targets: the next token
    print(
        f"epoch {epoch}: {len(batches)} windows of lengths {loader.last_seq_lens[:6]}..., "
        f"{seen_x.numel():,} of {n:,} tokens used as inputs ({n - seen_x.numel()} left over), "
        f"stream starts with {vocab.decode(stream[:8].tolist())!r}"
    )

# %% [markdown]
# (The last window of an epoch is simply what is left of the rows, so it can be short.)
# Each epoch has a different document order (so a different stream) and different window
# lengths, but within an epoch each token is an input exactly once and a target exactly once.
#
# ## 6. Exercises
#
# ### Exercise 1: the stream layout
#
# Write `stream_layout(tokens, bs)`: cut the list `tokens` into `bs` rows the way `LMLoader` does,
# returning a list of `bs` lists. (Think about the length of a row first.)

# %%
def stream_layout(tokens, bs):
    raise NotImplementedError  # your code here


exercises_basics.check_stream_layout(stream_layout)

# %% [markdown]
# ### Exercise 2: the learning rate of each step
#
# Write `lr_scales(seq_lens, bptt, lr)`: the learning rate actually used at each step of an epoch
# whose windows have the lengths `seq_lens`, with base learning rate `lr`.

# %%
def lr_scales(seq_lens, bptt, lr):
    raise NotImplementedError  # your code here


exercises_basics.check_lr_scales(lr_scales)

# %% [markdown]
# Stuck? `exercises_basics.hint("stream_layout")`, `exercises_basics.show_solution("stream_layout")`.
#
# ## Summary
#
# - A language model's targets are its inputs shifted by one token: `y[t] = x[t + 1]`.
# - The corpus is one stream (documents shuffled per epoch, each starting with `xxbos`), cut into
#   `bs` contiguous rows of `L = (n - 1) // bs`; a batch is the next window of every row.
# - Because rows are contiguous, the hidden state at the end of one batch is carried into the
#   next; it is **detached**, so gradients stop at the window boundary (truncated BPTT).
# - **Variable-length BPTT** draws each window's length: `bptt` with probability 0.95 else `bptt/2`,
#   plus N(0, 5) noise, at least 5 — so window boundaries move every epoch.
# - The learning rate of a step is scaled by `seq_len / bptt`, so short windows don't get
#   outsized updates.
# - One epoch uses every token once as an input and once as a target.

# %% [markdown]
# ## Questionnaire
#
# Answer from memory first, then look back at the section each question comes from. The answer
# sheet below the questions checks the factual ones (✔); for the others, *Our answer* shows one
# to compare with yours.

# %%
from ulmfit_lesson.course import questionnaire

questionnaire.show("02_language_model_batches")

# %% [markdown]
# ## Further research
#
# - Merity, Keskar & Socher (2018), *Regularizing and optimizing LSTM language models*, §4.1:
#   variable-length BPTT and the learning-rate rescale.
# - Karpathy (2015), *The unreasonable effectiveness of recurrent neural networks*: what a
#   character-level RNN learns from one long stream.
# - PyTorch's `examples/word_language_model` (`batchify`, `get_batch`): the same stream layout, in a
#   few lines.
# - Howard & Gugger (2020), chapter 12, *A language model from scratch*: stateful training, step by
#   step.
