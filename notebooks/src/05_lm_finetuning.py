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
# # 05 · Stage 2: fine-tuning the language model on the poems
#
# *Read it first, with every output and figure, without running anything: [this notebook on the course site](https://ulmfit-lesson.github.io/ulmfit-lesson/notebooks/05_lm_finetuning.html).*
#
# *Paper: ULMFiT §3.2, "Target task LM fine-tuning": "no matter how diverse the general-domain
# data used for pretraining is, the data of the target task will likely come from a different
# distribution"; discriminative fine-tuning (eq. 1-2, $\eta^{l-1} = \eta^l / 2.6$), slanted
# triangular learning rates (eq. 3); Table 6 for what each is worth. The vocabulary transfer
# (new words start from the mean embedding) is in the released code, not the paper. Code:
# `ulmfit_lesson.lm_recipes.finetune_lm`, `pretrained.match_embeddings`, `schedules`.*
#
# The model from stage 1 reads general English. Our classifier will read 19th-century verse.
# Stage 2 closes the gap without a single label: it keeps training the *language model*, now on
# the poems themselves.
#
# **By the end you can**
#
# 1. explain **domain shift** and see it in the poems' words and in a perplexity;
# 2. build the fine-tuning vocabulary, and check that new words start from the **mean embedding**;
# 3. compute **discriminative learning rates** and say why lower layers learn more slowly;
# 4. compute a **slanted triangular** learning rate by hand, and compare it with one-cycle;
# 5. fine-tune the pretrained language model on the training verses and compare perplexity,
#    generated text and embeddings before and after.

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
from collections import Counter

import numpy as np
import pandas as pd
import torch
from IPython.display import display

from ulmfit_lesson import config, corpus_builder, datasets, generate, lm_loader, lm_recipes, lr_finder, pretrained, schedules, tokenizer
from ulmfit_lesson.course import exercises_lm, explain, figures_lm, plan, widgets_basics, widgets_lm

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

# %%
widgets_lm.draw_ulmfit_stages(highlight=2)

# %% [markdown]
# ## 1. Domain shift: the poems are not Wikipedia
#
# The language model of notebook 04 learned from general text: Wikipedia (`wt103-fwd`), or
# encyclopedia articles, speeches, the Bible and Shakespeare (`general-fwd`). Compare general text
# with what the model will have to read now. Below: the words whose share of the text is most
# *higher* in the poems' training verses than in the course's general corpus (its validation set,
# 165,000 tokens; notebook 04 says where it comes from), and the share of two markers.

# %%
poems_train = datasets.load_poem_sentiment("train", view="all")  # every verse: stage 2 needs no labels
poems_dev = datasets.load_poem_sentiment("dev", view="all")
general_valid = corpus_builder.load_pretraining_corpus("valid")
poem_tokens = tokenizer.tokenize_texts(poems_train.text)
dev_tokens = tokenizer.tokenize_texts(poems_dev.text)
general_tokens = tokenizer.tokenize_texts(general_valid.text)

poem_counts = Counter(t for doc in poem_tokens for t in doc)
general_counts = Counter(t for doc in general_tokens for t in doc)
n_poem, n_general = sum(poem_counts.values()), sum(general_counts.values())
ratio = {w: (c / n_poem) / ((general_counts[w] + 1) / n_general)  # +1: words the general text lacks
         for w, c in poem_counts.items() if c >= 5 and w not in tokenizer.SPECIAL_TOKENS}
top = sorted(ratio, key=ratio.get, reverse=True)[:15]
print("most over-represented in the poems:", ", ".join(f"{w} (x{ratio[w]:.0f})" for w in top))
for marker in ["xxmaj", "xxbos"]:
    print(f"share of {marker!r}: general text {general_counts[marker] / n_general:.2%}, poems {poem_counts[marker] / n_poem:.2%}")

# %% [markdown] slideshow={"slide_type": "slide"}
# Two kinds of difference. **Vocabulary and style**: the poems' world of shores, rivers, winter
# and light is far more common than in speeches and encyclopedia articles, and so is their
# typography (`_` marks italics, `’s` a curly apostrophe). **Form**: each verse is a separate
# short document (one `xxbos` every ten tokens or so), and the verses were lowercased by the
# dataset's authors, so `xxmaj` — one of the commonest tokens of the general text — never occurs. A model that learned
# "after a full stop comes `xxmaj`" is wrong at every sentence start of every verse. This is
# **domain shift**, and §3.2's remedy is simple: fine-tune the language model on the target text.
# The paper's ablation (Table 6, validation error % of the final classifier):
#
# | LM fine-tuning | IMDb | TREC-6 | AG News |
# |---|---|---|---|
# | none | 6.99 | 6.38 | 6.09 |
# | all layers at once, one learning rate ("Full") | 5.86 | 6.54 | 5.61 |
# | + discriminative learning rates | 5.55 | 6.36 | 5.47 |
# | + slanted triangular learning rates (ULMFiT) | **5.00** | **5.69** | **5.38** |
#
# Fine-tuning helps, and done *carefully* it helps most. Sections 3 and 4 are about the care.

# %% [markdown]
# ## 2. The fine-tuning vocabulary
#
# The pretrained vocabulary knows most poem words already (notebook 01), but not all. Stage 2
# keeps every pretrained word (with its trained embedding) and **adds** the poems' words it
# lacks. `lm_recipes.finetune_vocab` does it; we keep new words seen at least twice (fastai's
# default of three would add only three words to `general-fwd`'s vocabulary on a corpus this
# small).

# %%
general, general_itos = pretrained.load_fastai_lm(PRETRAINED, drop_mult=lm_recipes.FINETUNE_DROP_MULT)
MIN_FREQ = 2
vocab = lm_recipes.finetune_vocab(general_itos, poem_tokens, min_freq=MIN_FREQ)
new_words = vocab.itos[len(general_itos):]
assert vocab.itos[: len(general_itos)] == general_itos  # every pretrained word keeps its id
print(f"pretrained vocabulary {len(general_itos):,} + {len(new_words)} new words = {len(vocab.itos):,}")
print("new words:", new_words)

unk = pd.DataFrame({
    "pretrained vocabulary": {"train verses": lm_recipes.unk_rate(poem_tokens, general_itos),
                              "dev verses": lm_recipes.unk_rate(dev_tokens, general_itos)},
    "fine-tuning vocabulary": {"train verses": lm_recipes.unk_rate(poem_tokens, vocab),
                               "dev verses": lm_recipes.unk_rate(dev_tokens, vocab)},
})
unk.style.format("{:.2%}").set_caption("share of tokens that become xxunk")

# %% [markdown]
# The unknown rate on the training verses drops; on the dev verses it barely moves — their rare
# words are mostly *other* rare words. (Everything seen only once stays unknown.) What matters
# more than the count is what each word *starts from*.

# %% [markdown] slideshow={"slide_type": "slide"}
# ### New words start from the mean embedding
#
# `pretrained.match_embeddings` builds the model for the new vocabulary: a known word keeps its
# pretrained embedding row (which is also its decoder row: the two are tied, notebook 03) and its
# decoder bias; a new word gets the **mean** of all pretrained rows and the mean bias. Why the mean:
# a random vector would be noise of a kind the LSTM has never seen; zeros would be unlike any
# word; the mean is an "average word", a neutral start that fine-tuning then moves.

# %%
explain.show_source(pretrained.match_embeddings);

# %%
matched = pretrained.match_embeddings(general, general_itos, vocab.itos)
old_emb = general.encoder.encoder.weight.detach()   # (pretrained vocabulary, 400): (26856, 400) for general-fwd
new_emb = matched.encoder.encoder.weight.detach()   # (pretrained vocabulary + new words, 400)
n_old = len(general_itos)
mean_row = old_emb.mean(0)

real = [i for i, w in enumerate(general_itos) if w != "xxfake"]  # "xxfake" fillers (notebook 01; general-fwd has 8) share one row
assert torch.equal(new_emb[real], old_emb[real])                              # known words: their own rows
assert torch.allclose(new_emb[n_old:], mean_row.expand(len(new_words), -1))   # new words: the mean row
assert matched.decoder.decoder.weight is matched.encoder.encoder.weight       # still tied
assert torch.allclose(matched.decoder.decoder.bias[n_old:], general.decoder.decoder.bias.mean())
print(f"embedding {tuple(old_emb.shape)} -> {tuple(new_emb.shape)}; the {len(new_words)} new rows equal the mean row")
print(f"norm of the mean row {mean_row.norm():.2f}, mean norm of a pretrained row {old_emb.norm(dim=1).mean():.2f}")

# %% [markdown] slideshow={"slide_type": "slide"}
# The mean row is shorter than a typical row (averaging cancels directions out): a new word
# starts as a faint, generic signal.
#
# ## 3. Discriminative fine-tuning
#
# Layers of a network learn different kinds of knowledge: lower layers more general features
# (in a language model: word meaning, local syntax), higher layers more specific ones. So §3.2
# gives each **layer group** its own learning rate, each group $2.6$ times slower than the one
# above it:
#
# $$\theta^l_t = \theta^l_{t-1} - \eta^l \cdot \nabla_{\theta^l} J(\theta), \qquad \eta^{l-1} = \eta^l / 2.6$$
#
# For the language model the groups are, lowest first: LSTM 1, LSTM 2, LSTM 3, and **embedding +
# decoder** (fastai's split). The embedding is the *top* group here, although it is the input:
# it is tied to the decoder, the output, and it holds the rows of the new words, which have the
# most to learn. (The classifier of notebook 06 has other groups: there the embedding is lowest.)

# %%
group_names = ["LSTM 1", "LSTM 2", "LSTM 3", "embedding + decoder"]
groups = matched.groups
# parameters per group; a dict by id counts the tied embedding/decoder matrix once
sizes = [sum(p.numel() for p in {id(p): p for m in g for p in m.parameters()}.values()) for g in groups]
LR = lm_recipes.FINETUNE_LR  # 4e-3: ULMFiT §4.1's learning rate for LM fine-tuning
lrs = schedules.discriminative_lrs(LR, len(groups))
assert all(np.isclose(hi / lo, 2.6) for lo, hi in zip(lrs, lrs[1:]))

display(figures_lm.plot_discriminative_lrs(group_names, lrs, sizes))
explain.show_source(schedules.discriminative_lrs);

# %% [markdown] slideshow={"slide_type": "slide"}
# The lowest LSTM layer moves $2.6^3 \approx 17.6$ times more slowly than the embeddings: the
# general knowledge at the bottom is kept, while the top adapts. This is one guard against
# **catastrophic forgetting**.
#
# ## 4. Slanted triangular learning rates
#
# The learning rate also changes *over time*. §3.2 wants the model to "quickly converge to a
# suitable region of the parameter space in the beginning of training and then refine its
# parameters", so STLR rises linearly for a short time and decays linearly for a long time.
# With $T$ training steps, $t$ the current one:
#
# $$\text{cut} = \lfloor T \cdot \text{cut\_frac} \rfloor, \qquad
# p = \begin{cases} t / \text{cut} & t < \text{cut} \\
# 1 - \dfrac{t - \text{cut}}{\text{cut} \cdot (1/\text{cut\_frac} - 1)} & \text{otherwise}
# \end{cases}, \qquad
# \eta_t = \eta_{\max} \cdot \frac{1 + p \, (\text{ratio} - 1)}{\text{ratio}}$$
#
# with the paper's $\text{cut\_frac} = 0.1$ (10% of the steps climbing) and $\text{ratio} = 32$
# (the lowest rate is $\eta_{\max}/32$). Step by step, for a run of $T = 200$ steps at our peak
# rate, checked against the package:

# %%
T, lr_max, cut_frac, ratio = 200, LR, 0.1, 32
by_hand = []
for t in range(T + 1):
    cut = int(T * cut_frac)                                   # 20: the step of the peak
    if t < cut:
        p = t / cut                                           # climbing: 0 -> 1
    else:
        p = 1 - (t - cut) / (cut * (1 / cut_frac - 1))        # falling: 1 -> 0 over 180 steps
    by_hand.append(lr_max * (1 + p * (ratio - 1)) / ratio)    # from lr_max / 32 up to lr_max

package = [schedules.slanted_triangular(t, T, lr_max) for t in range(T + 1)]
assert np.allclose(by_hand, package)
print(f"start {by_hand[0]:.2e} = lr_max / 32, peak {max(by_hand):.2e} at step {int(np.argmax(by_hand))}, end {by_hand[-1]:.2e}")

# %% [markdown]
# fastai (v1 and v2) trains ULMFiT with a different shape, **one-cycle**: a cosine warm-up over
# the first part of the steps (`pct_start`: 25% in fastai v2, 30% in v1) from
# $\eta_{\max}/25$, then a cosine decay to almost zero (our `one_cycle` uses v2's 25%). Both
# climb briefly and decay for long; STLR climbs faster and decays in a straight line to a floor.

# %%
one = [schedules.one_cycle(t, T, lr_max) for t in range(T + 1)]
figures_lm.plot_schedules(package, one)

# %% [markdown]
# Drag the sliders to see how `cut_frac` and `ratio` shape STLR (the curve redraws when you let go):

# %%
widgets_basics.stlr_explorer(lr_max=LR)

# %% [markdown]
# ### How high a peak? The learning-rate finder
#
# STLR needs a peak rate $\eta_{\max}$. The paper's 0.004 (§4.1) was found by fastai's users with
# the **learning-rate range test** (Smith 2017), which fastai calls `lr_find`: train a few dozen
# steps with the rate growing exponentially from tiny to huge and watch the loss. While the rate is
# too small nothing happens; then the loss falls; then the steps are too big and it shoots up. A
# good peak sits where the loss falls fastest, a little below the minimum. `lr_finder.lr_find`
# runs it on a copy of the state and puts the model back exactly as it was, so it is safe to call
# before training. On a new corpus or model size this is how to choose $\eta_{\max}$.

# %%
finder_ids = [torch.tensor(vocab.numericalize(doc)) for doc in poem_tokens]
finder_loader = lm_loader.LMLoader(finder_ids, bs=4 if QUICK else 8, bptt=35, seed=0)
found = lr_finder.lr_find(matched, finder_loader, start=1e-6, end=1.0, n=8 if QUICK else 30)
print(f"{len(found.lrs)} steps; the finder suggests {found.suggested:.1e}, the paper uses {LR}")
figures_lm.plot_lr_finder(found.lrs, found.losses, suggested=found.suggested, paper_lr=LR)

# %% [markdown]
# ## 5. Fine-tuning the language model
#
# `lm_recipes.finetune_lm` puts it together, following the paper's LM fine-tuning with
# fastai's order of events:
#
# 1. **one epoch with only the top group trainable** (embedding + decoder) at peak rate $0.02$:
#    the new words' rows learn first, while the LSTMs stay exactly as pretrained;
# 2. **everything trainable**, with discriminative learning rates (top $0.004$) and STLR;
# 3. dropout: fastai's LM dropouts times `drop_mult=0.3` (set when we loaded the model);
#    AdamW with $\beta = (0.7, 0.99)$; AR/TAR; the poems' training verses as one stream with
#    variable-length BPTT (notebook 02); the dev verses evaluated before, after every epoch,
#    and after. Never the test verses: they are for the final classifier only;
# 4. each step's softmax scores every word of the vocabulary, so the model also learns to rule
#    out the words poems never use. (`train-classifier`, where the LM is only the classifier's
#    encoder, scores only the training texts' words, `corpus_softmax=True`: a step 1.6x faster
#    on a CPU; its perplexity stays higher, and the classifier scores no worse on dev.)
#
# > **Jargon: Adam's betas and weight decay.** Adam keeps, for every weight, a running average of
# > its gradient (the momentum, forgetting at rate $1-\beta_1$) and of the gradient's square (rate
# > $1-\beta_2$), and steps along the first divided by the root of the second. ULMFiT §4.1 uses
# > $\beta_1 = 0.7$ instead of the usual 0.9: the momentum forgets faster, which suits schedules
# > that change the learning rate every step. **Weight decay** (0.01 here) shrinks every weight by
# > $\text{lr} \times 0.01$ of itself at each step, keeping weights small; "AdamW" applies it to the
# > weights directly rather than through Adam's averages (Loshchilov & Hutter 2019).
#
# We hand it the model with the extended vocabulary (`matched`), so it keeps that vocabulary.
# The result is saved under `runs/poems_lm/` (`lm.pt`, `encoder.pt`, `vocab.json`, `metrics.json`)
# for notebooks 06 and 07. Quick mode trains five steps on 600 tokens and saves nothing,
# so it never replaces a full-mode model.

# %%
if QUICK:
    options = dict(frozen_epochs=1, epochs=1, bs=8, bptt=35, max_tokens=600)
    dev_texts = poems_dev.text.tolist()[:20]
    out_dir = None  # quick mode saves nothing: a few steps make no model worth keeping
else:
    options = dict(frozen_epochs=1, epochs=1, bs=32, bptt=35)
    dev_texts = poems_dev.text.tolist()
    out_dir = RUNS / "poems_lm"
print(f"fine-tuning on {len(poem_tokens)} training verses ({sum(map(len, poem_tokens)):,} tokens), "
      f"validating on {len(dev_texts)} dev verses; {options}")
print("takes about", "30 seconds" if QUICK else "2 minutes", "on a 2-core laptop CPU with general-fwd",
      "(longer with wt103-fwd's 60,000-word output layer; seconds on a GPU)")
start = time.time()
result = lm_recipes.finetune_lm(
    (matched, vocab.itos), poems_train.text.tolist(), dev_texts,
    lr=LR, valid_bs=8, out_dir=out_dir, seed=0, **options,  # valid_bs=8: few, long streams of dev text
)
print(f"done in {time.time() - start:.0f} s; saved to {result.out_dir or '(nothing saved in quick mode)'}")
assert result.vocab.itos == vocab.itos  # the vocabulary we built in section 2

# %% [markdown]
# ## 6. Before and after
#
# First the numbers: the dev verses' perplexity before fine-tuning (the pretrained model with
# the extended vocabulary) and after, and the validation loss after each epoch.

# %%
epochs = [e for h in result.histories for e in h.epochs]
table = pd.DataFrame(
    [{"when": "before", **result.before.as_dict()}]
    + [{"when": f"after epoch {i + 1}" + (" (frozen)" if i < options["frozen_epochs"] else ""),
        "loss": e["valid_loss"], "accuracy": e["valid_accuracy"], "perplexity": e["valid_perplexity"],
        "n_tokens": e["valid_n_tokens"]} for i, e in enumerate(epochs)]
).set_index("when")
display(table.style.format({"loss": "{:.3f}", "accuracy": "{:.1%}", "perplexity": "{:.0f}"}))
print(f"dev perplexity {result.before.perplexity:.0f} -> {result.after.perplexity:.0f}")
assert result.after.loss < result.before.loss, "fine-tuning should make the dev verses less surprising"

# %% [markdown]
# The perplexity of the dev verses falls steeply — and these verses were never trained on. The
# frozen epoch alone, which only moved the embeddings and the decoder, does much of it: the easy
# lessons live in the output layer. `docs/lm_results.md` takes the loss apart token by token for
# `general-fwd`: before fine-tuning, the model paid 8.6 nats for each verse's `xxbos` (in the
# general corpus a document starts every ~10,000 tokens) and 11.4 nats for the lowercase word
# after it (it expected `xxmaj`) — 27% of its dev loss; after fine-tuning these cost 1.1 and 5.6
# nats.
#
# Why only one epoch with everything unfrozen? With 8,640 training tokens the model soon
# memorises its verses: in the same document, four unfrozen epochs of `general-fwd` took the
# training loss from 5.1 to 3.7 while the dev perplexity went *up*, from 178 after the first
# epoch to 196. Falling
# training loss, rising validation loss: overfitting. (Stronger dropout, `drop_mult=1.0`,
# overfits less; fastbook's 0.3 was chosen for IMDb's 100,000 reviews.)
#
# The learning rates actually used, step by step, show all of this notebook's ideas at once:
# the frozen epoch (only the top group), then four discriminative rates, each following an STLR
# (with a handful of steps per epoch, the warm-up is a single step), and the jitter of the
# variable-length BPTT rescale (`seq_len / bptt`, notebook 02):

# %%
steps = [s for h in result.histories for s in h.steps]
step_lrs = np.array([s["lrs"] for s in steps])  # (steps, groups); frozen groups get no update
frozen_steps = len(result.histories[0].steps) if options["frozen_epochs"] else 0  # only the top group trains
figures_lm.plot_step_lrs(step_lrs, group_names, frozen_steps)

# %% [markdown]
# ### Generated text, before and after
#
# The same prompts, the same random seed, the model before and after fine-tuning:

# %%
n_words = 12 if QUICK else 25
texts = {}
for prompt in ["the night is", "o my love,"]:
    texts[f"before: {prompt}"] = generate.generate(matched, vocab, prompt, n_words=n_words, temperature=0.7, seed=1)
    texts[f"after: {prompt}"] = generate.generate(result.model, vocab, prompt, n_words=n_words, temperature=0.7, seed=1)
widgets_lm.show_generations(texts);

# %% [markdown]
# Before, the model continues in the voice of what it read most (for `general-fwd` often the
# Bible; `wt103-fwd` read only Wikipedia). After, the
# same prompt leads into the poems' world — seasons, time, love and pain — in verse-like phrases.
# (In quick mode it has had only a few steps; expect small changes.)
#
# ### Which embedding rows moved?
#
# Compare each word's embedding row before and after fine-tuning, in three groups: the **new**
# words (they started at the mean), pretrained words that **occur** in the training verses, and
# pretrained words that **never** occur in them.

# %%
before_rows = matched.encoder.encoder.weight.detach()
after_rows = result.model.encoder.encoder.weight.detach().cpu()
moved = (after_rows - before_rows).norm(dim=1)  # (vocab,): how far each row travelled
in_poems = torch.tensor([w in poem_counts for w in vocab.itos])
is_new = torch.arange(len(vocab.itos)) >= n_old
kinds = {"new words": is_new, "known, in the poems": in_poems & ~is_new, "known, not in the poems": ~in_poems & ~is_new}
summary = pd.DataFrame({kind: {"words": int(mask.sum()), "median distance moved": moved[mask].median().item()}
                        for kind, mask in kinds.items()}).T
display(summary.style.format({"words": "{:,.0f}", "median distance moved": "{:.4f}"}))

order = moved[is_new].argsort(descending=True)
print("new words that moved most:", [(new_words[i], round(moved[n_old + i].item(), 3)) for i in order[:8].tolist()])

# %% [markdown]
# The words the poems actually use moved far more than the others (those only move because the
# decoder's softmax pushes every word's row a little, and through weight decay). And where did a
# new word go? Its nearest pretrained neighbours (cosine similarity) after fine-tuning — before,
# every new word was the same mean vector, equally close to everything:

# %%
words = [i for i, w in enumerate(general_itos) if not w.startswith("xx")]  # real words, no special tokens
unit = torch.nn.functional.normalize(after_rows[words], dim=1)
for i in order[:3].tolist():
    row = torch.nn.functional.normalize(after_rows[n_old + i], dim=0)
    nearest = (unit @ row).topk(6).indices.tolist()
    print(f"{new_words[i]!r:>14} is now closest to: {[general_itos[words[j]] for j in nearest]}")

# %% [markdown]
# A word seen two or three times cannot learn much: the new rows moved about as far as the rows
# of known poem words, but their neighbours tend to be other rare, literary words. The model has
# learned "this is a rare word of poems", not yet what it means. On a larger target corpus the
# new rows find their place. That is the honest limit of stage 2 on 892 verses: it teaches the
# *form* and the typical vocabulary of the target text much faster than the meaning of its
# rarest words.
#
# ## 7. Exercises
#
# ### Exercise 1: STLR by hand
#
# With pen and paper (or the Python prompt as a calculator, but not `schedules`): a run of
# $T = 1000$ steps, $\eta_{\max} = 0.01$, $\text{cut\_frac} = 0.1$, $\text{ratio} = 32$.
# What is the learning rate at step $t = 50$, and at step $t = 400$?

# %%
lr_at_50 = None   # your number
lr_at_400 = None  # your number

exercises_lm.check_stlr_by_hand(lr_at_50, lr_at_400)

# %% [markdown]
# ### Exercise 2: discriminative learning rates
#
# Write `discriminative_lrs(lr_top, n_groups, factor)`: one learning rate per layer group, the
# lowest group first, the top group getting `lr_top` and every group below it `factor` times less
# than the group above.

# %%
def discriminative_lrs(lr_top: float, n_groups: int, factor: float = 2.6) -> list[float]:
    raise NotImplementedError  # your code here


exercises_lm.check_discriminative_lrs(discriminative_lrs)

# %% [markdown] slideshow={"slide_type": "slide"}
# Stuck? `exercises_lm.hint("stlr_by_hand")`, `exercises_lm.show_solution("stlr_by_hand")` (and
# the same for `"discriminative_lrs"`).
#
# ## Summary
#
# - **Domain shift**: the target texts differ from the general corpus in words, style and form
#   (lowercase verses, no `xxmaj`). Stage 2 fine-tunes the *language model* on the target
#   texts — no labels needed — and the dev verses' perplexity falls steeply.
# - The **fine-tuning vocabulary** is the pretrained one plus the target's new words; known words
#   keep their rows, new words start at the **mean embedding** (and mean decoder bias).
# - **Discriminative fine-tuning**: each layer group its own learning rate, divided by 2.6 per
#   group downwards, so general lower layers change least.
# - **Slanted triangular learning rates**: a short linear climb (10% of the steps) to
#   $\eta_{\max}$, a long linear decay to $\eta_{\max}/32$; fastai uses the similar one-cycle.
# - The recipe (`lm_recipes.finetune_lm`): one frozen epoch for the embeddings, then all layers
#   with discriminative LRs and STLR; the encoder is saved for the classifier (notebook 06).

# %% [markdown]
# ## Questionnaire
#
# Answer from memory first, then look back at the section each question comes from. The answer
# sheet below the questions checks the factual ones (✔); for the others, *Our answer* shows one
# to compare with yours.

# %%
from ulmfit_lesson.course import questionnaire

questionnaire.show("05_lm_finetuning")

# %% [markdown]
# ## Further research
#
# - Smith (2017), *Cyclical learning rates for training neural networks*: the learning-rate range
#   test behind `lr_find`.
# - Smith (2018), *A disciplined approach to neural network hyper-parameters*: one-cycle.
# - Loshchilov & Hutter (2019), *Decoupled weight decay regularization*: AdamW.
# - Gururangan et al. (2020), *Don't stop pretraining*: stage 2 for transformers (domain- and
#   task-adaptive pretraining), with gains measured on eight tasks.
