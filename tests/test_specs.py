"""The specs validate their options once, with the error that names the option."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cecli.accumulate import DEFAULT_BOOTSTRAP, MAX_ECE_BINS, MAX_REPLICATES, Measures
from cecli.api import Engine, OutputSpec, RunSpec
from cecli.core import (
    DEFAULT_IGNORE_INDEX,
    InputKind,
    LossSpec,
    Nonfinite,
    Reduction,
    TargetKind,
)
from cecli.errors import UsageError


def test_choices_are_their_values() -> None:
    assert Reduction.MEAN == "mean"
    assert f"{InputKind.LOGPROBS}" == "logprobs"
    assert str(TargetKind.PROBS) == "probs"
    assert [m.value for m in Nonfinite] == ["error", "propagate"]
    assert [m.value for m in Engine] == ["local", "dask"]


def test_loss_spec_defaults_are_torchs() -> None:
    spec = LossSpec()
    assert spec.ignore_index == DEFAULT_IGNORE_INDEX == -100
    assert spec.reduction is Reduction.MEAN
    assert spec.input is InputKind.LOGITS
    assert spec.targets is TargetKind.AUTO
    assert spec.nonfinite is Nonfinite.PROPAGATE
    assert spec.weight is None and spec.label_smoothing == 0.0


def test_loss_spec_takes_strings_and_stores_members() -> None:
    spec = LossSpec(kind="nll", input="logprobs", targets="index", reduction="sum", nonfinite="error")
    assert spec.input is InputKind.LOGPROBS
    assert spec.targets is TargetKind.INDEX
    assert spec.reduction is Reduction.SUM
    assert spec.nonfinite is Nonfinite.ERROR


def test_loss_spec_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        LossSpec().ignore_index = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"reduction": "avg"}, "--reduction must be one of mean, sum, none"),
        ({"input": "scores"}, "--input must be one of logits, probs, logprobs"),
        ({"targets": "soft"}, "--targets must be one of auto, index, probs"),
        ({"nonfinite": "ignore"}, "--nonfinite must be one of error, propagate"),
        ({"label_smoothing": 1.5}, "--label-smoothing must be in [0, 1]"),
        ({"label_smoothing": -0.1}, "--label-smoothing must be in [0, 1]"),
        ({"label_smoothing": float("nan")}, "--label-smoothing must be in [0, 1]"),
        ({"weight": [1.0, float("inf")]}, "--weight values must be finite"),
        ({"weight": [1.0, -2.0]}, "--weight values must not be negative"),
        ({"ignore_index": 1.5}, "--ignore-index must be an integer"),
        ({"pos_weight": [2.0]}, "--pos-weight is for bce"),
        ({"kind": "bce", "input": "logprobs"}, "--input must be one of logits, probs"),
        ({"kind": "bce", "input": "probs", "pos_weight": 2.0}, "--pos-weight applies to logits"),
        ({"kind": "bce", "pos_weight": -1.0}, "--pos-weight values must not be negative"),
        ({"kind": "bce", "weight": [[1.0, 2.0]]}, "one value or one per label"),
        ({"kind": "bce", "label_smoothing": 0.1}, "--label-smoothing is for ce"),
        ({"kind": "mse"}, "unknown loss"),
    ],
)
def test_loss_spec_rejects(kw: dict[str, object], words: str) -> None:
    with pytest.raises(UsageError) as info:
        LossSpec(**kw)  # type: ignore[arg-type]
    assert words in str(info.value)


def test_loss_spec_copies_and_freezes_weights() -> None:
    w = np.array([1.0, 2.0, 0.5])
    spec = LossSpec(weight=w)
    w[0] = 9.0
    assert spec.weight is not None and spec.weight.tolist() == [1.0, 2.0, 0.5]
    assert not spec.weight.flags.writeable


def test_bind_checks_what_only_the_data_tells() -> None:
    spec = LossSpec(weight=[1.0, 2.0, 3.0], ignore_index=2, label_smoothing=0.25)
    opts = spec.bind(3, soft=False, top_k=2)
    assert (opts.num_classes, opts.ignore_index, opts.label_smoothing, opts.top_k) == (3, 2, 0.25, 2)
    assert opts.weight_total == 6.0
    with pytest.raises(UsageError, match="3 values but the predictions have 4 classes"):
        spec.bind(4, soft=False)
    with pytest.raises(UsageError, match="probability targets"):
        spec.bind(3, soft=True)
    assert LossSpec().bind(3, soft=True).soft


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"top_k": -1}, "--ece-bins and --top-k must not be negative"),
        ({"ece_bins": -1}, "--ece-bins and --top-k must not be negative"),
        ({"ece_bins": MAX_ECE_BINS + 1}, "more bins than cecli allows"),
        ({"ci": 1.0}, "--ci must be a level between 0 and 1"),
        ({"ci": 0.0}, "--ci must be a level between 0 and 1"),
        ({"ci": float("nan")}, "--ci must be a level between 0 and 1"),
        ({"ci": 0.9, "bootstrap": 1}, "--bootstrap needs at least 2 replicates"),
        ({"ci": 0.9, "bootstrap": MAX_REPLICATES + 1}, "more replicates than cecli allows"),
    ],
)
def test_measures_reject(kw: dict[str, object], words: str) -> None:
    with pytest.raises(UsageError) as info:
        Measures(**kw)  # type: ignore[arg-type]
    assert words in str(info.value)


def test_measures_replicates_only_with_a_level() -> None:
    assert Measures().replicates == 0
    assert Measures(bootstrap=1).replicates == 0  # no --ci: --bootstrap is not used
    assert Measures(ci=0.9).replicates == DEFAULT_BOOTSTRAP == 1000
    assert Measures(ci=0.9, bootstrap=50).replicates == 50


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"chunk_rows": 0}, "--chunk-rows must be at least 1"),
        ({"workers": 0}, "--workers must be at least 1"),
        ({"engine": "spark"}, "--engine must be one of local, dask"),
        ({"scheduler": "tcp://x:8786"}, "--scheduler is for --engine dask"),
    ],
)
def test_run_spec_rejects(kw: dict[str, object], words: str) -> None:
    with pytest.raises(UsageError) as info:
        RunSpec(**kw)  # type: ignore[arg-type]
    assert words in str(info.value)


def test_run_spec_chunk_rows() -> None:
    assert RunSpec(chunk_rows=7).rows_per_chunk(10, 4) == 7
    # about 16 MiB of predictions a chunk, at most 2**20 rows, at least 1
    assert RunSpec().rows_per_chunk(1024, 4) == 4096
    assert RunSpec().rows_per_chunk(1, 2) == 1 << 20
    assert RunSpec().rows_per_chunk(1 << 30, 8) == 1


def test_output_spec() -> None:
    with pytest.raises(UsageError, match="--grad-output and --output name the same file"):
        OutputSpec(path="a.npy", grad_path="a.npy")
    out = OutputSpec(grad_path="g.npy")
    out.check_engine(RunSpec())
    with pytest.raises(UsageError, match="local engine only"):
        out.check_engine(RunSpec(engine=Engine.DASK))


def test_nll_spec_defaults_to_log_probabilities() -> None:
    assert LossSpec(kind="nll").input is InputKind.LOGPROBS
    assert LossSpec(kind="ce").input is InputKind.LOGITS
    assert LossSpec(kind="bce").input is InputKind.LOGITS
    assert LossSpec(kind="nll", input="logits").input is InputKind.LOGITS


def test_ece_flag_means_the_default_bins() -> None:
    from cecli.accumulate import DEFAULT_ECE_BINS

    assert Measures(ece=True).ece_bins == DEFAULT_ECE_BINS == 15
    assert Measures(ece=True, ece_bins=7).ece_bins == 7
    assert Measures(ece_bins=7).ece is True
    assert Measures().ece is False and Measures().ece_bins == 0


def test_target_cols_is_a_comma_list_exclusive_of_target_col() -> None:
    from cecli.readers import ReadOptions

    assert ReadOptions(target_cols=" a, b ,c").target_cols == ("a", "b", "c")  # type: ignore[arg-type]
    assert ReadOptions(target_cols=("a",)).target_cols == ("a",)
    with pytest.raises(UsageError, match="--target-cols names no column"):
        ReadOptions(target_cols=" , ")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="--target-col or --target-cols, not both"):
        ReadOptions(target_col="y", target_cols=("a", "b"))


def test_group_col_without_ci_is_refused_before_reading(tmp_path: object) -> None:
    from cecli.api import evaluate
    from cecli.readers import ReadOptions

    with pytest.raises(UsageError, match="--group-col is for --ci"):
        evaluate("no-such-file.csv", None, ReadOptions(group_col="doc"), LossSpec())


def test_reduction_none_keeps_the_losses_without_an_output(tmp_path: object) -> None:
    import pathlib

    from cecli.api import evaluate
    from cecli.readers import ReadOptions

    path = pathlib.Path(str(tmp_path)) / "p.npy"
    t = pathlib.Path(str(tmp_path)) / "t.npy"
    np.save(path, np.array([[2.0, 0.5, -1.0], [0.0, 1.0, 0.0]]))
    np.save(t, np.array([0, 1]))
    ev = evaluate(str(path), str(t), ReadOptions(), LossSpec(reduction="none"))
    assert ev.losses is not None
    np.testing.assert_allclose(ev.losses, [0.2413112, 0.5514447], rtol=1e-6)
