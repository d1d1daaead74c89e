"""Make the tokenizer's golden fixtures with the real fastai v2 tokenizer (spaCy English).

Run with a separate reference environment (fastai 2.8.12), never the package's own. Create it
once:

    python -m venv /tmp/fastai-env && /tmp/fastai-env/bin/pip install torch==2.14.1 torchvision==0.29.1 fastai==2.8.12

then:

    /tmp/fastai-env/bin/python tools/make_golden_tokens.py

It writes two files under ``tests/golden/``:

- ``tokens_general_valid.jsonl.gz``: line 1 is a JSON header (versions, corpus sha256, document
  count); then one JSON list of fastai tokens per document of ``general_corpus/valid.jsonl``, in
  file order. JSON (not space-joined text) because fastai's tokens can contain newlines.
- ``tokens_tricky.json``: hand-picked strings (HTML, ``<unk>``, ``@-@``, all caps, repeats,
  contractions, URLs, numbers, ellipses, hyphens, quotes) with fastai's tokens.
- ``tokens_vocab_general_valid.json``: fastai's ``make_vocab`` on those valid tokens, with the
  defaults (min_freq 3, max_vocab 60000) and with min_freq 1, max_vocab 1000 (truncation, ties).
- ``tokens_spacy_exceptions.json``: the special cases of fastai's spaCy tokenizer whose key is
  lowercase (fastai lowercases the text before spaCy sees it, so only those can apply), as
  ``{chunk: [tokens]}``.

The tokens are what ``fastai.text.core.tokenize_texts`` gives, i.e. what ``TextBlock``/``tokenize_df``
feed a model: the default pre-rules (``defaults.text_proc_rules``, ending with ``lowercase``, which
adds ``xxbos``), spaCy's ``WordTokenizer``, then the post-rule ``replace_space``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import platform
import sys
from collections import Counter
from pathlib import Path

import fastai
import spacy
from fastai.text.core import WordTokenizer, tokenize_texts
from fastai.text.data import make_vocab
from spacy.symbols import ORTH

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS = REPO_ROOT.parent / "shared" / "data" / "general_corpus" / "valid.jsonl"
GOLDEN = REPO_ROOT / "tests" / "golden"

TRICKY = [
    "Hello World!",
    "I don't think we're ready; you'll see, won't you? I'm sure he's fine and they've gone.",
    "Can't, shan't, wouldn't've, y'all, 'tis, o'er, ne'er, e'en, th' eternal, i' the night",
    "He said \"yes\" and 'no' -- then `quoted' words; \u201csmart quotes\u201d and \u2018single\u2019 ones.",
    "THE PRESIDENT: Mr. Speaker, Mrs. Smith, Dr. Who, St. Paul and Gen. Grant in the U.S.A. and U.K.",
    "Wait... what.... really?! Hmm!!!",
    "This is sooooo coooool and the the the the end",
    "An <unk> appeared near the <unk> and the 10 @,@ 000 men @-@ at 3 @.@ 5 miles",
    "Visit https://www.example.com/path?q=1&x=2 or http://fast.ai or www.python.org, email me@example.com.",
    "Line one<br />Line two &amp; three &quot;four&quot; #39;five#39; caf&eacute; &lt;tag&gt;",
    "Numbers: 1,000,000 and 3.14 and -5 and +7 and 10% and $5.00 and 5km and 1990s and 2nd and 9:30am.",
    "well-known, state-of-the-art, 20th-century, e-mail, A-1, re-elect -- and \u2014 dash \u2013 ranges 1914\u20131918",
    "Use a/b and c#d and e\\f and #hashtag and @mention and C++ and AT&T.",
    "THIS IS ALL CAPS BUT iPhone And McDonald's and NASA's and U.S. and A.",
    "(parenthesised) [bracketed] {braced} <angled> \u00abguillemets\u00bb",
    "Tab\tseparated\tand  double  spaces and \n\nnewlines \n \n here",
    "Ha! ha? 'Tis o'clock; KING HENRY. Exit. Enter MACBETH and LADY MACBETH.",
    "It's the people's choice; the peoples' choice; James' book; Jesus' words.",
    "don't DON'T Don't dont cannot gonna gotta lemme ain't",
    "xxbos xxmaj already tokenized xxunk text xxfld 1",
]


def main() -> None:
    tok = WordTokenizer()
    docs = [json.loads(line)["text"] for line in CORPUS.read_text(encoding="utf-8").splitlines()]
    # n_workers=0: same output as the parallel default, without forking on a shared 2-core box.
    tokens = tokenize_texts(docs, n_workers=0, tok=tok)
    header = {
        "what": "fastai.text.core.tokenize_texts(docs, tok=WordTokenizer()) on general_corpus/valid.jsonl",
        "fastai": fastai.__version__,
        "spacy": spacy.__version__,
        "python": platform.python_version(),
        "corpus_sha256": hashlib.sha256(CORPUS.read_bytes()).hexdigest(),
        "n_docs": len(docs),
        "n_tokens": sum(len(t) for t in tokens),
    }
    GOLDEN.mkdir(parents=True, exist_ok=True)
    out = GOLDEN / "tokens_general_valid.jsonl.gz"
    # mtime=0 keeps the gzip bytes reproducible, so re-running does not produce a spurious diff.
    with open(out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write((json.dumps(header) + "\n").encode())
        for toks in tokens:
            f.write((json.dumps(list(toks), ensure_ascii=False) + "\n").encode())
    print(f"wrote {out} ({out.stat().st_size / 1e3:.0f} kB): {header}")

    tricky = tokenize_texts(TRICKY, n_workers=0, tok=tok)
    fixture = {
        "fastai": fastai.__version__,
        "spacy": spacy.__version__,
        "cases": [{"text": t, "tokens": list(toks)} for t, toks in zip(TRICKY, tricky)],
    }
    out2 = GOLDEN / "tokens_tricky.json"
    out2.write_text(json.dumps(fixture, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out2} ({len(TRICKY)} cases)")

    counts = Counter(tok for toks in tokens for tok in toks)
    vocabs = {
        "fastai": fastai.__version__,
        "what": "fastai.text.data.make_vocab(Counter(all valid tokens), min_freq, max_vocab)",
        "min_freq_3_max_vocab_60000": make_vocab(counts, min_freq=3, max_vocab=60000),
        "min_freq_1_max_vocab_1000": make_vocab(counts, min_freq=1, max_vocab=1000),
    }
    out3 = GOLDEN / "tokens_vocab_general_valid.json"
    out3.write_text(json.dumps(vocabs, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out3} ({out3.stat().st_size / 1e3:.0f} kB)")

    # The special cases of the spaCy tokenizer inside fastai's WordTokenizer (`tok.pipe` is its
    # `nlp.pipe`), fastai's special tokens included.
    rules = tok.pipe.__self__.tokenizer.rules
    exceptions = {
        chunk: [t[ORTH] for t in parts]
        for chunk, parts in sorted(rules.items())
        if chunk == chunk.lower()
    }
    out4 = GOLDEN / "tokens_spacy_exceptions.json"
    payload = {"spacy": spacy.__version__, "exceptions": exceptions}
    out4.write_text(json.dumps(payload, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"wrote {out4} ({len(exceptions)} exceptions, {out4.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    sys.exit(main())
