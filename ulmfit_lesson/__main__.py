"""``python -m ulmfit_lesson <command>``: see ``cli.py`` (``--help`` lists the commands)."""

import sys

from .cli import main

sys.exit(main())
