"""Stage 0 of ULMFiT: turn raw text into the word tokens fastai's pretrained models were trained on.

In: a string. Out: a list of lowercase word tokens, starting with ``xxbos``, e.g.
``"I don't KNOW!"`` -> ``['xxbos', 'i', 'do', "n't", 'xxup', 'know', '!']``.

The ULMFiT paper (Howard & Ruder 2018) does not describe its tokenizer; its pretrained WikiText-103
model and every fastai v2 model since use fastai's ``Tokenizer``: a list of *rules* applied to the
raw string (``fastai/text/core.py``: ``defaults.text_proc_rules``), then spaCy's English word
tokenizer (``WordTokenizer``), then a post-rule on each token. To reuse a pretrained vocabulary, our
tokens must be the ones the pretrained model saw, so this module reproduces that pipeline:

1. the fastai pre-rules, in fastai's order (``PRE_RULES``): ``fix_html``, ``replace_rep``,
   ``replace_wrep``, ``spec_add_spaces``, ``rm_useless_spaces``, ``replace_all_caps``,
   ``replace_maj``, ``lowercase``;
2. ``split_words``: spaCy's English word splitting, re-implemented in ``word_split.py`` (whitespace
   split, then prefixes / suffixes / exceptions such as "don't" -> "do" "n't", then infixes);
3. the post-rule ``replace_space``.

Reference implementation: fastai 2.8 ``fastai.text.core`` with spaCy 3.8 ``spacy.blank('en')``.
Agreement with it (``token_agreement``) is measured in ``tests/test_tokenizer.py`` and
``bench/bench_tokenizer.py``.

Deviation: ``split_words`` is a simplification of spaCy (see ``word_split.py``). On the general
corpus (3.8M tokens) its output is identical to fastai's.
"""

from __future__ import annotations

import difflib
import html
import re
from collections.abc import Callable, Iterable
from itertools import compress, count

from .word_split import add_special_cases, split_words

# ---------------------------------------------------------------------------------------------
# Special tokens. Their order fixes their ids (xxunk=0, xxpad=1, xxbos=2, ...), exactly as fastai's
# `defaults.text_spec_tok`, so ids of a pretrained fastai vocabulary mean the same thing here.
# ---------------------------------------------------------------------------------------------
UNK = "xxunk"  # a word outside the vocabulary
PAD = "xxpad"  # padding, to batch documents of different lengths
BOS = "xxbos"  # beginning of a document (the LM learns that a new text starts here)
EOS = "xxeos"  # end of a document (fastai does not add it by default)
FLD = "xxfld"  # separates fields (e.g. title and body) when several text columns are joined
TK_REP = "xxrep"  # "xxrep 4 !" = a character repeated 4 times ("!!!!")
TK_WREP = "xxwrep"  # "xxwrep 3 very" = a word repeated 3 times ("very very very")
TK_UP = "xxup"  # the next word was written in ALL CAPS
TK_MAJ = "xxmaj"  # the next word was Capitalised
SPECIAL_TOKENS = [UNK, PAD, BOS, EOS, FLD, TK_REP, TK_WREP, TK_UP, TK_MAJ]
# fastai registers them as spaCy special cases: no splitting rule may cut one apart.
add_special_cases(SPECIAL_TOKENS)


# ---------------------------------------------------------------------------------------------
# 1. Pre-rules: string -> string, applied in order before splitting into words.
# ---------------------------------------------------------------------------------------------

# Replacements for debris left by HTML scraping (IMDb reviews, the data fastai was built on).
# Order matters and is fastai's: e.g. "amp;" becomes "&" before `html.unescape`, so "&amp;" turns
# into "&&" (a fastai quirk we keep, because pretrained vocabularies were built that way).
_HTML_FIXES = [
    ("#39;", "'"),
    ("amp;", "&"),
    ("#146;", "'"),
    ("nbsp;", " "),
    ("#36;", "$"),
    ("\\n", "\n"),  # a literal backslash-n, as left by some scrapers
    ("quot;", "'"),
    ("<br />", "\n"),
    ('\\"', '"'),
    ("<unk>", UNK),  # WikiText marks rare words as <unk>; fastai's unknown token is xxunk
    (" @.@ ", "."),  # WikiText writes "3.5" as "3 @.@ 5" ...
    (" @-@ ", "-"),  # ... and "well-known" as "well @-@ known"
    ("...", " …"),  # an ellipsis becomes one character (and a separate token)
]


def fix_html(text: str) -> str:
    """Repair HTML entities, ``<br />``, WikiText's ``<unk>``/``@-@``/``@.@`` markup and ``...``.

    Why: scraped text is full of markup that would otherwise become meaningless tokens.
    Example: ``fix_html("a<br />b &lt;3 ...")`` -> ``"a\\nb <3  …"``.
    """
    for old, new in _HTML_FIXES:
        text = text.replace(old, new)
    return html.unescape(text)


# A non-space character followed by at least 2 copies of itself: "!!!!" or "sooooo".
_CHAR_REPEAT = re.compile(r"(\S)(\1{2,})")


def replace_rep(text: str) -> str:
    """Replace a character repeated 3+ times by ``xxrep n c``: ``"cccc"`` -> ``" xxrep 4 c "``.

    Why: "sooooo" and "soooo" would be two rare words; ``xxrep 5 o`` keeps one small vocabulary
    and still tells the model about the emphasis.
    """

    def _sub(m: re.Match) -> str:
        char, copies = m.groups()
        return f" {TK_REP} {len(copies) + 1} {char} "

    return _CHAR_REPEAT.sub(_sub, text)


# A word, then 2+ more copies of it separated by whitespace ("the the the the"). The first group
# is the word, the second the middle copies, the third what follows the last copy.
_WORD_REPEAT = re.compile(r"(?:\s|^)(\w+)\s+((?:\1\s+)+)\1(\s|\W|$)")
_WORD = re.compile(r"\w+")


def replace_wrep(text: str) -> str:
    """Replace a word repeated 3+ times by ``xxwrep n word``: ``"a a a"`` -> ``" xxwrep 3 a "``.

    Why: as ``replace_rep``, for words ("very very very").
    """
    # Fast exit, for speed only: a match needs two equal neighbouring words (of \w characters)
    # followed by a word that starts the same way. `map` and `compress` run in C: this costs little.
    words = text.split()
    pairs = compress(count(), map(str.__eq__, words, words[1:]))
    if not any(
        i + 2 < len(words) and words[i + 2].startswith(words[i]) and _WORD.fullmatch(words[i])
        for i in pairs
    ):
        return text

    def _sub(m: re.Match) -> str:
        word, middle, after = m.groups()
        return f" {TK_WREP} {len(middle.split()) + 2} {word} {after}"

    return _WORD_REPEAT.sub(_sub, text)


_SLASH_OR_HASH = re.compile(r"([/#\\])")


def spec_add_spaces(text: str) -> str:
    """Put spaces around ``/``, ``#`` and ``\\``: ``"a/b"`` -> ``"a / b"``.

    Why: "and/or", "#1" and paths would otherwise be many rare words.
    """
    return _SLASH_OR_HASH.sub(r" \1 ", text)


_MULTI_SPACE = re.compile(" {2,}")


def rm_useless_spaces(text: str) -> str:
    """Collapse runs of spaces (only the ``' '`` character; newlines stay) into one space."""
    return _MULTI_SPACE.sub(" ", text)


# A whole whitespace-delimited word that starts with a capital and has no lowercase letter: "NASA",
# "U.S.", "MACBETH," (ASCII A-Z only, as fastai). A capital, not preceded by a non-space, then
# anything but lowercase letters up to the end of the word. Same matches as fastai's
# `(\s|^)([A-Z]+[^a-z\s]*)(?=(\s|$))`, about 3x faster: starting with `[A-Z]` lets the regex
# engine skip straight to capital letters.
_ALL_CAPS_WORD = re.compile(r"[A-Z](?<!\S[A-Z])[^a-z\s]*(?!\S)")


def replace_all_caps(text: str) -> str:
    """Lowercase ALL-CAPS words of 2+ characters and put ``xxup`` before them.

    Why: "STOP" and "stop" then share one embedding; ``xxup`` keeps the shouting. A single capital
    ("I", "A") is lowercased without a marker, as in fastai (so "I" and "i" become one token).
    """

    def _sub(m: re.Match) -> str:
        word = m.group()
        return f"{TK_UP} {word.lower()}" if len(word) > 1 else word.lower()

    return _ALL_CAPS_WORD.sub(_sub, text)


# A whole whitespace-delimited word with one leading capital and no other capital: "Hello", "I",
# "Don't". Same matches as fastai's `(\s|^)([A-Z][^A-Z\s]*)(?=(\s|$))`, written as above.
_CAPITALISED_WORD = re.compile(r"[A-Z](?<!\S[A-Z])[^A-Z\s]*(?!\S)")


def replace_maj(text: str) -> str:
    """Lowercase Capitalised words and put ``xxmaj`` before them (``"Hello"`` -> ``"xxmaj hello"``).

    Why: without it the vocabulary needs "The" and "the", "Paris" and "paris": twice the words, each
    seen half as often. ``xxmaj`` keeps the capitalisation information in one extra token.
    A single capital letter ("I", "A") is lowercased without a marker, as in fastai.
    Words with inner capitals ("McDonald") match neither this rule nor ``replace_all_caps`` and are
    simply lowercased by ``lowercase``.
    """

    def _sub(m: re.Match) -> str:
        word = m.group()
        return f"{TK_MAJ} {word.lower()}" if len(word) > 1 else word.lower()

    return _CAPITALISED_WORD.sub(_sub, text)


def lowercase(text: str, add_bos: bool = True, add_eos: bool = False) -> str:
    """Lowercase everything, strip the ends and put ``xxbos`` in front (fastai's last pre-rule).

    Why ``xxbos``: when documents are concatenated into one stream for language modelling, the
    marker tells the model that a new, unrelated text starts here.
    """
    return (f"{BOS} " if add_bos else "") + text.lower().strip() + (f" {EOS}" if add_eos else "")


PRE_RULES: list[Callable[[str], str]] = [
    fix_html,
    replace_rep,
    replace_wrep,
    spec_add_spaces,
    rm_useless_spaces,
    replace_all_caps,
    replace_maj,
    lowercase,
]


# ---------------------------------------------------------------------------------------------
# 3. Post-rule: token -> token.
# ---------------------------------------------------------------------------------------------
def replace_space(token: str) -> str:
    """Replace spaces inside a token by ``▁`` (U+2581), so a token list can be joined with spaces
    and split again. Only whitespace tokens such as ``"\\n "`` contain a space."""
    return token.replace(" ", "▁")


# ---------------------------------------------------------------------------------------------
# The whole pipeline.
# ---------------------------------------------------------------------------------------------
def tokenize(text: str, rules: Iterable[Callable[[str], str]] = PRE_RULES) -> list[str]:
    """Tokenize one document as fastai's default ``Tokenizer`` does (see the module's Deviation).

    Args:
        text: raw text of one document.
        rules: the pre-rules to apply, in order (default: fastai's ``PRE_RULES``).
    Returns:
        tokens, e.g. ``tokenize("Hello World!")`` -> ``['xxbos', 'xxmaj', 'hello', 'xxmaj', 'world', '!']``.
    """
    for rule in rules:
        text = rule(text)
    return [replace_space(t) if " " in t else t for t in split_words(text)]


def tokenize_texts(texts: Iterable[str]) -> list[list[str]]:
    """Tokenize many documents, in one process.

    Fast enough for a 4M-token corpus in well under a minute on a laptop CPU, several times faster
    than fastai's spaCy pipeline (``bench/results/tokenizer.md``), thanks to the chunk cache.
    """
    return [tokenize(t) for t in texts]


def tokenize_and_show_work(text: str) -> list[tuple[str, str | list[str]]]:
    """Tokenize ``text`` and return every intermediate step, for teaching.

    Returns:
        ``[("input", text), ("fix_html", ...), ..., ("lowercase", ...), ("split_words", [...]),
        ("replace_space", [...])]``: the string after each pre-rule, then the token lists.
    """
    steps: list[tuple[str, str | list[str]]] = [("input", text)]
    for rule in PRE_RULES:
        text = rule(text)
        steps.append((rule.__name__, text))
    words = split_words(text)
    steps.append(("split_words", words))
    steps.append(("replace_space", [replace_space(t) for t in words]))
    return steps


# ---------------------------------------------------------------------------------------------
# Back to readable text.
# ---------------------------------------------------------------------------------------------
# Tokens glued to the previous one ("word ," -> "word,", "do n't" -> "don't").
_NO_SPACE_BEFORE = {".", ",", ";", ":", "!", "?", ")", "]", "}", "%", "…", "”", "’", "»"}
# Pieces of contractions split off by the tokenizer ("do n't", "we 're", "gon na").
_CLITICS = {"n't", "'s", "'m", "'re", "'ll", "'ve", "'d", "n’t", "’s", "’m", "’re", "’ll", "’ve"}
_CLITICS |= {"’d", "nt", "na", "ta"}
# Tokens glued to the next one ("( word" -> "(word").
_NO_SPACE_AFTER = {"(", "[", "{", "$", "£", "“", "‘", "«", "¿", "¡"}


def _undo_markers(tokens: list[str]) -> list[str]:
    """Apply xxmaj / xxup / xxrep / xxwrep to the tokens they mark, drop xxbos/xxeos/xxpad."""
    out: list[str] = []
    glue_next = False  # the next word continues the previous one ("c" "ooooo" "l" -> "cooooool")
    i, n = 0, len(tokens)
    while i < n:
        tok, nxt = tokens[i], (tokens[i + 1] if i + 1 < n else None)
        if tok in (BOS, EOS, PAD):
            i += 1
            continue
        if tok in (TK_REP, TK_WREP) and i + 2 < n and tokens[i + 1].isdigit():
            count, what = int(tokens[i + 1]), tokens[i + 2]
            i += 3
            if tok == TK_WREP:
                word = " ".join([what] * count)
            else:
                # A repeated character belongs to a word: glue it to the word before ("know" +
                # "!!!!", "s" + "ooooo"), and a letter run to a short word ending after it
                # ("c" "ooooo" "l"), unless that word starts a run of its own. (A guess: the
                # rules lost where the spaces were.)
                run = what * count
                after = tokens[i] if i < n else ""
                if out and (not what.isalnum() or out[-1][-1:].isalpha() == what.isalpha()):
                    out[-1] += run
                else:
                    out.append(run)
                glue_next = (
                    what.isalpha()
                    and after.isalpha()
                    and len(after) <= 2  # "c" "ooooo" "l", but not "s" "ooooo" "good"
                    and tokens[i + 1 : i + 2] != [TK_REP]
                )
                continue
        elif tok == TK_MAJ and nxt is not None:
            word = nxt[:1].upper() + nxt[1:]
            i += 2
        elif tok == TK_UP and nxt is not None:
            word = nxt.upper()
            i += 2
            # "xxup do n't" was "DON'T": the clitic split off by the tokenizer is shouted too.
            while i < n and tokens[i] in _CLITICS:
                word += tokens[i].upper()
                i += 1
        else:
            # fastai's rules lowercase a lone capital ("I" -> "i") without a marker: restore the
            # pronoun, the commonest case by far.
            word = "I" if tok == "i" else tok
            i += 1
        if glue_next and out:
            out[-1] += word
        else:
            out.append(word)
        glue_next = False
    return out


def decode_tokens(tokens: Iterable[str]) -> str:
    """Turn tokens back into readable text: undo the markers, join with sensible spacing.

    ``decode_tokens(['xxbos', 'xxmaj', 'i', 'do', "n't", 'know', '!'])`` -> ``"I don't know!"``.
    Not an exact inverse (fastai's rules lose information, e.g. double spaces and "McDonald"'s
    inner capital), but a learner reads normal text.
    """
    words = _undo_markers([t.replace("▁", " ") for t in tokens])
    parts: list[str] = []
    glue_next = True  # no space before the first word
    open_double_quote = False
    for w in words:
        if w.isspace():  # newlines and other whitespace tokens are kept as they are
            parts.append(w)
            glue_next = True
            continue
        glue = glue_next or w in _NO_SPACE_BEFORE or w.lower() in _CLITICS or w == "-"
        glue_next = w in _NO_SPACE_AFTER or w == "-"  # "well - known" was "well-known"
        if w == '"':  # a straight double quote opens, then closes
            glue = glue or open_double_quote
            glue_next = not open_double_quote
            open_double_quote = not open_double_quote
        parts.append(w if glue else " " + w)
    return "".join(parts)


# ---------------------------------------------------------------------------------------------
# Agreement with fastai's tokens: how the claim "same tokens as fastai" is measured.
# ---------------------------------------------------------------------------------------------


def token_agreement(
    reference: Iterable[list[str]], candidate: Iterable[list[str]]
) -> tuple[int, int]:
    """Token positions that agree, and the total they are out of, over documents.

    Per document, the two token lists are aligned with ``difflib.SequenceMatcher``; the matched
    positions (a lower bound on the longest common subsequence) are counted out of the longer
    list's length. Identical documents count fully without aligning.
    """
    matched = total = 0
    for ref, cand in zip(reference, candidate, strict=True):
        total += max(len(ref), len(cand))
        if ref == cand:
            matched += len(ref)
        else:
            blocks = difflib.SequenceMatcher(None, ref, cand).get_matching_blocks()
            matched += sum(b.size for b in blocks)
    return matched, total
