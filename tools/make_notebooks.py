"""Write every notebook from its cell list (clean, deterministic).

    python tools/make_notebooks.py            # regenerate notebooks/*.ipynb and docs/colab.md's setup cell
    python tools/make_notebooks.py --check    # exit 1 if a committed notebook (or that cell) differs

The ``.ipynb`` files are what learners open and what is committed; this generator keeps their
sources diff-friendly. ``NOTEBOOKS`` maps a file name to a list of ``("md", text)`` /
``("code", text)`` cells: notebooks 01-03 below, 00 and 04-09 in ``tools/notebook_sources/nbNN.py``
(``FILENAME``, ``CELLS``). Every notebook gets ``SETUP_CELL`` before its first code cell; its install
URL is ``[project.urls] Repository`` of ``pyproject.toml``, read here (the one place it is written).
Cell ids are ``nb<number>-<index>``, so regenerating changes nothing that did not change. The
output matches nbformat's serialisation (and ``tools/check_notebooks.py``): no outputs, no
execution counts. Edit the sources, regenerate, and commit both.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
import tomllib
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "notebooks"
COLAB_DOC = ROOT / "docs" / "colab.md"

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def md(text: str, slide: bool = False) -> tuple[str, str] | tuple[str, str, dict]:
    """A markdown cell; ``slide=True`` tags it as a reveal.js slide (and for the story deck)."""
    if slide:
        return ("md", text, {"slideshow": {"slide_type": "slide"}})
    return ("md", text)


def code(text: str) -> tuple[str, str]:
    return ("code", text)


def pretrained_choice() -> tuple[str, str]:
    """The code cell with which a notebook chooses its pretrained language model: one place, one
    line of output saying which model it got and why (``pretrained.course_model`` decides,
    ``plan.describe_model`` says why)."""
    return code("""
    # The pretrained language model (ULMFiT's stage 1), chosen in one place for the whole notebook: the
    # course's general-fwd where it is on this machine (workshop kit, ULMFIT_DATA) or the room's mirror,
    # otherwise fastai's wt103-fwd, the paper's own model (downloaded once, about 100 MB). The numbers
    # quoted in the text were measured with general-fwd.
    PRETRAINED = pretrained.course_model()
    print("pretrained model:", plan.describe_model(PRETRAINED))
    """)


def _project() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]


def repository_url() -> str:
    """The public repository, as ``pyproject.toml`` writes it once (``[project.urls] Repository``).

    Raises ``SystemExit`` when it is missing or not an https URL: every notebook installs from it.
    """
    url = _project().get("urls", {}).get("Repository", "")
    if not re.fullmatch(r"https://[^\s\"'<>]+", url):
        raise SystemExit(
            f"pyproject.toml: [project.urls] Repository is {url!r}; the setup cell of every notebook "
            'installs from it, so set it to the public repository (Repository = "https://github.com/...").'
        )
    return url.rstrip("/")


def runtime_dependencies() -> list[str]:
    """``[project] dependencies``; refuses an exact pin (``==``), which the setup cell relies on not having."""
    deps = _project().get("dependencies", [])
    pinned = [d for d in deps if "==" in d]
    if pinned:
        raise SystemExit(
            f"pyproject.toml pins {pinned} exactly. The setup cell installs the package with its "
            "dependencies on Colab, where an exact torch pin would download a second PyTorch of several "
            "GB over the GPU build Colab provides: keep ranges in pyproject.toml (exact pins belong in "
            "requirements.txt), or change SETUP_CELL in tools/make_notebooks.py."
        )
    return deps


REPO_URL = repository_url()

# Every notebook's first code cell (docs/colab.md shows it, kept equal by main()): installs the
# package on Colab and other hosted Jupyter, and changes nothing on a machine set up with `make lab`.
# Why with its dependencies (no --no-deps): they are ranges that Colab and Kaggle already satisfy,
# so pip installs only this package and keeps the service's own PyTorch; on a bare JupyterHub it
# installs what is missing. Not the [course] extra: JupyterLab and friends are the service's job.
SETUP_CELL = f"""
# Setup: on Google Colab or another hosted Jupyter, install the course package if it is missing
# (on a machine set up with `make lab` this changes nothing). Datasets and the pretrained model
# download on first use. KIT: optional path or URL of a workshop kit (ulmfit-kit.tar.gz, for a
# room without internet; see docs/facilitator_guide.md).
KIT = ""
try:
    import ulmfit_lesson
except ImportError:
    # Its dependencies ({", ".join(runtime_dependencies())}) are already on Colab and Kaggle:
    # pip adds only this package, and keeps the service's PyTorch.
    %pip install -q "ulmfit-lesson @ git+{REPO_URL}"
from ulmfit_lesson.course import plan

plan.hosted_setup(KIT)
"""


# ------------------------------------------------------------------------------------ notebooks
# fmt: off
NB01 = [
    md("""
    # 01 · Tokens and vocabulary

    *ULMFiT, taught by doing it. Paper: Howard & Ruder (2018), "Universal Language Model Fine-tuning
    for Text Classification" — the experimental setup (§4, "Pre-processing") adds special tokens
    for upper case, elongation and repetition; the released code uses fastai's tokenizer, which
    `ulmfit_lesson.tokenizer` reproduces.*

    A language model never sees letters or words: it sees integers. This notebook follows a
    line of text until it becomes a list of ids, and back.

    **By the end you can**

    1. say why a language model needs a fixed list of tokens, and what goes wrong with too many or too few;
    2. apply fastai's tokenization rules one at a time and say why each exists;
    3. explain every special token (`xxbos`, `xxmaj`, `xxup`, `xxrep`, `xxwrep`, `xxunk`, `xxpad`, ...);
    4. build a vocabulary with `min_freq` / `max_vocab`, turn tokens into ids and decode them back;
    5. measure the unknown-word rate, and see why a *pretrained* vocabulary is part of what ULMFiT transfers.
    """),
    code("""
    %matplotlib inline
    import matplotlib.pyplot as plt
    import pandas as pd
    from collections import Counter
    from IPython.display import HTML, display
    from matplotlib.ticker import PercentFormatter

    from ulmfit_lesson import config, corpus_builder, datasets, pretrained, registry, tokenizer
    from ulmfit_lesson.course import exercises_basics, explain, plan, widgets_basics
    from ulmfit_lesson.vocab import Vocab

    QUICK = config.is_quick()
    print("mode:", "QUICK (ULMFIT_QUICK=1: small data, few epochs)" if QUICK else "FULL")
    """),
    md("""
    ## 1. Why tokenize at all?

    A language model is a machine that, given some text, assigns a probability to every possible
    *next* piece of text. "Every possible" has to be a finite list: the model's last layer has one
    output per entry. That list is the **vocabulary**, and its entries are **tokens**.

    The choice of unit is a trade-off:

    | unit | vocabulary | sequence length | problem |
    |---|---|---|---|
    | characters | ~100 | very long | the model must learn spelling before meaning |
    | whole words, as written | huge ("The", "the", "THE", "the." ...) | short | most entries are rare and badly learned |
    | **normalised words** (ULMFiT) | tens of thousands | short | rare words still fall out of the list |
    | subword pieces (later work, e.g. MultiFiT) | a few thousand | medium | pieces are less readable |

    ULMFiT uses normalised words. The normalisation is a handful of **rules** that make the
    vocabulary smaller *without throwing information away*: instead of keeping "The" and "the" as
    two words, the tokenizer writes `xxmaj the` — one extra, very common token carries the
    capital letter. The rules below are fastai's; our tokenizer reproduces them because we want
    to reuse a vocabulary (and a model) that fastai built.

    Our running example is **Poem Sentiment** (Sheng & Uthus 2020): single verses of poetry, each
    labelled negative / no impact / positive / mixed. Later notebooks classify them; here we only
    read them.
    """),
    code("""
    poems = datasets.load_poem_sentiment("train", view="all")
    poems_dev = datasets.load_poem_sentiment("dev", view="all")
    print(f"{len(poems)} training verses, {len(poems_dev)} dev verses")
    poems.head(8)
    """),
    md("""
    ## 2. The pipeline, one rule at a time

    Tokenizing is three steps:

    1. **pre-rules**: functions from string to string, applied in a fixed order;
    2. **word splitting**: cut the string into words and punctuation (fastai uses spaCy's English
       rules; `tokenizer.split_words` re-implements them);
    3. **post-rule**: `replace_space`, which makes sure no token contains a space.

    Here is the order of the pre-rules:
    """),
    code("""
    [rule.__name__ for rule in tokenizer.PRE_RULES]
    """),
    md("""
    `tokenizer.tokenize_and_show_work` runs the pipeline and keeps every intermediate result (the
    same idea as minGPT's `encode_and_show_work`). Rows in **bold** are the rules that changed
    something. First a verse from the training set:
    """),
    code("""
    verse = poems.text[12]
    steps = tokenizer.tokenize_and_show_work(verse)
    explain.show_work_table(steps);
    """),
    md("""
    Only `lowercase` (which also adds `xxbos`) and the word splitter did anything: the verse was
    already lower case. That is not an accident — **the Poem Sentiment authors lowercased every
    verse**. Keep that in mind: it matters in section 5.

    To see the case rules at work we need cased text. The general-domain corpus of notebook 04
    includes Shakespeare. The opening of *Macbeth* (where the corpus could not be rebuilt and
    WikiText-2 stands in for it, the opening of an article):
    """),
    code("""
    general = corpus_builder.load_pretraining_corpus("valid")  # notebook 04's corpus (it prints which one)
    plays = general.text[general.title.str.contains("macbeth", case=False)]
    macbeth = plays.iloc[0] if len(plays) else general.text.iloc[0]  # WikiText-2 alone: its first article
    opening = macbeth[max(macbeth.find("MACBETH, General"), 0):][:120]
    print(opening)
    explain.show_work_table(tokenizer.tokenize_and_show_work(opening));
    """),
    md("""
    Each rule on its own, on a short input chosen to trigger it. Read the last column before the
    explanation below it.
    """),
    code("""
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
    """),
    md("""
    Why each rule exists:

    - **`fix_html`** — scraped text carries debris (`&amp;`, `<br />`, WikiText's `@-@`). Without the
      fix, `amp` would become a word.
    - **`replace_rep`** — "sooooo" and "soooo" would be two rare words. `s xxrep 5 o` keeps the
      information (emphasis!) with tokens the model sees all the time.
    - **`replace_wrep`** — the same for repeated words: `xxwrep 4 very`.
    - **`spec_add_spaces`** — splits on `/`, `#` and `\\`, so "and/or" is three familiar tokens.
    - **`rm_useless_spaces`** — runs of spaces carry no meaning.
    - **`replace_all_caps`** — `STORM` becomes `xxup storm`: the word shares its embedding with
      `storm`, and the shouting is kept as a separate token.
    - **`replace_maj`** — `Over` becomes `xxmaj over`: the same trick for a leading capital.
    - **`lowercase`** — everything else is lowercased, and `xxbos` ("beginning of stream") is put in
      front, so that when documents are glued into one long stream (notebook 02) the model can tell
      where a new text starts.

    The rules are short. Here is one of them, straight from the package:
    """),
    code("""
    explain.show_source(tokenizer.replace_maj);
    """),
    md("""
    ## 3. The special tokens

    Every special token starts with `xx`, a prefix no English word has, so none can clash with a
    real word. They always come first in the vocabulary, in this order, so their ids are the same in
    every fastai model (`xxunk` = 0, `xxpad` = 1):
    """),
    code("""
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
    """),
    md("""
    **Why markers instead of keeping the case?** Count it. Below we tokenize the opening of
    *Macbeth* twice: with the case rules (fastai's way) and without them (the pre-rules minus
    `replace_all_caps`, `replace_maj` and `lowercase`, so "The" and "the" stay different words).
    """),
    code("""
    case_rules = {tokenizer.replace_all_caps, tokenizer.replace_maj, tokenizer.lowercase}
    keep_case = [rule for rule in tokenizer.PRE_RULES if rule not in case_rules]
    text = macbeth[:20_000]
    with_markers = tokenizer.tokenize(text)
    with_case = tokenizer.tokenize(text, rules=keep_case)
    print(f"distinct tokens, case kept as written: {len(set(with_case)):,}")
    print(f"distinct tokens, markers + lower case:  {len(set(with_markers)):,}")
    both = sorted({t for t in with_case if t.lower() != t and t.lower() in with_case})
    print(f"{len(both)} words appear both capitalised and not, e.g. {both[:8]}")
    """),
    md("""
    With markers, each of those words has **one** entry — trained on every occurrence — instead
    of two entries that split the evidence. The price is a slightly longer sequence (one `xxmaj`
    per capitalised word).

    ## 4. Numericalisation: tokens → ids

    Now tokenize every verse and count. `Vocab.build` follows fastai's `make_vocab`: the special
    tokens first, then every token seen at least `min_freq` times, most frequent first, at most
    `max_vocab` entries, padded with `xxfake` to a multiple of 8 (GPUs multiply matrices with such
    sizes faster).
    """),
    code("""
    poem_tokens = tokenizer.tokenize_texts(poems.text)
    dev_tokens = tokenizer.tokenize_texts(poems_dev.text)
    counts = Counter(tok for tokens in poem_tokens for tok in tokens)
    print(f"{sum(counts.values()):,} tokens, {len(counts):,} distinct; most common: {counts.most_common(12)}")

    poem_vocab = Vocab.build(poem_tokens, min_freq=3)
    print(poem_vocab)
    print("first 20 entries:", poem_vocab.itos[:20])
    """),
    md("""
    A verse becomes a list of ids; ids become tokens again, and the markers are undone to give
    readable text. A word the vocabulary does not hold becomes id 0, `xxunk` — that information is
    gone for good, which the decoded text shows.
    """),
    code("""
    tokens = poem_tokens[3]
    ids = poem_vocab.numericalize(tokens)
    display(HTML(explain.tokens_html(tokens, ids, special=tokenizer.SPECIAL_TOKENS)))
    print("ids:    ", ids)
    print("decoded:", poem_vocab.decode(ids))
    print("source: ", poems.text[3])

    assert poem_vocab.textify(ids) == [t if t in poem_vocab else tokenizer.UNK for t in tokens]
    assert all(i == 0 for t, i in zip(tokens, ids) if t not in poem_vocab)  # unknown -> id 0
    """),
    md("""
    ### The long tail

    Word frequencies follow Zipf's law: a few tokens are everywhere, most are rare. On a log-log
    plot of frequency against rank that is close to a straight line. `min_freq` cuts the tail:
    everything right of the dashed line would be `xxunk` with `min_freq=3`.
    """),
    code("""
    freqs = sorted(counts.values(), reverse=True)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.loglog(range(1, len(freqs) + 1), freqs, marker=".", lw=0, ms=3)
    cut_rank = sum(f >= 3 for f in freqs)
    ax.axvline(cut_rank, color="red", ls="--", label=f"min_freq=3 keeps {cut_rank} tokens")
    ax.set_xlabel("rank of the token (1 = most frequent)")
    ax.set_ylabel("count in the training verses")
    ax.set_title("Poem Sentiment: token frequency against rank")
    ax.legend()
    plt.show()
    """),
    md("""
    ### `min_freq` and `max_vocab`: how big a vocabulary?

    A token seen once or twice gets an embedding trained on one or two examples — nearly noise —
    and costs `emb_size` parameters (400 in ULMFiT) in the embedding *and* in the output layer. So
    rare tokens are dropped: fastai's defaults are `min_freq=3` (drop tokens seen fewer times) and
    `max_vocab=60000` (keep at most that many, the most frequent first). The price is
    the **unknown rate**: the fraction of tokens in new text that map to `xxunk`. We build
    vocabularies from the training verses and measure both sides on the dev verses:
    """),
    code("""
    rows = []
    for min_freq in [1, 2, 3, 4, 5]:
        v = Vocab.build(poem_tokens, min_freq=min_freq)
        rows.append({"min_freq": min_freq, "vocab size": len(v), "unk rate (dev)": v.unk_rate(dev_tokens)})
    sizes = pd.DataFrame(rows).set_index("min_freq")

    fig, ax1 = plt.subplots(figsize=(7, 3.3))
    ax1.bar(sizes.index, sizes["vocab size"], color="#aec7e8")
    ax1.set_xlabel("min_freq")
    ax1.set_ylabel("vocabulary size (bars)")
    ax2 = ax1.twinx()
    ax2.plot(sizes.index, sizes["unk rate (dev)"], color="#d62728", marker="o")
    ax2.set_ylabel("unknown rate on dev (line)", color="#d62728")
    ax2.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax1.set_title("A vocabulary built from 892 verses: small, and blind to many words")
    plt.show()
    display(sizes.style.format({"unk rate (dev)": "{:.1%}"}))

    capped = Vocab.build(poem_tokens, min_freq=1, max_vocab=200)  # whatever the counts: at most 200
    print(f"max_vocab=200: {len(capped)} entries (200 + xxfake fillers), unk rate {capped.unk_rate(dev_tokens):.1%}")
    """),
    md("""
    Even keeping every word seen once, a vocabulary built from 892 verses misses a large share of
    the dev verses' tokens. A classifier trained on these ids would be blind to all of them.

    ## 5. Transfer starts with the vocabulary

    ULMFiT's answer (§3.1) is to start from a language model pretrained on a large general corpus.
    That model comes with *its* vocabulary: tens of thousands of words it has already learned
    embeddings for. The paper's model is fastai's `wt103-fwd`, pretrained on WikiText-103 (103
    million tokens of Wikipedia, a vocabulary of 60,000 words). The course also has a smaller
    stand-in, `general-fwd`, pretrained on a 3.8M-token general English corpus (26,856 words),
    which it uses where it is on the machine (a workshop kit, for instance). One function chooses,
    for every notebook:
    """),
    pretrained_choice(),
    md("""
    Notebook 04 loads the weights. Here we only read the vocabulary: the model's archive holds one
    `.pth` file of weights and one `.pkl` file of tokens, which we read through the package's
    restricted reader — a `.pkl` file can contain code, and `pretrained.read_itos` accepts nothing
    but a list of strings.
    """),
    code("""
    itos_file = next(registry.fetch(PRETRAINED).rglob("*.pkl"))  # downloads the model on first use
    pretrained_vocab = Vocab(pretrained.read_itos(itos_file))
    print(itos_file.name, "->", pretrained_vocab)
    print("its first tokens:", pretrained_vocab.itos[:12])  # the special tokens come first
    """),
    md("""
    Compare the unknown rate on the dev verses for three vocabularies: the poems' own, the
    pretrained one, and the pretrained one **extended** with the poems' new words — what ULMFiT's
    stage 2 does before fine-tuning (§3.2; the new words start from the mean embedding, notebook 05).
    """),
    code("""
    extended = pretrained_vocab.extend(poem_tokens, min_freq=2)
    candidates = {
        "poems only (min_freq=3)": poem_vocab,
        f"pretrained {PRETRAINED}": pretrained_vocab,
        "pretrained + poem words": extended,
    }
    unk = pd.DataFrame(
        {name: {"size": len(v), "unk rate (dev)": v.unk_rate(dev_tokens)} for name, v in candidates.items()}
    ).T
    ax = unk["unk rate (dev)"].plot.barh(figsize=(7, 2.4), color=["#aec7e8", "#98df8a", "#2ca02c"])
    ax.set_xlabel("dev tokens that become xxunk")
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    plt.show()
    display(unk.style.format({"size": "{:,.0f}", "unk rate (dev)": "{:.1%}"}))
    missing = Counter(t for tokens in dev_tokens for t in tokens if t not in pretrained_vocab)
    print("dev words the pretrained vocabulary lacks:", [w for w, _ in missing.most_common(15)])
    """),
    md("""
    The pretrained vocabulary knows almost every word of the dev verses, although it was built from
    general text rather than from these poems: Wikipedia for `wt103-fwd`; speeches, Wikipedia, the
    Bible and Shakespeare for `general-fwd`. What it lacks are mostly archaic spellings, dialect and
    genuinely rare words. That is the first thing pretraining
    buys: words that the small target dataset could never teach are already in the list — and,
    once the weights are loaded, already have meaningful embeddings.

    One mismatch remains: the general corpus is cased, so its model has seen `xxmaj` after almost
    every full stop; the poems, lowercased by their authors, never contain it. Fine-tuning the
    language model on the poems (stage 2, notebook 05) is how the model adapts to such quirks of
    the target text.

    ## 6. Play: your own text through the pretrained vocabulary

    Type a line and press Enter or click outside the box. Each chip is a token; its colour stands
    for its id, **red** chips are unknown words (id 0), grey ones special tokens. Try capitals,
    repeated letters (`noooo`), repeated words, made-up words, names.
    """),
    code("""
    widgets_basics.token_viewer(pretrained_vocab, text="O WILD West Wind, thou breath of Autumn's being!!! Sooo cold cold cold, sighed Glorfindel.")
    """),
    md("""
    ## 7. Exercises

    ### Exercise 1: write `replace_all_caps`

    Write the rule yourself (without peeking at `tokenizer.replace_all_caps`). Input: a string;
    output: the same string where every ALL-CAPS word — separated by spaces, starting with a capital
    letter A-Z and containing no lowercase letter — is lowercased, and, when it is at least two
    characters long, preceded by `xxup `. One-letter words such as "I" are just lowercased.

    Replace `raise NotImplementedError` with your code and run the cell. The checker compares your
    function with the package's on several sentences and explains the first difference.
    """),
    code("""
    def replace_all_caps(text: str) -> str:
        raise NotImplementedError  # your code here


    exercises_basics.check_replace_all_caps(replace_all_caps)
    """),
    md("""
    ### Exercise 2: the unknown rate

    Write `unk_rate(token_lists, itos)`: the fraction of all token occurrences in `token_lists` (a
    list of tokenized documents) that are not in the vocabulary `itos` (a list of tokens).
    """),
    code("""
    def unk_rate(token_lists, itos) -> float:
        raise NotImplementedError  # your code here


    exercises_basics.check_unk_rate(unk_rate)
    """),
    md("""
    Stuck? `exercises_basics.hint("unk_rate")` gives a hint, `exercises_basics.show_solution("unk_rate")` one
    solution. The package's own version is `Vocab.unk_rate`, used in section 4.

    ## Summary

    - A language model predicts one entry of a fixed list, the **vocabulary**; text must first be
      cut into **tokens** and each token mapped to an **id**.
    - fastai's rules make the vocabulary smaller without losing information: case, repetitions and
      document boundaries become **special tokens** (`xxmaj`, `xxup`, `xxrep`, `xxwrep`, `xxbos`).
    - `min_freq` and `max_vocab` trade vocabulary size against the **unknown rate**; unknown words
      become `xxunk` (id 0) and their information is lost.
    - A vocabulary built from a small dataset misses many words of new text; a **pretrained
      vocabulary**, extended with the target's words, misses few. Reusing it is the first step of
      ULMFiT's transfer.

    ## Review questions

    1. Why does fastai write `xxmaj the` rather than keep "The" as its own token? What does it cost?
    2. Which special token tells the model that one document ended and another began, and why is
       that needed once documents are concatenated?
    3. You raise `min_freq` from 3 to 10. What happens to the vocabulary size, the number of
       parameters of the embedding, and the unknown rate?
    4. Why must our tokenizer reproduce *fastai's* rules exactly, rather than any reasonable ones?
    5. The poems contain no `xxmaj` at all. Why might this matter for a model pretrained on cased
       text, and which ULMFiT stage deals with it?
    """),
]

NB02 = [
    md("""
    # 02 · Language-model batches

    *Paper: ULMFiT §3.1-3.2 (the language model is trained on one long stream of text) and §3.3
    ("In practice, we use variable length backpropagation sequences"); AWD-LSTM (Merity, Keskar &
    Socher 2018) §4.1, variable-length backpropagation through time and its learning-rate rescale.
    Code: `ulmfit_lesson.lm_loader`.*

    Notebook 01 turned text into ids. A language model learns from those ids without any labels:
    the text is its own answer key. This notebook builds the batches it learns from.

    **By the end you can**

    1. build the inputs `x` and targets `y` of a language model from a stream of ids;
    2. lay a corpus out as `bs` parallel streams and read it as successive batches, and draw that layout;
    3. explain why the hidden state is carried from one batch to the next, and why it is detached;
    4. explain variable-length BPTT: why the window length is random, the exact sampling rule, and
       why the learning rate is rescaled by `seq_len / bptt`;
    5. check that one epoch shows the model every token exactly once.
    """),
    code("""
    %matplotlib inline
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd
    import torch
    from IPython.display import HTML, display

    from ulmfit_lesson import config, datasets, lm_loader, tokenizer
    from ulmfit_lesson.course import exercises_basics, explain, widgets_basics
    from ulmfit_lesson.lm_loader import LMLoader
    from ulmfit_lesson.vocab import Vocab

    QUICK = config.is_quick()
    print("mode:", "QUICK (ULMFIT_QUICK=1: small data, few epochs)" if QUICK else "FULL")
    """),
    md("""
    ## 1. The text is its own label

    A language model is trained to predict each token from the ones before it. So for any stretch
    of text, the **input** `x` is the tokens and the **target** `y` is the same tokens shifted one
    step to the left. No annotator is needed: every text is training data. That is what makes
    stage 1 of ULMFiT (pretraining on a large general corpus) possible at all.
    """),
    code("""
    poems = datasets.load_poem_sentiment("train", view="all")
    poem_tokens = tokenizer.tokenize_texts(poems.text)
    # min_freq=1: every word gets an id, so decoding gives back exactly the tokens (no xxunk).
    vocab = Vocab.build(poem_tokens, min_freq=1)

    verse = poem_tokens[1]
    pd.DataFrame({"input x": verse[:-1], "target y (next token)": verse[1:]}).T
    """),
    md("""
    ## 2. One stream, cut into `bs` rows

    Training one verse at a time would waste the hardware: we want a **batch** of `bs` sequences
    processed in parallel. The language-model loader therefore

    1. concatenates all documents into **one stream** (in a shuffled *document* order each epoch —
       the tokens inside a document are never shuffled, and each starts with `xxbos`);
    2. cuts the stream into `bs` **contiguous** rows of equal length `L = (n - 1) // bs` (the `- 1`
       keeps one extra token so that the last input still has a target);
    3. walks along all rows together, one window of `seq_len` columns per batch.

    Below: the first 91 tokens of the poem stream, `bs = 6` rows of `L = 15` tokens, read in
    windows of 5. Each colour is one batch; read a row left to right and it is ordinary text.
    """),
    code("""
    stream = [tok for tokens in poem_tokens for tok in tokens]  # documents in their file order
    first = stream[:91]
    tables = lm_loader.stream_table(first, bs=6, seq_len=5)  # tables[k][i]: row i of batch k
    display(HTML(explain.stream_table_html(tables)))
    """),
    md("""
    The model sees one colour at a time. Here are the three batches as the model receives them, each
    `bs × seq_len = 6 × 5`, followed by the targets of batch 1 (every token moved one place
    left — the last column comes from the first column of batch 2):
    """),
    code("""
    for k, table in enumerate(tables):
        print(f"batch {k + 1}: x")
        display(HTML(explain.stream_table_html([table], first_batch=k, show_header=False)))

    targets_1 = [first[i * 15 + 1 : i * 15 + 6] for i in range(6)]
    print("batch 1: y (targets)")
    display(HTML(explain.stream_table_html([targets_1], show_header=False)))
    """),
    md("""
    That picture is exactly what `LMLoader` produces. We check it: numericalize the 91 tokens, ask
    the loader for fixed windows of 5 without shuffling, and decode each batch:
    """),
    code("""
    ids = vocab.numericalize(first)
    loader = LMLoader([ids], bs=6, bptt=5, shuffle=False, variable_bptt=False)
    for k, batch in enumerate(loader):
        print(f"batch {k + 1}: x {tuple(batch.x.shape)}, y {tuple(batch.y.shape)}, seq_len {batch.seq_len}")
        assert [vocab.textify(row) for row in batch.x] == tables[k]
        assert torch.equal(batch.x[:, 1:], batch.y[:, :-1])  # y is x shifted by one token
    assert [vocab.textify(row) for row in batch.y][0][-1] == first[15]  # the last target crosses into the next row's text
    print("LMLoader's batches are the coloured tables.")
    """),
    md("""
    The heart of the loader is a reshape and a slice:
    """),
    code("""
    explain.show_source(LMLoader._batches);
    """),
    md("""
    ## 3. Why the hidden state is carried from batch to batch

    Look at row 0 again: batch 2's row 0 starts with the token that follows batch 1's row 0. Every
    row *continues* where it stopped. So the LSTM's hidden state at the end of batch 1 — its memory
    of row 0 so far — is exactly the right starting state for row 0 of batch 2. The training loop
    (`train.fit_lm`) passes it on:

    ```
    stream 0:   [batch 1 window] --h--> [batch 2 window] --h--> [batch 3 window]
    gradients:   <-------------- | cut    <-------------- | cut   <--------------
    ```

    Values flow forward across the boundaries; **gradients do not**. Before each batch the loop
    calls `detach_hidden`, which keeps the numbers of the hidden state but forgets how they were
    computed. Without that cut, the backward pass of batch 100 would run back through all 99
    earlier batches: memory and time would grow with every step. This compromise — remember
    everything, back-propagate through one window — is **truncated backpropagation through time**
    (BPTT), and the window length is called `bptt`.

    The carry only makes sense because rows are contiguous. The check below confirms it for every
    row and boundary of the small example. (In notebook 03 you will *measure* what the carried
    memory is worth to a trained model.)
    """),
    code("""
    batches = list(loader)
    for k in range(len(batches) - 1):
        for i in range(loader.bs):
            end_of_k = i * 15 + 5 * (k + 1)  # position in the stream right after row i of batch k
            assert batches[k + 1].x[i, 0].item() == ids[end_of_k]
    print("each row of each batch continues the same row of the previous batch")
    """),
    md("""
    ## 4. Variable-length BPTT

    With a fixed window of 70, the windows cut the stream at the same places every epoch (only the
    document order moves them). A token that starts a window always starts it: its prediction
    never back-propagates into any earlier token of the window, and the tokens at the window ends
    always get the longest gradient paths. AWD-LSTM's fix is to **draw a new window length for
    every batch** (§4.1), and ULMFiT keeps it. The rule, as in salesforce/awd-lstm-lm's `main.py`:

    1. with probability 0.95 the base length is `bptt`, otherwise `bptt / 2`;
    2. add normal noise: `seq_len = int(N(base, 5))`;
    3. never below 5: `seq_len = max(5, seq_len)`.

    Mostly close to 70, sometimes close to 35: the window boundaries land somewhere new every time.
    The package's sampler:
    """),
    code("""
    explain.show_source(lm_loader.sample_bptt_lengths);
    """),
    md("""
    Step by step, with the same random generator, for the first eight windows of an epoch — and a
    check that we did exactly what the package does:
    """),
    code("""
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
    """),
    md("""
    Over many windows the lengths form two bumps, a big one at `bptt` and a small one at `bptt / 2`.
    The explorer below draws them with the package's sampler; move the sliders (the redraw happens
    when you release one). Try `p` = 1 (always full length), `p` = 0.5, `sd` = 0 (fixed lengths)
    and a small `bptt` (the floor of 5 starts to show).
    """),
    code("""
    widgets_basics.bptt_sampler()
    """),
    md("""
    ### The learning-rate rescale

    The loss of a batch is the *mean* over its `bs × seq_len` predictions. A 20-token window and a
    75-token window would therefore produce gradient steps of the same size, although the long one
    is based on almost four times as much text; short windows would be over-weighted. AWD-LSTM
    scales the learning rate of each step by `seq_len / bptt`. Each `LMBatch` carries that factor as
    `lr_scale`, and `train.fit_lm` multiplies every layer group's learning rate by it.
    (fastai v0.7's and early fastai v1's `LanguageModelLoader` sampled lengths the same way, without
    rescaling in v0.7; fastai v2's `LMDataLoader` uses a fixed length.)

    One epoch over the poems with `bs = 8` and `bptt = 70`:
    """),
    code("""
    poem_ids = [vocab.numericalize(tokens) for tokens in poem_tokens]
    poem_loader = LMLoader(poem_ids, bs=8, bptt=70, seed=1)
    epoch = list(poem_loader)
    lr = 1e-3
    for b in epoch:
        assert b.lr_scale == b.seq_len / poem_loader.bptt

    fig, ax = plt.subplots(figsize=(8, 3))
    steps = range(len(epoch))
    ax.bar(steps, [b.seq_len for b in epoch], color="#aec7e8")
    ax.axhline(poem_loader.bptt, color="gray", ls=":")
    ax.set_xlabel("step")
    ax.set_ylabel("seq_len (bars)")
    ax2 = ax.twinx()
    ax2.plot(steps, [lr * b.lr_scale for b in epoch], color="#d62728", marker="o")
    ax2.set_ylabel("learning rate used (dots)", color="#d62728")
    top = 1.15 * max(b.seq_len for b in epoch)
    ax.set_ylim(0, top)
    ax2.set_ylim(0, lr * top / poem_loader.bptt)  # same scale: each dot sits on its bar
    ax.set_title(f"One epoch: {len(epoch)} windows; base lr {lr:g} scaled by seq_len / bptt (dotted: bptt)")
    plt.show()
    """),
    md("""
    ## 5. Every token, once per epoch

    Random lengths must not lose or repeat text. Check it on the whole poem corpus: glue each
    epoch's windows back together along the time axis; we must get back the `bs` rows of that
    epoch's stream, untouched. Only the last `n - bs·L` tokens (fewer than `bs + 1`) are not used
    as inputs, because the rows must have equal length.
    """),
    code("""
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
    """),
    md("""
    (The last window of an epoch is simply what is left of the rows, so it can be short.)
    Each epoch has a different document order (so a different stream) and different window
    lengths, but within an epoch each token is an input exactly once and a target exactly once.

    ## 6. Exercises

    ### Exercise 1: the stream layout

    Write `stream_layout(tokens, bs)`: cut the list `tokens` into `bs` rows the way `LMLoader` does,
    returning a list of `bs` lists. (Think about the length of a row first.)
    """),
    code("""
    def stream_layout(tokens, bs):
        raise NotImplementedError  # your code here


    exercises_basics.check_stream_layout(stream_layout)
    """),
    md("""
    ### Exercise 2: the learning rate of each step

    Write `lr_scales(seq_lens, bptt, lr)`: the learning rate actually used at each step of an epoch
    whose windows have the lengths `seq_lens`, with base learning rate `lr`.
    """),
    code("""
    def lr_scales(seq_lens, bptt, lr):
        raise NotImplementedError  # your code here


    exercises_basics.check_lr_scales(lr_scales)
    """),
    md("""
    Stuck? `exercises_basics.hint("stream_layout")`, `exercises_basics.show_solution("stream_layout")`.

    ## Summary

    - A language model's targets are its inputs shifted by one token: `y[t] = x[t + 1]`.
    - The corpus is one stream (documents shuffled per epoch, each starting with `xxbos`), cut into
      `bs` contiguous rows of `L = (n - 1) // bs`; a batch is the next window of every row.
    - Because rows are contiguous, the hidden state at the end of one batch is carried into the
      next; it is **detached**, so gradients stop at the window boundary (truncated BPTT).
    - **Variable-length BPTT** draws each window's length: `bptt` with probability 0.95 else `bptt/2`,
      plus N(0, 5) noise, at least 5 — so window boundaries move every epoch.
    - The learning rate of a step is scaled by `seq_len / bptt`, so short windows don't get
      outsized updates.
    - One epoch uses every token once as an input and once as a target.

    ## Review questions

    1. Why must the `bs` rows be *contiguous* pieces of the stream rather than, say, every
       `bs`-th token?
    2. What would go wrong if the training loop did not detach the hidden state between batches?
       What if it reset it to zeros instead?
    3. Why is a row `(n - 1) // bs` tokens long, not `n // bs`?
    4. With `bptt = 70`, roughly what mean window length do you expect, and why is it a little
       below 70?
    5. A window of 35 tokens comes up. By what factor is the learning rate of that step
       multiplied, and why is that fair?
    """),
]

NB03 = [
    md("""
    # 03 · Inside the AWD-LSTM

    *Paper: ULMFiT §3.1 uses "the state-of-the-art language model AWD-LSTM", a plain LSTM with
    carefully tuned dropouts, and §4.1 gives its sizes (embedding 400, 3 layers, 1150 hidden units).
    The regularisers come from AWD-LSTM (Merity, Keskar & Socher 2018): DropConnect on the
    recurrent weights (§2), locked dropout (§4.2), embedding dropout (§4.3), weight tying (§4.4), a
    small embedding size (§4.5) and AR/TAR (§4.6). Code: `ulmfit_lesson.dropout`, `awd_lstm`,
    `models`, `losses`.*

    **By the end you can**

    1. describe what happens in one LSTM step, and check it against PyTorch's LSTM by hand;
    2. name AWD-LSTM's five regularisers, say what each one drops or penalises, and recognise its mask;
    3. explain weight tying and count the parameters it saves; explain why the embedding is only 400 wide;
    4. read the package's `WeightDropout`;
    5. train a tiny AWD-LSTM language model from scratch and judge it against a baseline.
    """),
    code("""
    %matplotlib inline
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd
    import torch
    import torch.nn.functional as F
    from collections import Counter
    from torch import nn

    from ulmfit_lesson import awd_lstm, config, datasets, dropout, generate, language_model, lm_loader, losses, tokenizer, train
    from ulmfit_lesson.course import exercises_basics, explain, widgets_basics
    from ulmfit_lesson.vocab import Vocab

    QUICK = config.is_quick()
    print("mode:", "QUICK (ULMFIT_QUICK=1: small data, few epochs)" if QUICK else "FULL")
    """),
    md("""
    ## 1. The architecture at a glance

    The encoder, as its module docstring draws it (the language model adds a decoder on top):
    """),
    code("""
    print(awd_lstm.__doc__.split("\\n\\n")[1])
    """),
    md(r"""
    ## 2. LSTM recap

    An LSTM reads one token vector $x_t$ per step and keeps two vectors: the **cell state** $c_t$, a
    long-term memory, and the **hidden state** $h_t$, what it shows to the next layer. Four small
    networks — the *gates* — look at $[h_{t-1}, x_t]$:

    $$
    \begin{aligned}
    i_t &= \sigma(W_{ii} x_t + W_{hi} h_{t-1} + b_i) && \text{input gate: how much to write}\\
    f_t &= \sigma(W_{if} x_t + W_{hf} h_{t-1} + b_f) && \text{forget gate: how much to keep}\\
    g_t &= \tanh(W_{ig} x_t + W_{hg} h_{t-1} + b_g) && \text{candidate: what to write}\\
    o_t &= \sigma(W_{io} x_t + W_{ho} h_{t-1} + b_o) && \text{output gate: how much to show}\\
    c_t &= f_t \odot c_{t-1} + i_t \odot g_t, \qquad h_t = o_t \odot \tanh(c_t)
    \end{aligned}
    $$

    The cell state is changed only by a multiplication and an addition, so information (and
    gradient) can travel many steps along it — the point of the design.
    """),
    code("""
    explain.draw_lstm_cell()
    plt.show()
    """),
    md("""
    PyTorch stores the four input matrices stacked in one `weight_ih_l0` of shape
    `(4 * hidden, input)`, in the order i, f, g, o, and the four recurrent ones in `weight_hh_l0`,
    `(4 * hidden, hidden)`. Let us compute one step by hand with the equations above and check it
    against `nn.LSTM`:
    """),
    code("""
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
    """),
    md("""
    ## 3. Why so much regularisation?

    ULMFiT's language model is large. Build it with a 60,000-word vocabulary (fastai's maximum) and
    count — on PyTorch's `meta` device, which creates shapes without allocating any memory:
    """),
    code("""
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
    """),
    md("""
    Tens of millions of parameters, and in stage 2 and 3 we train them on a few thousand
    sentences: without regularisation the model would memorise the training text. AWD-LSTM's
    answer is dropout *everywhere*, but each kind designed for a recurrent network: **the same
    mask for the whole sequence**, so the recurrence sees one consistent (thinned) network, not a
    new random one at every step. Each is a small module in `ulmfit_lesson.dropout`; the pictures
    below come from running those modules on inputs of ones, so what comes out is the mask itself
    (black = dropped, white = kept and scaled by `1/(1-p)`).

    ### 3.1 Embedding dropout: drop whole words

    `EmbeddingDropout` zeroes entire **rows** of the embedding matrix for one forward pass, so a
    dropped word vanishes at every position where it occurs in the batch. Dropping single
    coordinates of a 400-wide vector would barely matter; dropping the word forces the model to
    predict without it, from context. (`embed_p`, 0.02 for the LM, 0.05 for the classifier.)
    """),
    code("""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [1, 1.4]})
    explain.plot_heatmap(explain.dropout_mask_image("embedding", 0.3, vocab_size=30, emb_size=20), ax=axes[0],
                         title="embedding matrix mask, p=0.3", xlabel="dimension", ylabel="word id", cmap="gray")

    torch.manual_seed(2)
    emb = nn.Embedding(10, 6)
    embed_dp = dropout.EmbeddingDropout(emb, embed_p=0.5).train()
    words = torch.tensor([[3, 5, 3, 7, 5, 3, 9, 7]])  # one sequence; words 3, 5 and 7 repeat
    vectors = embed_dp(words)[0]  # (seq_len, emb_size)
    scale = vectors.abs().max().item()  # symmetric colours: 0 is the blank middle of the map
    explain.plot_heatmap(vectors.detach().T, ax=axes[1], title="embedded sequence: blank (all-zero) columns = dropped words",
                         xlabel="word id at each position", ylabel="dimension", cmap="RdBu_r", vmin=-scale, vmax=scale)
    axes[1].set_xticks(range(words.size(1)), [str(w) for w in words[0].tolist()])
    plt.tight_layout()
    plt.show()

    dropped = {w for w, v in zip(words[0].tolist(), vectors) if (v == 0).all()}
    print("dropped this time (zero at every position where they occur):", sorted(dropped))
    for w, v in zip(words[0].tolist(), vectors):
        assert (v == 0).all() == (w in dropped)  # a word is dropped at all of its positions, or at none
    """),
    md("""
    ### 3.2 Locked (variational) dropout: one mask per sequence

    `RNNDropout` is used on the embedded inputs (`input_p`), between LSTM layers (`hidden_p`) and on
    the output (`output_p`). Ordinary dropout draws a new coin for every feature at every time
    step (left); locked dropout draws one mask of shape `(bs, 1, features)` and reuses it at every
    step (right): a feature is either off for the whole sequence or on for the whole sequence.
    """),
    code("""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
    for ax, kind, title in [(axes[0], "plain", "nn.Dropout: new mask every step"),
                            (axes[1], "locked", "RNNDropout: same mask every step")]:
        explain.plot_heatmap(explain.dropout_mask_image(kind, 0.3), ax=ax, title=title,
                             xlabel="time step", ylabel="feature", cmap="gray")
    plt.tight_layout()
    plt.show()

    locked = dropout.RNNDropout(p=0.3).train()
    out = locked(torch.ones(4, 50, 16))  # (bs, seq_len, features)
    assert torch.equal(out, out[:, :1].expand_as(out))  # constant along time
    assert not torch.equal(out[0], out[1])  # but each sequence has its own mask
    assert torch.equal(locked.eval()(out), out)  # evaluation: no dropout at all
    """),
    md("""
    ### 3.3 Weight dropout (DropConnect) on the recurrent matrix

    The most important regulariser of AWD-LSTM does not touch activations at all: `WeightDropout`
    drops entries of the **hidden-to-hidden matrix** $W_{hh}$ (all four gates), once per forward
    pass. Every time step of the batch then uses the same thinned recurrence. Because the mask is on
    the *weights*, the LSTM itself stays a standard, fast, fused kernel.
    """),
    code("""
    explain.plot_heatmap(explain.dropout_mask_image("weight", 0.5, hidden_size=8), title="W_hh mask, p=0.5 (rows: the 4 gates x 8 units)",
                         xlabel="from unit of h_(t-1)", ylabel="to gate unit", cmap="gray")
    plt.show()
    """),
    md("""
    The whole module. Note where the trainable weight lives (`weight_hh_l0_raw`, a parameter of the
    wrapper) and how each forward pass runs the LSTM with a dropped copy through PyTorch's
    `functional_call`:
    """),
    code("""
    explain.show_source(dropout.WeightDropout);
    """),
    code("""
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
    """),
    md("""
    ### 3.4 Play with the masks

    The viewer runs the same modules. Change `p` and the kind; "new mask" draws another one. Watch
    the fraction of black, and the *shape* of the black: rows for words, rows (features held for
    all time steps) for locked dropout, salt-and-pepper for plain dropout and for DropConnect.
    """),
    code("""
    widgets_basics.dropout_mask_viewer(kind="locked", p=0.3)
    """),
    md("""
    ### 3.5 AR and TAR: penalise loud and jumpy activations

    Two more terms are added to the loss, on the last LSTM layer's output $h$ (AWD-LSTM §4.6):

    - **AR** (activation regularisation), $\\alpha \\cdot \\text{mean}(h_{\\text{dropped}}^2)$: large
      activations cost. Applied after output dropout.
    - **TAR** (temporal AR), $\\beta \\cdot \\text{mean}((h_t - h_{t-1})^2)$: fast changes from one step
      to the next cost. Applied to the raw output.

    ULMFiT keeps fastai's $\\alpha = 2$, $\\beta = 1$.
    """),
    code("""
    explain.show_source(losses.ar_tar_penalty);
    """),
    md("""
    Three made-up activation sequences of one sequence, one feature: calm, loud, jittery. Which
    terms punish which?
    """),
    code("""
    t = torch.linspace(0, 6.28, 40)
    signals = {
        "calm (small, smooth)": 0.3 * torch.sin(t),
        "loud (large, smooth)": 2.0 * torch.sin(t),
        "jittery (small, jumpy)": 0.3 * torch.sign(torch.sin(7.3 * t)),
    }
    rows = {}
    fig, ax = plt.subplots(figsize=(8, 2.8))
    for name, s in signals.items():
        h = s.view(1, -1, 1)  # (bs, seq_len, features)
        rows[name] = {
            "AR (alpha=2)": losses.ar_tar_penalty(h, h, alpha=2.0, beta=0.0).item(),
            "TAR (beta=1)": losses.ar_tar_penalty(h, h, alpha=0.0, beta=1.0).item(),
        }
        ax.plot(s, label=name)
    ax.set_xlabel("time step")
    ax.legend(fontsize=8, loc="upper right")
    plt.show()
    pd.DataFrame(rows).T.round(3)
    """),
    md("""
    AR grows with the size of the activations (the loud signal), TAR with their changes (the
    jittery one, although it is as small as the calm one).

    ## 4. Weight tying and the 400-wide embedding

    The embedding maps a word id to a 400-vector; the decoder maps a 400-vector to one score per
    word. Both are `vocab × 400` matrices. **Weight tying** (Inan et al. 2017; Press & Wolf 2017;
    AWD-LSTM §4.4) makes them the *same* matrix: a word's input vector is also its output vector.
    That halves the parameters of the two largest matrices, and every prediction of a word also
    trains that word's embedding. In the package it is one assignment in `LinearDecoder`:
    `self.decoder.weight = tie_to.weight`.
    """),
    code("""
    emb_w, dec_w = big.encoder.encoder.weight, big.decoder.decoder.weight
    print("same Parameter object:", dec_w is emb_w)
    names = [name for name, p in big.named_parameters(remove_duplicate=False) if p is emb_w]
    print("names of that one tensor:", names)
    saved = emb_w.numel()
    print(f"untied, the decoder would add {saved / 1e6:.1f}M parameters ({saved / total:.0%} of the tied model)")

    fig, ax = plt.subplots(figsize=(8, 2.6))
    left = 0
    for (name, n), colour in zip(parts.items(), ["#2ca02c", "#aec7e8", "#98df8a", "#ffbb78", "#c5b0d5"]):
        ax.barh("tied (ULMFiT)", n / 1e6, left=left, color=colour, label=name)
        ax.barh("untied", n / 1e6, left=left, color=colour)
        left += n / 1e6
    ax.barh("untied", saved / 1e6, left=left, color="#d62728", label="separate decoder weight")
    ax.set_xlabel("parameters (millions), vocabulary 60,000")
    ax.legend(fontsize=7, loc="lower right")
    plt.show()
    """),
    md("""
    **Why 400?** Tying needs the last LSTM layer to output vectors of the embedding's size, so the
    last layer maps 1152 → 400. The embedding size is then a separate choice from the LSTM's width
    (AWD-LSTM §4.5): the middle layers stay wide (1152) for capacity, while every dimension of the
    embedding costs one parameter *per vocabulary word*. The count, again on the `meta` device:
    """),
    code("""
    rows = []
    for emb_size in [100, 200, 400, 800, 1152]:
        with torch.device("meta"):
            m = language_model.build_language_model(60_000, emb_size=emb_size)
        rows.append({"emb_size": emb_size,
                     "embedding (M)": m.encoder.encoder.weight.numel() / 1e6,
                     "whole model (M)": sum(p.numel() for p in m.parameters()) / 1e6})
    pd.DataFrame(rows).set_index("emb_size").round(1)
    """),
    md("""
    An embedding as wide as the LSTM (1152) would nearly double the model, mostly in rows for rare
    words that are seen too seldom to use that many numbers. 400 is AWD-LSTM's setting, which
    ULMFiT keeps (§4.1) — and since the pretrained weights are 400 wide, everything after stage 1 is too.

    ## 5. A tiny language model, from scratch, in seconds

    Time to train one. We need text with structure a small model can learn quickly: **English
    number words**, "one , two , three , ... , nine thousand nine hundred ninety nine" (the same
    idea as fastbook's *Human Numbers*; here generated by `datasets.number_words`, nothing to
    download). The vocabulary is ~30 words, but predicting the next one requires counting: after
    "two hundred eleven ," comes "two hundred twelve". Train on the first 80% of the numbers,
    validate on the rest.
    """),
    code("""
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
    """),
    md("""
    **The baseline.** A model that always predicts the most frequent token is right as often as
    that token occurs. Anything we train must beat this:
    """),
    code("""
    most_common, count = Counter(valid_tokens).most_common(1)[0]
    baseline = count / len(valid_tokens)
    print(f"always predicting {most_common!r}: accuracy {baseline:.1%} on the validation text")
    """),
    md("""
    The model is the package's `LanguageModel` — the same class as the 44M-parameter one above —
    with a tiny configuration: embedding 64, two LSTM layers of 128 units, and LM dropouts scaled
    by `drop_mult=0.3`. The data goes through `LMLoader` (notebook 02: 64 streams, variable windows
    around 16 tokens), and `train.fit_lm` runs the loop: Adam, slanted triangular learning rates
    (notebook 05), AR/TAR, hidden state carried and detached. We use one CPU thread: for matrices
    this small, coordinating several threads costs more than it saves.
    """),
    code("""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    tiny = language_model.build_language_model(len(vocab), drop_mult=0.3, emb_size=64, hidden_size=128, n_layers=2)
    print(tiny)
    print(f"{sum(p.numel() for p in tiny.parameters()):,} parameters")

    train_loader = lm_loader.LMLoader([vocab.numericalize(train_tokens)], bs=64, bptt=16, seed=0)
    valid_loader = lm_loader.LMLoader([vocab.numericalize(valid_tokens)], bs=64, bptt=16, shuffle=False, variable_bptt=False)
    before = train.evaluate_lm(tiny, valid_loader)
    print(f"before training: accuracy {before.accuracy:.1%}, perplexity {before.perplexity:.1f} (vocabulary {len(vocab)})")
    """),
    code("""
    history = train.fit_lm(tiny, train_loader, epochs=epochs, lr_max=2e-2, valid_loader=valid_loader, device="cpu", seed=0)
    """),
    code("""
    acc = [before.accuracy] + [e["valid_accuracy"] for e in history.epochs]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.plot(range(len(acc)), acc, marker="o", label="tiny AWD-LSTM (validation)")
    ax.axhline(baseline, color="red", ls="--", label=f"always {most_common!r} ({baseline:.0%})")
    ax.set_xlabel("epochs trained")
    ax.set_ylabel("next-token accuracy")
    ax.set_ylim(0, 1)
    ax.legend()
    plt.show()
    print(f"final validation accuracy {acc[-1]:.1%} vs baseline {baseline:.1%}")
    assert acc[-1] > baseline + 0.1, "the model should clearly beat the most-frequent-token baseline"
    """),
    md("""
    ### What the carried memory is worth

    Notebook 02 argued that carrying the hidden state from one window to the next gives the model
    context beyond the window. Measure it on the validation text cut into short windows of 5
    tokens — less than one number. `train.evaluate_lm` carries the state from window to window;
    the loop below instead starts every window from zeros, as if each were a new text.
    """),
    code("""
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
    """),
    md("""
    The model also writes. Greedy generation (`temperature=0`: always the most likely token) from a
    prompt; the package's `generate` feeds each predicted token back in. Look at *where* it goes
    wrong: the shape of the text (number, comma, number) comes first, exact counting last. (In quick
    mode the model has had only a few dozen steps; expect much worse.)
    """),
    code("""
    prompt = "one thousand two hundred five , one thousand two hundred six ,"
    print(generate.generate(tiny, vocab, prompt, n_words=20, temperature=0))
    """),
    md("""
    ## 6. Exercises

    ### Exercise 1: the locked-dropout mask

    Write `locked_mask(x, p)` for `x` of shape `(bs, seq_len, features)`: return a mask that,
    multiplied with `x`, does what `RNNDropout` does — each feature of each sequence is dropped
    with probability `p` for *all* time steps, and kept values are scaled by `1 / (1 - p)`.
    """),
    code("""
    def locked_mask(x: torch.Tensor, p: float) -> torch.Tensor:
        raise NotImplementedError  # your code here


    exercises_basics.check_locked_mask(locked_mask)
    """),
    md("""
    ### Exercise 2: AR and TAR

    Write `ar_tar(raw, dropped, alpha, beta)`: the AR + TAR penalty for batch-first outputs
    `(bs, seq_len, features)` of the last layer.
    """),
    code("""
    def ar_tar(raw, dropped, alpha=2.0, beta=1.0):
        raise NotImplementedError  # your code here


    exercises_basics.check_ar_tar(ar_tar)
    """),
    md("""
    Stuck? `exercises_basics.hint("locked_mask")`, `exercises_basics.show_solution("locked_mask")`.

    ## Summary

    - The AWD-LSTM is a plain 3-layer LSTM (400 → 1152 → 1152 → 400) with tied embedding and
      decoder; its strength is its regularisation.
    - **Embedding dropout** drops whole words; **locked dropout** (inputs, between layers, output)
      drops features for a whole sequence; **DropConnect** drops entries of the recurrent matrix
      $W_{hh}$ once per forward pass; **AR/TAR** penalise large and fast-changing activations.
    - All masks are shared across time steps, so the recurrence sees one consistent network.
    - **Weight tying** uses the embedding matrix as the decoder's weight, saving `vocab × 400`
      parameters; a 400-wide embedding keeps the per-word cost low while the LSTM stays wide.
    - A tiny model of the same class, trained in seconds on number words, clearly beats the
      most-frequent-token baseline — and needs its carried memory to do so.

    ## Review questions

    1. Why is a fresh dropout mask at every time step a bad idea inside a recurrent network?
    2. Embedding dropout zeroes rows, not single entries. What does the model lose when a row is
       zeroed, and why is that a useful kind of noise?
    3. `WeightDropout` drops entries of $W_{hh}$ once per batch. Why does that leave the LSTM able
       to use PyTorch's fast fused kernel?
    4. Tying forces the last LSTM layer to output 400 features. What would break if it output 1152?
    5. AR is computed on the output *after* dropout, TAR on the output *before* it. Which
       activations would each term see if you swapped them?
    """),
]
# fmt: on

NOTEBOOKS: dict[str, list[tuple]] = {
    "01_tokens_and_vocabulary.ipynb": NB01,
    "02_language_model_batches.ipynb": NB02,
    "03_inside_the_awd_lstm.ipynb": NB03,
}


def _load_sources() -> None:
    """Add the notebooks defined in ``tools/notebook_sources/nb*.py`` (``FILENAME``, ``CELLS``),
    and the talk's live demo (``demo.py``, docs/giving_the_talk.md) as ``notebooks/talk/...``: it is
    not a numbered lesson, so the site and the notebook times, which read ``notebooks/*.ipynb``,
    leave it alone, while nbval (``pytest notebooks``) still runs it."""
    import importlib.util

    sources = ROOT / "tools" / "notebook_sources"
    for path in [*sorted(sources.glob("nb*.py")), sources / "demo.py"]:
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        folder = "talk/" if path.stem == "demo" else ""
        NOTEBOOKS[folder + module.FILENAME] = module.CELLS


_load_sources()


def build(filename: str, cells: list[tuple]) -> str:
    """The notebook JSON text for ``cells``, with ``SETUP_CELL`` before the first code cell."""
    nb = new_notebook()
    nb.metadata = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}
    prefix = Path(filename).name.split("_")[0]
    first_code = next(i for i, cell in enumerate(cells) if cell[0] == "code")
    cells = list(cells[:first_code]) + [code(SETUP_CELL)] + list(cells[first_code:])
    for i, (kind, text, *meta) in enumerate(cells):
        text = textwrap.dedent(text).strip("\n")
        cell = new_markdown_cell(text) if kind == "md" else new_code_cell(text)
        cell.id = f"nb{prefix}-{i:02d}"
        if meta:
            cell.metadata.update(meta[0])
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


# docs/colab.md shows the setup cell between these two lines; main() keeps it equal to SETUP_CELL.
COLAB_BEGIN = "<!-- the setup cell: written by tools/make_notebooks.py, do not edit here -->"
COLAB_END = "<!-- end of the setup cell -->"


def colab_doc(text: str) -> str:
    """``docs/colab.md``'s text with the setup cell between its markers replaced by ``SETUP_CELL``."""
    before, begin, rest = text.partition(COLAB_BEGIN)
    _, end, after = rest.partition(COLAB_END)
    if not (begin and end):
        raise SystemExit(f"{COLAB_DOC}: the lines {COLAB_BEGIN!r} and {COLAB_END!r} are missing")
    cell = textwrap.dedent(SETUP_CELL).strip("\n")
    return f"{before}{COLAB_BEGIN}\n```python\n{cell}\n```\n{COLAB_END}{after}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args(argv)
    stale = 0
    outputs = {OUT / name: build(name, cells) for name, cells in NOTEBOOKS.items()}
    outputs[COLAB_DOC] = colab_doc(COLAB_DOC.read_text(encoding="utf-8"))
    for target, text in outputs.items():
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == text:
            continue
        if args.check:
            print(f"{target} is out of date: run python tools/make_notebooks.py")
            stale += 1
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
