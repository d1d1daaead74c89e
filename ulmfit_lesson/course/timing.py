"""How long the notebooks take on this machine: a speed probe scales the reference machine's times.

The per-notebook times measured on a reference machine (``TIMES_FILE``, the package's
``data/notebook_times.json``, measured with ``general-fwd`` and recorded by
``tools/build_site.py --record-times``) are scaled by how much slower or faster this machine runs
the same few-second probe (``speed_probe``), and, for the notebooks that run the language model, by
the cost of the larger vocabulary of ``wt103-*`` (``LM_STEP_FACTOR``, ``LM_SHARE``). The doctor
prints the predictions (``doctor.check_speed``, ``doctor.check_notebooks``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

TIMES_FILE = Path(__file__).resolve().parent.parent / "data" / "notebook_times.json"  # package data

# The speed probe: forward + backward + Adam step of a full-size AWD-LSTM LM (ULMFiT §4.1 sizes:
# emb 400, 3 layers, 1152 hidden) on one batch. The same workload runs on the reference machine
# (recorded by tools/build_site.py --record-times) and here, so the ratio of the two times scales
# the reference notebook times. Small batch and vocabulary keep one step around a second.
PROBE = dict(vocab_size=8000, bs=4, bptt=70)
PROBE_MODEL: dict[str, int] = {}  # AWD-LSTM sizes (emb_size, ...); empty: the paper's full size

# Time predictions for the model that will be used. The reference times were measured with
# general-fwd (a 26,856-word vocabulary); fastai's wt103-* have 60,000 words, which makes every step
# through the LM's decoder (softmax over the vocabulary) and its optimizer step dearer. One training
# step of the full-size LM cost 1.04x and 1.07x the CPU time with 60,000 words as with 26,856 in two
# runs of bench/bench_vocab_cost.py (bench/results/vocab_cost.md); counting multiply-adds gives an
# upper bound of 1.43x (LSTMs 20.3M per token; decoder 400 x vocabulary: 10.7M against 24.0M), which
# a CPU does not reach because the LSTMs' small sequential products run less efficiently.
VOCAB_SIZES = {"general": 26_856, "wt103": 60_000}
LM_STEP_FACTOR = 1.1
# The share of each notebook's full-mode time spent in the pretrained LM's forward/backward passes
# (reasoned from what the notebooks run, not measured): 05 is stage 2 itself; 04 pretrains a small
# LM of its own vocabulary and evaluates the big one; 09 fine-tunes the LM on its reviews before the
# classifier. The classifiers (00, 06-08) never run the decoder: their cost hardly depends on it.
LM_SHARE = {
    "04_general_pretraining.ipynb": 0.3,
    "05_lm_finetuning.ipynb": 0.8,
    "09_your_own_data.ipynb": 0.3,
}


def notebook_factor(notebook: str, model: str | None) -> float:
    """How much longer ``notebook`` takes with ``model`` than with general-fwd (the reference)."""
    if not model or not model.startswith("wt103-"):
        return 1.0
    return 1.0 + LM_SHARE.get(notebook, 0.0) * (LM_STEP_FACTOR - 1.0)


def speed_probe(seconds: float = 6.0, min_steps: int = 2, threads: int | None = None) -> dict:
    """Time training steps of an AWD-LSTM LM (``PROBE`` batch, ``PROBE_MODEL`` sizes: the paper's
    full size by default) for about ``seconds``.

    Returns ``seconds_per_step`` (the median over the timed steps, after one warm-up step),
    ``steps``, ``threads`` and ``device`` ('cpu'). CPU on purpose: the course's times are CPU
    times. ``threads``: torch's intra-op threads for the probe (default: torch's own choice, as in
    a notebook). A machine so slow that the warm-up step alone takes ``seconds`` is reported from
    that one step (an overestimate), to keep the check short.
    """
    import torch
    import torch.nn.functional as F

    from ulmfit_lesson.language_model import build_language_model

    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        vocab, bs, bptt = PROBE["vocab_size"], PROBE["bs"], PROBE["bptt"]
        model = build_language_model(vocab, **PROBE_MODEL)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        x = torch.randint(0, vocab, (bs, bptt))
        y = torch.randint(0, vocab, (bs, bptt))

        def step() -> float:
            start = time.perf_counter()
            logits = model(x).logits
            loss = F.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            return time.perf_counter() - start

        warm_up = step()  # allocations, first-call overheads
        times: list[float] = []
        if warm_up >= seconds:  # a very slow (or very busy) machine: one step says enough
            times.append(warm_up)
        begin = time.perf_counter()
        while len(times) < min_steps or time.perf_counter() - begin < seconds:
            if warm_up >= seconds or len(times) >= 50:
                break
            times.append(step())
        times.sort()
        used = torch.get_num_threads()
    finally:
        torch.set_num_threads(old_threads)
    return {
        "seconds_per_step": times[len(times) // 2],
        "steps": len(times),
        "threads": used,
        "device": "cpu",
        **PROBE,
    }


def load_times(path: Path = TIMES_FILE) -> dict:
    """The reference times table (``TIMES_FILE``: the package's ``data/notebook_times.json``);
    {} when it is not there."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def predict_course_seconds(
    probe_seconds: float, times: dict, factors: dict[str, float] | None = None
) -> float | None:
    """Predicted full-mode wall time of all notebooks here, or None if times are not measured.

    The reference machine's measured times, scaled by ``probe_seconds / reference probe`` and by
    each notebook's ``factors`` entry (default 1: the model the times were measured with).
    """
    ref = (times.get("reference") or {}).get("probe_seconds_per_step")
    notebooks = times.get("notebooks") or {}
    measured = [(nb or {}).get("full_seconds") for nb in notebooks.values()]
    if not ref or not measured or any(t is None for t in measured):
        return None
    factors = factors or {}
    total = sum(nb["full_seconds"] * factors.get(name, 1.0) for name, nb in notebooks.items())
    return total * probe_seconds / ref


def hms(seconds: float) -> str:
    """A predicted duration, rounded to minutes: "45 min", "1 h 05 min"."""
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


__all__ = [
    "LM_SHARE",
    "LM_STEP_FACTOR",
    "PROBE",
    "TIMES_FILE",
    "VOCAB_SIZES",
    "hms",
    "load_times",
    "notebook_factor",
    "predict_course_seconds",
    "speed_probe",
]
