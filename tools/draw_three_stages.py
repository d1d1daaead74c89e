"""Draw ULMFiT's three stages (the package's own ``widgets_lm.draw_ulmfit_stages``, the figure of
notebook 00) into the small PNG the README shows.

    python tools/draw_three_stages.py                    # -> docs/img/three_stages.png
    python tools/draw_three_stages.py --out other.png --dpi 120

Rerun it after changing the drawing; the PNG is committed (about 60 KB), so the README shows the
picture on GitHub without running anything.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "img" / "three_stages.png"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--dpi", type=int, default=90, help="90 keeps it small and sharp enough")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from ulmfit_lesson.course.widgets_lm import draw_ulmfit_stages

    fig = draw_ulmfit_stages()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # Fixed metadata: the same drawing gives the same bytes (no date in the file).
    fig.savefig(args.out, dpi=args.dpi, metadata={"Software": None}, pil_kwargs={"optimize": True})
    print(f"{args.out} ({args.out.stat().st_size / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
