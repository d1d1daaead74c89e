"""spaCy's English word splitting, re-implemented with regular expressions (fastai's ``WordTokenizer``).

fastai's tokenizer (``tokenizer.py``) applies its text rules, then hands the string to spaCy's
English tokenizer (``spacy.blank('en')``) to cut it into words. Installing spaCy for that one step
costs hundreds of megabytes, so this module reproduces it:

1. split the text on whitespace into chunks;
2. a chunk found in the exception table is split as the table says ("don't" -> "do" "n't");
3. otherwise prefixes ("(", '"', "$"...) are cut from the front and suffixes (")", ",", "'s",
   "km" after a number...) from the back, repeatedly, until nothing changes or an exception is left;
4. what remains is kept whole if it looks like a URL, else split at infixes (the hyphen in
   "well-known", "--" between words, "..." inside a word).

Because fastai lowercases before spaCy sees the text, only the lowercase exceptions matter.

Reference: spaCy 3.8 ``spacy/lang/en/tokenizer_exceptions.py``, ``spacy/lang/punctuation.py``,
``spacy/tokenizer.pyx``. Deviation: smaller Unicode character classes, and the special-case matcher
looks inside one whitespace-delimited chunk, not across the document. On the general corpus (3.8M
tokens) the output is identical to spaCy's; the known differences, which need unusual text, are
listed in ``tests/test_word_split.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

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
    # spaCy drops these generated forms because they are ordinary words.
    for word in ["ill", "its", "hell", "shell", "shed", "were", "well", "whore"]:
        exc.pop(word, None)
    # Every form with an apostrophe also exists with the typographic one: "don’t" -> "do" "n’t".
    for key, parts in list(exc.items()):
        if "'" in key:
            exc[key.replace("'", "’")] = [p.replace("'", "’") for p in parts]
    return exc


EXCEPTIONS: dict[str, list[str]] = _build_exceptions()


def add_special_cases(tokens: Iterable[str]) -> None:
    """Keep each of ``tokens`` whole, as spaCy's ``Tokenizer.add_special_case`` does.

    fastai registers its special tokens (``xxbos``, ``xxmaj``...) this way, so that no rule can
    cut one apart; ``tokenizer.py`` calls this with them.
    """
    EXCEPTIONS.update({t: [t] for t in tokens})
    _CHUNK_CACHE.clear()  # chunks split before may now split differently


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
