"""Make the pretrained-LM parity fixture ``tests/golden/lm_parity.pt`` by running fastai itself.

Run with a separate reference environment (fastai 2.8.12), never the package's. Create it once:

    python -m venv /tmp/fastai-env && /tmp/fastai-env/bin/pip install torch==2.14.1 torchvision==0.29.1 fastai==2.8.12

then:

    /tmp/fastai-env/bin/python tools/make_golden_model.py [--archive PATH] [--out PATH]

It builds fastai's ``get_language_model(AWD_LSTM, 26856, config=awd_lstm_lm_config)``, loads the
course's ``general-fwd`` weights (float16 in the file, converted to float32 as ``load_fastai_lm``
does), switches to eval mode and runs two batches of 2 x 12 token ids, the second continuing the
first (fastai carries the hidden state between calls). It saves, as plain tensors (``torch.load``
with ``weights_only=True`` reads them):

    x1, x2                 (2, 12) int64 input ids
    vocab_ids              (n,) a few hundred token ids (specials, the inputs, a fixed spread)
    logits1, logits2       (2, 12, n) the logits of those ids at every position
    logsumexp1, logsumexp2 (2, 12) log-sum-exp over the *whole* vocabulary (covers every logit)
    argmax1, argmax2       (2, 12) the most likely next token over the whole vocabulary
    raw1, raw2             (2, 12, 400) last LSTM layer output
    h{l}, c{l}             (1, 2, n_out) final hidden state of layer l after x2
    meta                   versions of fastai / torch / python, the archive's sha256

``tests/test_pretrained.py`` runs our ``load_fastai_lm`` on the same input and compares.
fastai is imported only here (a tool), never by the package or its tests.
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
import platform
import sys
import tarfile
import tempfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
ARCHIVE = REPO.parent / "shared" / "pretrained" / "general-fwd.tgz"
OUT = REPO / "tests" / "golden" / "lm_parity.pt"

# Two short documents (fastai tokens), 24 tokens each: x1 is the first 12, x2 the next 12.
TEXTS = [
    "xxbos xxmaj the river flows through the old town , and the children play on its banks "
    "every summer . xxmaj in winter it",
    "xxbos xxmaj she said that the new government would not raise taxes , but the people did "
    "not believe her at all . xxmaj",
]
SEQ_LEN = 12


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=ARCHIVE)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    import fastai
    from fastai.text.all import AWD_LSTM, awd_lstm_lm_config, get_language_model

    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(args.archive) as tf:
            tf.extractall(tmp, filter="data")
        folder = Path(tmp) / "general-fwd"
        with open(folder / "itos.pkl", "rb") as f:
            itos = pickle.load(f)  # our own trusted file; the package uses a restricted unpickler
        state_dict = torch.load(folder / "lstm_fwd.pth", map_location="cpu", weights_only=True)

    stoi = {w: i for i, w in enumerate(itos)}
    ids = [[stoi.get(w, 0) for w in text.split(" ")] for text in TEXTS]
    assert all(len(row) == 2 * SEQ_LEN for row in ids), [len(row) for row in ids]
    unknown = [w for text in TEXTS for w in text.split(" ") if w not in stoi]
    assert not unknown, f"words not in the vocabulary: {unknown}"
    x = torch.tensor(ids)  # (2, 24)
    x1, x2 = x[:, :SEQ_LEN], x[:, SEQ_LEN:]

    torch.manual_seed(0)
    model = get_language_model(AWD_LSTM, len(itos), config=awd_lstm_lm_config)
    model.load_state_dict({k: v.float() for k, v in state_dict.items()}, strict=True)
    model.eval()
    model.reset()

    g = torch.Generator().manual_seed(0)
    spread = torch.randperm(len(itos), generator=g)[:192]
    vocab_ids = torch.cat([torch.arange(64), x.flatten(), spread]).unique()  # sorted

    golden: dict[str, object] = {"x1": x1.clone(), "x2": x2.clone(), "vocab_ids": vocab_ids}
    with torch.no_grad():
        for i, xb in ((1, x1), (2, x2)):  # the second call starts from the first call's hidden
            logits, raw, _dropped = model(xb)
            golden[f"logits{i}"] = logits[:, :, vocab_ids].clone()
            golden[f"logsumexp{i}"] = logits.logsumexp(-1)
            golden[f"argmax{i}"] = logits.argmax(-1)
            golden[f"raw{i}"] = raw.clone()
    for layer, (h, c) in enumerate(model[0].hidden):
        golden[f"h{layer}"], golden[f"c{layer}"] = h.clone(), c.clone()
    golden["meta"] = {
        "fastai": fastai.__version__,
        "torch": str(torch.__version__),
        "python": platform.python_version(),
        "archive": args.archive.name,
        "archive_sha256": sha256(args.archive),
        "made_by": "tools/make_golden_model.py",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(golden, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB), meta {golden['meta']}")
    print("next tokens, doc 0:", " ".join(itos[i] for i in golden["argmax2"][0].tolist()))


if __name__ == "__main__":
    sys.exit(main())
