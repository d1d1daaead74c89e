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
2. ``split_words``: our own regex re-implementation of spaCy's English tokenizer (whitespace
   split, then prefixes / suffixes / exceptions such as "don't" -> "do" "n't", then infixes);
3. the post-rule ``replace_space``.

Reference implementation: fastai 2.8 ``fastai.text.core`` with spaCy 3.8 ``spacy.blank('en')``.
Agreement with it (``token_agreement``) is measured in ``tests/test_tokenizer.py`` and
``bench/bench_tokenizer.py``.

Deviation: ``split_words`` is a simplification of spaCy (smaller Unicode character classes; the
special-case matcher looks inside one whitespace-delimited chunk, not across the document). On the
general corpus (3.8M tokens) its output is identical to fastai's; the known differences, which
need unusual text, are listed in ``tests/test_tokenizer.py``.
"""

from __future__ import annotations

import difflib
import html
import re
from collections.abc import Callable, Iterable
from itertools import compress, count

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
# 2. Word splitting: a re-implementation of spaCy's English tokenizer (spacy.blank('en')).
#
# spaCy splits the text on whitespace into chunks, then peels punctuation off each chunk:
#   - a chunk found in the exception table is split as the table says ("don't" -> "do" "n't");
#   - otherwise prefixes ("(", '"', "$"...) are cut from the front and suffixes (")", ",", "'s",
#     "km" after a number...) from the back, repeatedly, until nothing changes or an exception
#     is left;
#   - what remains is kept whole if it looks like a URL, else split at infixes (the hyphen in
#     "well-known", "--" between words, "..." inside a word).
# Because fastai lowercases before spaCy sees the text, only the lowercase exceptions matter.
# ---------------------------------------------------------------------------------------------

# Character classes (simpler than spaCy's): Latin, Greek and Cyrillic letters, and scripts without
# case (Hebrew, Arabic, Indic, Hangul, kana, CJK), which count as both lower and upper case.
_UNCASED = (
    "\u0591-\u05f4\u0620-\u064a\u0900-\u09ff\u0b80-\u0cff\u0d80-\u0dff\u1100-\u11ff"
    "\u1200-\u137f\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
)
# Latin Extended ("ł", "ș", "ő", "ṅ"...) mixes both cases in one range; the text is lowercased
# before it is split, so we count it as lowercase.
_LATIN_EXTENDED = "\u0100-\u024f\u1e00-\u1eff"
_LOWER = "a-zß-öø-ÿα-ωάέίόώήύа-яёіїєґ" + _LATIN_EXTENDED + _UNCASED
_UPPER = "A-ZÀ-ÖØ-ÞΑ-ΩΆΈΊΌΏΉΎА-ЯЁІЇЄҐ" + _UNCASED
_ALPHA = _LOWER + _UPPER
_QUOTES = "'\"”“`‘´’‚,„»«「」『』（）〔〕【】《》〈〉〈〉⟦⟧"
_PUNCT = "…,:;!?¿؟¡()\\[\\]{}<>_#*&。？！，、；：～·।،۔؛٪"
_CURRENCY = "$£€¥฿₽﷼₴₠-₿"
# Symbols (Unicode category "So"): ¦ © ® °, arrows, dingbats, emoji...
_ICONS = (
    "¦©®°\u2100\u2101\u2103-\u2106\u2108\u2109\u2114\u2116\u2117\u211e-\u2123\u2125\u2127"
    "\u2129\u212e\u213a\u213b\u214a\u214c\u214d\u214f\u2195-\u2199\u2300-\u23ff\u2500-\u25ff\u2600-\u266e\u2670-\u2767\u2794-\u27bf"
    "\U0001f000-\U0001faff"
)
_HYPHENS = "---|--|——|-|–|—|~"  # longest first, so "--" is one infix
_UNITS = (
    "km|km²|km³|m|m²|m³|dm|dm²|dm³|cm|cm²|cm³|mm|mm²|mm³|ha|µm|nm|yd|in|ft|kg|g|mg|µg|t|lb|oz|"
    "m/s|km/h|kmh|mph|hPa|Pa|mbar|mb|MB|kb|KB|gb|GB|tb|TB|T|G|M|K|%"
)

# Prefix: the first of these that matches at the start of the chunk is cut off.
_PREFIX = re.compile(
    rf"^(?:\.\.+|[§%=—–{_PUNCT}{_QUOTES}{_CURRENCY}{_ICONS}]|\+(?![0-9]))",
)

# Suffix: the match that starts leftmost and reaches the end of the chunk is cut off (so "..." wins
# over "." and "'s" over "s").
_SUFFIX = re.compile(
    r"(?:"
    rf"\.\.+|……|[{_PUNCT}{_QUOTES}{_ICONS}]|'s|'S|’s|’S|—|–"
    r"|(?<=[0-9])\+"  # "5+"
    r"|(?<=°[FfCcKk])\."  # "°C." at the end of a sentence
    rf"|(?<=[0-9])(?:[{_CURRENCY}]|US\$|C\$|A\$)"  # "5$"
    rf"|(?<=[0-9])(?:{_UNITS})"  # "5km" -> "5" "km"
    rf"|(?<=[0-9{_LOWER}%²\-+{_PUNCT}{_QUOTES}|])\."  # a full stop after a word or number
    rf"|(?<=[{_UPPER}][{_UPPER}])\."  # "NASA." (cannot happen after lowercasing)
    r")$"
)

# Infixes: split points inside what is left of the chunk.
_INFIX = re.compile(
    rf"\.\.+|…|[{_ICONS}]"
    r"|(?<=[0-9])[+\-*^](?=[0-9-])"  # "2+3", "10-20"
    rf"|(?<=[{_LOWER}{_QUOTES}])\.(?=[{_UPPER}{_QUOTES}])"  # "end.'" / "end.The" (no space)
    rf"|(?<=[{_ALPHA}]),(?=[{_ALPHA}])"  # "one,two"
    rf"|(?<=[{_ALPHA}0-9])(?:{_HYPHENS})(?=[{_ALPHA}])"  # "well-known", "20th-century", "a--b"
    rf"|(?<=[{_ALPHA}0-9])[:<>=/](?=[{_ALPHA}])"  # "a:b", "x=y"
)

# Something that looks like a URL or e-mail address is kept whole (no infix splitting).
# A simplified version of spaCy's URL_PATTERN (itself from Diego Perini's URL regex).
_HOST_CHAR = "a-zA-Z0-9\u00a1-\uffff"
_URL = re.compile(
    r"^(?:[\w+\-.]{2,}://)?"  # optional scheme "https://"
    r"(?:\S+(?::\S*)?@)?"  # optional "user:password@"
    rf"(?:(?:[{_HOST_CHAR}][{_HOST_CHAR}_-]{{0,62}})?[{_HOST_CHAR}]\.)+"  # "www.example."
    rf"[{_ALPHA}]{{2,63}}"  # top-level domain "com"
    r"(?::\d{2,5})?"  # optional port
    r"(?:[/?#]\S*)?$"  # optional path
)


def _build_exceptions() -> dict[str, list[str]]:
    """The chunks spaCy's English tokenizer splits by table rather than by rule (lowercase only).

    Mostly contractions: "don't" -> "do" "n't", "i'm" -> "i" "'m", also without the apostrophe
    ("dont" -> "do" "nt"), plus abbreviations that keep their full stop ("e.g.", "a.").
    """
    exc: dict[str, list[str]] = {}
    # The pronoun "i" + am / gonna.
    exc.update({"i'm": ["i", "'m"], "im": ["i", "m"], "i'ma": ["i", "'m", "a"]})
    exc["ima"] = ["i", "m", "a"]
    # Pronouns and wh-words + will / would / have / are / is. Each form also exists without its
    # apostrophe, because people type "youre" and "thats".
    pronouns = ["i", "you", "he", "she", "it", "we", "they"]
    wh_words = ["who", "what", "when", "where", "why", "how", "there", "that", "this"]
    plural_wh = ["these", "those"]
    will_would = pronouns + wh_words + plural_wh
    have = ["i", "you", "we", "they"] + [w for w in wh_words if w not in ("that", "this")]
    have += plural_wh
    are = ["you", "we", "they"] + [w for w in wh_words if w not in ("that", "this")] + plural_wh
    is_ = ["he", "she", "it"] + wh_words
    endings = {
        "'ll": (will_would, ["'ll"]),
        "'ll've": (will_would, ["'ll", "'ve"]),
        "'d": (will_would, ["'d"]),
        "'d've": (will_would, ["'d", "'ve"]),
        "'ve": (have, ["'ve"]),
        "'re": (are, ["'re"]),
        "'s": (is_, ["'s"]),
    }
    for ending, (words, parts) in endings.items():
        for w in words:
            exc[w + ending] = [w, *parts]
            exc[w + ending.replace("'", "")] = [w, *(p.replace("'", "") for p in parts)]
    # Verbs + not (+ have): "don't", "can't" -> "ca" "n't", "won't" -> "wo" "n't".
    modal = ["ca", "could", "do", "does", "did", "had", "may", "might", "must", "need", "ought"]
    modal += ["sha", "should", "wo", "would"]
    for v in modal:
        exc.update({v + "n't": [v, "n't"], v + "nt": [v, "nt"]})
        exc.update({v + "n't've": [v, "n't", "'ve"], v + "ntve": [v, "nt", "ve"]})
    for v in ["ai", "are", "is", "was", "were", "have", "has", "dare"]:
        exc.update({v + "n't": [v, "n't"], v + "nt": [v, "nt"]})
    for v in ["could", "might", "must", "should", "would"]:
        exc.update({v + "'ve": [v, "'ve"], v + "ve": [v, "ve"]})
    # Times: "5pm" -> "5" "pm".
    for h in range(1, 13):
        for period in ["a.m.", "am", "p.m.", "pm"]:
            exc[f"{h}{period}"] = [str(h), period]
    exc.update(
        {
            "y'all": ["y'", "all"],
            "yall": ["y", "all"],
            "how'd'y": ["how", "'d", "'y"],
            "not've": ["not", "'ve"],
            "notve": ["not", "ve"],
            "cannot": ["can", "not"],
            "gonna": ["gon", "na"],
            "gotta": ["got", "ta"],
            "let's": ["let", "'s"],
            "c'mon": ["c'm", "on"],
            # a temperature at the end of a sentence: "25°c." -> "25" "°" "c" "." (not "c.")
            "°c.": ["°", "c", "."],
            "°f.": ["°", "f", "."],
            "°k.": ["°", "k", "."],
        }
    )
    # Kept whole (most contain a prefix/suffix character; the others make no difference).
    whole = "'s ‘s 're 'd 'll 'em 'nuff and/or w/o 'cause 'cos 'coz 'cuz 'bout ma'am o'clock"
    whole += " lovin' havin' doin' goin' nothin' nuthin' ol' somethin' em ll nuff"
    whole += " lovin havin doin goin nothin nuthin ol somethin"
    whole += " a.m. p.m. co. e.g. i.e. vs. v.s. ' '' \\\") <space> ä. ö. ü."
    whole += " " + " ".join(f"{c}." for c in "abcdefghijklmnopqrstuvwxyz")
    # Emoticons (spaCy's lowercase ones), e.g. "8)" in "(see 8)" stays one token as in spaCy.
    whole += """ :) :-) :)) :-)) :))) :-))) (: (-: :( :-( :(( :-(( :((( :-((( ): )-: :'( :') :'-(
    :'-) :-/ :/ :-| :| :p :-p :o :-o :o) (o: :x :-x :* :-* :0 :-0 :1 :3 :-3 :> :-> :] :-] [: [-:
    :} :-} :() ;) (; ;-) (-; =) (= =( =/ =| =3 =] =[ [= ]= 8) (-8 8-) <3 <33 <333 </3 >:( >:o
    ;_; -_- -__- ^_^ ^__^ ^___^ ._. (._.) (-_-) (*_*) (^_^) (>_<) o.o o_o o.0 o_0 0.0 0.o 0_0 0_o
    v.v v_v <.< >.< >.> @_@ ><(((*> ಠ_ಠ (ಠ_ಠ) ಠ︵ಠ (¬_¬) (╯°□°）╯︵┻━┻"""
    exc.update({w: [w] for w in whole.split()})
    # fastai's special tokens are registered as spaCy special cases too.
    exc.update({t: [t] for t in SPECIAL_TOKENS})
    # spaCy drops these generated forms because they are ordinary words.
    for word in ["ill", "its", "hell", "shell", "shed", "were", "well", "whore"]:
        exc.pop(word, None)
    # Every form with an apostrophe also exists with the typographic one: "don’t" -> "do" "n’t".
    for key, parts in list(exc.items()):
        if "'" in key:
            exc[key.replace("'", "’")] = [p.replace("'", "’") for p in parts]
    return exc


EXCEPTIONS: dict[str, list[str]] = _build_exceptions()


def _split_affixes(chunk: str, exceptions: dict[str, list[str]] = EXCEPTIONS) -> list[str]:
    """Split one whitespace-free chunk like spaCy: exceptions, prefixes/suffixes, URL, infixes."""
    if chunk in exceptions:
        return list(exceptions[chunk])
    if chunk.isalpha():  # fast path: no affix or infix rule can apply to letters only
        return [chunk]
    prefixes: list[str] = []
    suffixes: list[str] = []  # collected from the outside in; reversed at the end
    rest = chunk
    last_len = -1
    while rest and len(rest) != last_len:
        if rest in exceptions:
            break
        last_len = len(rest)
        m = _PREFIX.search(rest)
        pre = m.end() if m else 0
        # Stop as soon as cutting one affix leaves an exception: "(don't" -> "(" + "don't".
        if pre and rest[pre:] in exceptions:
            prefixes.append(rest[:pre])
            rest = rest[pre:]
            break
        # (searched in the text after the prefix, so look-behinds cannot see the prefix)
        after_prefix = rest[pre:]
        m = _SUFFIX.search(after_prefix)
        suf = len(after_prefix) - m.start() if m else 0
        if suf and rest[:-suf] in exceptions:
            suffixes.append(rest[-suf:])
            rest = rest[:-suf]
            break
        if pre:
            prefixes.append(rest[:pre])
        if suf:
            suffixes.append(rest[-suf:])
        rest = rest[pre : len(rest) - suf]

    middle: list[str] = []
    if rest in exceptions:
        middle = list(exceptions[rest])
    elif rest and _URL.match(rest):
        middle = [rest]
    elif rest:
        start = 0
        for m in _INFIX.finditer(rest):
            if m.start() == 0:  # an infix at the very start does not split (spaCy)
                continue
            if m.start() != start:
                middle.append(rest[start : m.start()])
            if m.end() != m.start():
                middle.append(m.group())
            start = m.end()
        if rest[start:]:
            middle.append(rest[start:])
    return prefixes + middle + suffixes[::-1]


# Exceptions that the affix rules would cut into pieces (":)" -> ":" ")", "a." -> "a" "."). When
# those pieces end up next to each other inside a chunk ("seek:)" -> "seek" ":" ")"), spaCy glues
# them back and split them as the exception says ("seek" ":)"). Keyed by the pieces.
_GLUE: dict[tuple[str, ...], str] = {}
for _key in EXCEPTIONS:
    _pieces = tuple(_split_affixes(_key, exceptions={}))
    if len(_pieces) > 1:
        _GLUE[_pieces] = _key
_GLUE_MAX = max(len(p) for p in _GLUE)


def _glue_exceptions(tokens: list[str]) -> list[str]:
    """Re-split runs of tokens that spell an exception as the exception says.

    Overlapping runs are resolved as spaCy does: longest first, then leftmost; a run is dropped if
    its first or last token is already taken (and even a dropped run takes its tokens).
    """
    runs = []
    for i in range(len(tokens)):
        for n in range(2, min(_GLUE_MAX, len(tokens) - i) + 1):
            key = _GLUE.get(tuple(tokens[i : i + n]))
            if key is not None:
                runs.append((i, i + n, key))
    if not runs:
        return tokens
    runs.sort(key=lambda r: (r[0] - r[1], r[0]))  # longest first, then leftmost
    taken: set[int] = set()
    kept = {}
    for start, end, key in runs:
        if start not in taken and end - 1 not in taken:
            kept[start] = (end, key)
        taken.update(range(start, end))
    out: list[str] = []
    i = 0
    while i < len(tokens):
        if i in kept:
            end, key = kept[i]
            out.extend(EXCEPTIONS[key])
            i = end
        else:
            out.append(tokens[i])
            i += 1
    return out


def _split_chunk(chunk: str) -> list[str]:
    """Split one chunk, then glue back exceptions split across affixes."""
    tokens = _split_affixes(chunk)
    return _glue_exceptions(tokens) if len(tokens) > 1 else tokens


# Runs of non-whitespace (word chunks) or of whitespace.
_CHUNKS = re.compile(r"\S+|\s+")
# Chunks repeat a lot ("the", "and,", " \n"): remembering how each was split makes tokenizing
# several times faster. Bounded so that a huge stream of unique chunks cannot exhaust memory.
_CHUNK_CACHE: dict[str, list[str]] = {}
_CACHE_LIMIT = 1_000_000


def _split_any_chunk(chunk: str) -> list[str]:
    """Words of a chunk; for a whitespace run (not at the start of the text), the run minus the
    one space that separates two words."""
    if chunk[0].isspace():
        rest = chunk[1:] if chunk[0] == " " else chunk
        return [rest] if rest else []
    return _split_chunk(chunk)


def split_words(text: str) -> list[str]:
    """Split (already rule-processed) text into words, like fastai's spaCy ``WordTokenizer``.

    Whitespace: a single space between two words separates them and disappears. Any other
    whitespace becomes a token itself, minus one leading space: ``"a \\n\\nb"`` -> ``a``,
    ``\\n\\n``, ``b``. (So paragraph breaks are visible to the language model.)
    """
    chunks = _CHUNKS.findall(text)
    tokens: list[str] = []
    if chunks and chunks[0][0].isspace():  # leading whitespace is kept whole
        tokens.append(chunks.pop(0))
    cache = _CHUNK_CACHE
    for chunk in chunks:
        words = cache.get(chunk)
        if words is None:
            words = _split_any_chunk(chunk)
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[chunk] = words
        tokens += words
    return tokens


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
