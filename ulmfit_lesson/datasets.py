"""Readers for the course's datasets and for your own tables, returning pandas DataFrames.

Every reader returns plain columns (``text`` plus ``label`` or ``labels``) so the later stages
(tokenizer, vocab, loaders) never need to know where the data came from. Files are found through
``registry.fetch_file`` (``ULMFIT_DATA``, then the cache, then a verified download) unless a
``data_dir`` is given.

- Poem Sentiment (Sheng & Uthus 2020): the course's running example, small enough for a CPU.
- GoEmotions (Demszky et al. 2020): a larger, multi-label case study; the Ekman view turns it into
  a 7-class single-label task like the paper's (ULMFiT §4 evaluates single-label classification).
- The general corpus: stage 1 (general-domain LM pretraining, ULMFiT §3.1) at laptop scale.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

from . import registry

POEM_LABELS = {-1: "negative", 0: "no_impact", 1: "positive", 2: "mixed"}
POEM_VIEWS = {
    "all": ("negative", "no_impact", "positive", "mixed"),
    "3class": ("negative", "no_impact", "positive"),  # the standard view of published results
    "binary": ("negative", "positive"),  # "happy vs sad"
}
EKMAN = ("anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral")
_VALID_NAMES = ("dev", "valid", "validation")  # each dataset uses one; accept any


def _split(split: str, allowed: tuple[str, ...]) -> str:
    if split in allowed:
        return split
    if split in _VALID_NAMES:
        return next(s for s in allowed if s in _VALID_NAMES)
    raise ValueError(f"unknown split {split!r}; choose one of {', '.join(allowed)}")


def _file(name: str, filename: str, data_dir: str | Path | None) -> Path:
    """``data_dir/filename`` (or ``data_dir/name/filename``) if ``data_dir`` is given, else the registry's."""
    if data_dir is None:
        return registry.fetch_file(name, filename)
    candidates = [Path(data_dir) / filename, Path(data_dir) / name / filename]
    for p in candidates:
        if p.is_file():
            return p
    raise FileNotFoundError(f"{filename} not found; looked at {candidates[0]} and {candidates[1]}")


def load_poem_sentiment(
    split: str = "train", view: str = "3class", data_dir: str | Path | None = None
) -> pd.DataFrame:
    """Poem Sentiment verses: columns ``text``, ``label`` (negative/no_impact/positive/mixed).

    ``view``: ``'all'`` (4 labels), ``'3class'`` (``mixed`` dropped, the usual benchmark) or
    ``'binary'`` (positive vs negative: happy vs sad). Splits: train / dev / test.
    """
    if view not in POEM_VIEWS:
        raise ValueError(f"unknown view {view!r}; choose one of {', '.join(POEM_VIEWS)}")
    path = _file("poem_sentiment", f"{_split(split, ('train', 'dev', 'test'))}.tsv", data_dir)
    # Verses contain stray quotes (e.g. `"o dear!`): QUOTE_NONE stops them swallowing later lines.
    df = pd.read_csv(
        path,
        sep="\t",
        header=None,
        names=["id", "text", "label"],
        quoting=csv.QUOTE_NONE,
        dtype={"id": int, "text": str, "label": int},
        keep_default_na=False,
        encoding="utf-8",
    )
    unknown = sorted(set(df["label"]) - set(POEM_LABELS))
    if unknown:
        raise ValueError(f"{path}: unexpected label values {unknown}")
    df["label"] = df["label"].map(POEM_LABELS)
    df = df[df["label"].isin(POEM_VIEWS[view])]
    return df[["text", "label"]].reset_index(drop=True)


def goemotions_labels(data_dir: str | Path | None = None) -> list[str]:
    """The 28 GoEmotions emotion names, in id order (``emotions.txt``)."""
    return _file("goemotions", "emotions.txt", data_dir).read_text(encoding="utf-8").split()


def goemotions_ekman_mapping(data_dir: str | Path | None = None) -> dict[str, str]:
    """emotion name -> Ekman group (anger/disgust/fear/joy/sadness/surprise; neutral -> neutral)."""
    groups = json.loads(_file("goemotions", "ekman_mapping.json", data_dir).read_text("utf-8"))
    mapping = {emotion: group for group, emotions in groups.items() for emotion in emotions}
    return mapping | {"neutral": "neutral"}


def load_goemotions(
    split: str = "train",
    view: str = "ekman",
    data_dir: str | Path | None = None,
    one_hot: bool = False,
) -> pd.DataFrame:
    """GoEmotions Reddit comments.

    ``view='multilabel'``: columns ``text``, ``labels`` (list of emotion names) and, with
    ``one_hot=True``, one 0/1 column per emotion. ``view='ekman'``: columns ``text``, ``label``
    (one of ``EKMAN``), keeping only comments whose emotions all fall into one Ekman group.
    """
    if view not in ("multilabel", "ekman"):
        raise ValueError(f"unknown view {view!r}; choose 'multilabel' or 'ekman'")
    path = _file("goemotions", f"{_split(split, ('train', 'dev', 'test'))}.tsv", data_dir)
    names = goemotions_labels(data_dir)
    # Some texts are CSV-quoted ("..." with "" inside): pandas' default quoting undoes that.
    df = pd.read_csv(
        path,
        sep="\t",
        header=None,
        names=["text", "ids", "id"],
        dtype=str,
        keep_default_na=False,
        encoding="utf-8",
    )
    ids = [[int(i) for i in s.split(",")] for s in df["ids"].tolist()]
    df["labels"] = [[names[i] for i in row] for row in ids]
    if view == "multilabel":
        out = df[["text", "labels"]]
        if not one_hot:
            return out
        onehot = np.zeros((len(ids), len(names)), dtype=np.int64)  # (n_examples, 28)
        onehot[np.repeat(np.arange(len(ids)), [len(row) for row in ids]), np.concatenate(ids)] = 1
        return pd.concat([out, pd.DataFrame(onehot, columns=names)], axis=1)
    to_ekman = goemotions_ekman_mapping(data_dir)
    groups = [{to_ekman[name] for name in labels} for labels in df["labels"].tolist()]
    df["label"] = [next(iter(g)) if len(g) == 1 else None for g in groups]
    return df.loc[df["label"].notna(), ["text", "label"]].reset_index(drop=True)


def load_general_corpus(split: str = "train", data_dir: str | Path | None = None) -> pd.DataFrame:
    """The general-domain corpus, one document per row: columns ``source``, ``title``, ``text``."""
    path = _file("general_corpus", f"{_split(split, ('train', 'valid'))}.jsonl", data_dir)
    with open(path, encoding="utf-8") as f:
        docs = [json.loads(line) for line in f if line.strip()]
    return pd.DataFrame(docs, columns=["source", "title", "text"])


# --- your own data ------------------------------------------------------------------------------

_SEPS = {".tsv": "\t", ".txt": "\t", ".csv": ","}


def _rows(mask: pd.Series) -> str:
    """1-based row numbers where ``mask`` is true, at most 10 of them."""
    rows = [str(i + 1) for i in mask.to_numpy().nonzero()[0]]
    more = f" and {len(rows) - 10} more" if len(rows) > 10 else ""
    return ", ".join(rows[:10]) + more


def decode_utf8(path: Path) -> str:
    """The text of ``path``; a ``ValueError`` naming the file, offset and line of a non-UTF-8 byte."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")  # -sig: tolerate the byte-order mark Excel writes
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ValueError(
            f"{path} is not UTF-8: byte 0x{data[err.start]:02x} at offset {err.start} (line {line}) "
            "cannot be decoded. Re-save the file as UTF-8 (in a spreadsheet: 'CSV UTF-8'; in pandas: "
            "df.to_csv(path, encoding='utf-8'))."
        ) from None


def _duplicated(names: list[str], wanted: tuple[str | None, ...]) -> list[str]:
    """The names in ``wanted`` that occur more than once in ``names``."""
    return [w for w in dict.fromkeys(wanted) if w is not None and names.count(w) > 1]


def _check_header(path: Path, text: str, sep: str, wanted: tuple[str | None, ...]) -> None:
    """Refuse a header naming a column we read twice: pandas would quietly rename the second
    ``text`` to ``text.1`` and we would read whichever came first."""
    header = next(csv.reader(io.StringIO(text), delimiter=sep), [])
    twice = _duplicated(header, wanted)
    if twice:
        where = [str(i + 1) for i, name in enumerate(header) if name == twice[0]]
        raise ValueError(
            f"{path}: the header names column {twice[0]!r} {len(where)} times (columns "
            f"{' and '.join(where)}); which one holds the data is ambiguous. Rename or remove "
            "the extra column."
        )


def _read_json_records(path: Path, text: str, wanted: tuple[str | None, ...] = ()) -> pd.DataFrame:
    def no_duplicates(pairs):  # json keeps the last of two equal keys without a word
        twice = _duplicated([k for k, _ in pairs], wanted)
        if twice:
            raise ValueError(f"{path}: a record has key {twice[0]!r} twice; which one is meant?")
        return dict(pairs)

    if text.lstrip().startswith("["):  # a JSON array of objects rather than JSON lines
        try:
            records = json.loads(text, object_pairs_hook=no_duplicates)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: invalid JSON at line {err.lineno}: {err.msg}") from None
    else:
        records = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    records.append(json.loads(line, object_pairs_hook=no_duplicates))
                except json.JSONDecodeError as err:
                    raise ValueError(f"{path}: line {n} is not valid JSON ({err.msg})") from None
                except ValueError as err:
                    raise ValueError(f"{err} (line {n})") from None
    bad = [i + 1 for i, r in enumerate(records) if not isinstance(r, dict)]
    if bad:
        raise ValueError(f"{path}: records {bad[:10]} are not JSON objects ({{'text': ..., ...}})")
    return pd.DataFrame.from_records(records)


def read_table(
    path: str | Path, text_col: str, label_col: str | None = None, sep: str | None = None
) -> pd.DataFrame:
    """Read your own labelled texts: columns ``text`` and (if ``label_col``) ``label`` as strings.

    The format follows the extension: ``.csv`` (comma), ``.tsv``/``.txt`` (tab), ``.jsonl``/``.json``
    (one JSON object per line, or a JSON array). CSV/TSV files need a header row naming the
    columns. Raises ``FileNotFoundError`` / ``ValueError`` naming the file, column or rows at fault:
    missing or empty, not UTF-8, a missing column, a column we read named twice in the header (or a
    JSON key given twice), the same column for text and label, an empty text or label.
    Row numbers count data rows from 1 (the header is not a row).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (resolved to {path.resolve()})")
    ext = path.suffix.lower()
    if ext not in (*_SEPS, ".jsonl", ".json"):
        raise ValueError(
            f"{path}: unknown extension {ext!r}; use .csv, .tsv, .txt, .jsonl or .json"
        )
    if label_col is not None and label_col == text_col:
        raise ValueError(
            f"{path}: the text column and the label column are both {text_col!r}; a classifier "
            "would learn to read its answer. Name two different columns."
        )
    text = decode_utf8(path)
    if not text.strip():
        raise ValueError(f"{path} is empty")
    if ext in (".jsonl", ".json"):
        df = _read_json_records(path, text, (text_col, label_col))
    else:
        _check_header(path, text, sep or _SEPS[ext], (text_col, label_col))
        try:
            df = pd.read_csv(
                io.StringIO(text), sep=sep or _SEPS[ext], dtype=str, keep_default_na=False
            )
        except pd.errors.ParserError as err:
            raise ValueError(
                f"{path}: cannot parse as {'CSV' if ext == '.csv' else 'TSV'}: {err}"
            ) from None
    if df.empty:
        raise ValueError(f"{path} has a header but no rows")
    for col in (text_col, label_col):
        if col is not None and col not in df.columns:
            cols = ", ".join(repr(str(c)) for c in df.columns)
            raise ValueError(f"{path} has no column {col!r}; its columns are: {cols}")
    out = pd.DataFrame({"text": df[text_col]})
    blank = out["text"].isna() | (out["text"].astype(str).str.strip() == "")
    if blank.any():
        raise ValueError(f"{path}: empty text in column {text_col!r} at rows {_rows(blank)}")
    out["text"] = out["text"].astype(str)
    if label_col is not None:
        labels = df[label_col]
        missing = labels.isna() | (labels.astype(str).str.strip() == "")
        if missing.any():
            raise ValueError(
                f"{path}: missing label in column {label_col!r} at rows {_rows(missing)}"
            )
        out["label"] = labels.astype(str)
    return out


_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen".split()
)
_ONES += "fifteen sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(n: int) -> str:
    """``n`` (0 <= n < 1,000,000) in English words, lowercase: 9999 -> "nine thousand nine hundred
    ninety nine".

    A toy corpus for a language model trained from scratch in seconds (fastbook ch. 12 uses the
    same idea, "Human Numbers"): a vocabulary of ~30 words with a rigid, learnable grammar.
    """
    if not 0 <= n < 1_000_000:
        raise ValueError(f"number_words handles 0 <= n < 1,000,000, got {n}")
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        rest = "" if n % 100 == 0 else " " + number_words(n % 100)
        return f"{_ONES[n // 100]} hundred{rest}"
    rest = "" if n % 1000 == 0 else " " + number_words(n % 1000)
    return f"{number_words(n // 1000)} thousand{rest}"


# ----------------------------------------------------------------------------------- internals
