"""What only the course's notebooks and workshops use, kept apart from the ULMFiT core.

The core (``ulmfit_lesson/*.py``) never imports from here; these modules import the core:

- ``explain``: show a function's source, coloured tokens, stream tables, heatmaps, the LSTM cell.
- ``widgets`` (the shared slider/explorer machinery) and ``widgets_basics`` (notebooks 01-03),
  ``widgets_lm`` (00, 04, 05), ``widgets_clas`` (06-09): the interactive figures;
  the static drawings, which keep plotting code out of the lessons: ``figures_basics`` (00, 01, 02,
  04), ``figures_awd`` (03, 03a), ``figures_lm`` (05), ``figures_clas`` (06, 08; importable from
  ``widgets_clas`` too) and ``figures_results`` (07, 09, 10, with the paper's tables and notebook
  09's sample reviews from ``ulmfit_lesson/data/``).
- ``exercises`` (checking machinery) and ``exercises_basics`` / ``exercises_lm`` / ``exercises_clas``:
  the checked exercises, by the same split. ``questionnaire``: the end-of-notebook questionnaires
  (``ulmfit_lesson/data/questionnaires/*.toml``), factual answers checked on the spot.
- ``plan``: what each notebook needs and which pretrained model it will get; the hosted (Colab) setup.
- ``kit``: the offline workshop kit and the room's mirror. ``doctor``: the pre-flight checklist;
  ``timing``: its speed probe and notebook-time predictions. ``cli_workshop``: their subcommands.
- ``demo``: the talk's live demo.
- ``results``: reading the committed experiment results for the lessons.
"""
