"""The request schemas' bounded types (the rules: ``domain/input_bounds.py``).

- ``JsonObject`` (and ``JSON_OBJECT_BOUNDS`` for other dict types): a free-form JSON object
  of at most 64 KiB serialized and 8 levels of nesting.
- ``BoundedDate``, ``BoundedAwareDatetime``: years 1900 to 2200, in
  bodies and query parameters alike.
- ``refuse_unstorable``: no NUL, unpaired surrogate, NaN or Infinity anywhere in a body
  (``RequestModel`` runs it on every request body before its fields are validated).

Each refusal is a 422 validation error whose ``loc`` and message name the field.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, AwareDatetime, ValidationInfo
from pydantic_core import PydanticCustomError

from vetchart.domain import input_bounds as bounds

_Dated = TypeVar("_Dated", date, datetime)


def _bounded_json_object(value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
    reason = bounds.json_object_problem(value)
    if reason is not None:
        field = info.field_name or "the object"
        raise PydanticCustomError(
            "json_object_too_large",
            "{field} {reason}",
            {
                "field": field,
                "reason": reason,
                "max_bytes": bounds.MAX_JSON_OBJECT_BYTES,
                "max_depth": bounds.MAX_JSON_DEPTH,
            },
        )
    return value


def _bounded_year(value: _Dated) -> _Dated:
    reason = bounds.year_problem(value.year)
    if reason is not None:
        raise PydanticCustomError(
            "date_out_of_range",
            "Out of range: {reason}",
            {"reason": reason, "min_year": bounds.MIN_YEAR, "max_year": bounds.MAX_YEAR},
        )
    return value


JSON_OBJECT_BOUNDS = AfterValidator(_bounded_json_object)
JsonObject = Annotated[dict[str, Any], JSON_OBJECT_BOUNDS]

YEAR_BOUNDS = AfterValidator(_bounded_year)
BoundedDate = Annotated[date, YEAR_BOUNDS]
BoundedAwareDatetime = Annotated[AwareDatetime, YEAR_BOUNDS]


def refuse_unstorable(data: Any) -> Any:
    """``data`` unchanged, or a validation error naming the first string (key or value)
    holding a NUL or an unpaired surrogate, or the first non-finite number."""
    found = bounds.unstorable_value(data)
    if found is not None:
        path, reason = found
        where = bounds.printable_path(path) or "the body"
        error_type = (
            "number_not_finite"
            if reason == bounds.NON_FINITE_NUMBER
            else "string_nul_character"
            if reason.startswith(bounds.NUL_CHARACTER)
            else "string_unpaired_surrogate"
        )
        raise PydanticCustomError(
            error_type, "{where}: {reason}", {"where": where, "reason": reason}
        )
    return data
