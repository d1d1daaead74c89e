"""The talk's live demo notebook: ULMFiT's three stages on a verse typed live, in under a minute.

Not one of the numbered lessons: tools/make_notebooks.py registers it separately (its glob reads
nb*.py only), as ``notebooks/talk/talk_demo.ipynb``. The logic is one package function,
``ulmfit_lesson.course.demo.run_demo``; this notebook only calls it and shows what it returns.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tools/, for make_notebooks

from make_notebooks import code, md  # noqa: E402

FILENAME = "talk_demo.ipynb"

# fmt: off
CELLS = [
    md("""
    # Live demo: ULMFiT in under a minute

    *For the talk (`make slides`, docs/giving_the_talk.md). Runs offline on a laptop CPU with the
    course's pretrained `general-fwd` (the workshop kit, or `ULMFIT_DATA`). Paper: Howard & Ruder
    (2018), §3: the three stages.*

    1. **Stage 1** is downloaded, not trained: a language model that has read general English.
    2. **Stage 2** fine-tunes it on the poems' training verses (no labels): watch the same prompt,
       with the same random seed, come out differently.
    3. **Stage 3** trains a happy/sad classifier on top, then explains *your* verse word by word.

    Quick settings: a few epochs, so the classifier is weaker than the full recipe of notebook 06.
    """, slide=True),
    code("""
    %matplotlib inline
    from IPython.display import HTML, display

    from ulmfit_lesson.course import demo, widgets_clas, widgets_lm

    widgets_lm.draw_ulmfit_stages()
    """),
    md("""
    Type a verse between the quotes (ask the audience for one), then run the cell. It prints one
    line per stage as it goes; about 30 seconds on a 2-core laptop.
    """, slide=True),
    code("""
    VERSE = "my heart is full of joy and love"
    PROMPT = "the night is"

    result = demo.run_demo(VERSE, PROMPT, quick=True)
    """),
    md("""
    **Before and after stage 2**: the pretrained model and the fine-tuned one continue the same
    prompt with the same random seed.
    """, slide=True),
    code("""
    widgets_lm.show_generations({"before stage 2": result.before, "after stage 2": result.after})
    print({stage: f"{s:.0f} s" for stage, s in result.seconds.items()})
    """),
    md("""
    **Which words decided?** Green pushed towards the predicted label, red away from it
    (gradient x input on each word's embedding, `TextClassifier.contributions`).
    """, slide=True),
    code("""
    display(HTML(widgets_clas.contributions_html(result.contributions)))
    print(result.summary())
    """),
    md("""
    Try another verse: change `VERSE` and run only this cell (the trained classifier is kept in
    `result.classifier`):
    """),
    code("""
    other = result.classifier.contributions("the grave is cold and lonely")
    display(HTML(widgets_clas.contributions_html(other)))
    """),
]
# fmt: on
