"""The language-model stages of ULMFiT as two recipes: pretrain (stage 1) and fine-tune (stage 2).

**Stage 1, general-domain LM pretraining** (ULMFiT §3.1): learn English from a large general
corpus (the paper: WikiText-103; here ``general_corpus`` at laptop scale). ``pretrain_lm``
tokenizes, builds the vocabulary (tokens seen at least ``min_freq=3`` times, at most 60,000, as
fastai), and trains an AWD-LSTM from scratch.

**Stage 2, target-task LM fine-tuning** (ULMFiT §3.2): adapt that LM to the text of the task (the
poems). ``finetune_lm`` does, explicitly:

1. load the pretrained LM (a registry name such as ``'general-fwd'``, a fastai folder/archive, or one
   of our checkpoints), with fastai's LM dropouts times ``drop_mult=0.3`` (fastbook ch. 10);
2. build the fine-tuning vocabulary: the pretrained ``itos`` *extended* with the target texts'
   words that occur at least ``min_freq`` times, and report the unknown-token rate before and after;
3. transfer the embeddings (``pretrained.match_embeddings``): known words keep their vectors, new
   words start at the mean vector;
4. **one epoch with only the last layer group trainable** (the embeddings and the tied decoder),
   STLR with peak ``frozen_lr=2e-2``: the new words' rows are untrained, so train them first while
   the LSTMs stay as they are (fastbook: ``fit_one_cycle(1, 2e-2)`` on the frozen learner);
5. **unfreeze everything** and train ``epochs`` epochs (2 to 4 by default, fewer on a larger corpus:
   ``schedules.finetune_epochs``) with discriminative learning rates (the top
   group at ``lr=4e-3``, ULMFiT §4.1's LM fine-tuning LR, divided by 2.6 per group below, §3.2) and
   STLR (§3.2).

``corpus_softmax=True`` (what ``pipeline.ulmfit_pipeline`` and ``train-classifier`` use): each
training step's softmax covers only the words the target texts contain (``fit_lm``'s
``softmax_words``; 4,957 of 27,053 words on 4,000 GoEmotions comments), a step 1.6x faster on a
CPU. The paper does not say; fastai gets a small softmax by fine-tuning with the target's own
vocabulary, losing the pretrained vectors of every other word, which here keep their rows. The
price: the LM no longer learns to rule out the words the target never uses, so its perplexity over
the whole vocabulary drops less (poems' dev: 1,452 to 350 instead of 235). When the LM is only
the classifier's encoder that does not matter (dev scores: ``bench/results/time_to_accuracy.md``);
when the LM itself is the point (notebook 05), the default scores every word.

Both return an :class:`LMResult`: the model, its vocabulary, the training histories, validation
loss/accuracy/perplexity before and after, and where the files went. Files in ``out_dir``::

    lm.pt          the whole language model + itos + config (+ history, metrics, settings)
    encoder.pt     only the AWD-LSTM encoder (keys as ``AWDLSTM.state_dict()``) + itos + config:
                   what the classifier (§3.3) starts from (fastai's ``save_encoder``)
    vocab.json     the vocabulary (Vocab.save)
    metrics.json   before/after metrics, unknown-token rates, settings, wall time (human-readable)

Deviation: fastai fine-tunes with one-cycle and a single LR (fastbook ch. 10); the recipe here
follows the paper (STLR + discriminative LRs). ``schedule='one_cycle'`` switches back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ulmfit_lesson.language_model import LanguageModel, build_language_model

from . import checkpoint as ckpt
from .config import LM_DROPOUTS, PRETRAIN_LM, LMTrainConfig, scaled_dropouts
from .distributed import RankSlice, resolve_device, world_info
from .lm_loader import LMLoader
from .pretrained import load_fastai_lm, match_embeddings
from .schedules import discriminative_lrs, finetune_epochs, freeze_to
from .tokenizer import tokenize_texts
from .train import History, LMMetrics, evaluate_lm, fit_lm
from .vocab import MAX_VOCAB, MIN_FREQ, Vocab, unk_rate

FINETUNE = LMTrainConfig()  # stage 2's settings (config.py: ULMFiT §4.1, fastbook ch. 10)
FINETUNE_DROP_MULT = FINETUNE.drop_mult
FROZEN_LR = FINETUNE.frozen_lr
FINETUNE_LR = FINETUNE.lr


@dataclass
class LMResult:
    """What a recipe returns. ``histories``: one :class:`History` per training stage."""

    model: LanguageModel
    vocab: Vocab
    histories: list[History] = field(default_factory=list)
    before: LMMetrics | None = None
    after: LMMetrics | None = None
    unk_rates: dict[str, float] = field(default_factory=dict)
    out_dir: Path | None = None
    seconds: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Plain values for ``metrics.json`` and printing."""
        return {
            "before": self.before.as_dict() if self.before else None,
            "after": self.after.as_dict() if self.after else None,
            "unk_rates": self.unk_rates,
            "vocab_size": len(self.vocab.itos),
            "seconds": round(self.seconds, 1),
            "settings": self.settings,
            "epochs": [{"stage": h.stage, **e} for h in self.histories for e in h.epochs],
        }


# ---------------------------------------------------------------------------------------------------
# Loading models and texts
# ---------------------------------------------------------------------------------------------------


def load_lm(
    source: str | Path, drop_mult: float = 1.0, dropouts: dict[str, float] | None = None
) -> tuple[LanguageModel, list[str]]:
    """Load a language model from anywhere the course keeps one; return ``(model, itos)``.

    ``source``: one of our checkpoints (a ``.pt`` file, or a folder with ``lm.pt``, as written by
    the recipes), or what ``pretrained.load_fastai_lm`` accepts (a registry name such as
    ``'general-fwd'``, a fastai folder or archive). Dropouts: ``LM_DROPOUTS`` times ``drop_mult``.
    """
    path = Path(source)
    file = path / ckpt.LM_FILE if (path / ckpt.LM_FILE).is_file() else path
    if file.is_file() and file.suffix == ".pt":
        model, itos = ckpt.load_language_model(
            file, **scaled_dropouts(dropouts or LM_DROPOUTS, drop_mult)
        )
        if itos is None:
            raise ValueError(f"{file} has no vocabulary (itos); it cannot be used as an LM")
        return model, itos
    return load_fastai_lm(source, drop_mult=drop_mult, dropouts=dropouts)


def cap_tokens(docs: list[list[str]], max_tokens: int | None) -> list[list[str]]:
    """The first documents up to ``max_tokens`` tokens in all (the last one cut): for quick runs."""
    if max_tokens is None:
        return docs
    out, n = [], 0
    for doc in docs:
        if n >= max_tokens:
            break
        out.append(doc[: max_tokens - n])
        n += len(out[-1])
    return out


def numericalize(docs: Sequence[Sequence[str]], vocab: Vocab) -> list[torch.Tensor]:
    """Token lists -> 1-D LongTensors of ids (unknown tokens -> 0, ``xxunk``)."""
    return [torch.as_tensor(vocab.numericalize(list(d)), dtype=torch.long) for d in docs]


def _settings(config: LMTrainConfig, **options: Any) -> dict[str, Any]:
    """What a recipe records with its results: the training settings and its other scalar options
    (the pretrained model's name, ``out_dir``, ...; not texts or loaded models)."""
    out = config.to_dict()
    for key, value in options.items():
        if isinstance(value, Path):
            value = str(value)
        if value is None or isinstance(value, (int, float, str, bool)):
            out[key] = value
    return out


def _fit_options(config: LMTrainConfig, device) -> dict[str, Any]:
    """``fit_lm``'s keyword arguments that the training settings give."""
    return dict(
        schedule=config.schedule,
        wd=config.wd,
        clip=config.clip,
        betas=config.betas,
        alpha=config.alpha,
        beta=config.beta,
        device=device,
        amp=config.amp,
    )


def _valid_loader(ids: list[torch.Tensor], bs: int, bptt: int, backwards: bool = False) -> Any:
    """A fixed-window validation loader over ``bs`` streams; under torchrun, this process's share."""
    rank, world = world_info()
    loader = LMLoader(
        ids, bs * world, bptt, shuffle=False, variable_bptt=False, backwards=backwards
    )
    return RankSlice(loader, rank, world) if world > 1 else loader


def _save_outputs(result: LMResult, out_dir: Path) -> None:
    """Write lm.pt, encoder.pt, vocab.json and metrics.json (rank 0 only under torchrun)."""
    if world_info()[0] != 0:
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = result.summary()
    history = [h.to_plain() for h in result.histories]
    extra = {"kind": "language_model", "history": history, "summary": summary}
    ckpt.save_checkpoint(out_dir / ckpt.LM_FILE, result.model, result.vocab.itos, extra=extra)
    extra = {"kind": "encoder", "summary": summary}
    model, itos = result.model, result.vocab.itos
    ckpt.save_checkpoint(
        out_dir / ckpt.ENCODER_FILE, model.encoder, itos, model.config, extra=extra
    )
    result.vocab.save(out_dir / "vocab.json")
    (out_dir / "metrics.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")


# ---------------------------------------------------------------------------------------------------
# Stage 1
# ---------------------------------------------------------------------------------------------------


def _evaluate_after(histories: list[History], model, valid, device, amp) -> LMMetrics:
    """The validation metrics after training: the last epoch's own evaluation when no step came
    after it (the same weights, so the same numbers), else a fresh evaluation."""
    last = histories[-1].final_valid if histories else None
    return last if last is not None else evaluate_lm(model, valid, device=device, amp=amp)


def pretrain_lm(
    texts: Sequence[str],
    valid_texts: Sequence[str] | None = None,
    *,
    epochs: int = PRETRAIN_LM.epochs,
    bs: int = PRETRAIN_LM.bs,
    bptt: int = PRETRAIN_LM.bptt,
    lr: float = PRETRAIN_LM.lr,
    schedule: str = PRETRAIN_LM.schedule,
    wd: float = PRETRAIN_LM.wd,
    clip: float | None = PRETRAIN_LM.clip,
    drop_mult: float = PRETRAIN_LM.drop_mult,
    emb_size: int = 400,
    hidden_size: int = 1152,
    n_layers: int = 3,
    min_freq: int = MIN_FREQ,
    max_vocab: int = MAX_VOCAB,
    max_tokens: int | None = None,
    backwards: bool = False,
    device: str = "auto",
    amp: str | None = None,
    out_dir: str | Path | None = None,
    resume: bool = False,
    save_every: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> LMResult:
    """Stage 1 (ULMFiT §3.1): train an AWD-LSTM language model from scratch on ``texts``.

    Defaults are those of the course's ``general-fwd`` model (fastai ``fit_one_cycle``, lr 5e-3,
    wd 0.1, drop_mult 1.0; see ``shared/pretrained/README.md``), with ULMFiT's bs 64 and bptt 70.
    ``max_tokens`` keeps only the first that many tokens of the training (and validation) texts;
    ``emb_size``/``hidden_size``/``n_layers`` shrink the model for a quick run. With ``out_dir``
    the training state is saved there after each epoch (``train_state.pt``; also every
    ``save_every`` steps), and ``resume=True`` continues an interrupted run. Under ``torchrun`` ``bs`` is per process (see ``distributed.RankSlice``).
    """
    rank, world = world_info()
    device = resolve_device(device)
    config = PRETRAIN_LM.replace(
        epochs=epochs,
        bs=bs,
        bptt=bptt,
        lr=lr,
        schedule=schedule,
        wd=wd,
        clip=clip,
        drop_mult=drop_mult,
        device=str(device),
        amp=amp,
        seed=seed,
    )
    settings = _settings(
        config,
        emb_size=emb_size,
        hidden_size=hidden_size,
        n_layers=n_layers,
        min_freq=min_freq,
        max_vocab=max_vocab,
        max_tokens=max_tokens,
        backwards=backwards,
        out_dir=out_dir,
        resume=resume,
        save_every=save_every,
        progress=progress,
        world_size=world,
    )
    start = time.time()
    train_tokens = cap_tokens(tokenize_texts(texts), max_tokens)
    valid_tokens = cap_tokens(tokenize_texts(valid_texts), max_tokens) if valid_texts else None
    vocab = Vocab.build(train_tokens, min_freq=min_freq, max_vocab=max_vocab)
    torch.manual_seed(seed)
    model = build_language_model(
        len(vocab.itos),
        drop_mult=drop_mult,
        emb_size=emb_size,
        hidden_size=hidden_size,
        n_layers=n_layers,
    )
    train_ids = numericalize(train_tokens, vocab)
    loader = LMLoader(train_ids, bs * world, bptt, backwards=backwards, seed=seed)
    valid = None
    if valid_tokens:
        valid_ids = numericalize(valid_tokens, vocab)
        if backwards:
            valid_ids = [d.flip(0) for d in valid_ids]
        valid = _valid_loader(valid_ids, bs, bptt)
    result = LMResult(model.to(device), vocab, settings=settings)
    result.unk_rates = {"train": unk_rate(train_tokens, vocab)}
    if valid_tokens:
        result.unk_rates["valid"] = unk_rate(valid_tokens, vocab)
        result.before = evaluate_lm(model, valid, device=device, amp=amp)
    out = Path(out_dir) if out_dir is not None else None
    history = fit_lm(
        model,
        loader,
        epochs,
        lr,
        **_fit_options(config, device),
        valid_loader=valid,
        progress=progress,
        seed=seed,
        itos=vocab.itos,
        checkpoint_path=out / "train_state.pt" if out is not None else None,
        resume=resume,
        save_every=save_every,
    )
    history.stage = "pretraining"
    result.histories.append(history)
    if valid is not None:
        result.after = _evaluate_after(result.histories, model, valid, device, amp)
    result.seconds = time.time() - start
    if out is not None:
        result.out_dir = out
        _save_outputs(result, out)
        if rank == 0:  # finished: the resume state (weights + Adam's moments) is not needed
            (out / "train_state.pt").unlink(missing_ok=True)
    return result


# ---------------------------------------------------------------------------------------------------
# Stage 2
# ---------------------------------------------------------------------------------------------------


def finetune_vocab(
    pretrained_itos: Sequence[str], train_tokens: Sequence[Sequence[str]], min_freq: int = MIN_FREQ
) -> Vocab:
    """The fine-tuning vocabulary: the pretrained one, then the target texts' new words seen at
    least ``min_freq`` times (fastai builds the target vocab and matches embeddings by token)."""
    return Vocab(list(pretrained_itos)).extend(train_tokens, min_freq=min_freq)


def finetune_lm(
    pretrained: str | Path | tuple[LanguageModel, Sequence[str]],
    texts: Sequence[str],
    valid_texts: Sequence[str] | None = None,
    *,
    frozen_epochs: int = FINETUNE.frozen_epochs,
    frozen_lr: float = FINETUNE.frozen_lr,
    epochs: int | None = FINETUNE.epochs,
    lr: float = FINETUNE.lr,
    schedule: str = FINETUNE.schedule,
    bs: int = FINETUNE.bs,
    bptt: int = FINETUNE.bptt,
    valid_bs: int | None = None,
    wd: float = FINETUNE.wd,
    clip: float | None = FINETUNE.clip,
    drop_mult: float = FINETUNE.drop_mult,
    min_freq: int = MIN_FREQ,
    max_tokens: int | None = None,
    backwards: bool = False,
    corpus_softmax: bool = False,
    validate_epochs: bool = True,
    device: str = "auto",
    amp: str | None = None,
    out_dir: str | Path | None = None,
    seed: int = 0,
    progress: bool = True,
) -> LMResult:
    """Stage 2 (ULMFiT §3.2): fine-tune a pretrained LM on the target texts (recipe: module docstring).

    Args:
        pretrained: registry name (``'general-fwd'``), fastai folder/archive, our checkpoint, or a
            ``(model, itos)`` pair (its dropouts are kept as they are).
        texts: the target task's training texts (never its test set). valid_texts: held-out texts
            for the before/after metrics and per-epoch validation (read with ``valid_bs`` streams,
            default ``bs``; a small held-out set needs fewer, longer streams).
        frozen_epochs, frozen_lr: the first stage, only embeddings + decoder trainable.
        epochs, lr: the second stage, all layers, discriminative LRs with ``lr`` at the top.
            ``epochs=None``: scaled to the texts' token count, 2 to 4 (``schedules.finetune_epochs``).
        backwards: read every document reversed (``xxbos`` last), for a backwards pretrained LM
            such as ``general-bwd`` (ULMFiT §3.3, "bidirectional language model"): fine-tuning must
            feed it text in the direction it was pretrained on.
        corpus_softmax: each training step scores only the words the texts contain, not the
            whole vocabulary (module docstring: faster, for an LM that is only an encoder).
        validate_epochs: score ``valid_texts`` after every epoch too (the histories' validation
            columns). False: only before and after training; the weights come out the same
            (evaluating draws no random numbers), without a pass over the validation texts
            through the whole-vocabulary softmax after every epoch (on GoEmotions' 4,000
            comments a small saving, within the host's run-to-run spread end to end).
    The ``unk_rates`` of the result: ``train_pretrained_vocab``, ``train_finetune_vocab`` (and the same
    for ``valid``): the share of tokens that are ``xxunk`` before and after extending the vocabulary.
    """
    device = resolve_device(device)
    config = FINETUNE.replace(
        frozen_epochs=frozen_epochs,
        frozen_lr=frozen_lr,
        epochs=epochs,
        lr=lr,
        schedule=schedule,
        bs=bs,
        bptt=bptt,
        wd=wd,
        clip=clip,
        drop_mult=drop_mult,
        device=str(device),
        amp=amp,
        seed=seed,
    )
    settings = _settings(
        config,
        pretrained=pretrained,
        valid_bs=valid_bs,
        min_freq=min_freq,
        max_tokens=max_tokens,
        backwards=backwards,
        corpus_softmax=corpus_softmax,
        validate_epochs=validate_epochs,
        out_dir=out_dir,
        progress=progress,
    )
    start = time.time()
    if isinstance(pretrained, tuple):
        old_model, old_itos = pretrained
    else:
        old_model, old_itos = load_lm(pretrained, drop_mult=drop_mult)
    train_tokens = cap_tokens(tokenize_texts(texts), max_tokens)
    if epochs is None:  # a larger corpus needs fewer passes over it (schedules.finetune_epochs)
        epochs = finetune_epochs(sum(map(len, train_tokens)))
        config = config.replace(epochs=epochs)
        settings["epochs"] = epochs
    valid_tokens = cap_tokens(tokenize_texts(valid_texts), max_tokens) if valid_texts else None
    vocab = finetune_vocab(old_itos, train_tokens, min_freq)
    unk = {
        "train_pretrained_vocab": unk_rate(train_tokens, old_itos),
        "train_finetune_vocab": unk_rate(train_tokens, vocab),
    }
    if valid_tokens:
        unk["valid_pretrained_vocab"] = unk_rate(valid_tokens, old_itos)
        unk["valid_finetune_vocab"] = unk_rate(valid_tokens, vocab)
    model = match_embeddings(old_model, list(old_itos), vocab.itos).to(device)
    settings["new_words"] = len(vocab.itos) - len(old_itos)
    result = LMResult(model, vocab, unk_rates=unk, settings=settings)
    loader = LMLoader(numericalize(train_tokens, vocab), bs, bptt, seed=seed, backwards=backwards)
    valid = None
    if valid_tokens:
        valid_ids = numericalize(valid_tokens, vocab)
        valid = _valid_loader(valid_ids, valid_bs or bs, bptt, backwards)
        result.before = evaluate_lm(model, valid, device=device, amp=amp)
    # corpus_softmax: a step's softmax over the words the target texts contain, not all 27k+ of
    # the vocabulary. A word the corpus never holds is never the right answer there, and scoring it
    # at every position was over a third of a step (bench/results/train_step.md); its row keeps
    # its pretrained vector, for a classifier that meets it in a test text.
    words = loader.words() if corpus_softmax else None
    settings["softmax_words"] = len(words) if corpus_softmax else len(vocab.itos)
    common = _fit_options(config, device) | dict(
        valid_loader=valid if validate_epochs else None,
        progress=progress,
        itos=vocab.itos,
        softmax_words=words,
    )
    groups = model.groups
    torch.manual_seed(seed)
    if frozen_epochs:
        freeze_to(groups, -1)  # only embeddings + decoder: the new words' rows learn first
        result.histories.append(fit_lm(model, loader, frozen_epochs, frozen_lr, **common))
        result.histories[-1].stage = "frozen: embeddings + decoder"
    freeze_to(groups, 0)  # everything trains, lower layers more gently (/2.6 per group)
    if epochs:
        lrs = discriminative_lrs(lr, len(groups))
        result.histories.append(fit_lm(model, loader, epochs, lrs, **common))
        result.histories[-1].stage = "unfrozen: all layers, discriminative LRs"
    if valid is not None:
        result.after = _evaluate_after(result.histories, model, valid, device, amp)
    result.seconds = time.time() - start
    if out_dir is not None:
        result.out_dir = Path(out_dir)
        _save_outputs(result, result.out_dir)
    return result


__all__ = [
    "LMResult",
    "pretrain_lm",
    "finetune_lm",
    "finetune_vocab",
    "load_lm",
    "unk_rate",
    "cap_tokens",
    "numericalize",
]
