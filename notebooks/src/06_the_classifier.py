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
# # 06 · Stage 3: the classifier
#
# *Read it first, with every output and figure, without running anything: [this notebook on the course site](https://ulmfit-lesson.github.io/ulmfit-lesson/notebooks/06_the_classifier.html).*
#
# *Paper: ULMFiT §3.3, "Target task classifier fine-tuning": concat pooling (eq. 4), BPT3C and
# gradual unfreezing; §3.2's discriminative fine-tuning and slanted triangular learning rates,
# used a second time; §4.1 for the head's size. Code: `ulmfit_lesson.classifier`,
# `clas_loader`, `clas_recipes`, `predict`.*
#
# Stage 1 taught a language model English; stage 2 adapted it to the poems (notebook 05). Neither
# used a single label. Stage 3 finally does: it puts a small classifier on top of the language
# model's encoder and fine-tunes the whole network on labelled verses — happy or sad.
#
# **By the end you can**
#
# 1. lay out a batch of documents of different lengths, and say why padding comes in whole chunks;
# 2. compute concat pooling, and explain why $h_T$ must be the *true* last token;
# 3. explain BPT3C: how a long document is read in chunks, and where its gradients flow;
# 4. describe the classifier head and count its parameters;
# 5. explain gradual unfreezing together with discriminative learning rates and STLR, and train
#    with all three;
# 6. read a confusion matrix, the most confident mistakes and per-word contributions.

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
import time

import pandas as pd
import torch
from IPython.display import HTML, display

from ulmfit_lesson import clas_loader, clas_recipes, classifier, config, datasets, lm_recipes, pretrained, tokenizer
from ulmfit_lesson.course import exercises_clas, explain, figures_clas, plan, results, widgets_clas
from ulmfit_lesson.awd_lstm import AWDLSTM
from ulmfit_lesson.predict import TextClassifier
from ulmfit_lesson.vocab import Vocab

QUICK = config.is_quick()
print("mode:", "QUICK (ULMFIT_QUICK=1: small data, few epochs)" if QUICK else "FULL")
RUNS = config.REPO_ROOT / "runs"  # where the notebooks keep their models (not in git)

# %%
# The pretrained language model (ULMFiT's stage 1), chosen in one place for the whole notebook: the
# course's general-fwd where it is on this machine (workshop kit, ULMFIT_DATA) or the room's mirror,
# otherwise fastai's wt103-fwd, the paper's own model (downloaded once, about 100 MB). The numbers
# quoted in the text were measured with general-fwd.
PRETRAINED = pretrained.course_model()
print("pretrained model:", plan.describe_model(PRETRAINED))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. From a language model to a classifier
#
# A language model ends in a decoder: one score per word of the vocabulary, at every position.
# A classifier needs one answer per *document*. ULMFiT keeps the encoder — the embedding and the
# three LSTMs, with everything stages 1 and 2 put into them — throws the decoder away, and adds
# two things on top:
#
# - **pooling**, which turns the encoder's outputs for every token into one fixed-size vector;
# - a **head**: two small linear blocks that turn that vector into class scores.
#
# The package's module docstring draws the whole path:

# %%
print(classifier.__doc__.split("\n\n")[1])

# %% [markdown]
# To look inside we need an encoder. We load the pretrained language model chosen above
# (`PRETRAINED`, notebook 04) and build a classifier from it with `build_classifier`: it copies
# the encoder's weights and adds a fresh, random head. Nothing is trained yet; that comes in
# section 7.

# %%
lm_model, itos = lm_recipes.load_lm(PRETRAINED)
vocab = Vocab(itos)
torch.manual_seed(0)
demo = classifier.build_classifier(lm_model, n_classes=2, vocab=vocab).eval()
n_params = sum(p.numel() for p in demo.parameters())
print(f"classifier: {n_params:,} parameters, vocabulary of {len(vocab):,} tokens")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. A batch of documents
#
# The language model read one endless stream, cut into windows of equal length (notebook 02). A
# classifier reads *documents*, one label each, and documents have different lengths. To put
# several in one batch, the short ones are filled up with the padding token `xxpad` (id 1).
#
# Where the padding goes matters. The classifier reads each document in **chunks** of `bptt`
# tokens (section 4), and `clas_loader.pad_chunks` lays a batch out so that
#
# - every document **starts on a chunk boundary**: in front of it come whole chunks of padding;
# - every document **ends in the last chunk**: the remainder of the padding comes after it.
#
# Three verses from the training set, with tiny chunks of `bptt = 4` so the layout fits on the
# screen (the real value is 70 for long texts; we will use 16 for verses):

# %%
poems = datasets.load_poem_sentiment("train", view="binary")
poem_tokens = tokenizer.tokenize_texts(poems.text)
lengths = pd.Series([len(t) for t in poem_tokens])
picks = [int((lengths - n).abs().idxmin()) for n in (10, 6, 3)]  # a long, a medium, a short one
docs = [vocab.numericalize(poem_tokens[i]) for i in picks]

x, mask = clas_loader.pad_chunks(docs, bptt=4)
cells = [[vocab.itos[t] if real else "pad" for t, real in zip(row, mrow)]
         for row, mrow in zip(x.tolist(), mask.tolist())]
print("x:", tuple(x.shape), " mask:", tuple(mask.shape))
widgets_clas.draw_padded_batch(x, mask, bptt=4, labels=cells)

# %% [markdown]
# Why this layout? An LSTM reads left to right, and its state after a token summarises everything
# it has read so far.
#
# - **Padding after the document** comes after its last real token, so it cannot change any real
#   output: the LSTM never looks ahead.
# - **Padding in front** would be read *before* the document and leak into its hidden state. So
#   the classifier skips it: while a row's document has not started, its hidden state is reset to
#   zero at every chunk boundary. That only works if documents start exactly *on* a boundary —
#   hence whole chunks of front padding.
#
# The test of a correct layout: a text gets exactly the same result alone and inside a batch.
# `bpt3c_encode` (section 4) reads the batch; `concat_pool` (section 3) turns each row into
# one vector:

# %%
with torch.no_grad():
    out, kept = classifier.bpt3c_encode(demo.encoder, x, mask, bptt=4)
    pooled_batch = classifier.concat_pool(out, kept)
    for i, doc in enumerate(docs):
        x1, mask1 = clas_loader.pad_chunks([doc], bptt=4)
        out1, kept1 = classifier.bpt3c_encode(demo.encoder, x1, mask1, bptt=4)
        pooled_alone = classifier.concat_pool(out1, kept1)[0]
        gap = (pooled_batch[i] - pooled_alone).abs().max().item()
        print(f"doc {i} ({len(doc):2d} tokens): alone vs in the batch, largest difference {gap:.1e}")
        assert torch.allclose(pooled_batch[i], pooled_alone, atol=1e-5)

# %% [markdown]
# **What goes wrong otherwise.** fastai's `pad_input_chunk` pads every document to the batch's
# longest one, so a document can start *in the middle* of a chunk, after a few padding tokens.
# fastai's encoder assumes it does not (its source says "this expects that sequence really begins
# on a round multiple of bptt"), and the padding is read as if it were text: fastai issue #3379.
# The package refuses such a batch with an error naming the row, and we can measure the leak by
# feeding the padding to the LSTM anyway:

# %%
doc = docs[1]
fastai_row = [clas_loader.PAD_ID] * 2 + doc  # 2 pads: NOT a whole chunk of 4
try:
    classifier.document_spans(torch.tensor([fastai_row]) != clas_loader.PAD_ID, bptt=4)
except ValueError as err:
    print("ValueError:", err)

with torch.no_grad():
    h_alone = demo.encoder(torch.tensor([doc]))[0][0, -1]  # output at the last token
    h_leaky = demo.encoder(torch.tensor([fastai_row]))[0][0, -1]
leak = (h_alone - h_leaky).abs().max().item()
print(f"two pads read first change the last token's output by up to {leak:.3f}")
assert leak > 1e-3

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. Concat pooling
#
# The encoder gives one output vector per token, $H = \{h_1, \dots, h_T\}$, each of size 400. The
# head needs one vector per document. The obvious choice is the last one, $h_T$: it has read the
# whole text. ULMFiT argues that is not enough:
#
# > "the signal in text classification tasks is often contained in a few words, which may occur
# > anywhere in the document" (§3.3)
#
# and $h_T$ would have to carry that signal through every token after it. So it concatenates
# $h_T$ with the element-wise **maximum** and the **mean** of all the outputs (eq. 4):
#
# $$h_c = [\,h_T,\ \mathrm{maxpool}(H),\ \mathrm{meanpool}(H)\,] \qquad 3 \times 400 = 1200 \text{ numbers}$$
#
# The max-pool lets a single strong word anywhere set a feature; the mean-pool sums up the whole
# text. With padding, all three must look at real tokens only:

# %%
explain.show_source(classifier.concat_pool);

# %% [markdown]
# The outputs of the medium verse from the batch above, and what pooling makes of them. Columns
# are positions (hatched: padding, which must not count), rows are the 400 features (red positive,
# blue negative). The black frame is $h_T$; each dot marks the position whose value
# the max-pool took for that feature. On the right, the three pooled vectors.

# %%
widgets_clas.draw_concat_pool(out, kept, row=1, tokens=cells[1])

# %% [markdown]
# **Why $h_T$ must be the true last token.** With padding at the end of a row, the last *position*
# holds the LSTM's output after reading padding, not after reading the verse. Taking `out[:, -1]`
# — what fastai v0.7 and v1 did, correctly only because they put all the padding in front —
# silently gives a different vector for every row that is not a whole number of chunks long:

# %%
true_last = classifier.last_positions(kept)
for i in range(len(docs)):
    gap = (out[i, -1] - out[i, true_last[i]]).abs().max().item()
    print(f"doc {i}: true last token at position {true_last[i].item():2d} of {out.size(1)}; "
          f"out[i, -1] differs from h_T by up to {gap:.3f}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. BPT3C: reading a long document
#
# A verse is a dozen tokens; an IMDb review can be thousands. Running the LSTM over the whole
# review in one go and back-propagating through all of it would need memory for every activation
# of every token. ULMFiT's **BPT3C** ("backpropagation through time for text classification",
# §3.3) reads the document in chunks of `bptt` tokens:
#
# 1. the hidden state is **carried** from chunk to chunk, so the model reads the whole text;
# 2. the chunks' outputs are pooled, and gradients flow back to every chunk whose hidden state
#    contributed to the prediction. That is the paper.
#
# A 5,000-token review would still hold every activation in memory, so the released code (fastai
# v0.7's `max_seq`, later fastai's `max_len`) adds a **memory cap** the paper does not describe:
# only the chunks within the last `max_len` tokens keep their outputs and their graph; the earlier
# ones run under `torch.no_grad()` and only prepare the hidden state. With it, memory depends on
# `max_len` (default 20 × 70 = 1,400 tokens), not on the document's length; everything earlier is
# read but neither pooled nor trained on. For a verse (a dozen tokens) the two are the same.

# %%
explain.show_source(classifier.bpt3c_encode);

# %% [markdown]
# Watch it on a toy encoder (embedding 8, two small LSTM layers) and one 60-token document in
# which every position has its own token id, so the embedding's gradient tells us exactly which
# positions were trained on. With `bptt = 10` and `max_len = 20`, the first four chunks only
# prepare the hidden state:

# %%
L, BPTT_TOY, MAX_LEN_TOY = 60, 10, 20
torch.manual_seed(0)
toy = AWDLSTM(config.AWDLSTMConfig(vocab_size=L + 9, emb_size=8, hidden_size=16, n_layers=2)).eval()
ids = torch.arange(9, 9 + L)  # position i holds token id 9 + i
x_long, mask_long = clas_loader.pad_chunks([ids], bptt=BPTT_TOY)
out_long, kept_long = classifier.bpt3c_encode(toy, x_long, mask_long, bptt=BPTT_TOY, max_len=MAX_LEN_TOY)
out_long.sum().backward()
grad = toy.encoder.weight.grad[ids].norm(dim=1)  # (L,): how much each position's embedding is trained
print("kept outputs:", tuple(out_long.shape), "of a", L, "token document")
assert (grad[: L - MAX_LEN_TOY] == 0).all() and (grad[L - MAX_LEN_TOY :] > 0).all()
figures_clas.plot_bpt3c_gradients(grad, bptt=BPTT_TOY, max_len=MAX_LEN_TOY)

# %% [markdown]
# Yet the early chunks are not wasted: they set the hidden state that the kept chunks start from.
# Reading only the last 20 tokens from a fresh state gives different outputs:

# %%
with torch.no_grad():
    fresh, _ = toy(x_long[:, -MAX_LEN_TOY:])  # the same 20 tokens, no history
gap = (fresh - out_long.detach()).abs().max().item()
print(f"outputs of the last {MAX_LEN_TOY} tokens with vs without the first {L - MAX_LEN_TOY}: differ by up to {gap:.3f}")
assert gap > 1e-4

# %% [markdown]
# *Deviation from fastai:* fastai detaches the hidden state after every chunk, so a kept chunk's
# gradient reaches earlier kept chunks only through the pooling. Here the gradient also flows
# through the hidden state *inside* the kept window — plain BPTT over `max_len` tokens, at no
# extra memory cost since those activations are stored anyway.
#
# For the verses, `bptt` only decides how much padding a batch carries: with 70, a 10-token verse
# sits in 70 positions, 60 of them padding that the LSTM still runs over. With 16, most verses fit
# one chunk and the longest use two. The result is the same either way — a document's start is
# always at a boundary and its state is carried — but it is about four times less work:

# %%
verse_ids = [vocab.numericalize(t) for t in poem_tokens[:64]]
for b in (70, 16):
    xb, mb = clas_loader.pad_chunks(verse_ids, bptt=b)
    print(f"bptt={b:2d}: batch of 64 verses is {tuple(xb.shape)}, {1 - mb.float().mean():.0%} padding")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. The head
#
# On top of the 1,200 pooled numbers sit "two additional linear blocks" (§3.3), each
# **BatchNorm → Dropout → Linear**, with a ReLU between them: 1200 → 50 → number of classes. The
# softmax that turns scores into probabilities lives in the loss (cross-entropy) and in `predict`.

# %%
print(demo.head)
sizes = widgets_clas.group_sizes(demo.groups)
pd.DataFrame({"layer group": widgets_clas.GROUP_NAMES, "parameters": sizes}).style.format({"parameters": "{:,}"}).hide(axis="index")

# %% [markdown]
# A few things to notice:
#
# - The head is tiny — about 60,000 parameters against tens of millions in the encoder (31
#   million with `general-fwd`'s vocabulary; the table counts yours). It is the only part that
#   starts from random numbers.
# - **BatchNorm** rescales each pooled feature to zero mean and unit variance over the batch (with
#   running averages at prediction time). The pooled features of a language model have very
#   different scales; normalising them lets one learning rate suit all of them.
# - The linear layers have no bias: the BatchNorm in front of each has one.
# - **Dropout** 0.4 on the pooled vector and 0.1 before the last layer. The classifier's encoder
#   dropouts are ULMFiT's (§4.1), unscaled (`drop_mult = 1.0`). fastai halves them
#   (`drop_mult = 0.5`); on the poems, cross-validation over the training verses preferred the
#   paper's values (README, "What moved it"):

# %%
pd.Series({k: getattr(demo.config, k) for k in ("embed_p", "input_p", "weight_p", "hidden_p", "output_p")}, name="probability").to_frame().T

# %% [markdown] slideshow={"slide_type": "slide"}
# The five rows of the table above are the classifier's **layer groups**, lowest first: the
# embedding, the three LSTMs, the head. They are the units of the next section.
#
# ## 6. Fine-tuning without forgetting
#
# The encoder knows a lot; the head knows nothing. Train everything at once at one learning rate,
# and the random head's first, noisy gradients flow into the encoder and can overwrite what
# pretraining put there — **catastrophic forgetting**. ULMFiT uses three tools against it, and
# `clas_recipes.train_classifier` uses all three by default:
#
# - **gradual unfreezing** (§3.3): "we first unfreeze the last layer and fine-tune all unfrozen
#   layers for one epoch. We then unfreeze the next lower frozen layer and repeat, until we
#   fine-tune all layers until convergence at the last iteration";
# - **discriminative learning rates** (§3.2): each group gets its own rate, 2.6 times smaller
#   than the group above it — lower layers hold more general knowledge and should move less;
# - **slanted triangular learning rates** (§3.2, notebook 05): a short warm-up, then a long
#   decay; here a fresh one spans each unfreezing stage.
#
# The plan — which groups train in which epoch — is one small function:

# %%
explain.show_source(clas_recipes.plan_stages);

# %% [markdown]
# Step through a run of the default 10 epochs. Left: the layer groups of our classifier, blue when
# they train (darker = higher learning rate), with their sizes; the frozen/trainable state is read
# back from the real model after `freeze_to`. Right: every group's learning rate at every step; the
# yellow band is the chosen epoch.

# %%
widgets_clas.unfreezing_stepper(demo, epochs=clas_recipes.CLAS_EPOCHS, steps_per_epoch=5)

# %% [markdown] slideshow={"slide_type": "slide"}
# Freezing also saves time: while only the head trains, no gradient has to flow back through the
# LSTMs at all, so the first epoch costs little more than a forward pass.
#
# ## 7. Training: happy or sad?
#
# The task: the **binary view** of Poem Sentiment, verses labelled `positive` or `negative` (the
# `no_impact` and `mixed` verses are left out). It is small — a few hundred verses — which is
# exactly the situation ULMFiT was designed for.

# %%
train_df = datasets.load_poem_sentiment("train", view="binary")
dev_df = datasets.load_poem_sentiment("dev", view="binary")
test_df = datasets.load_poem_sentiment("test", view="binary")
pd.DataFrame({name: df.label.value_counts() for name, df in [("train", train_df), ("dev", dev_df), ("test", test_df)]})

# %% [markdown]
# The classifier should start from the language model **fine-tuned on the poems** (stage 2,
# notebook 05 saves it under `runs/`). If it is not there, we fall back to the pretrained
# general-domain model itself (`PRETRAINED`). On the poems that costs little: in the course's
# 5-seed runs, with and without stage 2 are level on both the 3-class and the happy-vs-sad task
# (docs/results.md), because a few hundred verses are a very small corpus for stage 2.

# %%
finetuned = RUNS / "poems_lm"  # written by notebook 05 in full mode
if (finetuned / "encoder.pt").is_file():
    lm_source = finetuned
    print(f"starting from the fine-tuned language model in {finetuned}")
else:
    lm_source = (lm_model, itos)
    print("no fine-tuned language model under runs/ (run notebook 05 first to use one);")
    print(f"starting from {PRETRAINED}, pretrained on general English only")

# %% [markdown]
# The settings are the paper's (§4.1): batch size 64, peak learning rate 0.01 for the top group,
# Adam with β = (0.7, 0.99). Two are ours. `bptt` is 16, since verses are short (section 4). And
# the paper gives no number of epochs: `clas_recipes.CLAS_EPOCHS` is 10, 4 of gradual unfreezing
# and 6 with everything trainable, because cross-validation over the training verses preferred
# it to 6 epochs (notebook 07 shows the comparison). Quick mode trains on 64 verses for 2 epochs:
# enough to see every step run, not enough to learn much.
#
# A line is printed after every epoch; the picture comes at the end.
#
# > **Jargon: macro-F1.** For one class, *precision* is the share of the verses predicted as that
# > class that really are, *recall* the share of that class's verses that were found, and *F1* their
# > harmonic mean. **Macro-F1** is the plain mean of the per-class F1s: a rare class counts as much
# > as a frequent one. Accuracy can be high while a rare class is never predicted; macro-F1 cannot.
# > The course reports both (notebook 08 looks at it class by class).

# %%
if QUICK:
    train_part, EPOCHS, BS = train_df.sample(64, random_state=0), 2, 32
else:
    train_part, EPOCHS, BS = train_df, clas_recipes.CLAS_EPOCHS, 64
BPTT = 16
n_batches = -(-len(train_part) // BS)
print(f"training on {len(train_part)} verses: {EPOCHS} epochs x {n_batches} batches, validating on {len(dev_df)} verses")
print("takes about", "20 seconds" if QUICK else "3 minutes", "on a 2-core laptop CPU (a few seconds on a GPU)")

def report(record, model, optimizer):  # called by train_classifier after every epoch
    print(f"epoch {record['epoch'] + 1}: {record['trainable_groups']} groups trained, train loss {record['train_loss']:.3f}, "
          f"valid loss {record['valid_loss']:.3f}, accuracy {record['accuracy']:.1%} ({record['seconds']:.0f} s)")

start = time.time()
result = clas_recipes.train_classifier(
    train_part.text.tolist(), train_part.label.tolist(), dev_df.text.tolist(), dev_df.label.tolist(),
    lm=lm_source, epochs=EPOCHS, bs=BS, bptt=BPTT, seed=0, progress=False, on_epoch=report,
)
print(f"done in {time.time() - start:.0f} s")
widgets_clas.plot_history(result.history)

# %% [markdown]
# `result.history` has one row per epoch. Read `freeze_to` and `trainable_groups` against the
# stepper above:

# %%
history = pd.DataFrame(result.history)[["epoch", "freeze_to", "trainable_groups", "train_loss", "valid_loss", "accuracy", "macro_f1", "seconds"]]
history.style.format({"train_loss": "{:.3f}", "valid_loss": "{:.3f}", "accuracy": "{:.1%}", "macro_f1": "{:.3f}", "seconds": "{:.0f}"}).hide(axis="index")

# %% [markdown] slideshow={"slide_type": "slide"}
# Typically the training loss keeps falling while the validation loss levels off after four to six
# epochs and then creeps up again: with a few hundred verses the network starts to memorise them. The recipe's defences are
# regularisation (the classifier's dropouts, ULMFiT §4.1) and few epochs; `keep_best` can also end
# on the best validation epoch.
#
# ## 8. How good is it, and where does it fail?
#
# The dev set chose nothing here (no early stopping, no search), but we still judge on the
# **test** verses, which played no part at all. `result.classifier` is a `TextClassifier`: raw text
# in, labels and probabilities out.

# %%
clf = result.classifier
scores = clas_recipes.evaluate_classifier(clf, test_df.text.tolist(), test_df.label.tolist())
majority = test_df.label.value_counts(normalize=True).max()
print(f"test accuracy {scores['accuracy']:.1%}, macro-F1 {scores['macro_f1']:.3f} on {scores['n']} verses")
print(f"always answering the most common label would score {majority:.1%}")
if not QUICK:
    assert scores["accuracy"] > majority + 0.1, "the full run should clearly beat the majority baseline"
widgets_clas.plot_confusion(scores["confusion_matrix"], clf.label_names)

# %% [markdown]
# With a few dozen test verses, one verse is about 3 points of accuracy: small differences
# between runs mean little (notebook 07 returns to this). That is why the course's own
# measurements repeat every run with 5 seeds. Here they are, read from the committed results
# (`experiments/results/full/`, `python experiments/run.py poems` reruns them): the same recipe on
# the 843 training verses, against the same network without stage 2, from scratch, and the
# classic baselines.

# %%
committed = config.REPO_ROOT / "experiments" / "results" / "full" / "compare_poems-3class.csv"
if committed.is_file():
    five_seeds = results.summarize(pd.read_csv(committed), ["method"])
    display(five_seeds[["method", "n_seeds", "accuracy_mean", "accuracy_std", "macro_f1_mean", "macro_f1_std"]]
            .round(3).style.hide(axis="index"))
    by = five_seeds.set_index("method")
    print(f"stage 2 on 843 verses: {by.accuracy_mean['ulmfit']:.3f} with it, "
          f"{by.accuracy_mean['ulmfit_no_lm_ft']:.3f} without (mean over seeds)")
else:
    print("no committed results here (a copy of the notebook without experiments/)")

# %% [markdown]
# What they teach: **pretraining is what pays** (every pretrained run beats the same network
# trained from scratch, whose macro-F1 shows it mostly predicts the majority class); **stage 2
# is level with skipping it** on this tiny target corpus (843 short verses are a few thousand
# tokens: little for a language model to adapt to; the paper's gains from stage 2 are on corpora
# of many thousands of documents); and the seed-to-seed spread is as large as several of the
# differences, which is why one run proves little.
#
# **The most confident mistakes** are the most instructive: the verses the model got wrong *and*
# was sure about. Often the label is debatable, or the sentiment hinges on a single word the model
# weighs differently. `predict(..., as_frame=True)` returns the predictions in the order of the
# texts (the batches are sorted by length inside, and put back):

# %%
pred = clf.predict(test_df.text.tolist(), as_frame=True)
pred["truth"] = test_df.label.to_numpy()
pred["confidence"] = pred[clf.label_names].max(axis=1)
mistakes = pred[pred.label != pred.truth].sort_values("confidence", ascending=False)
print(f"{len(mistakes)} mistakes out of {len(pred)}")
mistakes[["text", "truth", "label", "confidence"]].head(5).style.format({"confidence": "{:.2f}"}).hide(axis="index")

# %% [markdown]
# **Which words decided?** `TextClassifier.contributions` runs the verse forward and back and
# scores each token by *gradient × input*: the dot product of the token's embedding with the
# gradient of the chosen class's score with respect to it — a first-order estimate of how much
# that word moved the score. Green pushed towards the predicted label, red away from it. Hover a
# word to see its score and how many of the 400 max-pooled features it won.

# %%
examples = list(mistakes.text.head(2)) + list(pred[pred.label == pred.truth].sort_values("confidence").text.tail(2))
for text in examples:
    display(HTML(widgets_clas.contributions_html(clf.contributions(text))))

# %% [markdown] slideshow={"slide_type": "slide"}
# Gradient × input is an *explanation* of one model on one text, not the truth about language:
# it is a linear estimate, and neighbouring words share credit through the LSTM. Treat it as a
# magnifying glass for finding out what to test next.
#
# ## 9. Try it
#
# Write a verse of your own — happy, sad, or sneaky (`"not unhappy"`, `"i wept for joy"`) — and
# press Enter or click outside the box. Each update is one forward and backward pass of the whole
# network, well under a second.

# %%
widgets_clas.classifier_box(clf, text="the sun is warm and all the birds are singing")

# %% [markdown]
# Plain modern sentences are not what it learnt from: a few hundred verses of old poetry, with
# their own vocabulary and their own ways of being sad. Expect surprises, and use the colours to
# see which words it leans on.

# %% [markdown]
# ## 10. Saving and loading
#
# `save` writes one file, `classifier.pt`: the weights, the vocabulary, the label names and the
# architecture, read back with `torch.load(weights_only=True)` (no arbitrary code runs on loading).
# The reloaded classifier gives exactly the same probabilities:

# %%
path = clf.save(RUNS / "poems_classifier")
again = TextClassifier.load(RUNS / "poems_classifier")
print(f"{path} ({path.stat().st_size / 1e6:.0f} MB): {again}")
texts = test_df.text.head(8).tolist()
assert torch.allclose(clf.predict_proba(texts), again.predict_proba(texts), atol=1e-6)

# %% [markdown]
# The same model from the command line: `python -m ulmfit_lesson predict --model runs/poems_classifier "a verse"`
# (notebook 09 trains one from a CSV file with `train-classifier`).
#
# ## 11. Exercises
#
# ### Exercise 1: pool a padded batch
#
# Write `concat_pool(output, mask)`: `output` is `(bs, seq_len, n)`, `mask` is `(bs, seq_len)`,
# True at real tokens. Rows may start *and* end with padding, as `pad_chunks` lays them out.
# Return `(bs, 3 * n)`: $[h_T, \mathrm{maxpool}, \mathrm{meanpool}]$ over the real tokens only.

# %%
def concat_pool(output: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    raise NotImplementedError  # your code here


exercises_clas.check_concat_pool(concat_pool)

# %% [markdown]
# ### Exercise 2: the unfreezing plan
#
# Write `unfreeze_plan(n_groups, epochs)`: the list of `(freeze_to, n_epochs)` stages of gradual
# unfreezing. The top group alone for one epoch, one more group each following epoch, then every
# group for the remaining epochs; with fewer epochs than groups, the last epoch still trains
# everything. For 5 groups and 6 epochs: `[(-1, 1), (-2, 1), (-3, 1), (-4, 1), (0, 2)]`.

# %%
def unfreeze_plan(n_groups: int, epochs: int) -> list[tuple[int, int]]:
    raise NotImplementedError  # your code here


exercises_clas.check_unfreeze_plan(unfreeze_plan)

# %% [markdown]
# Stuck? `exercises_clas.hint("concat_pool")`, `exercises_clas.show_solution("concat_pool")`.
#
# ## Summary
#
# - The classifier is the fine-tuned encoder plus **concat pooling** and a small **head**
#   (BatchNorm → Dropout → Linear, twice: 1200 → 50 → classes); only the head starts random.
# - Batches are padded in **whole chunks** in front and the remainder behind, so every document
#   starts on a chunk boundary from a zero state: a text gets the same answer alone and in a batch.
# - **Concat pooling** $[h_T, \max, \mathrm{mean}]$ lets words anywhere in the text count; $h_T$ is
#   the output at the true last token, never at padding.
# - **BPT3C** reads any length in chunks of `bptt`, carrying the hidden state, and keeps outputs
#   and gradients only for the last `max_len` tokens: memory no longer grows with the document.
# - **Gradual unfreezing**, **discriminative learning rates** (÷2.6 per group) and a fresh **STLR**
#   per stage protect the pretrained knowledge while the head learns; freezing also makes the
#   first epochs cheap.
# - Judge on held-out data, read the most confident mistakes, and use per-word contributions to
#   find out what the model relies on.

# %% [markdown]
# ## Questionnaire
#
# Answer from memory first, then look back at the section each question comes from. The answer
# sheet below the questions checks the factual ones (✔); for the others, *Our answer* shows one
# to compare with yours.

# %%
from ulmfit_lesson.course import questionnaire

questionnaire.show("06_the_classifier")

# %% [markdown]
# ## Further research
#
# - Howard & Ruder (2018), §3.3 and Table 7: concat pooling, BPT3C, gradual unfreezing and what each
#   is worth on the paper's datasets.
# - Sun, Qiu, Xu & Huang (2019), *How to fine-tune BERT for text classification?*: the same
#   questions (which layers, which learning rates, long texts) for a transformer.
# - Sundararajan, Taly & Yan (2017), *Axiomatic attribution for deep networks*: integrated gradients,
#   a sounder relative of the gradient × input used here.
# - Guo et al. (2017), *On calibration of modern neural networks*: when a probability of 0.95 means
#   less than it says.
