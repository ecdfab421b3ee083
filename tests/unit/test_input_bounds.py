"""The rules of bounded input (domain/input_bounds.py) and their schema types
(api/schemas/bounded.py), without a server; the API-level replay of every attack is
tests/api/test_bounded_input.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from pydantic import AwareDatetime, TypeAdapter, ValidationError

from vetchart.api.schemas.bounded import (
    JSON_OBJECT_BOUNDS,
    YEAR_BOUNDS,
    BoundedAwareDatetime,
    BoundedDate,
    JsonObject,
)
from vetchart.api.schemas.common import RequestModel
from vetchart.api.schemas.records import RecordCreateIn
from vetchart.domain import input_bounds as bounds


def nested(depth: int) -> Any:
    value: Any = {"leaf": 1}
    for level in range(depth - 1):
        value = {"level": value} if level % 2 else [value]
    return value


# --------------------------------------------------------------------------- JSON objects


def test_depth_counts_objects_and_arrays() -> None:
    assert not bounds.json_depth_exceeds(nested(8))
    assert bounds.json_depth_exceeds(nested(9))
    assert not bounds.json_depth_exceeds({"a": 1, "b": "x" * 1000})
    assert not bounds.json_depth_exceeds({})


def test_a_very_deep_value_does_not_exhaust_the_stack() -> None:
    assert bounds.json_depth_exceeds(nested(100_000))


def test_size_is_compact_utf8_json() -> None:
    assert bounds.json_size({"a": "é"}) == len('{"a":"é"}'.encode())
    at_limit = {"n": "x" * (bounds.MAX_JSON_OBJECT_BYTES - len('{"n":""}'))}
    assert bounds.json_size(at_limit) == bounds.MAX_JSON_OBJECT_BYTES
    assert bounds.json_object_problem(at_limit) is None
    over = {"n": "x" * (bounds.MAX_JSON_OBJECT_BYTES - len('{"n":""}') + 1)}
    assert "65537 bytes" in (bounds.json_object_problem(over) or "")


def test_the_json_object_type_names_the_field() -> None:
    with pytest.raises(ValidationError) as raised:
        RecordCreateIn.model_validate(
            {
                "record_type": "checkup",
                "title": "t",
                "visit_date": "2024-01-01",
                "data": {"top": nested(8)},
            }
        )
    [error] = raised.value.errors()
    assert error["loc"] == ("data",)
    assert error["type"] == "json_object_too_large"
    assert error["msg"].startswith("data is nested more than 8 levels")
    eight_deep = {"top": nested(7)}
    assert TypeAdapter(JsonObject).validate_python(eight_deep) == eight_deep


# --------------------------------------------------------------------------- storable values


@pytest.mark.parametrize(
    ("value", "where", "reason"),
    [
        ({"a": "x\x00"}, ("a",), bounds.NUL_CHARACTER),
        ({"a": {"b\x00": 1}}, ("a", "b\x00"), bounds.NUL_CHARACTER + " (in a key)"),
        ({"a": [1, 2, "\ud800"]}, ("a", 2), bounds.UNPAIRED_SURROGATE),
        ({"a": [{"b": float("nan")}]}, ("a", 0, "b"), bounds.NON_FINITE_NUMBER),
        ([float("-inf")], (0,), bounds.NON_FINITE_NUMBER),
        ("\x00", (), bounds.NUL_CHARACTER),
    ],
)
def test_the_first_unstorable_value_is_found_with_its_path(
    value: object, where: tuple[object, ...], reason: str
) -> None:
    assert bounds.unstorable_value(value) == (where, reason)


@pytest.mark.parametrize(
    "value",
    [{"a": "plain", "b": ["é", "日本", "🐕", 1.5, 10**40, None, True]}, [], "", 0.0, {"": {}}],
)
def test_storable_values_pass(value: object) -> None:
    assert bounds.unstorable_value(value) is None


def test_paths_are_printed_readably() -> None:
    assert bounds.printable_path(("data", "doses", 1)) == "data.doses[1]"
    assert bounds.printable_path(("data", "lot\x00")) == "data.lot\\u0000"
    assert bounds.printable_path(()) == ""


def test_every_request_body_refuses_them_and_names_where() -> None:
    body = {"record_type": "checkup", "title": "t", "visit_date": "2024-01-01"}
    for bad, where, kind in (
        ({**body, "title": "a\x00"}, "title", "string_nul_character"),
        ({**body, "data": {"x": [float("inf")]}}, "data.x[0]", "number_not_finite"),
        ({**body, "data": {"\x00": 1}}, "data.\\u0000", "string_nul_character"),
    ):
        with pytest.raises(ValidationError) as raised:
            RecordCreateIn.model_validate(bad)
        [error] = raised.value.errors()
        assert error["type"] == kind
        assert error["msg"].startswith(f"{where}: ")


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (date(1899, 12, 31), False),
        (date(1900, 1, 1), True),
        (date(2200, 12, 31), True),
        (date(2201, 1, 1), False),
        (date(9999, 12, 31), False),
    ],
)
def test_years_1900_to_2200(value: date, ok: bool) -> None:
    as_time = datetime(value.year, value.month, value.day, tzinfo=UTC)
    for adapter, given in (
        (TypeAdapter(BoundedDate), value),
        (TypeAdapter(BoundedAwareDatetime), as_time),
    ):
        if ok:
            assert adapter.validate_python(given) == given
        else:
            with pytest.raises(ValidationError) as raised:
                adapter.validate_python(given)
            assert raised.value.errors()[0]["type"] == "date_out_of_range"


# --------------------------------------------------------------------------- charsets


@pytest.mark.parametrize(
    ("label", "codec"),
    [
        ("utf-8", "utf-8"),
        ("UTF8", "utf-8"),
        ("us-ascii", "ascii"),
        ("ISO-8859-1", "iso8859-1"),
        ("latin1", "iso8859-1"),
        ("windows-1252", "cp1252"),
        ("Shift_JIS", "shift_jis"),
        ('"utf-8"', "utf-8"),
    ],
)
def test_real_text_encodings_are_known(label: str, codec: str) -> None:
    assert bounds.text_charset(label) == codec


@pytest.mark.parametrize(
    "label",
    [
        "utf-7",
        "UTF7",
        "rot13",
        "rot_13",
        "hex",
        "base64",
        "zlib",
        "bz2",
        "uu",
        "quopri",
        "unicode_escape",
        "raw_unicode_escape",
        "punycode",
        "idna",
        "utf-16",
        "utf-32le",
        "iso-2022-jp",
        "utf-8-sig",
        "no-such-charset",
        "",
        "x" * 100,
    ],
)
def test_anything_else_is_not(label: str) -> None:
    assert bounds.text_charset(label) is None


def test_one_part_may_also_be_utf16_or_utf32_but_not_a_whole_form() -> None:
    for label, codec in (("utf-16", "utf-16"), ("UTF-16LE", "utf-16-le"), ("utf-32", "utf-32")):
        assert bounds.text_charset(label) is None
        assert bounds.text_charset(label, part=True) == codec
    for label in ("utf-7", "hex", "rot13", "iso-2022-jp", "nope"):
        assert bounds.text_charset(label, part=True) is None


# --------------------------------------------------------------------------- every schema


def _leaves(tp: Any, marks: tuple[object, ...] = ()) -> Iterator[tuple[Any, tuple[object, ...]]]:
    """Each type inside ``tp`` with the Annotated metadata that wraps it."""
    origin = get_origin(tp)
    if origin is Annotated:
        base, *meta = get_args(tp)
        yield from _leaves(base, (*marks, *meta))
    elif origin in (Union, UnionType):
        for arg in get_args(tp):
            yield from _leaves(arg, marks)
    elif origin in (list, tuple, set, frozenset):
        for arg in get_args(tp):
            yield from _leaves(arg, ())
    else:
        yield tp, marks


def _request_models() -> list[type[RequestModel]]:
    import vetchart.api.app  # noqa: F401 - every router, and so every schema, loaded

    found: list[type[RequestModel]] = []
    pending = list(RequestModel.__subclasses__())
    while pending:
        model = pending.pop()
        found.append(model)
        pending.extend(model.__subclasses__())
    return found


def test_every_date_and_json_object_of_every_request_body_is_bounded() -> None:
    """A field added later gets the shared types, or this fails naming it."""
    unbounded = []
    for model in _request_models():
        for name, field in model.model_fields.items():
            declared = (
                Annotated[(field.annotation, *field.metadata)]
                if field.metadata
                else field.annotation
            )
            for leaf, marks in _leaves(declared):
                is_date = leaf is AwareDatetime or (
                    isinstance(leaf, type) and issubclass(leaf, date)
                )
                if is_date and YEAR_BOUNDS not in marks:
                    unbounded.append(f"{model.__name__}.{name}")
                if (leaf is dict or get_origin(leaf) is dict) and JSON_OBJECT_BOUNDS not in marks:
                    unbounded.append(f"{model.__name__}.{name}")
    assert unbounded == []
    assert len(_request_models()) > 20
