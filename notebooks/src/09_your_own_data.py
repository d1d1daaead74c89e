# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 09 · Your own data
#
# *Read it first, with every output and figure, without running anything: [this notebook on the course site](https://ulmfit-lesson.github.io/ulmfit-lesson/notebooks/09_your_own_data.html).*
#
# *Paper: the whole of ULMFiT (§3), applied the way its title promises: "universal" — one recipe,
# one set of hyperparameters, any text classification task. Code: `datasets.read_table`,
# `pipeline.ulmfit_pipeline`, `predict.TextClassifier`, and the command line
# `python -m ulmfit_lesson train-classifier` / `predict`.*
#
# Everything so far used datasets the course ships. This notebook starts from the situation you
# will be in next: a spreadsheet of texts and labels of your own. We make one up — product
# reviews — and take it through the same pipeline, first from Python, then from the command line.
# To use your own data, change the file name and the column names; nothing else.
#
# **By the end you can**
#
# 1. write labelled texts to a CSV/TSV/JSONL file that the package reads, and act on its errors;
# 2. split them into training and validation sets without losing a label;
# 3. run stages 2 and 3 with one call (`ulmfit_pipeline`) and label new texts with `TextClassifier`;
# 4. do the same from a terminal with `train-classifier` and `predict`;
# 5. name the next steps that make a classifier better: a backwards model, more (unlabelled)
#    text, a GPU.

# %%
# Setup: on Google Colab or another hosted Jupyter, install the course package if it is missing
# (on a machine set up with `make lab` this changes nothing). Datasets and the pretrained model
# download on first use. KIT: optional path or URL of a workshop kit (ulmfit-kit.tar.gz, for a
# room without internet; see docs/facilitator_guide.md).
KIT = ""
try:
    import ulmfit_lesson
except ImportError:
    # Its dependencies (torch>=2.4, numpy, pandas, matplotlib, tqdm) are already on Colab and Kaggle:
    # pip adds only this package, and keeps the service's PyTorch.
    # %pip install -q "ulmfit-lesson @ git+https://github.com/ulmfit-lesson/ulmfit-lesson"
from ulmfit_lesson.course import plan

plan.hosted_setup(KIT)

# %%
# %matplotlib inline
import json
import sys
import time

import pandas as pd

from ulmfit_lesson import config, datasets, pipeline, pretrained
from ulmfit_lesson.course import exercises_clas, figures_results, plan, widgets_clas
from ulmfit_lesson.predict import TextClassifier

QUICK = config.is_quick()
print("mode:", "QUICK (ULMFIT_QUICK=1: small data, few epochs)" if QUICK else "FULL")
WORK = config.REPO_ROOT / "runs" / "my_reviews"  # everything this notebook writes goes here
WORK.mkdir(parents=True, exist_ok=True)
pd.set_option("display.max_colwidth", 100)

# %%
# The pretrained language model (ULMFiT's stage 1), chosen in one place for the whole notebook: the
# course's general-fwd where it is on this machine (workshop kit, ULMFIT_DATA) or the room's mirror,
# otherwise fastai's wt103-fwd, the paper's own model (downloaded once, about 100 MB). The numbers
# quoted in the text were measured with general-fwd.
PRETRAINED = pretrained.course_model()
print("pretrained model:", plan.describe_model(PRETRAINED))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. A file of your own
#
# Any table with one column of text and one of labels will do. Ours: 56 short reviews, made up
# for this notebook, each `positive` or `negative`. The column names are deliberately not `text`
# and `label` — yours will not be either. The reviews come with the package; the cell below writes
# them to `runs/my_reviews/reviews.csv`, the kind of file you would bring.

# %%
table = figures_results.sample_reviews()  # the package's data/sample_reviews.csv: columns review, sentiment
csv_path = WORK / "reviews.csv"
table.to_csv(csv_path, index=False)
print(f"wrote {len(table)} rows to {csv_path}; the first lines of the file:")
print("".join(csv_path.read_text(encoding="utf-8").splitlines(keepends=True)[:4]))

# %% [markdown]
# A spreadsheet program can write the same file: *Save as → CSV UTF-8*. Tab-separated (`.tsv`,
# `.txt`) and JSON lines (`.jsonl`, one `{"review": ..., "sentiment": ...}` per line) work too.
#
# ## 2. Reading it, and what the errors say
#
# `datasets.read_table(path, text_col, label_col)` reads the file and returns exactly two
# columns, `text` and `label`, whatever yours were called:

# %%
df = datasets.read_table(csv_path, text_col="review", label_col="sentiment")
print(df.label.value_counts().to_dict())
df.head(3)

# %% [markdown]
# Files from the real world are rarely clean, so every check in `read_table` stops with a message
# that names the file, the column or the rows at fault. The most common first mistake — asking for
# columns the file does not have:

# %%
try:
    datasets.read_table(csv_path, text_col="text", label_col="label")
except ValueError as err:
    print("ValueError:", err)

# %% [markdown]
# And a row whose label was left empty (row numbers count data rows from 1, as a spreadsheet
# shows them below its header):

# %%
broken = table.copy()
broken.loc[4, "sentiment"] = ""
broken_path = WORK / "reviews_broken.csv"
broken.to_csv(broken_path, index=False)
try:
    datasets.read_table(broken_path, text_col="review", label_col="sentiment")
except ValueError as err:
    print("ValueError:", err)

# %% [markdown] slideshow={"slide_type": "slide"}
# Other checks: a missing file (with the absolute path it looked for), an unknown extension,
# a file that is not UTF-8 (with the byte and line), empty texts.
#
# ## 3. Training and validation sets
#
# The classifier needs texts to learn from and other texts to be judged on. With a small dataset,
# split **each label separately**, so that a rare label is not left out of either side, and fix
# the random seed so that the split is the same next time:

# %%
valid_df = df.groupby("label", group_keys=False).sample(frac=0.25, random_state=0)
train_df = df.drop(index=valid_df.index)
print(f"train: {len(train_df)} {train_df.label.value_counts().to_dict()}")
print(f"valid: {len(valid_df)} {valid_df.label.value_counts().to_dict()}")
# The same rows in files with your own column names, for the command line (section 5).
train_csv, valid_csv = WORK / "train.csv", WORK / "valid.csv"
table.loc[train_df.index].to_csv(train_csv, index=False)
table.loc[valid_df.index].to_csv(valid_csv, index=False)

# %% [markdown] slideshow={"slide_type": "slide"}
# (With 14 validation reviews, one review is 7 points of accuracy — notebook 07 explains why that
# makes small differences meaningless. Label more data before comparing settings.)
#
# ## 4. From Python: `ulmfit_pipeline`
#
# One call runs stages 2 and 3, each as in the previous notebooks:
#
# 1. **stage 2**: extend the pretrained model's vocabulary with the reviews' new words (here: those seen
#    at least twice, `min_freq=2`; the default 3 suits bigger datasets), then fine-tune the
#    language model on the training reviews (one epoch with only the embeddings trainable, then
#    all layers with discriminative learning rates and STLR);
# 2. **stage 3**: the classifier on top, with gradual unfreezing.
#
# With only a thousand tokens of text, the LM reads them as 8 long streams
# (`lm_options=dict(bs=8)`) instead of 64 very short ones. Quick mode makes it a smoke run: one LM
# epoch with only the embeddings training, then two epochs of the classifier's head alone
# (`stages=[(-1, 2)]`).

# %%
if QUICK:
    lm_options, clas_options = dict(frozen_epochs=1, epochs=0), dict(stages=[(-1, 2)])
else:
    lm_options, clas_options = dict(bs=8, frozen_epochs=1, epochs=3), dict(epochs=6)
print(f"stage 2: {lm_options['frozen_epochs']} + {lm_options['epochs']} LM epochs; stage 3: {clas_options}; "
      "about", "15 seconds" if QUICK else "2 minutes", "on a 2-core laptop")
start = time.time()
result = pipeline.ulmfit_pipeline(
    train_df, valid_df, pretrained=PRETRAINED, finetune_lm=True, lm_options=lm_options, min_freq=2,
    bs=16, bptt=32, seed=0, progress=False, **clas_options,
)
print(f"done in {time.time() - start:.0f} s")
lm = result.lm
print(f"stage 2: {lm.settings['new_words']} new words; unknown tokens in the reviews "
      f"{lm.unk_rates['train_pretrained_vocab']:.1%} -> {lm.unk_rates['train_finetune_vocab']:.1%}; "
      f"valid perplexity {lm.before.perplexity:.0f} -> {lm.after.perplexity:.0f}")
widgets_clas.plot_history(result.classifier.history)

# %% [markdown]
# `result.classifier.classifier` is the `TextClassifier` of notebook 06: raw text in, labels and
# probabilities out, in the order given. Reviews it has never seen:

# %%
clf = result.classifier.classifier
new_reviews = [
    "Absolutely love it, works like a charm.",
    "Broke on the first day. Very poor quality.",
    "It is fine, nothing special.",
    "Not bad at all!",
]
clf.predict(new_reviews, as_frame=True).style.format(precision=3).hide(axis="index")

# %% [markdown] slideshow={"slide_type": "slide"}
# Look at the last two: a lukewarm review, and a negation of a negative word. The 42 clear-cut
# training reviews contain neither kind, so whatever the classifier says about them comes from
# what the language model knows — check whether its answers make sense. `widgets_clas.classifier_box(clf)` lets you probe
# it word by word, as in notebook 06.
#
# ## 5. From the command line
#
# The same pipeline without Python, for scripts and servers: `train-classifier` reads the files,
# runs stages 2 and 3, evaluates, and writes the classifier and a `metrics.json` to `--out`.
# `--pretrained` names the language model to start from (without it, the command makes the same
# choice as `pretrained.course_model()`). `--quick` makes it a short smoke run (drop it for the
# full recipe). In a notebook, `!` runs a shell command; `{sys.executable}` is this kernel's
# Python, so the package is the same one, and `{PRETRAINED}` is this notebook's variable.
#
# **How long will it take?** After its first few steps, each part (the language model, the
# classifier) prints how long it will take on your machine. As a guide: on a 2-core CPU the
# course's 843 poems (about 9,000 tokens) take about 3 minutes with the full defaults, 4,000
# GoEmotions comments (72,000 tokens) about 20 minutes: the time grows with the number of tokens.
# With a validation file, `--patience 2` stops the classifier once its validation loss has stopped
# improving and keeps the best epoch's weights:

# %%
out = WORK / "cli_model"
print("about 40 seconds on a 2-core laptop")
!"{sys.executable}" -m ulmfit_lesson train-classifier --train "{train_csv}" --valid "{valid_csv}" --text-col review --label-col sentiment --pretrained {PRETRAINED} --out "{out}" --quick --bs 16 --lm-bs 8 --no-progress

# %%
metrics = json.loads((out / "metrics.json").read_text())
print({k: metrics[k] for k in ("split", "accuracy", "macro_f1", "n_test", "labels")})
print("timings (s):", metrics["timings"])
sorted(p.name for p in out.iterdir())

# %% [markdown]
# `predict` labels texts given on the command line (or a whole file with `--file`), one line per
# text: label, its probability, the text:

# %%
!"{sys.executable}" -m ulmfit_lesson predict --model "{out}" "Works perfectly, great value." "Cracked after a week, avoid."

# %% [markdown]
# The folder is everything a colleague needs: `TextClassifier.load(out)` in Python, or `predict`
# in a terminal. Check that both agree:

# %%
loaded = TextClassifier.load(out)
print(loaded)
loaded.predict(["Works perfectly, great value.", "Cracked after a week, avoid."])

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6. Where to go next
#
# - **A backwards model.** The paper's best numbers average two classifiers: one reading
#   left-to-right, one right-to-left (IMDb: 5.30% error for one model, 4.58% for the pair). The
#   backward language model is `pretrained.course_model("bwd")` (`general-bwd`, or fastai's
#   `wt103-bwd`), and `python experiments/run.py ensemble` trains both classifiers (each text's token ids reversed for the backward one) and
#   averages their probabilities; `ulmfit_lesson/experiments.py` shows how.
# - **More text, even unlabelled.** Stage 2 needs no labels. Fine-tuning the language model on
#   every text you have (`ulmfit_pipeline(..., lm_extra_texts=unlabelled_texts)`) is the paper's
#   semi-supervised setting, which in Fig. 3 matched from-scratch training on 50-100× more labels.
# - **More labels.** Notebook 07's curve keeps rising: a few hundred labelled examples are worth
#   far more than tuning settings.
# - **A GPU.** Everything runs unchanged on one (`device="auto"`, the default, picks it up; the CLI
#   has `--device cuda`). Measured on an H200 with `general-fwd`, a whole ULMFiT run on the poems
#   (stages 2 and 3) took 13-17 seconds, against 8-12 minutes on one core of a small CPU
#   (`bench/results/gpu.md`), which makes the full recipe, longer texts and `max_len` of 1,400
#   tokens comfortable. `docs/colab.md` shows how to run the course on Google Colab.
# - **Your language.** ULMFiT needs a language model pretrained on general text in the language
#   of your data. `python -m ulmfit_lesson pretrain --corpus your_texts.txt` trains one (stage 1) on a
#   corpus you provide.
# - **Beyond.** MultiFiT (Eisenschlos et al. 2019) brought the recipe to many languages with
#   subword tokens and QRNNs; transformer models such as BERT took the same idea — pretrain a
#   language model, then fine-tune it — to much larger scales.

# %% [markdown]
# ## 7. Exercise: a split that keeps every label
#
# Write `split_table(df, valid_frac, seed)` for a DataFrame with columns `text` and `label`:
# return `(train, valid)` with about `valid_frac` of the rows in `valid`, every label present on
# both sides (at least one validation row per label, however rare), no row on both sides, none
# lost, and the same split for the same seed.

# %%
def split_table(df: pd.DataFrame, valid_frac: float = 0.2, seed: int = 0):
    raise NotImplementedError  # your code here


exercises_clas.check_split_table(split_table)

# %% [markdown]
# Stuck? `exercises_clas.hint("split_table")`.
#
# ## Summary
#
# - Bring a table with a text column and a label column (`.csv`, `.tsv`, `.jsonl`);
#   `datasets.read_table` reads it into `text` / `label`, and its errors name the file, the column
#   or the rows to fix.
# - Split each label separately, with a fixed seed; keep the validation set for judging only.
# - `pipeline.ulmfit_pipeline(train_df, valid_df)` runs stage 2 (fine-tune the pretrained LM on
#   your texts) and stage 3 (the classifier); `.classifier.classifier.predict(texts)` labels new
#   texts, in order, and `save`/`TextClassifier.load` keep it.
# - `python -m ulmfit_lesson train-classifier ... --out DIR` and `predict --model DIR` do the same
#   from a terminal.
# - To do better: more labelled data, more unlabelled text for stage 2, a backwards model in an
#   ensemble, and a GPU for the full recipe.

# %% [markdown]
# ## Questionnaire
#
# Answer from memory first, then look back at the section each question comes from. The answer
# sheet below the questions checks the factual ones (✔); for the others, *Our answer* shows one
# to compare with yours.

# %%
from ulmfit_lesson.course import questionnaire

questionnaire.show("09_your_own_data")

# %% [markdown]
# ## Further research
#
# - Mitchell et al. (2019), *Model cards for model reporting*: what to write down about a classifier
#   before others use it.
# - Gebru et al. (2021), *Datasheets for datasets*: the same for the data you label.
# - Eisenschlos et al. (2019), *MultiFiT*: ULMFiT for languages other than English.
# - Howard & Gugger (2020), chapter 10: the fastai version of this notebook's recipe.
