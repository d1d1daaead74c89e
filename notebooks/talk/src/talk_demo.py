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

# %% [markdown] slideshow={"slide_type": "slide"}
# # Live demo: ULMFiT in under a minute
#
# *For the talk (`make slides`, docs/giving_the_talk.md). Runs offline on a laptop CPU with the
# course's pretrained `general-fwd` (the workshop kit, or `ULMFIT_DATA`). Paper: Howard & Ruder
# (2018), §3: the three stages.*
#
# 1. **Stage 1** is downloaded, not trained: a language model that has read general English.
# 2. **Stage 2** fine-tunes it on the poems' training verses (no labels): watch the same prompt,
#    with the same random seed, come out differently.
# 3. **Stage 3** trains a happy/sad classifier on top, then explains *your* verse word by word.
#
# Quick settings: a few epochs, so the classifier is weaker than the full recipe of notebook 06.

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
from IPython.display import HTML, display

from ulmfit_lesson.course import demo, widgets_clas, widgets_lm

widgets_lm.draw_ulmfit_stages()

# %% [markdown] slideshow={"slide_type": "slide"}
# Type a verse between the quotes (ask the audience for one), then run the cell. It prints one
# line per stage as it goes; about 30 seconds on a 2-core laptop.

# %%
VERSE = "my heart is full of joy and love"
PROMPT = "the night is"

result = demo.run_demo(VERSE, PROMPT, quick=True)

# %% [markdown] slideshow={"slide_type": "slide"}
# **Before and after stage 2**: the pretrained model and the fine-tuned one continue the same
# prompt with the same random seed.

# %%
widgets_lm.show_generations({"before stage 2": result.before, "after stage 2": result.after})
print({stage: f"{s:.0f} s" for stage, s in result.seconds.items()})

# %% [markdown] slideshow={"slide_type": "slide"}
# **Which words decided?** Green pushed towards the predicted label, red away from it
# (gradient x input on each word's embedding, `TextClassifier.contributions`).

# %%
display(HTML(widgets_clas.contributions_html(result.contributions)))
print(result.summary())

# %% [markdown]
# Try another verse: change `VERSE` and run only this cell (the trained classifier is kept in
# `result.classifier`):

# %%
other = result.classifier.contributions("the grave is cold and lonely")
display(HTML(widgets_clas.contributions_html(other)))
