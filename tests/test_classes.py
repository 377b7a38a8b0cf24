"""``--classes`` parsing, a reader of its own (:func:`cecli.readers.read_class_names`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cecli.errors import InputError, UsageError
from cecli.readers import read_class_names


def test_no_spec_is_none() -> None:
    assert read_class_names(None) is None
    assert read_class_names("") is None


def test_a_comma_list_keeps_order_and_strips_spaces() -> None:
    assert read_class_names(" cat, dog ,,bird ") == ("cat", "dog", "bird")


def test_a_file_holds_one_name_per_line(tmp_path: Path) -> None:
    f = tmp_path / "classes.txt"
    f.write_text("setosa\n\n versicolor \nvirginica\n", encoding="utf-8")
    assert read_class_names(str(f)) == ("setosa", "versicolor", "virginica")


def test_a_file_wins_over_a_comma_reading_of_its_name(tmp_path: Path) -> None:
    f = tmp_path / "a,b"
    f.write_text("x\ny\n", encoding="utf-8")
    assert read_class_names(str(f)) == ("x", "y")


def test_a_directory_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--classes names a directory") as info:
        read_class_names(str(tmp_path))
    assert info.value.file == str(tmp_path)


def test_an_undecodable_file_is_an_input_error(tmp_path: Path) -> None:
    f = tmp_path / "classes.txt"
    f.write_bytes(b"cat\n\xff\xfe\n")
    with pytest.raises(InputError, match="cannot read the class names"):
        read_class_names(str(f))


@pytest.mark.parametrize(
    ("spec", "message"),
    [(",", "names no class"), (" , ,", "names no class"), ("a,b,a", "names a class twice")],
)
def test_a_list_without_classes_or_with_a_repeat_is_a_usage_error(spec: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        read_class_names(spec)


def test_an_empty_file_names_no_class(tmp_path: Path) -> None:
    f = tmp_path / "classes.txt"
    f.write_text("\n\n", encoding="utf-8")
    with pytest.raises(UsageError, match="names no class"):
        read_class_names(str(f))
