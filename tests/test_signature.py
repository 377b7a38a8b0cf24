"""The reproducibility signature as a library object: parse, print, diff (cecli.api.signature)."""

from __future__ import annotations

import numpy as np
import pytest

from cecli.api.signature import Difference, Signature, weight_tag

CE = "ce|in:logits|tgt:index|red:mean|w:none|ii:-100|ls:0|v:0.1.0"


def test_parse_and_print_round_trip() -> None:
    sig = Signature.parse(CE)
    assert str(sig) == CE
    assert sig.command == "ce"
    assert sig == Signature.of(
        "ce", ["in:logits", "tgt:index", "red:mean", "w:none", "ii:-100", "ls:0"], "0.1.0"
    )


def test_settings_leave_out_the_version_and_key_bare_tokens_by_position() -> None:
    sig = Signature.parse("nll|in:logprobs|f64|ci:0.95,poisson-bootstrap,B:10,seed:1,grp:none|v:9")
    assert sig.settings() == {
        "#0": "nll",
        "in": "logprobs",
        "#2": "f64",
        "ci": "0.95,poisson-bootstrap,B:10,seed:1,grp:none",
    }


def test_the_version_alone_is_no_difference() -> None:
    assert Signature.parse(CE).diff(Signature.parse(CE.replace("v:0.1.0", "v:2.0"))) == []


def test_diff_names_each_setting_theirs_first_then_mine() -> None:
    mine = Signature.parse("ce|in:logits|tgt:index|red:mean|w:none|ii:-100|ls:0.1|f64|v:0.1.0")
    theirs = Signature.parse("nll|in:logits|tgt:index|red:sum|w:none|ii:-100|ls:0|v:0.1.0")
    assert mine.diff(theirs) == [
        Difference("#0", "nll", "ce"),
        Difference("red", "red:sum", "red:mean"),
        Difference("ls", "ls:0", "ls:0.1"),
        Difference("#7", "-", "f64"),
    ]


def test_a_setting_only_one_side_has_shows_a_dash() -> None:
    mine = Signature.parse("ce|in:logits|sw:w|v:1")
    theirs = Signature.parse("ce|in:logits|v:1")
    assert mine.diff(theirs) == [Difference("sw", "sw:-", "sw:w")]
    assert theirs.diff(mine) == [Difference("sw", "sw:w", "sw:-")]


def test_ignored_keys_are_not_compared() -> None:
    mine = Signature.parse("ce|in:logits|tgt:index|v:1")
    theirs = Signature.parse("ce|in:logits|tgt:probs|v:1")
    assert mine.diff(theirs, ignore=("tgt",)) == []
    assert mine.diff(theirs) == [Difference("tgt", "tgt:probs", "tgt:index")]


def test_the_interval_is_recorded_not_compared() -> None:
    plain = Signature.parse(CE)
    with_ci = Signature.parse(CE.replace("|v:", "|ci:0.95,poisson-bootstrap,B:1000,seed:1,grp:none|v:"))
    other_ci = Signature.parse(CE.replace("|v:", "|ci:0.9,poisson-bootstrap,B:50,seed:2,grp:doc|v:"))
    assert with_ci.settings()["ci"].startswith("0.95,")  # recorded
    assert plain.diff(with_ci) == [] and with_ci.diff(plain) == [] and with_ci.diff(other_ci) == []
    smoothed = Signature.parse(str(with_ci).replace("ls:0", "ls:0.1"))
    assert smoothed.diff(plain) == [Difference("ls", "ls:0", "ls:0.1")]


def test_weight_tag() -> None:
    assert weight_tag(None) == "none"
    assert weight_tag(np.array([1.0, 2.0, 0.5])) == "1.0,2.0,0.5"
    assert weight_tag([1, 2]) == "1.0,2.0"
    many = weight_tag(np.arange(9, dtype=np.float64))
    assert many.startswith("sha1-") and len(many) == len("sha1-") + 12
    assert many != weight_tag(np.arange(1, 10, dtype=np.float64))


@pytest.mark.parametrize("text", ["", "ce", "a|b|c"])
def test_any_string_parses(text: str) -> None:
    assert str(Signature.parse(text)) == text


# -- built from the specs -----------------------------------------------------------------------
def test_build_ce_defaults() -> None:
    from cecli.core.spec import LossSpec

    sig = Signature.build("ce", LossSpec(), version="0.1.0")
    assert str(sig) == CE


def test_build_ce_with_every_setting() -> None:
    from cecli.accumulate.spec import Measures
    from cecli.core.spec import LossSpec
    from cecli.readers import ReadOptions

    loss = LossSpec(
        kind="nll",
        input="logprobs",
        weight=[1, 2, 0.5],
        ignore_index=3,
        reduction="sum",
        label_smoothing=0.25,
        float64=True,
    )
    read = ReadOptions(sample_weight_col="sw", group_col="doc")
    sig = Signature.build(
        "nll", loss, target_kind="probs", measures=Measures(ci=0.9, bootstrap=50, seed=7),
        read=read, version="1",
    )
    assert str(sig) == (
        "nll|in:logprobs|tgt:probs|red:sum|w:1.0,2.0,0.5|ii:3|ls:0.25|sw:sw|f64"
        "|ci:0.9,poisson-bootstrap,B:50,seed:7,grp:doc|v:1"
    )
    # no interval: the bootstrap settings do not change the number, so they are not recorded
    plain = Signature.build("nll", loss, measures=Measures(bootstrap=50), version="1")
    assert "ci:" not in str(plain) and "B:" not in str(plain)
    assert "grp:none" in str(Signature.build("ce", LossSpec(), measures=Measures(ci=0.95)))


def test_build_bce() -> None:
    from cecli.core.spec import LossSpec

    loss = LossSpec(kind="bce", pos_weight=[3.0])
    assert str(Signature.build("bce", loss, version="1")) == "bce|in:logits|red:mean|w:none|pw:3.0|v:1"
    probs = LossSpec(kind="bce", input="probs", weight=[1, 2], reduction="none", float64=True)
    assert str(Signature.build("bce", probs, version="1")) == (
        "bce|in:probs|red:none|w:1.0,2.0|pw:none|f64|v:1"
    )
