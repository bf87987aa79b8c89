"""Cells as typed JSON values: the request spec's `columns` and `empty` rules."""

import pytest

from fanout.cells import OMIT, CellError, converter


@pytest.mark.parametrize(
    ("type_name", "cell", "value"),
    [
        ("string", "007", "007"),  # leading zeros kept for strings
        ("string", " padded ", " padded "),
        ("integer", "007", 7),
        ("integer", "-12", -12),
        ("integer", " 5 ", 5),
        ("number", "1e3", 1000.0),
        ("number", "2.5", 2.5),
        ("number", "-.5", -0.5),
        ("number", "42", 42),
        ("boolean", "true", True),
        ("boolean", "TRUE", True),
        ("boolean", "Yes", True),
        ("boolean", "1", True),
        ("boolean", "false", False),
        ("boolean", "No", False),
        ("boolean", "0", False),
        ("json", '{"a": [1, null]}', {"a": [1, None]}),
        ("json", "[1,2]", [1, 2]),
        ("json", '"text"', "text"),
        ("json", "3", 3),
    ],
)
def test_cells_convert_to_their_type(type_name: str, cell: str, value: object) -> None:
    converted = converter("c", type_name, "keep")(cell)
    assert converted == value
    assert type(converted) is type(value)


@pytest.mark.parametrize(
    ("type_name", "cell", "reason"),
    [
        ("integer", "1.5", "not an integer"),
        ("integer", "1_000", "not an integer"),
        ("integer", "١٢", "not an integer"),  # digits, but not ASCII ones
        ("number", "1,5", "not a number"),
        ("number", "nan", "not a number"),
        ("number", "1e999", "a number too large for JSON"),
        ("boolean", "maybe", "not a boolean (true/false, 1/0, yes/no)"),
        ("json", "{a:1}", "not JSON: Expecting property name enclosed in double quotes at character 1"),
        ("json", "NaN", "not JSON: NaN is not a JSON value"),
    ],
)
def test_cells_that_do_not_convert_name_the_column_value_and_reason(
    type_name: str, cell: str, reason: str
) -> None:
    with pytest.raises(CellError) as caught:
        converter("age", type_name, "keep")(cell)
    assert (caught.value.column, caught.value.value, caught.value.reason) == ("age", cell, reason)
    assert str(caught.value) == f"column age: {reason}"


@pytest.mark.parametrize("type_name", ["string", "integer", "number", "boolean", "json"])
@pytest.mark.parametrize(("empty", "value"), [("keep", ""), ("null", None), ("omit", OMIT)])
def test_empty_cells_follow_the_empty_mode_whatever_the_type(
    type_name: str, empty: str, value: object
) -> None:
    assert converter("c", type_name, empty)("") == value


def test_an_excerpt_of_a_long_cell_is_kept_short() -> None:
    with pytest.raises(CellError) as caught:
        converter("n", "integer", "keep")("x" * 1000)
    assert caught.value.excerpt == "x" * 80
