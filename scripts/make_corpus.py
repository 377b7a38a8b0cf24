"""Write the real-world corpus: prediction files as the tools users have write them.

How to run (from the repository root, in a venv with cecli's ``test`` extra)::

    pip install polars scikit-learn     # generator only: never a run-time or test dependency
    python scripts/make_corpus.py

The values committed were produced with pandas 3.1.1, polars 2.1.0, scikit-learn 1.9.1,
numpy 2.4.6 and pyarrow 26.0.1. Every model is fitted with a fixed ``random_state`` on a data
set scikit-learn ships (iris, wine, breast_cancer; nothing is downloaded), so rerunning the
script rewrites the same values.

The tests (``tests/test_corpus.py``) read only what this script writes into
``tests/fixtures/corpus/``: the files, and ``cases.json``, one entry per case:

* ``id``, ``tool`` (what wrote the file, e.g. ``pandas DataFrame.to_csv(path)``), ``files``;
* ``args``: the ``cecli`` command line, paths relative to the corpus folder (the test adds
  ``-f json``); ``stdin`` (optional): the corpus file piped into the command (``-`` in args);
* ``expect``: a list of acceptable outcomes (almost always one). A loss outcome holds ``loss``,
  ``rtol``, ``classes`` and ``samples`` (what the JSON must say) and optionally
  ``stderr_words`` (a warning that must be printed, exit 0); an error outcome holds ``exit``
  (the acceptable exit codes) and ``error_words`` (words the one ``error:`` line must contain);
  a compare outcome holds ``delta`` (exact) and the two losses;
* ``reference``: how the expected loss was computed. **Never by cecli**: scikit-learn's
  ``log_loss`` on the probabilities, or plain NumPy (float64, ``max``-shifted log-sum-exp) on
  the in-memory arrays the file was written from. Where a writer rounds (R's 15 significant
  digits, pandas' JSON), the arrays are the rounded values, checked against the text;
* ``why``: why that is the right answer;
* ``known_bad`` (optional): what cecli does today where it is wrong. The test runs such a case
  as ``xfail(strict=True)``: when a fix lands the case passes, the test fails loudly, and the
  fixer deletes the ``known_bad`` line. This script carries existing ``known_bad`` entries over
  when it rewrites the manifest, so cases.json stays the one place to edit.

``groups`` in the manifest name cases that hold the same predictions written in different
ways: cecli must give each group one loss, bit for bit (a case's ``known_bad_group`` marks its
group check as ``known_bad`` marks the case).

Tolerances: ``1e-12`` relative where the data is float64 (cecli's per-row log-sum-exp and
compensated sums against NumPy's: a few ulps), ``1e-5`` relative where the data is float32
(cecli computes the log-sum-exp in float32, the reference in float64).

Self-checks: every text file is parsed back with Python's ``csv`` / ``json`` and compared with
the arrays the expected values come from (exactly, or after the writer's documented rounding),
and each expected loss is computed two independent ways where two exist (NumPy and sklearn).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import sklearn
from sklearn.datasets import (
    load_breast_cancer,
    load_iris,
    load_wine,
    make_multilabel_classification,
)
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.class_weight import compute_class_weight

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "corpus"
RTOL64 = 1e-12
RTOL32 = 1e-5
SEED = 20261202

CASES: list[dict[str, Any]] = []
GROUPS: dict[str, list[str]] = {}


# -- references: plain NumPy / sklearn, never cecli -------------------------------------------


def log_softmax64(z: np.ndarray, axis: int = 1) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    m = z.max(axis=axis, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=axis, keepdims=True))


def ce_ref(z: np.ndarray, y: np.ndarray, axis: int = 1, ignore: int = -100) -> float:
    """Mean cross-entropy of logits ``z`` (class axis ``axis``) and index targets ``y``."""
    lp = np.moveaxis(log_softmax64(z, axis=axis), axis, -1).reshape(-1, z.shape[axis])
    yy = np.asarray(y).reshape(-1)
    keep = yy != ignore
    picked = lp[np.flatnonzero(keep), yy[keep]]
    return float(-picked.sum() / keep.sum())


def bce_ref(x: np.ndarray, t: np.ndarray, pos_weight: np.ndarray | None = None) -> float:
    """Mean BCE-with-logits: ``(1 - t) x + (1 + (pw - 1) t) log(1 + exp(-x))``."""
    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    pw = np.ones(1) if pos_weight is None else np.asarray(pos_weight, dtype=np.float64)
    log1pexp_neg = np.logaddexp(0.0, -x)  # -logsigmoid(x)
    return float(((1 - t) * x + (1 + (pw - 1) * t) * log1pexp_neg).mean())


def bce_probs_ref(p: np.ndarray, t: np.ndarray) -> float:
    """torch's BCELoss: logs clamped at -100."""
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore"):
        lp = np.maximum(np.log(p), -100.0)
        l1p = np.maximum(np.log1p(-p), -100.0)
    return float(-(t * lp + (1 - t) * l1p).mean())


def close(a: float, b: float, rtol: float) -> None:
    assert math.isclose(a, b, rel_tol=rtol, abs_tol=0.0), (a, b)


# -- the manifest -----------------------------------------------------------------------------


def loss(
    value: float, rtol: float, classes: int, samples: int, stderr_words: list[str] | None = None,
    count: str = "classes",
) -> dict[str, Any]:
    """A loss outcome: the JSON's ``loss`` within ``rtol``, and its class count (``labels`` for
    ``bce``) and ``samples`` exactly."""
    out: dict[str, Any] = {"loss": value, "rtol": rtol, "json": {count: classes, "samples": samples}}
    if stderr_words:
        out["stderr_words"] = stderr_words
    return out


def error(exit: int | list[int], *words: str) -> dict[str, Any]:
    return {"exit": [exit] if isinstance(exit, int) else exit, "error_words": list(words)}


def case(
    id: str,
    tool: str,
    files: list[str],
    args: list[str],
    expect: dict[str, Any] | list[dict[str, Any]],
    reference: str,
    why: str,
    group: str | None = None,
    stdin: str | None = None,
) -> None:
    """One manifest entry; ``stdin``: a corpus file the test pipes into the command."""
    assert all(c["id"] != id for c in CASES), id
    for f in files:
        assert (OUT / f).exists(), f
    assert stdin is None or stdin in files
    entry: dict[str, Any] = {"id": id, "tool": tool, "files": files, "args": args}
    if stdin:
        entry["stdin"] = stdin
    entry.update({
        "expect": expect if isinstance(expect, list) else [expect],
        "reference": reference,
        "why": why,
    })
    CASES.append(entry)
    if group:
        GROUPS.setdefault(group, []).append(id)


# -- parse-back self-checks (stdlib parsers, independent of cecli) ------------------------------


def read_text(name: str, encoding: str = "utf-8") -> str:
    raw = (OUT / name).read_bytes()
    if name.endswith(".gz"):
        raw = gzip.decompress(raw)
    return raw.decode(encoding)


def csv_columns(name: str, sep: str = ",", encoding: str = "utf-8") -> dict[str, list[str]]:
    rows = list(csv.reader(io.StringIO(read_text(name, encoding), newline=""), delimiter=sep))
    head, body = rows[0], rows[1:]
    return {h: [r[i] for r in body] for i, h in enumerate(head)}


def check_floats(cells: list[str], want: np.ndarray, decimal: str = ".") -> None:
    """The text parses (Python's ``float``, then the array's dtype) back to the array exactly."""
    want = np.asarray(want)
    got = np.array([float(c.replace(decimal, ".")) for c in cells]).astype(want.dtype)
    assert np.array_equal(got, want), "text does not hold the array"


# -- the data sets and models -----------------------------------------------------------------


def wine_model() -> dict[str, Any]:
    X, y = load_wine(return_X_y=True, as_frame=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.5, random_state=0, stratify=y)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.02, max_iter=1000))
    model.fit(Xtr, ytr)
    z = model.decision_function(Xte)
    p = model.predict_proba(Xte)
    tree = DecisionTreeClassifier(random_state=0).fit(Xtr, ytr)
    return {
        "names": [str(n) for n in load_wine().target_names],
        "z": z,
        "p": p,
        "lp": model.predict_log_proba(Xte),
        "y": yte.to_numpy().astype(np.int64),
        "index": Xte.index.to_numpy(),
        "tree_p": tree.predict_proba(Xte),
    }


def iris_model() -> dict[str, Any]:
    X, y = load_iris(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.4, random_state=1, stratify=y)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=1000))
    model.fit(Xtr, ytr)
    return {
        "names": [str(n) for n in load_iris().target_names],
        "z": model.decision_function(Xte),
        "p": model.predict_proba(Xte),
        "y": yte.astype(np.int64),
    }


def cancer_model() -> dict[str, Any]:
    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.5, random_state=2, stratify=y)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=1000))
    model.fit(Xtr, ytr)
    return {"d": model.decision_function(Xte), "p": model.predict_proba(Xte),
            "y": yte.astype(np.int64)}


def multilabel_model() -> dict[str, Any]:
    X, Y = make_multilabel_classification(
        n_samples=120, n_features=8, n_classes=4, n_labels=2, random_state=3
    )
    model = OneVsRestClassifier(LogisticRegression(C=0.1, max_iter=1000)).fit(X[:60], Y[:60])
    return {"z": model.decision_function(X[60:]), "t": Y[60:].astype(np.int64),
            "names": ["sports", "politics", "science", "arts"]}


# -- the corpus -------------------------------------------------------------------------------


def wine_cases(w: dict[str, Any]) -> None:
    names, z, y, p = w["names"], w["z"], w["y"], w["p"]
    n, c = z.shape
    want = ce_ref(z, y)
    close(want, log_loss(y, p, labels=[0, 1, 2]), 1e-9)  # softmax(decision_function) == proba
    ref = "NumPy float64 log_softmax of LogisticRegression.decision_function (wine test half)"
    ok = loss(want, RTOL64, c, n)
    frame = pd.DataFrame(z, columns=names, index=w["index"])
    frame["label"] = y
    plain = frame.reset_index(drop=True)

    plain.to_csv(OUT / "wine_pandas_noindex.csv", index=False)
    check_floats(csv_columns("wine_pandas_noindex.csv")["class_1"], z[:, 1])
    case("pandas_to_csv_no_index", "pandas DataFrame.to_csv(path, index=False)",
         ["wine_pandas_noindex.csv"], ["ce", "wine_pandas_noindex.csv"], ok, ref,
         "three float logit columns named by class, integer labels in 'label': the plain case",
         group="wine_logits")

    frame.to_csv(OUT / "wine_pandas_index.csv")
    assert read_text("wine_pandas_index.csv").startswith(",class_0,")
    case("pandas_to_csv_default_index", "pandas DataFrame.to_csv(path) (index=True, the default) "
         "of a test split: the index holds the original row numbers, its header cell is empty",
         ["wine_pandas_index.csv"], ["ce", "wine_pandas_index.csv"], ok, ref,
         "pandas' default index column (empty header) is an index, never a class", group="wine_logits")

    plain.to_csv(OUT / "wine_pandas_rangeindex.csv")
    case("pandas_to_csv_range_index", "pandas DataFrame.to_csv(path) after reset_index(drop=True): "
         "an unnamed first column 0..N-1",
         ["wine_pandas_rangeindex.csv"], ["ce", "wine_pandas_rangeindex.csv"], ok, ref,
         "an unnamed integer 0..N-1 first column is pandas' index, never a class",
         group="wine_logits")

    back = pd.read_csv(OUT / "wine_pandas_index.csv")
    back.to_csv(OUT / "wine_pandas_unnamed0.csv", index=False)
    assert back.columns[0] == "Unnamed: 0"
    check_floats(csv_columns("wine_pandas_unnamed0.csv")["class_2"], z[:, 2])
    case("pandas_unnamed_0", "pandas read_csv of the default-index file, then to_csv(index=False): "
         "the old index comes back as a column 'Unnamed: 0'",
         ["wine_pandas_unnamed0.csv"], ["ce", "wine_pandas_unnamed0.csv"], ok, ref,
         "'Unnamed: N' is pandas' name for an unnamed column it read back: an old index, not a class",
         group="wine_logits")

    frame.reset_index().to_csv(OUT / "wine_pandas_reset_index.csv", index=False)
    assert read_text("wine_pandas_reset_index.csv").startswith("index,")
    case("pandas_reset_index_column", "pandas DataFrame.reset_index().to_csv(path, index=False): "
         "a column named 'index'",
         ["wine_pandas_reset_index.csv"], ["ce", "wine_pandas_reset_index.csv"], ok, ref,
         "a column named 'index' is an index, not a class", group="wine_logits")

    plain.to_csv(OUT / "wine_pandas.tsv", sep="\t", index=False)
    case("pandas_to_csv_tsv", "pandas DataFrame.to_csv(path, sep='\\t', index=False)",
         ["wine_pandas.tsv"], ["ce", "wine_pandas.tsv"], ok, ref, "tab-separated, same table",
         group="wine_logits")

    # mtime=0: the gzip header would otherwise hold the time of writing (not reproducible)
    plain.to_csv(OUT / "wine_pandas.csv.gz", index=False, compression={"method": "gzip", "mtime": 0})
    case("pandas_to_csv_gzip", "pandas DataFrame.to_csv('x.csv.gz', index=False) "
         "(compression from the extension)",
         ["wine_pandas.csv.gz"], ["ce", "wine_pandas.csv.gz"], ok, ref, "gzip of the plain case",
         group="wine_logits")

    plain.to_csv(OUT / "wine_excel.csv", index=False, encoding="utf-8-sig", lineterminator="\r\n")
    assert (OUT / "wine_excel.csv").read_bytes().startswith(b"\xef\xbb\xbfclass_0")
    case("pandas_to_csv_bom_crlf", "pandas DataFrame.to_csv(path, index=False, "
         "encoding='utf-8-sig', lineterminator='\\r\\n') (what Excel users are told to write)",
         ["wine_excel.csv"], ["ce", "wine_excel.csv"], ok, ref,
         "a BOM and CRLF line ends change nothing", group="wine_logits")

    named = plain.copy()
    named["label"] = [names[i] for i in y]
    named.to_csv(OUT / "wine_string_labels.csv", index=False)
    case("string_labels", "pandas DataFrame.to_csv(path, index=False), labels as class names",
         ["wine_string_labels.csv"], ["ce", "wine_string_labels.csv"], ok, ref,
         "string labels are mapped to the logit columns' names", group="wine_logits")

    order = [2, 0, 1]
    shuffled = named[[names[i] for i in order] + ["label"]]
    shuffled.to_csv(OUT / "wine_string_labels_reordered.csv", index=False)
    case("string_labels_columns_reordered", "pandas to_csv of the string-label frame with the class "
         "columns in another order (class_2, class_0, class_1)",
         ["wine_string_labels_reordered.csv"], ["ce", "wine_string_labels_reordered.csv"], ok,
         ref, "string labels are matched to columns by name, so column order does not matter",
         group="wine_logits")

    case("classes_option_reorders_by_name", "the string-label file with --classes in another order",
         ["wine_string_labels.csv"],
         ["ce", "wine_string_labels.csv", "--classes", "class_2,class_0,class_1"], ok, ref,
         "where the header names the classes and --classes names the same set, the columns are "
         "taken by name in --classes order: the loss cannot change (renaming by position would)",
         group="wine_logits")

    case("classes_option_disagrees_with_header", "the string-label file with --classes naming "
         "other classes", ["wine_string_labels.csv"],
         ["ce", "wine_string_labels.csv", "--classes", "red,white,rose"],
         error([2, 3], "--classes", "class_0"), "-",
         "--classes that names classes the header does not have cannot be reconciled: an error "
         "naming the option and the header's classes, not a silent renaming")

    folds = plain.copy()
    folds.insert(0, "fold", np.arange(n) % 5)
    folds.to_csv(OUT / "wine_fold_column.csv", index=False)
    case("numeric_fold_column", "pandas to_csv(index=False) of a cross-validation frame with an "
         "integer 'fold' column (0..4)", ["wine_fold_column.csv"], ["ce", "wine_fold_column.csv"],
         error(3, "fold", "--logit-cols"), "-",
         "an integer column among float logits that is no index and no known role cannot be "
         "placed: an error naming it and --logit-cols, never a fourth class")
    case("numeric_fold_column_explicit", "the fold file with --logit-cols naming the classes",
         ["wine_fold_column.csv"],
         ["ce", "wine_fold_column.csv", "--logit-cols", "class_0,class_1,class_2"], ok, ref,
         "explicit options always win", group="wine_logits")

    case("logit_cols_include_target", "the plain file with the target named in --logit-cols",
         ["wine_pandas_noindex.csv"],
         ["ce", "wine_pandas_noindex.csv", "--logit-cols", "class_0,class_1,class_2,label"],
         error(2, "label", "--logit-cols"), "-",
         "the target column cannot also be a logit: contradictory options are a usage error")

    plain.to_csv(OUT / "wine_semicolon.csv", sep=";", index=False)
    case("semicolon_csv", "pandas DataFrame.to_csv(path, sep=';', index=False)",
         ["wine_semicolon.csv"], ["ce", "wine_semicolon.csv"],
         [ok, error(3, "wine_semicolon.csv", ";")], ref,
         "a semicolon-separated file is the same table: the right loss, or one error naming the "
         "separator; never a one-column table", group="wine_logits")

    plain.to_csv(OUT / "wine_european.csv", sep=";", decimal=",", index=False)
    check_floats(csv_columns("wine_european.csv", ";")["class_0"], z[:, 0], ",")
    case("semicolon_decimal_comma_csv", "pandas DataFrame.to_csv(path, sep=';', decimal=',', "
         "index=False) (European Excel)", ["wine_european.csv"],
         ["ce", "wine_european.csv"],
         [ok, error(3, "wine_european.csv", "decimal")], ref,
         "with ';' between fields a ',' in a number is a decimal comma: the right loss, or one "
         "error saying so; never the numbers cut at the comma")

    text = read_text("wine_pandas_noindex.csv").splitlines()
    (OUT / "wine_trailing_commas.csv").write_text(
        "\n".join([text[0] + ",,"] + [line + ",," for line in text[1:]]) + "\n"
    )
    case("trailing_empty_columns", "the plain CSV with two trailing empty columns on every line "
         "(',,' as spreadsheets export selected ranges)", ["wine_trailing_commas.csv"],
         ["ce", "wine_trailing_commas.csv"],
         [ok, error(3, "wine_trailing_commas.csv", "empty")], ref,
         "columns with an empty header and no values carry nothing: the right loss (or one error "
         "naming them)", group="wine_logits")

    pl.DataFrame({**{nm: z[:, i] for i, nm in enumerate(names)}, "label": y}).write_csv(
        OUT / "wine_polars.csv"
    )
    check_floats(csv_columns("wine_polars.csv")["class_0"], z[:, 0])
    case("polars_write_csv", "polars DataFrame.write_csv(path)", ["wine_polars.csv"],
         ["ce", "wine_polars.csv"], ok, ref, "polars' text is the same table", group="wine_logits")

    pl.DataFrame({
        "id": [f"w{i:03d}" for i in w["index"]],
        **{nm: z[:, i] for i, nm in enumerate(names)},
        "label": [names[i] for i in y],
    }).write_parquet(OUT / "wine_polars.parquet")
    case("polars_write_parquet", "polars DataFrame.write_parquet(path) with a string id column and "
         "string labels", ["wine_polars.parquet"], ["ce", "wine_polars.parquet"], ok, ref,
         "string id and label columns are not classes", group="wine_logits")

    plain.to_parquet(OUT / "wine_pandas_rangeindex.parquet")
    case("pandas_to_parquet_range_index", "pandas DataFrame.to_parquet(path) with the default "
         "RangeIndex (stored as metadata only)", ["wine_pandas_rangeindex.parquet"],
         ["ce", "wine_pandas_rangeindex.parquet"], ok, ref, "no index column in the file",
         group="wine_logits")

    plain.to_parquet(OUT / "wine_pandas_index_true.parquet", index=True)
    assert "__index_level_0__" in pq.read_schema(OUT / "wine_pandas_index_true.parquet").names
    case("pandas_to_parquet_index_true", "pandas DataFrame.to_parquet(path, index=True): the "
         "RangeIndex stored as '__index_level_0__'", ["wine_pandas_index_true.parquet"],
         ["ce", "wine_pandas_index_true.parquet"], ok, ref,
         "pandas metadata names '__index_level_0__' as the index", group="wine_logits")

    sample = frame.rename_axis("sample")
    sample.to_parquet(OUT / "wine_pandas_named_index.parquet")
    meta = json.loads(pq.read_schema(OUT / "wine_pandas_named_index.parquet").metadata[b"pandas"])
    assert meta["index_columns"] == ["sample"], meta["index_columns"]
    case("pandas_to_parquet_named_index", "pandas DataFrame.to_parquet(path) with an index named "
         "'sample' (the original row numbers of a test split)",
         ["wine_pandas_named_index.parquet"], ["ce", "wine_pandas_named_index.parquet"], ok, ref,
         "the file's pandas metadata lists 'sample' in index_columns: an index, never a class",
         group="wine_logits")

    cat = named.copy()
    cat["label"] = pd.Categorical(cat["label"], categories=names)
    cat.to_parquet(OUT / "wine_pandas_categorical.parquet")
    case("pandas_to_parquet_categorical_labels", "pandas to_parquet with labels as a Categorical "
         "(an Arrow dictionary column)", ["wine_pandas_categorical.parquet"],
         ["ce", "wine_pandas_categorical.parquet"], ok, ref,
         "dictionary-encoded string labels are string labels", group="wine_logits")

    np.save(OUT / "wine_logits.npy", z)
    np.save(OUT / "wine_labels.npy", y)
    case("numpy_save", "numpy.save of decision_function and of the labels",
         ["wine_logits.npy", "wine_labels.npy"], ["ce", "wine_logits.npy", "wine_labels.npy"],
         ok, ref, "the array case", group="wine_logits")

    np.savez(OUT / "wine_named.npz", logits=z, labels=y)
    case("numpy_savez_named", "numpy.savez(path, logits=..., labels=...)", ["wine_named.npz"],
         ["ce", "wine_named.npz"], ok, ref, "the default keys", group="wine_logits")

    np.savez_compressed(OUT / "wine_compressed.npz", logits=z, y=y)
    case("numpy_savez_compressed", "numpy.savez_compressed(path, logits=..., y=...)",
         ["wine_compressed.npz"], ["ce", "wine_compressed.npz"], ok, ref,
         "deflated members read the same", group="wine_logits")

    np.savez(OUT / "wine_positional.npz", z, y)
    case("numpy_savez_positional", "numpy.savez(path, z, y): keys arr_0 and arr_1",
         ["wine_positional.npz"],
         ["ce", "wine_positional.npz", "--preds-key", "arr_0", "--target-key", "arr_1"], ok, ref,
         "the keys given explicitly", group="wine_logits")
    case("numpy_savez_positional_no_keys", "numpy.savez(path, z, y) without key options",
         ["wine_positional.npz"], ["ce", "wine_positional.npz"],
         error(3, "wine_positional.npz", "--preds-key"), "-",
         "two arrays and none named logits: which is the predictions cannot be known; the error "
         "names --preds-key")

    np.savetxt(OUT / "wine_savetxt_logits.csv", z, delimiter=",")
    np.savetxt(OUT / "wine_savetxt_labels.txt", y, fmt="%d")
    check_floats(read_text("wine_savetxt_logits.csv").split(",")[:1], z[:1, 0])
    case("numpy_savetxt_headerless", "numpy.savetxt(path, z, delimiter=',') (no header) and "
         "savetxt of the labels (fmt='%d')",
         ["wine_savetxt_logits.csv", "wine_savetxt_labels.txt"],
         ["ce", "wine_savetxt_logits.csv", "wine_savetxt_labels.txt"],
         error(3, "wine_savetxt_logits.csv", "--no-header"), "-",
         "a first line of numbers is data, not a header: reading it as column names loses a row; "
         "the error says so and offers --no-header")
    case("numpy_savetxt_no_header", "the savetxt files with --no-header",
         ["wine_savetxt_logits.csv", "wine_savetxt_labels.txt"],
         ["ce", "wine_savetxt_logits.csv", "wine_savetxt_labels.txt", "--no-header"], ok, ref,
         "every column of a headerless logits file is a class", group="wine_logits")

    # probabilities
    want_p = log_loss(y, p, labels=[0, 1, 2])
    refp = "sklearn.metrics.log_loss(y, predict_proba)"
    okp = loss(want_p, RTOL64, c, n)
    probs = pd.DataFrame(p, columns=names)
    probs["label"] = y
    probs.to_csv(OUT / "wine_proba.csv", index=False)
    case("sklearn_predict_proba_csv", "pandas to_csv(index=False) of LogisticRegression."
         "predict_proba", ["wine_proba.csv"], ["ce", "wine_proba.csv", "--input", "probs"], okp,
         refp, "--input probs is sklearn's log_loss", group="wine_proba")
    np.save(OUT / "wine_proba.npy", p)
    case("sklearn_predict_proba_npy", "numpy.save of predict_proba",
         ["wine_proba.npy", "wine_labels.npy"],
         ["ce", "wine_proba.npy", "wine_labels.npy", "--input", "probs"], okp, refp,
         "--input probs is sklearn's log_loss", group="wine_proba")

    as_logits = ce_ref(p, y)
    case("probabilities_given_as_logits", "the predict_proba CSV without --input probs",
         ["wine_proba.csv"], ["ce", "wine_proba.csv"],
         loss(as_logits, RTOL64, c, n, stderr_words=["--input probs"]),
         "NumPy float64 log_softmax of the probabilities taken as logits",
         "every row in [0, 1] summing to 1 is almost surely probabilities: the loss asked for "
         "(softmax of them) with a warning suggesting --input probs")

    lp = w["lp"]
    want_lp = float(-lp[np.arange(n), y].mean())
    close(want_lp, want_p, 1e-9)
    np.save(OUT / "wine_log_proba.npy", lp)
    case("sklearn_predict_log_proba_nll", "numpy.save of predict_log_proba, read by nll",
         ["wine_log_proba.npy", "wine_labels.npy"],
         ["nll", "wine_log_proba.npy", "wine_labels.npy"], loss(want_lp, RTOL64, c, n),
         "NumPy: -mean(log_proba[i, y_i]) (agrees with log_loss to 1e-9)",
         "nll takes log-probabilities as they are")
    case("nll_on_logits", "decision_function logits given to nll",
         ["wine_logits.npy", "wine_labels.npy"], ["nll", "wine_logits.npy", "wine_labels.npy"],
         loss(float(-z[np.arange(n), y].mean()), RTOL64, c, n, stderr_words=["logits"]),
         "NumPy: -mean(z[i, y_i])",
         "nll computes what was asked, but rows whose log-sum-exp is far from 0 are logits: a "
         "warning saying so")

    tp = w["tree_p"]
    assert ((tp == 0) | (tp == 1)).mean() > 0.9 and (tp[np.arange(n), y] == 0).any()
    pd.DataFrame(tp, columns=names).assign(label=y).to_csv(OUT / "wine_tree_proba.csv", index=False)
    want_t = log_loss(y, tp, labels=[0, 1, 2])
    case("sklearn_tree_proba_exact_zeros", "pandas to_csv of DecisionTreeClassifier.predict_proba "
         "(pure leaves: exact 0 and 1)", ["wine_tree_proba.csv"],
         ["ce", "wine_tree_proba.csv", "--input", "probs"], loss(want_t, RTOL64, c, n), refp,
         "sklearn clips probabilities to [eps, 1 - eps] of the dtype: a wrong row costs "
         "-log(2.2e-16) = 36.04, not -log(tiny) = 708.4")

    sw = 1.0 + (np.arange(n) % 4)
    probs.assign(weight=sw).to_csv(OUT / "wine_proba_sample_weight.csv", index=False)
    case("sklearn_sample_weight", "predict_proba with a per-sample weight column",
         ["wine_proba_sample_weight.csv"],
         ["ce", "wine_proba_sample_weight.csv", "--input", "probs", "--sample-weight-col",
          "weight"], loss(log_loss(y, p, sample_weight=sw, labels=[0, 1, 2]), RTOL64, c, n),
         "sklearn.metrics.log_loss(y, predict_proba, sample_weight=weight)",
         "--sample-weight-col is sklearn's sample_weight")

    # pandas JSON lines and Feather
    plain.to_json(OUT / "wine_pandas.jsonl", orient="records", lines=True)
    recs = [json.loads(line) for line in read_text("wine_pandas.jsonl").splitlines()]
    zj = np.array([[r[nm] for nm in names] for r in recs])
    case("pandas_to_json_lines", "pandas DataFrame.to_json(path, orient='records', lines=True) "
         "(pandas rounds to 10 significant digits by default)", ["wine_pandas.jsonl"],
         ["ce", "wine_pandas.jsonl"], loss(ce_ref(zj, y), RTOL64, c, n),
         "NumPy float64 log_softmax of the values as Python's json module reads them back",
         "DESIGN lists .jsonl: records with one key per class")
    plain.to_feather(OUT / "wine_pandas.feather")
    case("pandas_to_feather", "pandas DataFrame.to_feather(path)", ["wine_pandas.feather"],
         ["ce", "wine_pandas.feather"], ok, ref, "DESIGN lists .feather (Arrow IPC)",
         group="wine_logits")

    # Parquet with a column of another type among the logits
    dec = frame.reset_index(drop=True).copy()
    dec["class_1"] = [Decimal(f"{v:.6f}") for v in z[:, 1]]
    dec.to_parquet(OUT / "wine_decimal_column.parquet")
    assert pa.types.is_decimal(pq.read_schema(OUT / "wine_decimal_column.parquet").field("class_1").type)
    zd = z.copy()
    zd[:, 1] = [float(f"{v:.6f}") for v in z[:, 1]]
    case("parquet_decimal_logit_column", "pandas to_parquet of a frame whose class_1 column holds "
         "decimal.Decimal values (6 places): an Arrow decimal128 column",
         ["wine_decimal_column.parquet"], ["ce", "wine_decimal_column.parquet"],
         [loss(ce_ref(zd, y), RTOL64, c, n), error(3, "class_1")],
         "NumPy float64 log_softmax with class_1 rounded to 6 places (the decimals written)",
         "a decimal column is a number: read as a class, or refused by name; never dropped (the "
         "loss over two classes)")

    extra = plain.copy()
    extra["correct"] = z.argmax(axis=1) == y
    extra["scored_at"] = pd.Timestamp("2026-01-01") + pd.to_timedelta(np.arange(n), unit="s")
    extra.to_parquet(OUT / "wine_bool_timestamp_columns.parquet")
    case("parquet_bool_timestamp_columns", "pandas to_parquet of the plain frame plus a bool "
         "'correct' and a timestamp 'scored_at' column", ["wine_bool_timestamp_columns.parquet"],
         ["ce", "wine_bool_timestamp_columns.parquet"],
         [ok, error(3, "correct"), error(3, "scored_at")], ref,
         "bool and timestamp columns are not logits: excluded (3 classes) or refused by name")

    # compare: the same logits with the columns in another order
    frame_b = plain[[names[i] for i in order] + ["label"]]
    frame_b.to_csv(OUT / "wine_pandas_noindex_reordered.csv", index=False)
    case("compare_reordered_columns", "compare of the plain file with the same frame written with "
         "the class columns in another order",
         ["wine_pandas_noindex.csv", "wine_pandas_noindex_reordered.csv"],
         ["compare", "wine_pandas_noindex.csv", "wine_pandas_noindex_reordered.csv"],
         {"delta": 0.0, "a_loss": want, "b_loss": want, "rtol": RTOL64},
         ref, "classes are aligned by name: the same predictions give delta 0 exactly")


def wine_f32_cases(w: dict[str, Any]) -> None:
    names, y = w["names"], w["y"]
    z32 = w["z"].astype(np.float32)
    n, c = z32.shape
    ok = loss(ce_ref(z32, y), RTOL32, c, n)
    ref = "NumPy float64 log_softmax of the float32 logits (float32 tolerance)"
    np.save(OUT / "wine_logits_f32.npy", z32)
    case("numpy_save_float32", "numpy.save of float32 logits", ["wine_logits_f32.npy",
         "wine_labels.npy"], ["ce", "wine_logits_f32.npy", "wine_labels.npy"], ok, ref,
         "float32 arrays are computed in float32", group="wine_logits_f32")
    f32 = pd.DataFrame(z32, columns=names)
    f32["label"] = y
    f32.to_csv(OUT / "wine_pandas_f32.csv", index=False)
    cells = csv_columns("wine_pandas_f32.csv")["class_0"]
    assert any(len(s.split(".")[-1]) <= 8 for s in cells), "pandas writes float32 shortest"
    check_floats(cells, z32[:, 0])  # the text parses back to the float32s
    case("pandas_to_csv_float32", "pandas to_csv(index=False) of a float32 frame: shortest "
         "float32 text such as 0.6286511", ["wine_pandas_f32.csv"], ["ce", "wine_pandas_f32.csv"],
         ok, ref, "the README says a CSV written from float32 gives the NPY's number; the group "
         "test holds it to that, bit for bit", group="wine_logits_f32")
    f32.to_parquet(OUT / "wine_pandas_f32.parquet")
    case("pandas_to_parquet_float32", "pandas to_parquet of a float32 frame",
         ["wine_pandas_f32.parquet"], ["ce", "wine_pandas_f32.parquet"], ok, ref,
         "float32 columns stay float32", group="wine_logits_f32")


def iris_cases(ir: dict[str, Any]) -> None:
    names, z, y = ir["names"], ir["z"], ir["y"]
    n, c = z.shape
    # R's write.csv: 15 significant digits, quoted strings and header, row names "1".."N"
    zr = np.array([[float(f"{v:.15g}") for v in row] for row in z])
    lines = ['"",' + ",".join(f'"{nm}"' for nm in names) + ',"label"']
    for i in range(n):
        cells = [f"{v:.15g}" for v in zr[i]]
        lines.append(f'"{i + 1}",' + ",".join(cells) + f',"{names[y[i]]}"')
    (OUT / "iris_r_write_csv.csv").write_text("\n".join(lines) + "\n")
    check_floats(csv_columns("iris_r_write_csv.csv")["versicolor"], zr[:, 1])
    ok = loss(ce_ref(zr, y), RTOL64, c, n)
    ref = "NumPy float64 log_softmax of the logits rounded to R's 15 significant digits"
    case("r_write_csv_row_names", "R write.csv(df, path) by hand: a quoted \"\" first header cell, "
         "quoted row names \"1\"..\"N\", quoted string labels, 15 significant digits",
         ["iris_r_write_csv.csv"], ["ce", "iris_r_write_csv.csv"], ok, ref,
         "R's row names (the \"\" column, 1..N) are an index, never a class")

    bad_row = 7
    lines_na = list(lines)
    lines_na[bad_row] = lines_na[bad_row].rsplit(",", 1)[0] + ",NA"
    (OUT / "iris_r_na_label.csv").write_text("\n".join(lines_na) + "\n")
    case("r_write_csv_na_label", "the R file with NA (R's missing value) as one label",
         ["iris_r_na_label.csv"], ["ce", "iris_r_na_label.csv"],
         error(3, "iris_r_na_label.csv", "label", f"row {bad_row}"), "-",
         f"a missing label cannot be scored: an error naming the column and data row {bad_row} "
         "(or a documented rule; never a label 0)")

    cells = lines[bad_row].split(",")
    cells[2] = "NA"
    lines_nl = list(lines)
    lines_nl[bad_row] = ",".join(cells)
    (OUT / "iris_r_na_logit.csv").write_text("\n".join(lines_nl) + "\n")
    case("r_write_csv_na_logit", "the R file with NA as one versicolor logit",
         ["iris_r_na_logit.csv"], ["ce", "iris_r_na_logit.csv"],
         error(3, "iris_r_na_logit.csv", "versicolor", f"row {bad_row}"), "-",
         "a missing logit in a counted row cannot be scored: an error naming the column and row")

    # class columns named 1, 2, 3 and integer labels 1..3 (sklearn reads labels as class names)
    y1 = y + 1
    one = pd.DataFrame(z, columns=["1", "2", "3"])
    one["label"] = y1
    one.to_csv(OUT / "iris_classes_named_123.csv", index=False)
    want = ce_ref(z, y)
    close(want, log_loss(y1, ir["p"], labels=[1, 2, 3]), 1e-9)
    case("classes_named_123_int_labels", "pandas to_csv(index=False): class columns named 1, 2, 3 "
         "and integer labels 1..3", ["iris_classes_named_123.csv"],
         ["ce", "iris_classes_named_123.csv"], loss(want, RTOL64, c, n),
         "NumPy float64 log_softmax, label k matched to the column named k (= sklearn's log_loss "
         "with labels=[1, 2, 3])",
         "labels that can be read both as names and as positions are matched by name, as sklearn "
         "does (or refused with the option that settles it)")
    sub = y1 != 3
    one[sub].to_csv(OUT / "iris_classes_named_123_labels_12.csv", index=False)
    want12 = ce_ref(z[sub], y[sub])
    close(want12, log_loss(y1[sub], ir["p"][sub], labels=[1, 2, 3]), 1e-9)
    case("classes_named_123_labels_only_1_2", "the same with only the rows labelled 1 and 2",
         ["iris_classes_named_123_labels_12.csv"],
         ["ce", "iris_classes_named_123_labels_12.csv"],
         [loss(want12, RTOL64, c, int(sub.sum())), error([2, 3], "label", "1")],
         "NumPy float64 log_softmax, label k matched to the column named k",
         "read as positions every label is in range and the loss is silently wrong; by name (as "
         "sklearn) it is right; a refusal naming the ambiguity is acceptable, a wrong number not")
    zero = pd.DataFrame(z, columns=["0", "1", "2"])
    zero["label"] = y
    zero.to_csv(OUT / "iris_classes_named_012.csv", index=False)
    case("classes_named_012_int_labels", "pandas to_csv(index=False): class columns named 0, 1, 2 "
         "and labels 0..2", ["iris_classes_named_012.csv"], ["ce", "iris_classes_named_012.csv"],
         loss(want, RTOL64, c, n), "NumPy float64 log_softmax",
         "names and positions agree: no ambiguity")


def cancer_cases(bc: dict[str, Any]) -> None:
    d, p, y = bc["d"], bc["p"], bc["y"]
    n = len(y)
    want_b = bce_ref(d, y)
    close(want_b, log_loss(y, p[:, 1]), 1e-9)  # BCE of the score is log_loss of sigmoid(score)
    pd.DataFrame({"score": d, "label": y}).to_csv(OUT / "cancer_scores.csv", index=False)
    case("sklearn_binary_decision_function_bce", "pandas to_csv of LogisticRegression."
         "decision_function on breast_cancer (one score column, 0/1 labels)",
         ["cancer_scores.csv"], ["bce", "cancer_scores.csv"], loss(want_b, RTOL64, 1, n, count="labels"),
         "NumPy: mean(logaddexp(0, -s) + (1 - y) s) (agrees with log_loss of predict_proba)",
         "one score column and 0/1 labels is bce's input")
    case("binary_scores_given_to_ce", "the score file given to ce", ["cancer_scores.csv"],
         ["ce", "cancer_scores.csv"], error([2, 3], "cancer_scores.csv", "bce"), "-",
         "softmax over one column is always 1 (loss 0): an error suggesting bce")

    pd.DataFrame({"p1": p[:, 1], "label": y}).to_csv(OUT / "cancer_proba1.csv", index=False)
    want_p1 = log_loss(y, p[:, 1])
    case("sklearn_binary_positive_column_probs", "pandas to_csv of predict_proba[:, 1] (the "
         "positive class's probability) with 0/1 labels", ["cancer_proba1.csv"],
         ["ce", "cancer_proba1.csv", "--input", "probs"], loss(want_p1, RTOL64, 2, n),
         "sklearn.metrics.log_loss(y, predict_proba[:, 1])",
         "sklearn's binary form: one column of positive-class probabilities is read as the two "
         "classes (1 - p, p)")
    case("bce_probs_positive_column", "the same file to bce --input probs", ["cancer_proba1.csv"],
         ["bce", "cancer_proba1.csv", "--input", "probs"],
         loss(bce_probs_ref(p[:, 1], y), RTOL64, 1, n, count="labels"),
         "NumPy: torch BCELoss formula, logs clamped at -100", "bce --input probs is BCELoss")
    np.save(OUT / "cancer_proba.npy", p)
    np.save(OUT / "cancer_labels.npy", y)
    case("sklearn_binary_predict_proba_two_columns", "numpy.save of predict_proba (N, 2)",
         ["cancer_proba.npy", "cancer_labels.npy"],
         ["ce", "cancer_proba.npy", "cancer_labels.npy", "--input", "probs"],
         loss(log_loss(y, p), RTOL64, 2, n), "sklearn.metrics.log_loss(y, predict_proba)",
         "two columns, two classes")


def multilabel_cases(ml: dict[str, Any]) -> None:
    z, t, names = ml["z"], ml["t"], ml["names"]
    n, c = z.shape
    np.save(OUT / "multilabel_logits.npy", z)
    np.save(OUT / "multilabel_targets.npy", t)
    ref = "NumPy: mean over all elements of (1 - t) x + (1 + (pw - 1) t) log(1 + exp(-x))"
    want = bce_ref(z, t)
    case("multilabel_bce_npy", "numpy.save of OneVsRestClassifier(LogisticRegression)."
         "decision_function (N, 4) and the 0/1 label matrix",
         ["multilabel_logits.npy", "multilabel_targets.npy"],
         ["bce", "multilabel_logits.npy", "multilabel_targets.npy"],
         loss(want, RTOL64, c, n * c, count="labels"), ref, "multi-label: one logit and one 0/1 target per label")
    frame = pd.DataFrame(z, columns=[f"logit_{nm}" for nm in names])
    for i, nm in enumerate(names):
        frame[f"is_{nm}"] = t[:, i]
    frame.to_csv(OUT / "multilabel.csv", index=False)
    tcols = ",".join(f"is_{nm}" for nm in names)
    case("multilabel_bce_csv", "pandas to_csv(index=False) of logit_* and is_* columns",
         ["multilabel.csv"],
         ["bce", "multilabel.csv", "--logit-cols", "logit_*", "--target-cols", tcols],
         loss(want, RTOL64, c, n * c, count="labels"), ref, "the same data as a table")
    pw = np.array([1.0, 2.0, 3.0, 4.0])
    case("multilabel_bce_pos_weight", "the NPY pair with --pos-weight 1,2,3,4",
         ["multilabel_logits.npy", "multilabel_targets.npy"],
         ["bce", "multilabel_logits.npy", "multilabel_targets.npy", "--pos-weight", "1,2,3,4"],
         loss(bce_ref(z, t, pw), RTOL64, c, n * c, count="labels"), ref, "torch's pos_weight, per label")


def sequence_cases() -> None:
    rng = np.random.default_rng(SEED)
    b, tt, v = 4, 9, 12
    z = (rng.normal(size=(b, tt, v)) * 2).astype(np.float32)
    y = rng.integers(0, v, size=(b, tt))
    y[1, 6:] = -100  # padding
    y[3, 4:] = -100
    np.save(OUT / "seq_logits_btv.npy", z)
    np.save(OUT / "seq_tokens_bt.npy", y)
    case("btv_class_axis_last", "numpy.save of (batch, seq, vocab) float32 logits and (batch, "
         "seq) token ids padded with -100", ["seq_logits_btv.npy", "seq_tokens_bt.npy"],
         ["ce", "seq_logits_btv.npy", "seq_tokens_bt.npy", "--class-axis", "-1"],
         loss(ce_ref(z, y, axis=-1), RTOL32, v, b * tt),
         "NumPy float64 log_softmax over the last axis of the float32 logits, -100 ignored",
         "language-model layout with --class-axis -1")
    case("btv_without_class_axis", "the same files without --class-axis",
         ["seq_logits_btv.npy", "seq_tokens_bt.npy"],
         ["ce", "seq_logits_btv.npy", "seq_tokens_bt.npy"],
         error(3, "--class-axis"), "-",
         "with the class axis at 1 the targets' shape (4, 9) does not fit (4, 12): a shape error "
         "that names --class-axis -1")



def wine_more_cases(w: dict[str, Any]) -> None:
    """More writers and layouts of the wine predictions, stdin, and options read from files."""
    names, z, y = w["names"], w["z"], w["y"]
    n, c = z.shape
    want = ce_ref(z, y)
    ref = "NumPy float64 log_softmax of LogisticRegression.decision_function (wine test half)"
    ok = loss(want, RTOL64, c, n)
    frame = pd.DataFrame(z, columns=names, index=w["index"])
    frame["label"] = y
    plain = frame.reset_index(drop=True)

    frame.rename_axis("sample").to_csv(OUT / "wine_pandas_named_index.csv")
    assert read_text("wine_pandas_named_index.csv").startswith("sample,class_0,")
    case("pandas_to_csv_named_index", "pandas DataFrame.to_csv(path) of a frame whose index is "
         "named 'sample' (original row numbers of a test split): the CSV header says 'sample', "
         "nothing says it was an index", ["wine_pandas_named_index.csv"],
         ["ce", "wine_pandas_named_index.csv"],
         [error(3, "sample", "--logit-cols"), error(3, "sample", "--id-col"),
          loss(want, RTOL64, c, n, stderr_words=["sample"])], ref,
         "an integer column that is not 0..N-1 and has no role cannot be placed by evidence: an "
         "error naming it and the option that settles it, or (less good) excluded with a warning "
         "naming it; never a fourth class")

    mi = frame.copy()
    mi.index = pd.MultiIndex.from_arrays([["lr"] * n, w["index"]], names=["model", "sample"])
    mi.to_parquet(OUT / "wine_pandas_multiindex.parquet")
    meta = json.loads(pq.read_schema(OUT / "wine_pandas_multiindex.parquet").metadata[b"pandas"])
    assert meta["index_columns"] == ["model", "sample"], meta["index_columns"]
    case("pandas_to_parquet_multiindex", "pandas to_parquet of a frame with a MultiIndex "
         "(model, sample)", ["wine_pandas_multiindex.parquet"],
         ["ce", "wine_pandas_multiindex.parquet"], ok, ref,
         "the pandas metadata lists both index levels: neither is a class", group="wine_logits")

    flt = plain.copy()
    flt["label"] = y.astype(np.float64)
    flt.to_csv(OUT / "wine_pandas_float_labels.csv", index=False)
    assert csv_columns("wine_pandas_float_labels.csv")["label"][0].endswith(".0")
    case("pandas_float_labels", "pandas to_csv of labels that became float64 (0.0, 1.0, 2.0: "
         "what a merge or a NaN on the way leaves)", ["wine_pandas_float_labels.csv"],
         ["ce", "wine_pandas_float_labels.csv"], ok, ref,
         "integer-valued floats are class indices", group="wine_logits")
    bad_row = 11
    nan = flt.copy()
    nan.loc[bad_row - 1, "label"] = np.nan
    nan.to_csv(OUT / "wine_pandas_nan_label.csv", index=False)
    case("pandas_nan_label", "pandas to_csv of float labels with one NaN (written as an empty "
         "cell)", ["wine_pandas_nan_label.csv"], ["ce", "wine_pandas_nan_label.csv"],
         error(3, "wine_pandas_nan_label.csv", "label", f"row {bad_row}"), "-",
         f"a missing label cannot be scored: an error naming the column and data row {bad_row}")

    pd.DataFrame({"logits": list(z), "label": y}).to_parquet(OUT / "wine_pandas_list.parquet")
    assert pa.types.is_list(pq.read_schema(OUT / "wine_pandas_list.parquet").field("logits").type)
    case("pandas_to_parquet_list_column", "pandas to_parquet of a column of NumPy arrays (one "
         "logit vector per row): an Arrow list<double> column", ["wine_pandas_list.parquet"],
         ["ce", "wine_pandas_list.parquet"], ok, ref, "a list column holds each row's logits",
         group="wine_logits")

    pl.DataFrame({"logits": z, "label": y}).write_parquet(OUT / "wine_polars_array.parquet")
    typ = pq.read_schema(OUT / "wine_polars_array.parquet").field("logits").type
    assert pa.types.is_fixed_size_list(typ) or pa.types.is_list(typ), typ
    case("polars_array_column_parquet", "polars DataFrame({'logits': 2-D array}).write_parquet: "
         "a polars Array column", ["wine_polars_array.parquet"],
         ["ce", "wine_polars_array.parquet"], ok, ref, "an array column holds each row's logits",
         group="wine_logits")

    pl_frame = pl.DataFrame({**{nm: z[:, i] for i, nm in enumerate(names)}, "label": y})
    pl_frame.write_ipc(OUT / "wine_polars.arrow")
    case("polars_write_ipc", "polars DataFrame.write_ipc('x.arrow')", ["wine_polars.arrow"],
         ["ce", "wine_polars.arrow"], ok, ref, "DESIGN lists .arrow (Arrow IPC)",
         group="wine_logits")
    pl_frame.write_ndjson(OUT / "wine_polars.jsonl")
    recs = [json.loads(line) for line in read_text("wine_polars.jsonl").splitlines()]
    assert np.array_equal(np.array([[r[nm] for nm in names] for r in recs]), z)
    case("polars_write_ndjson", "polars DataFrame.write_ndjson('x.jsonl') (full precision)",
         ["wine_polars.jsonl"], ["ce", "wine_polars.jsonl"], ok, ref,
         "DESIGN lists .jsonl: records with one key per class", group="wine_logits")

    pd.DataFrame(z, columns=names).to_csv(OUT / "wine_logits_only.csv", index=False)
    case("labels_in_a_txt_file", "pandas to_csv of the logit columns alone, labels from "
         "numpy.savetxt(fmt='%d')", ["wine_logits_only.csv", "wine_savetxt_labels.txt"],
         ["ce", "wine_logits_only.csv", "wine_savetxt_labels.txt"], ok, ref,
         "TARGETS as a .txt file, one label per line", group="wine_logits")

    # stdin: the same files piped in
    case("stdin_csv", "cat wine_pandas_noindex.csv | cecli ce -", ["wine_pandas_noindex.csv"],
         ["ce", "-"], ok, ref, "stdin is sniffed: text is CSV", group="wine_logits",
         stdin="wine_pandas_noindex.csv")
    case("stdin_npy_preds", "cat wine_logits.npy | cecli ce - wine_labels.npy",
         ["wine_logits.npy", "wine_labels.npy"], ["ce", "-", "wine_labels.npy"], ok, ref,
         "stdin is sniffed: the NPY magic bytes mean NPY", group="wine_logits",
         stdin="wine_logits.npy")
    case("stdin_parquet", "cat wine_pandas_rangeindex.parquet | cecli ce -",
         ["wine_pandas_rangeindex.parquet"], ["ce", "-"], ok, ref,
         "stdin is sniffed: PAR1 means Parquet", group="wine_logits",
         stdin="wine_pandas_rangeindex.parquet")
    case("stdin_labels_txt", "cat wine_savetxt_labels.txt | cecli ce wine_logits_only.csv -",
         ["wine_logits_only.csv", "wine_savetxt_labels.txt"],
         ["ce", "wine_logits_only.csv", "-"], ok, ref,
         "labels on stdin, one per line (the issue: this must work)", group="wine_logits",
         stdin="wine_savetxt_labels.txt")

    # options read from files
    cw = compute_class_weight("balanced", classes=np.arange(c), y=y)
    np.savetxt(OUT / "wine_class_weight.txt", cw)
    lp = log_softmax64(z)
    want_w = float(-(cw[y] * lp[np.arange(n), y]).sum() / cw[y].sum())
    case("class_weight_file", "numpy.savetxt of sklearn compute_class_weight('balanced'), given "
         "as --weight FILE", ["wine_logits.npy", "wine_labels.npy", "wine_class_weight.txt"],
         ["ce", "wine_logits.npy", "wine_labels.npy", "--weight", "wine_class_weight.txt"],
         loss(want_w, RTOL64, c, n),
         "NumPy: sum_i w[y_i] * -lp[i, y_i] / sum_i w[y_i] (torch's weighted mean)",
         "--weight reads a file of C values")

    teacher = DecisionTreeClassifier(max_depth=2, random_state=0).fit(
        *load_wine(return_X_y=True)
    ).predict_proba(load_wine().data[w["index"]])
    np.save(OUT / "wine_soft_targets.npy", teacher)
    case("numpy_soft_targets", "numpy.save of a teacher's predict_proba (N, 3) as soft targets",
         ["wine_logits.npy", "wine_soft_targets.npy"],
         ["ce", "wine_logits.npy", "wine_soft_targets.npy"],
         loss(float(-(teacher * lp).sum(axis=1).mean()), RTOL64, c, n),
         "NumPy: mean_i -sum_c t[i, c] lp[i, c]",
         "targets of the predictions' shape are probabilities (torch's rule)")

    z16 = z.astype(np.float16)
    np.save(OUT / "wine_logits_f16.npy", z16)
    case("numpy_save_float16", "numpy.save of float16 logits (a half-precision model's output)",
         ["wine_logits_f16.npy", "wine_labels.npy"],
         ["ce", "wine_logits_f16.npy", "wine_labels.npy"], loss(ce_ref(z16, y), RTOL32, c, n),
         "NumPy float64 log_softmax of the float16 values (cecli upcasts to float32)",
         "float16 is read and computed in float32")

    tp32 = w["tree_p"].astype(np.float32)
    np.save(OUT / "wine_tree_proba_f32.npy", tp32)
    case("sklearn_tree_proba_float32", "numpy.save of DecisionTreeClassifier.predict_proba cast "
         "to float32 (exact 0 and 1)", ["wine_tree_proba_f32.npy", "wine_labels.npy"],
         ["ce", "wine_tree_proba_f32.npy", "wine_labels.npy", "--input", "probs"],
         loss(log_loss(y, tp32, labels=[0, 1, 2]), RTOL32, c, n),
         "sklearn.metrics.log_loss(y, float32 predict_proba)",
         "sklearn clips to [eps, 1 - eps] of the input's dtype: float32's eps, -log = 15.94 per "
         "wrong row")

    # R's write.table(df, sep='\t', quote=FALSE): the header has no cell over the row names
    ir_lines = ["\t".join([*names, "label"])]
    zr = np.array([[float(f"{v:.15g}") for v in row] for row in z])
    for i in range(n):
        ir_lines.append("\t".join([str(w["index"][i] + 1), *(f"{v:.15g}" for v in zr[i]),
                                   names[y[i]]]))
    (OUT / "wine_r_write_table.tsv").write_text("\n".join(ir_lines) + "\n")
    case("r_write_table_tsv", "R write.table(df, path, sep='\\t', quote=FALSE) by hand: row "
         "names first on every row, but no header cell over them (R's default col.names=TRUE)",
         ["wine_r_write_table.tsv"], ["ce", "wine_r_write_table.tsv"],
         [loss(ce_ref(zr, y), RTOL64, c, n),
          error(3, "wine_r_write_table.tsv", "row names")],
         "NumPy float64 log_softmax of the logits rounded to R's 15 significant digits",
         "a header one field shorter than the rows is R's row-names layout (pandas reads the "
         "first field as the index): the right loss, or an error that says so")


def f32_more_cases(w: dict[str, Any]) -> None:
    names, y = w["names"], w["y"]
    z32 = w["z"].astype(np.float32)
    n, c = z32.shape
    ok = loss(ce_ref(z32, y), RTOL32, c, n)
    ref = "NumPy float64 log_softmax of the float32 logits (float32 tolerance)"
    pl.DataFrame({**{nm: z32[:, i] for i, nm in enumerate(names)}, "label": y}).write_csv(
        OUT / "wine_polars_f32.csv"
    )
    check_floats(csv_columns("wine_polars_f32.csv")["class_1"], z32[:, 1])
    case("polars_write_csv_float32", "polars write_csv of Float32 columns",
         ["wine_polars_f32.csv"], ["ce", "wine_polars_f32.csv"], ok, ref,
         "float32 text from polars: the NPY's number, bit for bit (README)",
         group="wine_logits_f32")
    np.savetxt(OUT / "wine_savetxt_f32.csv", z32, delimiter=",", header=",".join(names),
               comments="")
    check_floats(csv_columns("wine_savetxt_f32.csv")["class_2"], z32[:, 2])
    case("numpy_savetxt_float32_header", "numpy.savetxt(path, float32 array, delimiter=',', "
         "header='class_0,...', comments='') (%.18e of each float32), labels from a .txt",
         ["wine_savetxt_f32.csv", "wine_savetxt_labels.txt"],
         ["ce", "wine_savetxt_f32.csv", "wine_savetxt_labels.txt"], ok, ref,
         "every value is a float32 written exactly: the NPY's number, bit for bit (README)",
         group="wine_logits_f32")


def cancer_more_cases(bc: dict[str, Any]) -> None:
    p, y = bc["p"], bc["y"]
    np.save(OUT / "cancer_proba1.npy", p[:, 1])
    case("sklearn_binary_positive_column_npy", "numpy.save of predict_proba[:, 1] (N,) with the "
         "0/1 labels", ["cancer_proba1.npy", "cancer_labels.npy"],
         ["ce", "cancer_proba1.npy", "cancer_labels.npy", "--input", "probs"],
         loss(log_loss(y, p[:, 1]), RTOL64, 2, len(y)),
         "sklearn.metrics.log_loss(y, predict_proba[:, 1])",
         "sklearn's binary form from an array: (N,) positive-class probabilities and 0/1 labels")


def role_evidence_cases(w: dict[str, Any], ir: dict[str, Any]) -> None:
    """Columns whose role only their name or values tell: what pandas / R users leave in."""
    names, z, y = w["names"], w["z"], w["y"]
    n, c = z.shape
    want = ce_ref(z, y)
    ref = "NumPy float64 log_softmax of LogisticRegression.decision_function (wine test half)"
    ok = loss(want, RTOL64, c, n)

    x = pd.DataFrame(z, columns=names)
    x.insert(0, "X", np.arange(1, n + 1))
    x["label"] = y
    x.to_csv(OUT / "wine_r_roundtrip_X.csv", index=False)
    case("r_read_write_roundtrip_X_column", "R write.csv, read.csv, write.csv(row.names=FALSE) "
         "(written with pandas): the old row names come back as an integer column 'X', 1..N",
         ["wine_r_roundtrip_X.csv"], ["ce", "wine_r_roundtrip_X.csv"],
         [ok, error(3, "X", "--logit-cols")], ref,
         "an integer 1..N column is row numbers: excluded (a warning is fine) or refused naming "
         "it; never a fourth class", group="wine_logits")

    sw = pd.DataFrame(z, columns=names)
    sw["label"] = y
    sw["sample_weight"] = 1.0 + (np.arange(n) % 3)
    sw.to_csv(OUT / "wine_sample_weight_column.csv", index=False)
    weights = sw["sample_weight"].to_numpy()
    lp = log_softmax64(z)[np.arange(n), y]
    weighted = float(-(weights * lp).sum() / weights.sum())
    case("sample_weight_column_undeclared", "pandas to_csv of an evaluation frame that keeps "
         "sklearn's 'sample_weight' column (float), without --sample-weight-col",
         ["wine_sample_weight_column.csv"], ["ce", "wine_sample_weight_column.csv"],
         [error(3, "sample_weight"), loss(want, RTOL64, c, n, stderr_words=["sample_weight"]),
          loss(weighted, RTOL64, c, n, stderr_words=["sample_weight"])],
         "NumPy: the unweighted loss, or the weighted one sum w_i l_i / sum w_i",
         "a float column named sample_weight is evidently not a class: refused by name, or used "
         "as one of the two losses with a warning naming it; never a fourth class")
    case("sample_weight_column_declared", "the same file with --sample-weight-col sample_weight",
         ["wine_sample_weight_column.csv"],
         ["ce", "wine_sample_weight_column.csv", "--sample-weight-col", "sample_weight"],
         loss(weighted, RTOL64, c, n), "NumPy: sum_i w_i * -lp[i, y_i] / sum_i w_i",
         "the declared weight column weights the rows and is not a class")

    q = pd.DataFrame(np.round(z * 10).astype(np.int64), columns=names)
    q["label"] = y
    q.to_csv(OUT / "wine_integer_logits.csv", index=False)
    case("integer_logits", "pandas to_csv of logits quantized to integers (round(10 z)): every "
         "class column is an integer column", ["wine_integer_logits.csv"],
         ["ce", "wine_integer_logits.csv"],
         loss(ce_ref(q[names].to_numpy(), y), RTOL64, c, n),
         "NumPy float64 log_softmax of the integer logits",
         "when every prediction column is an integer column they are the classes (none is an "
         "index: no 0..N-1 sequence, no index name)")

    pre = pd.DataFrame(z, columns=[f"logit_{nm}" for nm in names])
    pre["label"] = [names[i] for i in y]
    pre.to_csv(OUT / "wine_prefixed_columns.csv", index=False)
    case("prefixed_columns_string_labels", "pandas to_csv with columns logit_class_0.. and "
         "string labels class_0..", ["wine_prefixed_columns.csv"],
         ["ce", "wine_prefixed_columns.csv"], ok, ref,
         "the README: string labels match the column names with a shared prefix such as "
         "'logit_' stripped (here the names themselves share 'class_', which must stay)")
    zi, yi, inames = ir["z"], ir["y"], ir["names"]
    ipre = pd.DataFrame(zi, columns=[f"logit_{nm}" for nm in inames])
    ipre["label"] = [inames[i] for i in yi]
    ipre.to_csv(OUT / "iris_prefixed_columns.csv", index=False)
    case("prefixed_columns_string_labels_iris", "pandas to_csv with columns logit_setosa.. and "
         "string labels setosa..", ["iris_prefixed_columns.csv"],
         ["ce", "iris_prefixed_columns.csv"], loss(ce_ref(zi, yi), RTOL64, 3, len(yi)),
         "NumPy float64 log_softmax", "the README's 'logit_' prefix, stripped to match the labels")

def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    old: dict[str, Any] = {}
    if (OUT / "cases.json").exists():
        old = json.loads((OUT / "cases.json").read_text())
    for f in OUT.iterdir():
        if f.name != "cases.json":
            f.unlink()
    wine = wine_model()
    wine_cases(wine)
    wine_f32_cases(wine)
    wine_more_cases(wine)
    f32_more_cases(wine)
    iris = iris_model()
    iris_cases(iris)
    role_evidence_cases(wine, iris)
    cancer = cancer_model()
    cancer_cases(cancer)
    cancer_more_cases(cancer)
    multilabel_cases(multilabel_model())
    sequence_cases()

    marks = {c["id"]: c for c in old.get("cases", [])}
    for c in CASES:
        for key in ("known_bad", "known_bad_group"):
            if key in marks.get(c["id"], {}):
                c[key] = marks[c["id"]][key]
    manifest = {
        "about": "Files as other tools write them; see scripts/make_corpus.py for the format.",
        "written_with": {
            "numpy": np.__version__, "pandas": pd.__version__, "polars": pl.__version__,
            "pyarrow": pa.__version__, "scikit-learn": sklearn.__version__,
        },
        "groups": GROUPS,
        "cases": CASES,
    }
    (OUT / "cases.json").write_text(json.dumps(manifest, indent=1) + "\n")
    size = sum(f.stat().st_size for f in OUT.iterdir())
    print(f"{len(CASES)} cases, {len(list(OUT.iterdir()))} files, {size / 1024:.0f} KiB in {OUT}")
    assert size < 1_000_000


if __name__ == "__main__":
    main()
