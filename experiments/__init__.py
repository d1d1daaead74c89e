"""The course's experiments: ``runner`` (the runs), ``run.py`` (their command line) and
``readme_tables.py`` (the tables in the README and docs/results.md). Not part of the installed package."""
