"""The talk's live demo: ULMFiT's three stages on happy/sad verses, in under a minute on a CPU.

One call, offline, with the course's pieces only::

    from ulmfit_lesson.course import demo
    result = demo.run_demo("the sun is warm and all the birds are singing")
    result.contributions      # predict.Contributions: the verse's tokens, a score per token
    result.before, result.after   # a line the LM writes before and after stage 2 (same seed)

- stage 1 is downloaded, not trained: ``pretrained.course_model()`` (``general-fwd`` where the kit is
  on this machine, else fastai's ``wt103-fwd``);
- stage 2 (``lm_recipes.finetune_lm``) fine-tunes it on the training verses, briefly (``quick``:
  one frozen + one unfrozen epoch on a few hundred verses);
- stage 3 (``clas_recipes.train_classifier``) puts a classifier head on it and trains happy vs sad
  with gradual unfreezing (``quick``: 4 epochs, one more layer group each, batch 32 at a peak
  learning rate of 0.02: fast and decisive, though weaker than the full recipe);
- ``contributions`` (``predict.TextClassifier.contributions``) says which words pushed the answer.

``result.figure`` is ``widgets_lm.draw_ulmfit_stages()``, the picture to talk over while it trains;
``result.seconds`` has the time of each stage. Nothing is written to disk.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from ulmfit_lesson import clas_recipes, datasets, generate, lm_recipes, pretrained
from ulmfit_lesson.course import widgets_lm
from ulmfit_lesson.predict import Contributions, TextClassifier

DEMO_VERSE = "my heart is full of joy and love"
DEMO_PROMPT = "the night is"


@dataclass
class DemoResult:
    """What ``run_demo`` returns (see the module docstring)."""

    verse: str
    label: str
    probs: dict[str, float]
    contributions: Contributions
    prompt: str
    before: str  # the pretrained LM's continuation of ``prompt`` (stage 1 only), on one line
    after: str  # the same prompt and seed after stage 2, on one line
    classifier: TextClassifier
    accuracy: float | None  # on the dev verses, after stage 3
    seconds: dict[str, float] = field(default_factory=dict)
    model_name: str = ""
    figure: Any = None

    def summary(self) -> str:
        """A few lines to print under the demo cell."""
        words = ", ".join(
            f"{t} {s:+.2f}" for t, s in zip(self.contributions.tokens, self.contributions.scores)
        )
        acc = f"{self.accuracy:.0%}" if self.accuracy is not None else "n/a"
        times = ", ".join(f"{k} {v:.0f} s" for k, v in self.seconds.items())
        return (
            f"verse: {self.verse!r} -> {self.label} ({self.probs[self.label]:.0%})\n"
            f"per word (gradient x input, + pushes towards {self.label}): {words}\n"
            f"before stage 2: {self.before}\nafter stage 2:  {self.after}\n"
            f"dev accuracy {acc}; model {self.model_name}; {times}"
        )


def run_demo(
    verse: str = DEMO_VERSE,
    prompt: str = DEMO_PROMPT,
    *,
    quick: bool = True,
    n_words: int = 12,
    temperature: float = 0.8,
    seed: int = 0,
    model_name: str | None = None,
    max_verses: int | None = None,
    log: Callable[[str], None] | None = print,
) -> DemoResult:
    """Run the three stages and explain ``verse`` (module docstring). ``quick=False`` trains longer
    (stage 2: 1 + 2 epochs; stage 3: 6 epochs), a few minutes on a CPU. ``max_verses`` caps the training verses (tests). ``log``: progress lines, or
    None for silence. Deterministic for a given ``seed`` on one machine."""
    say = log or (lambda _msg: None)
    seconds: dict[str, float] = {}
    torch.manual_seed(seed)
    train = datasets.load_poem_sentiment("train", view="binary")
    dev = datasets.load_poem_sentiment("dev", view="binary")
    if max_verses is not None and max_verses < len(train):
        train = train.sample(max_verses, random_state=seed)
    texts, labels = train.text.tolist(), train.label.tolist()

    start = time.perf_counter()
    name = model_name or pretrained.course_model()
    lm, itos = lm_recipes.load_lm(name)
    sample = dict(n_words=n_words, temperature=temperature, seed=seed)
    before = " ".join(generate.generate(lm, itos, prompt, **sample).split())  # one line
    seconds["stage 1 (load)"] = time.perf_counter() - start
    say(f"stage 1: {name} loaded; it writes: {before}")

    start = time.perf_counter()
    lm_epochs = dict(frozen_epochs=1, epochs=1) if quick else dict(frozen_epochs=1, epochs=2)
    stage2 = lm_recipes.finetune_lm(
        (lm, itos),
        texts,
        None,
        bs=16,
        bptt=35,
        seed=seed,
        progress=False,
        device="cpu",
        **lm_epochs,
    )
    after = " ".join(generate.generate(stage2.model, stage2.vocab, prompt, **sample).split())
    seconds["stage 2"] = time.perf_counter() - start
    say(f"stage 2: fine-tuned on {len(texts)} verses; it writes: {after}")

    start = time.perf_counter()
    clas = clas_recipes.train_classifier(
        texts,
        labels,
        dev.text.tolist(),
        dev.label.tolist(),
        lm=stage2,
        epochs=4 if quick else 6,
        bs=32,
        lr=0.02,
        bptt=16,
        seed=seed,
        progress=False,
        device="cpu",
    )
    seconds["stage 3"] = time.perf_counter() - start
    clf = clas.classifier
    contrib = clf.contributions(verse)
    accuracy = clas.metrics.get("accuracy")
    say(f"stage 3: classifier trained; dev accuracy {accuracy:.0%}" if accuracy else "stage 3 done")
    return DemoResult(
        verse=verse,
        label=contrib.label,
        probs=contrib.probs,
        contributions=contrib,
        prompt=prompt,
        before=before,
        after=after,
        classifier=clf,
        accuracy=accuracy,
        seconds=seconds,
        model_name=name,
        figure=widgets_lm.draw_ulmfit_stages(),
    )


__all__ = ["DEMO_PROMPT", "DEMO_VERSE", "DemoResult", "run_demo"]
