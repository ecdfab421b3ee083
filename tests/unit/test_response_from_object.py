"""ResponseModel.from_object: the one way presenters read a response from a service's
object (api/schemas/common.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from vetchart.api.schemas.common import ResponseModel

START = datetime(2026, 1, 2, 9, 30, tzinfo=UTC)


@dataclass
class Slot:
    title: str
    start_at: datetime
    minutes: int
    private_note: str  # not a field of the response: never read

    @property
    def end_at(self) -> datetime:
        return self.start_at + timedelta(minutes=self.minutes)


class SlotOut(ResponseModel):
    title: str
    start_at: datetime
    end_at: datetime
    booked: bool


def test_reads_fields_and_properties_and_takes_the_given_ones() -> None:
    out = SlotOut.from_object(Slot("Check-up", START, 20, "secret"), booked=True)

    assert out.model_dump() == {
        "title": "Check-up",
        "start_at": START,
        "end_at": START + timedelta(minutes=20),
        "booked": True,
    }


def test_a_given_field_stands_in_for_the_attribute() -> None:
    out = SlotOut.from_object(Slot("Check-up", START, 20, "x"), title="Vaccination", booked=False)

    assert out.title == "Vaccination"


def test_a_field_neither_on_the_object_nor_given_is_an_error() -> None:
    with pytest.raises(AttributeError, match="booked"):
        SlotOut.from_object(Slot("Check-up", START, 20, "x"))


def test_what_is_read_is_validated() -> None:
    with pytest.raises(ValidationError):
        SlotOut.from_object(Slot("Check-up", START, 20, "x"), booked="perhaps")
