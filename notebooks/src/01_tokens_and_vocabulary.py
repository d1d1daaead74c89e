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
# # 01 · Tokens and vocabulary
#
# *Read it first, with every output and figure, without running anything: [this notebook on the course site](https://ulmfit-lesson.github.io/ulmfit-lesson/notebooks/01_tokens_and_vocabulary.html).*
#
# *ULMFiT, taught by doing it. Paper: Howard & Ruder (2018), "Universal Language Model Fine-tuning
# for Text Classification" — the experimental setup (§4, "Pre-processing") adds special tokens
# for upper case, elongation and repetition; the released code uses fastai's tokenizer, which
# `ulmfit_lesson.tokenizer` reproduces.*
#
# A language model never sees letters or words: it sees integers. This notebook follows a
# line of text until it becomes a list of ids, and back.
#
# **By the end you can**
#
# 1. say why a language model needs a fixed list of tokens, and what goes wrong with too many or too few;
# 2. apply fastai's tokenization rules one at a time and say why each exists;
# 3. explain every special token (`xxbos`, `xxmaj`, `xxup`, `xxrep`, `xxwrep`, `xxunk`, `xxpad`, ...);
# 4. build a vocabulary with `min_freq` / `max_vocab`, turn tokens into ids and decode them back;
# 5. measure the unknown-word rate, and see why a *pretrained* vocabulary is part of what ULMFiT transfers.

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
import pandas as pd
from collections import Counter
from IPython.display import HTML, display

from ulmfit_lesson import config, corpus_builder, datasets, pretrained, registry, tokenizer
from ulmfit_lesson.course import exercises_basics, explain, figures_basics, plan, widgets_basics
from ulmfit_lesson.vocab import Vocab

QUICK = config.is_quick()
print("mode:", "QUICK (ULMFIT_QUICK=1: small data, few epochs)" if QUICK else "FULL")

# %% [markdown]
# ## 1. Why tokenize at all?
#
# A language model is a machine that, given some text, assigns a probability to every possible
# *next* piece of text. "Every possible" has to be a finite list: the model's last layer has one
# output per entry. That list is the **vocabulary**, and its entries are **tokens**.
#
# The choice of unit is a trade-off:
#
# | unit | vocabulary | sequence length | problem |
# |---|---|---|---|
# | characters | ~100 | very long | the model must learn spelling before meaning |
# | whole words, as written | huge ("The", "the", "THE", "the." ...) | short | most entries are rare and badly learned |
# | **normalised words** (ULMFiT) | tens of thousands | short | rare words still fall out of the list |
# | subword pieces (later work, e.g. MultiFiT) | a few thousand | medium | pieces are less readable |
#
# ULMFiT uses normalised words. The normalisation is a handful of **rules** that make the
# vocabulary smaller *without throwing information away*: instead of keeping "The" and "the" as
# two words, the tokenizer writes `xxmaj the` — one extra, very common token carries the
# capital letter. The rules below are fastai's; our tokenizer reproduces them because we want
# to reuse a vocabulary (and a model) that fastai built.
#
# Our running example is **Poem Sentiment** (Sheng & Uthus 2020): single verses of poetry, each
# labelled negative / no impact / positive / mixed. Later notebooks classify them; here we only
# read them.

# %%
poems = datasets.load_poem_sentiment("train", view="all")
poems_dev = datasets.load_poem_sentiment("dev", view="all")
print(f"{len(poems)} training verses, {len(poems_dev)} dev verses")
poems.head(8)

# %% [markdown]
# ## 2. The pipeline, one rule at a time
#
# Tokenizing is three steps:
#
# 1. **pre-rules**: functions from string to string, applied in a fixed order;
# 2. **word splitting**: cut the string into words and punctuation (fastai uses spaCy's English
#    rules; `tokenizer.split_words` re-implements them);
# 3. **post-rule**: `replace_space`, which makes sure no token contains a space.
#
# Here is the order of the pre-rules:

# %%
[rule.__name__ for rule in tokenizer.PRE_RULES]

# %% [markdown]
# `tokenizer.tokenize_and_show_work` runs the pipeline and keeps every intermediate result (the
# same idea as minGPT's `encode_and_show_work`). Rows in **bold** are the rules that changed
# something. First a verse from the training set:

# %%
verse = poems.text[12]
steps = tokenizer.tokenize_and_show_work(verse)
explain.show_work_table(steps);

# %% [markdown]
# Only `lowercase` (which also adds `xxbos`) and the word splitter did anything: the verse was
# already lower case. That is not an accident — **the Poem Sentiment authors lowercased every
# verse**. Keep that in mind: it matters in section 5.
#
# To see the case rules at work we need cased text. The general-domain corpus of notebook 04
# includes Shakespeare. The opening of *Macbeth* (where the corpus could not be rebuilt and
# WikiText-2 stands in for it, the opening of an article):

# %%
general = corpus_builder.load_pretraining_corpus("valid")  # notebook 04's corpus (it prints which one)
plays = general.text[general.title.str.contains("macbeth", case=False)]
macbeth = plays.iloc[0] if len(plays) else general.text.iloc[0]  # WikiText-2 alone: its first article
opening = macbeth[max(macbeth.find("MACBETH, General"), 0):][:120]
print(opening)
explain.show_work_table(tokenizer.tokenize_and_show_work(opening));

# %% [markdown]
# Each rule on its own, on a short input chosen to trigger it. Read the last column before the
# explanation below it.

# %%
examples = [
    (tokenizer.fix_html, "she said<br />goodbye ... &lt;3 well @-@ known"),
    (tokenizer.replace_rep, "sooooo good!!!!"),
    (tokenizer.replace_wrep, "very very very very sad"),
    (tokenizer.spec_add_spaces, "and/or #1"),
    (tokenizer.rm_useless_spaces, "too    many   spaces"),
    (tokenizer.replace_all_caps, "the STORM is HERE"),
    (tokenizer.replace_maj, "Over the Hills"),
    (tokenizer.lowercase, "Hello World"),
]
rules_table = pd.DataFrame(
    [(rule.__name__, repr(text), repr(rule(text))) for rule, text in examples], columns=["rule", "input", "output"]
)
# repr: show spaces and newlines as they are; escape: show "<br />" as text, not as a line break
rules_table.style.format(escape="html").set_properties(**{"font-family": "monospace", "text-align": "left", "white-space": "pre"})

# %% [markdown]
# Why each rule exists:
#
# - **`fix_html`** — scraped text carries debris (`&amp;`, `<br />`, WikiText's `@-@`). Without the
#   fix, `amp` would become a word.
# - **`replace_rep`** — "sooooo" and "soooo" would be two rare words. `s xxrep 5 o` keeps the
#   information (emphasis!) with tokens the model sees all the time.
# - **`replace_wrep`** — the same for repeated words: `xxwrep 4 very`.
# - **`spec_add_spaces`** — splits on `/`, `#` and `\`, so "and/or" is three familiar tokens.
# - **`rm_useless_spaces`** — runs of spaces carry no meaning.
# - **`replace_all_caps`** — `STORM` becomes `xxup storm`: the word shares its embedding with
#   `storm`, and the shouting is kept as a separate token.
# - **`replace_maj`** — `Over` becomes `xxmaj over`: the same trick for a leading capital.
# - **`lowercase`** — everything else is lowercased, and `xxbos` ("beginning of stream") is put in
#   front, so that when documents are glued into one long stream (notebook 02) the model can tell
#   where a new text starts.
#
# The rules are short. Here is one of them, straight from the package:

# %%
explain.show_source(tokenizer.replace_maj);

# %% [markdown]
# ## 3. The special tokens
#
# Every special token starts with `xx`, a prefix no English word has, so none can clash with a
# real word. They always come first in the vocabulary, in this order, so their ids are the same in
# every fastai model (`xxunk` = 0, `xxpad` = 1):

# %%
pd.DataFrame(
    {
        "id": range(len(tokenizer.SPECIAL_TOKENS)),
        "token": tokenizer.SPECIAL_TOKENS,
        "meaning": [
            "a word that is not in the vocabulary",
            "padding: fills batches of documents of unequal length (classifier, notebook 06)",
            "beginning of a document",
            "end of a document (fastai does not add it by default)",
            "separates fields, e.g. title and body",
            "the next character is repeated n times: xxrep 4 !",
            "the next word is repeated n times: xxwrep 3 very",
            "the next word was written in ALL CAPS",
            "the next word was Capitalised",
        ],
    }
)

# %% [markdown]
# **Why markers instead of keeping the case?** Count it. Below we tokenize the opening of
# *Macbeth* twice: with the case rules (fastai's way) and without them (the pre-rules minus
# `replace_all_caps`, `replace_maj` and `lowercase`, so "The" and "the" stay different words).

# %%
case_rules = {tokenizer.replace_all_caps, tokenizer.replace_maj, tokenizer.lowercase}
keep_case = [rule for rule in tokenizer.PRE_RULES if rule not in case_rules]
text = macbeth[:20_000]
with_markers = tokenizer.tokenize(text)
with_case = tokenizer.tokenize(text, rules=keep_case)
print(f"distinct tokens, case kept as written: {len(set(with_case)):,}")
print(f"distinct tokens, markers + lower case:  {len(set(with_markers)):,}")
both = sorted({t for t in with_case if t.lower() != t and t.lower() in with_case})
print(f"{len(both)} words appear both capitalised and not, e.g. {both[:8]}")

# %% [markdown]
# With markers, each of those words has **one** entry — trained on every occurrence — instead
# of two entries that split the evidence. The price is a slightly longer sequence (one `xxmaj`
# per capitalised word).
#
# ## 4. Numericalisation: tokens → ids
#
# Now tokenize every verse and count. `Vocab.build` follows fastai's `make_vocab`: the special
# tokens first, then every token seen at least `min_freq` times, most frequent first, at most
# `max_vocab` entries, padded with `xxfake` to a multiple of 8 (GPUs multiply matrices with such
# sizes faster).

# %%
poem_tokens = tokenizer.tokenize_texts(poems.text)
dev_tokens = tokenizer.tokenize_texts(poems_dev.text)
counts = Counter(tok for tokens in poem_tokens for tok in tokens)
print(f"{sum(counts.values()):,} tokens, {len(counts):,} distinct; most common: {counts.most_common(12)}")

poem_vocab = Vocab.build(poem_tokens, min_freq=3)
print(poem_vocab)
print("first 20 entries:", poem_vocab.itos[:20])

# %% [markdown]
# A verse becomes a list of ids; ids become tokens again, and the markers are undone to give
# readable text. A word the vocabulary does not hold becomes id 0, `xxunk` — that information is
# gone for good, which the decoded text shows.

# %%
tokens = poem_tokens[3]
ids = poem_vocab.numericalize(tokens)
display(HTML(explain.tokens_html(tokens, ids, special=tokenizer.SPECIAL_TOKENS)))
print("ids:    ", ids)
print("decoded:", poem_vocab.decode(ids))
print("source: ", poems.text[3])

assert poem_vocab.textify(ids) == [t if t in poem_vocab else tokenizer.UNK for t in tokens]
assert all(i == 0 for t, i in zip(tokens, ids) if t not in poem_vocab)  # unknown -> id 0

# %% [markdown]
# ### The long tail
#
# Word frequencies follow Zipf's law: a few tokens are everywhere, most are rare. On a log-log
# plot of frequency against rank that is close to a straight line. `min_freq` cuts the tail:
# everything right of the dashed line would be `xxunk` with `min_freq=3`.

# %%
freqs = sorted(counts.values(), reverse=True)  # the count of the most frequent token first
print(f"min_freq=3 keeps the {sum(f >= 3 for f in freqs)} tokens seen at least 3 times")
figures_basics.plot_zipf(freqs, min_freq=3)

# %% [markdown]
# ### `min_freq` and `max_vocab`: how big a vocabulary?
#
# A token seen once or twice gets an embedding trained on one or two examples — nearly noise —
# and costs `emb_size` parameters (400 in ULMFiT) in the embedding *and* in the output layer. So
# rare tokens are dropped: fastai's defaults are `min_freq=3` (drop tokens seen fewer times) and
# `max_vocab=60000` (keep at most that many, the most frequent first). The price is
# the **unknown rate**: the fraction of tokens in new text that map to `xxunk`. We build
# vocabularies from the training verses and measure both sides on the dev verses:

# %%
rows = []
for min_freq in [1, 2, 3, 4, 5]:
    v = Vocab.build(poem_tokens, min_freq=min_freq)
    rows.append({"min_freq": min_freq, "vocab size": len(v), "unk rate (dev)": v.unk_rate(dev_tokens)})
sizes = pd.DataFrame(rows).set_index("min_freq")
display(figures_basics.plot_vocab_sizes(sizes, n_texts=len(poems)))
display(sizes.style.format({"unk rate (dev)": "{:.1%}"}))

capped = Vocab.build(poem_tokens, min_freq=1, max_vocab=200)  # whatever the counts: at most 200
print(f"max_vocab=200: {len(capped)} entries (200 + xxfake fillers), unk rate {capped.unk_rate(dev_tokens):.1%}")

# %% [markdown]
# Even keeping every word seen once, a vocabulary built from 892 verses misses a large share of
# the dev verses' tokens. A classifier trained on these ids would be blind to all of them.
#
# ## 5. Transfer starts with the vocabulary
#
# ULMFiT's answer (§3.1) is to start from a language model pretrained on a large general corpus.
# That model comes with *its* vocabulary: tens of thousands of words it has already learned
# embeddings for. The paper's model is fastai's `wt103-fwd`, pretrained on WikiText-103 (103
# million tokens of Wikipedia, a vocabulary of 60,000 words). The course also has a smaller
# stand-in, `general-fwd`, pretrained on a 3.8M-token general English corpus (26,856 words),
# which it uses where it is on the machine (a workshop kit, for instance). One function chooses,
# for every notebook:

# %%
# The pretrained language model (ULMFiT's stage 1), chosen in one place for the whole notebook: the
# course's general-fwd where it is on this machine (workshop kit, ULMFIT_DATA) or the room's mirror,
# otherwise fastai's wt103-fwd, the paper's own model (downloaded once, about 100 MB). The numbers
# quoted in the text were measured with general-fwd.
PRETRAINED = pretrained.course_model()
print("pretrained model:", plan.describe_model(PRETRAINED))

# %% [markdown]
# Notebook 04 loads the weights. Here we only read the vocabulary: the model's archive holds one
# `.pth` file of weights and one `.pkl` file of tokens, which we read through the package's
# restricted reader — a `.pkl` file can contain code, and `pretrained.read_itos` accepts nothing
# but a list of strings.

# %%
itos_file = next(registry.fetch(PRETRAINED).rglob("*.pkl"))  # downloads the model on first use
pretrained_vocab = Vocab(pretrained.read_itos(itos_file))
print(itos_file.name, "->", pretrained_vocab)
print("its first tokens:", pretrained_vocab.itos[:12])  # the special tokens come first

# %% [markdown]
# Compare the unknown rate on the dev verses for three vocabularies: the poems' own, the
# pretrained one, and the pretrained one **extended** with the poems' new words — what ULMFiT's
# stage 2 does before fine-tuning (§3.2; the new words start from the mean embedding, notebook 05).

# %%
extended = pretrained_vocab.extend(poem_tokens, min_freq=2)
candidates = {
    "poems only (min_freq=3)": poem_vocab,
    f"pretrained {PRETRAINED}": pretrained_vocab,
    "pretrained + poem words": extended,
}
unk = pd.DataFrame(
    {name: {"size": len(v), "unk rate (dev)": v.unk_rate(dev_tokens)} for name, v in candidates.items()}
).T
display(figures_basics.plot_unk_rates(unk["unk rate (dev)"]))
display(unk.style.format({"size": "{:,.0f}", "unk rate (dev)": "{:.1%}"}))
missing = Counter(t for tokens in dev_tokens for t in tokens if t not in pretrained_vocab)
print("dev words the pretrained vocabulary lacks:", [w for w, _ in missing.most_common(15)])

# %% [markdown]
# The pretrained vocabulary knows almost every word of the dev verses, although it was built from
# general text rather than from these poems: Wikipedia for `wt103-fwd`; speeches, Wikipedia, the
# Bible and Shakespeare for `general-fwd`. What it lacks are mostly archaic spellings, dialect and
# genuinely rare words. That is the first thing pretraining
# buys: words that the small target dataset could never teach are already in the list — and,
# once the weights are loaded, already have meaningful embeddings.
#
# One mismatch remains: the general corpus is cased, so its model has seen `xxmaj` after almost
# every full stop; the poems, lowercased by their authors, never contain it. Fine-tuning the
# language model on the poems (stage 2, notebook 05) is how the model adapts to such quirks of
# the target text.
#
# ## 6. Play: your own text through the pretrained vocabulary
#
# Type a line and press Enter or click outside the box. Each chip is a token; its colour stands
# for its id, **red** chips are unknown words (id 0), grey ones special tokens. Try capitals,
# repeated letters (`noooo`), repeated words, made-up words, names.

# %%
widgets_basics.token_viewer(pretrained_vocab, text="O WILD West Wind, thou breath of Autumn's being!!! Sooo cold cold cold, sighed Glorfindel.")

# %% [markdown]
# ## 7. Exercises
#
# ### Exercise 1: write `replace_all_caps`
#
# Write the rule yourself (without peeking at `tokenizer.replace_all_caps`). Input: a string;
# output: the same string where every ALL-CAPS word — separated by spaces, starting with a capital
# letter A-Z and containing no lowercase letter — is lowercased, and, when it is at least two
# characters long, preceded by `xxup `. One-letter words such as "I" are just lowercased.
#
# Replace `raise NotImplementedError` with your code and run the cell. The checker compares your
# function with the package's on several sentences and explains the first difference.

# %%
def replace_all_caps(text: str) -> str:
    raise NotImplementedError  # your code here


exercises_basics.check_replace_all_caps(replace_all_caps)

# %% [markdown]
# ### Exercise 2: the unknown rate
#
# Write `unk_rate(token_lists, itos)`: the fraction of all token occurrences in `token_lists` (a
# list of tokenized documents) that are not in the vocabulary `itos` (a list of tokens).

# %%
def unk_rate(token_lists, itos) -> float:
    raise NotImplementedError  # your code here


exercises_basics.check_unk_rate(unk_rate)

# %% [markdown]
# Stuck? `exercises_basics.hint("unk_rate")` gives a hint, `exercises_basics.show_solution("unk_rate")` one
# solution. The package's own version is `Vocab.unk_rate`, used in section 4.
#
# ## Summary
#
# - A language model predicts one entry of a fixed list, the **vocabulary**; text must first be
#   cut into **tokens** and each token mapped to an **id**.
# - fastai's rules make the vocabulary smaller without losing information: case, repetitions and
#   document boundaries become **special tokens** (`xxmaj`, `xxup`, `xxrep`, `xxwrep`, `xxbos`).
# - `min_freq` and `max_vocab` trade vocabulary size against the **unknown rate**; unknown words
#   become `xxunk` (id 0) and their information is lost.
# - A vocabulary built from a small dataset misses many words of new text; a **pretrained
#   vocabulary**, extended with the target's words, misses few. Reusing it is the first step of
#   ULMFiT's transfer.

# %% [markdown]
# ## Questionnaire
#
# Answer from memory first, then look back at the section each question comes from. The answer
# sheet below the questions checks the factual ones (✔); for the others, *Our answer* shows one
# to compare with yours.

# %%
from ulmfit_lesson.course import questionnaire

questionnaire.show("01_tokens_and_vocabulary")

# %% [markdown]
# ## Further research
#
# - Sennrich, Haddow & Birch (2016), *Neural machine translation of rare words with subword units*:
#   byte-pair encoding, the usual answer to unknown words today.
# - Kudo & Richardson (2018), *SentencePiece*: subword tokenization without a language-specific
#   word splitter.
# - Eisenschlos et al. (2019), *MultiFiT*: ULMFiT with subword tokens for many languages.
# - fastai's text documentation (`fastai.text.core`): the rules this notebook re-implements.
