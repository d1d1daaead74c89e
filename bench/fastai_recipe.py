"""fastai's ULMFiT recipe on one labelled dataset: the reference side of the time-to-accuracy bench.

This script runs in a *separate* environment that has fastai (the package never depends on it);
``bench_time_to_accuracy.py`` starts it with that environment's interpreter. It follows fastai's
documented recipe (fastbook chapter 10, "NLP Deep Dive", and fastai's text tutorial), which is
ULMFiT's (Howard & Ruder 2018):

- §3.2, target task LM fine-tuning: ``language_model_learner(dls_lm, AWD_LSTM, drop_mult=0.3)``
  on the pretrained weights, ``fit_one_cycle(1, 2e-2)`` with only the new embeddings trainable,
  then ``unfreeze()`` and ``fit_one_cycle(N, 2e-3)`` (``--lm-epochs``; fastbook's N is 10);
  ``save_encoder``.
- §3.3, target task classifier fine-tuning with gradual unfreezing and discriminative learning
  rates (each layer group 2.6 times lower than the one above): ``text_classifier_learner(...,
  drop_mult=0.5)``, ``load_encoder``, one epoch of the head, one after ``freeze_to(-2)``, one after
  ``freeze_to(-3)``, then ``unfreeze()`` and ``--last-epochs`` (fastbook: 2), each stage a
  ``fit_one_cycle`` (fastai's one-cycle schedule stands in for the paper's slanted triangular one).

Everything else is fastai's default: spaCy word tokens with fastai's rules, a vocabulary of the
tokens seen at least 3 times (at most 60,000), ``bs=64``, ``seq_len=72``, the LM validated on a
random 10% of the training texts. The pretrained weights are loaded the documented way: the files
copied to ``learn.path/models`` and named by ``pretrained_fnames``.

Writes into ``--out``: ``history.json`` (versions, settings, one record per epoch with its end
time as ``time.time()`` so the caller can place it on its own clock) and ``predictions.csv`` (the
predicted label of each test text, in order), which the caller scores. ::

    fastai-env/bin/python bench/fastai_recipe.py --data DIR --weights lstm_fwd.pth \\
        --vocab itos.pkl --out OUT [--lm-epochs 10] [--last-epochs 2] [--threads 2] [--seed 0]

``DIR`` holds ``train.csv``, ``dev.csv`` and ``test.csv`` (columns ``text``, ``label``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import pandas as pd
import torch
from fastai import __version__ as fastai_version
from fastai.text.all import (
    AWD_LSTM,
    Callback,
    Recorder,
    TextDataLoaders,
    accuracy,
    default_device,
    defaults,
    language_model_learner,
    set_seed,
    text_classifier_learner,
)

LM_DROP_MULT, CLAS_DROP_MULT = 0.3, 0.5  # fastbook's dropout multipliers
LM_LR_FROZEN, LM_LR = 2e-2, 2e-3
# Gradual unfreezing (§3.3): (layer groups trainable, peak LR of the top group, epochs). Lower groups
# get the LR divided by 2.6 per group (discriminative fine-tuning, §3.2).
CLAS_STAGES = ((1, 2e-2, 1), (2, 1e-2, 1), (3, 5e-3, 1), (None, 1e-3, 2))
DISCRIMINATIVE_FACTOR = 2.6
ENCODER_NAME = "finetuned"


class EpochClock(Callback):
    """After fastai's ``Recorder`` has logged an epoch: its validation numbers and its end time."""

    order = Recorder.order + 1

    def __init__(self, records: list[dict]):
        self.records, self.stage = records, ""

    def after_epoch(self):
        names = self.recorder.metric_names[1:-1]  # 'epoch' and 'time' are not in the values
        record = dict(zip(names, (float(v) for v in self.recorder.values[-1])))
        record.update(stage=self.stage, epoch=len(self.records), t=time.time())
        self.records.append(record)
        print(json.dumps(record), flush=True)


def fit_stage(learn, clock: EpochClock, stage: str, epochs: int, lr) -> None:
    clock.stage = stage
    with learn.no_bar():  # a callback of this fit only: get_preds must not add records
        learn.fit_one_cycle(epochs, lr, cbs=clock)


def finetune_lm(train: pd.DataFrame, path: Path, args, lm_records: list[dict]):
    """Stage 2: the LM fine-tuned on the training texts; returns its vocabulary."""
    dls_lm = TextDataLoaders.from_df(
        train, path=path, text_col="text", is_lm=True, valid_pct=0.1, seed=args.seed
    )
    models = path / "models"
    models.mkdir(parents=True, exist_ok=True)
    shutil.copy(args.weights, models / "pretrained.pth")
    shutil.copy(args.vocab, models / "pretrained.pkl")
    learn = language_model_learner(
        dls_lm,
        AWD_LSTM,
        drop_mult=LM_DROP_MULT,
        metrics=accuracy,
        pretrained_fnames=["pretrained", "pretrained"],
    )
    clock = EpochClock(lm_records)
    fit_stage(learn, clock, "lm frozen", 1, LM_LR_FROZEN)
    learn.unfreeze()
    fit_stage(learn, clock, "lm unfrozen", args.lm_epochs, LM_LR)
    learn.save_encoder(ENCODER_NAME)
    return dls_lm.vocab


def train_classifier(train, dev, vocab, path: Path, args, records: list[dict]):
    """Stage 3: gradual unfreezing on top of the fine-tuned encoder; returns the learner."""
    df = pd.concat([train.assign(is_valid=False), dev.assign(is_valid=True)], ignore_index=True)
    dls = TextDataLoaders.from_df(
        df,
        path=path,
        text_col="text",
        label_col="label",
        valid_col="is_valid",
        text_vocab=vocab,
        seed=args.seed,
    )
    # pretrained=False: the encoder comes from load_encoder, not from fastai's WikiText-103 download.
    learn = text_classifier_learner(
        dls, AWD_LSTM, drop_mult=CLAS_DROP_MULT, metrics=accuracy, pretrained=False
    )
    learn.load_encoder(ENCODER_NAME)
    clock = EpochClock(records)
    for groups, lr, epochs in CLAS_STAGES:
        if groups is None:
            learn.unfreeze()
            epochs = args.last_epochs
        else:
            learn.freeze_to(-groups)
        lrs = lr if groups == 1 else slice(lr / DISCRIMINATIVE_FACTOR**4, lr)
        fit_stage(learn, clock, f"freeze_to(-{groups})" if groups else "unfrozen", epochs, lrs)
    return learn


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="folder of train/dev/test.csv")
    p.add_argument("--weights", type=Path, required=True, help="pretrained LM state dict (.pth)")
    p.add_argument("--vocab", type=Path, required=True, help="its vocabulary (itos .pkl)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--lm-epochs", type=int, default=10, help="unfrozen LM epochs (fastbook: 10)")
    p.add_argument("--last-epochs", type=int, default=2, help="epochs once all is unfrozen")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    start = time.time()
    if args.threads:
        torch.set_num_threads(args.threads)
        defaults.cpus = args.threads  # fastai's tokenizing processes and data loader workers
    default_device(False)  # the CPU, as the package's side runs
    set_seed(args.seed)
    train, dev, test = (
        pd.read_csv(args.data / f"{s}.csv", keep_default_na=False, dtype=str)
        for s in ("train", "dev", "test")
    )
    args.out.mkdir(parents=True, exist_ok=True)
    work = args.out / "fastai"
    lm_records: list[dict] = []
    records: list[dict] = []
    vocab = finetune_lm(train, work, args, lm_records)
    t_lm = time.time()
    learn = train_classifier(train, dev, vocab, work, args, records)
    t_clas = time.time()
    with learn.no_bar():
        probs, _ = learn.get_preds(dl=learn.dls.test_dl(test[["text"]]))
    labels = learn.dls.vocab[1]
    predicted = [labels[i] for i in probs.argmax(dim=1).tolist()]
    pd.DataFrame({"prediction": predicted}).to_csv(args.out / "predictions.csv", index=False)
    history = {
        "versions": {"fastai": fastai_version, "torch": torch.__version__},
        "settings": {
            "lm_epochs": [1, args.lm_epochs],
            "clas_epochs": [1, 1, 1, args.last_epochs],
            "lm_drop_mult": LM_DROP_MULT,
            "clas_drop_mult": CLAS_DROP_MULT,
            "threads": torch.get_num_threads(),
            "seed": args.seed,
            "vocab": len(vocab),
        },
        "lm_history": lm_records,
        "history": records,
        "timings": {
            "start": start,
            "lm_finetune_s": t_lm - start,
            "classifier_s": t_clas - t_lm,
            "evaluate_s": time.time() - t_clas,
        },
    }
    (args.out / "history.json").write_text(json.dumps(history, indent=2), encoding="utf-8")
    shutil.rmtree(work)  # the models: hundreds of MB nobody reads
    return 0


if __name__ == "__main__":
    sys.exit(main())
