"""Write the example data in examples/ (deterministic; run from the repo root).

A 3-class classifier's saved outputs on 300 flowers: per-class logits from a softmax
regression fitted on noisy measurements, the true labels, and ids. The same data is written as
CSV (string labels matching the logit column names), wide Parquet, list-column Parquet and
NPY (logits + integer labels), so every route can be compared. The logits are float64, so
cecli computes in float64 whatever the route, and every route prints the reference of
expected.json to the last digit: the one iris figure in the README, the ci-gate baseline and
docs/screens:

    python scripts/make_examples.py

And a language model's evaluation output, as vLLM's ``prompt_logprobs`` or an OpenAI-style
``logprobs`` answer gives it: ``llm_tokens.jsonl``, one document a line, the log-probability of
each realised token (``null`` for the first, which nothing predicts) and the document's UTF-8
bytes (for bits per byte).
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

CLASSES = ["setosa", "versicolor", "virginica"]
N = 300
OUT = "examples"


def make() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2024)
    y = rng.integers(0, 3, N)
    centres = np.array([[5.0, 3.4, 1.5, 0.2], [5.9, 2.8, 4.3, 1.3], [6.6, 3.0, 5.6, 2.0]])
    feats = centres[y] + rng.normal(scale=[0.45, 0.35, 0.55, 0.3], size=(N, 4))
    # A softmax regression, a few hundred steps of gradient descent on standardised features.
    X = (feats - feats.mean(0)) / feats.std(0)
    X = np.hstack([X, np.ones((N, 1))])
    W = np.zeros((5, 3))
    onehot = np.eye(3)[y]
    for _ in range(300):
        z = X @ W
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        W -= 0.1 * X.T @ (p - onehot) / N
    logits = X @ W  # float64: every route, and the reference below, computes in float64
    return logits, y


TAGS = ["cat", "dog", "outdoor", "person"]
TAG_ROWS = 240


def make_tags() -> tuple[np.ndarray, np.ndarray]:
    """A multi-label tagger's logits (4 tags per photo) and the true tags: each tag's logit is
    a noisy score of whether it is present, better for some tags than for others."""
    rng = np.random.default_rng(2025)
    present = rng.random((TAG_ROWS, len(TAGS))) < np.array([0.35, 0.3, 0.5, 0.2])
    skill = np.array([2.5, 2.0, 1.2, 0.8])  # how well each tag is separated
    logits = (np.where(present, skill, -skill) + rng.normal(scale=1.0, size=present.shape))
    return logits.astype(np.float32), present.astype(np.int64)


def write_tags() -> None:
    """examples/tags.csv: id, one logit column per tag (logit_cat, ...), one 0/1 column per
    tag; read with ``cecli bce examples/tags.csv --logit-cols 'logit_*'
    --target-cols cat,dog,outdoor,person``."""
    logits, present = make_tags()
    with open(f"{OUT}/tags.csv", "w", encoding="utf-8") as fh:
        fh.write(",".join(["id", *(f"logit_{t}" for t in TAGS), *TAGS]) + "\n")
        for i in range(TAG_ROWS):
            row = [f"photo-{i:03d}", *(repr(float(v)) for v in logits[i]), *map(str, present[i])]
            fh.write(",".join(row) + "\n")


TEXTS = [
    "The cat sat on the mat.",
    "A loss is a number; a good tool explains it.",
    "Tokenizers differ, so compare models in bits per byte.",
    "Perplexity is the exponential of the mean negative log-likelihood.",
    "Naïve café owners serve crème brûlée.",
    "the the the the the",
]


def write_llm() -> None:
    """``llm_tokens.jsonl``: word-level tokens (a leading space belongs to the word, as in
    byte-level BPE), scored by an add-one unigram model of these texts with a little noise."""
    import math

    rng = np.random.default_rng(14)
    docs = [[t if i == 0 else " " + t for i, t in enumerate(text.split(" "))] for text in TEXTS]
    counts: dict[str, int] = {}
    for doc in docs:
        for tok in doc:
            counts[tok] = counts.get(tok, 0) + 1
    total, vocab = sum(counts.values()), len(counts)
    with open(f"{OUT}/llm_tokens.jsonl", "w", encoding="utf-8") as fh:
        for k, (text, doc) in enumerate(zip(TEXTS, docs, strict=True)):
            lps: list[float | None] = [None]  # the first token: no prediction
            for tok in doc[1:]:
                p = (counts[tok] + 1) / (total + vocab)
                lps.append(round(math.log(p) + float(rng.normal(scale=0.3)) - 0.3, 6))
            rec = {"doc": f"doc-{k}", "tokens": doc, "logprobs": lps,
                   "bytes": len(text.encode("utf-8"))}  # fmt: skip
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")


def main() -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    logits, y = make()
    os.makedirs(OUT, exist_ok=True)
    ids = [f"flower-{i:03d}" for i in range(N)]
    labels = [CLASSES[k] for k in y]
    with open(f"{OUT}/iris_logits.csv", "w", encoding="utf-8") as fh:
        fh.write("id," + ",".join(CLASSES) + ",label\n")
        for i in range(N):
            row = ",".join(repr(float(v)) for v in logits[i])
            fh.write(f"{ids[i]},{row},{labels[i]}\n")
    wide = {"id": ids, **{c: logits[:, k] for k, c in enumerate(CLASSES)}, "label": labels}
    pq.write_table(pa.table(wide), f"{OUT}/iris_logits.parquet")
    lst = pa.FixedSizeListArray.from_arrays(pa.array(logits.reshape(-1)), 3)
    pq.write_table(
        pa.table({"id": ids, "logits": lst, "label": y.astype(np.int64)}),
        f"{OUT}/iris_logits_list.parquet",
    )
    np.save(f"{OUT}/iris_logits.npy", logits)
    np.save(f"{OUT}/iris_labels.npy", y.astype(np.int64))
    write_tags()
    with open(f"{OUT}/classes.txt", "w", encoding="utf-8") as fh:
        fh.write("\n".join(CLASSES) + "\n")
    # The expected loss, computed independently of cecli (float64 log-sum-exp of the float64
    # logits), so the example's output can be checked by eye and by a test.
    z = logits.astype(np.float64)
    lse = z.max(1) + np.log(np.exp(z - z.max(1, keepdims=True)).sum(1))
    losses = lse - z[np.arange(N), y]
    expected = {
        "loss": math.fsum(losses) / N,  # the exactly rounded sum, as cecli sums
        "accuracy": float((z.argmax(1) == y).mean()),
        "samples": N,
        "classes": 3,
        "note": "mean cross-entropy of examples/iris_logits.* (float64 reference, not cecli)",
    }
    with open(f"{OUT}/expected.json", "w", encoding="utf-8") as fh:
        json.dump(expected, fh, indent=2)
        fh.write("\n")
    print(json.dumps(expected))
    write_llm()


if __name__ == "__main__":
    main()
