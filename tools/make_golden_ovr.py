"""Make the one-vs-rest logistic regression's golden fixture with scikit-learn.

scikit-learn is not one of the package's dependencies; run this with the reference environment
(fastai 2.8.12 brings scikit-learn), created once as ``tools/make_golden_tokens.py`` says:

    python -m venv /tmp/fastai-env && /tmp/fastai-env/bin/pip install torch==2.14.1 torchvision==0.29.1 fastai==2.8.12
    /tmp/fastai-env/bin/python tools/make_golden_ovr.py

It writes ``tests/golden/ovr_logreg_sklearn.json``: a small dense problem (40 rows, 5 features,
3 labels, one of them rare), and the probabilities of scikit-learn's
``OneVsRestClassifier(LogisticRegression(C=1.0, class_weight=w))`` on its rows, for ``w`` None and
``"balanced"``. ``baselines.LogisticRegression`` given 0/1 label rows must give the same.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier

OUT = Path(__file__).resolve().parent.parent / "tests" / "golden" / "ovr_logreg_sklearn.json"


def main() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5)).round(3)
    y = np.stack(
        [
            (x[:, 0] + 0.5 * rng.normal(size=40) > 0),  # common, fairly clean
            (x[:, 1] - x[:, 2] + rng.normal(size=40) > 0.3),  # common, noisy
            (x[:, 3] > 1.1),  # rare: about 1 row in 7
        ],
        axis=1,
    ).astype(int)
    probs = {}
    for weight in (None, "balanced"):
        base = LogisticRegression(C=1.0, class_weight=weight, tol=1e-10, max_iter=10_000)
        model = OneVsRestClassifier(base).fit(x, y)
        probs[str(weight)] = model.predict_proba(x).round(8).tolist()
    record = dict(sklearn=sklearn.__version__, C=1.0, x=x.tolist(), y=y.tolist(), probs=probs)
    OUT.write_text(json.dumps(record) + "\n", encoding="utf-8")
    print(f"wrote {OUT} (label counts {y.sum(0).tolist()})")


if __name__ == "__main__":
    main()
