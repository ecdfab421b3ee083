"""Webhooks: a practice's endpoints that receive its events, signed (Standard Webhooks).

The rules that need no I/O live here: which events are published and under which type
name, what a target URL may be, which network addresses a delivery may reach, the retry
schedule's outcome of an attempt, and the commands that register or change an endpoint.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from urllib.parse import urlsplit
from uuid import UUID

from vetchart.domain.commands import UNSET, Unset, given, normalise, sent_null, stripped
from vetchart.domain.errors import RuleViolation

# Outbox event (class name) -> the published type. Only events that name a practice and
# carry ids, never personal or medical content: the receiver reads details through the
# API with its own credentials.
PUBLISHED_EVENTS: Final[dict[str, str]] = {
    "AppointmentChanged": "appointment.changed",
    "VisitChanged": "visit.changed",
    "MedicalRecordCreated": "medical_record.created",
    "MedicalRecordAmended": "medical_record.amended",
    "MedicalRecordSigned": "medical_record.signed",
    "MedicalRecordEnteredInError": "medical_record.entered_in_error",
}
EVENT_TYPES: Final[frozenset[str]] = frozenset(PUBLISHED_EVENTS.values())

MAX_URL_LENGTH = 2048
MAX_DESCRIPTION_LENGTH = 500
# Standard Webhooks secrets: "whsec_" + base64 of 24 to 64 random bytes.
SECRET_PREFIX = "whsec_"  # noqa: S105 - a format prefix, not a secret
SECRET_BYTES = 32


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # queued, or waiting for its next try
    SUCCEEDED = "succeeded"
    DEAD = "dead"  # every try failed (or the target is not allowed): kept, re-sendable


@dataclass
class WebhookEndpoint:
    id: UUID
    practice_id: UUID
    url: str
    event_types: tuple[str, ...]
    description: str | None
    is_active: bool
    secret: str  # the whole "whsec_..." string (sealed at rest by the adapter)
    created_by: UUID
    created_at: datetime
    updated_at: datetime

    def wants(self, event_type: str) -> bool:
        return self.is_active and event_type in self.event_types


@dataclass(frozen=True)
class WebhookDelivery:
    id: UUID  # also the webhook-id header: the same for every try of this delivery
    endpoint_id: UUID
    practice_id: UUID
    event_id: UUID
    event_type: str  # the published type
    payload: dict[str, object]
    status: DeliveryStatus
    attempts: int
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True)
class AttemptResult:
    """What one try of a delivery got back: a status code, or an error (no answer)."""

    status_code: int | None = None
    error: str | None = None
    allowed: bool = True  # False: the target resolved to an address deliveries may not reach

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def status_after(result: AttemptResult, *, try_number: int, max_tries: int) -> DeliveryStatus:
    """A delivery's status after its ``try_number``-th try of this sending (1-based): a
    refused target is final at once (retrying would not change where it points)."""
    if result.succeeded:
        return DeliveryStatus.SUCCEEDED
    if not result.allowed or try_number >= max_tries:
        return DeliveryStatus.DEAD
    return DeliveryStatus.PENDING


def webhook_body(
    event_type: str, occurred_at: datetime, payload: dict[str, object]
) -> dict[str, object]:
    """The JSON a receiver gets (the Standard Webhooks payload shape)."""
    return {"type": event_type, "timestamp": occurred_at.isoformat(), "data": payload}


# ------------------------------------------------------------------ targets


def check_target_url(url: str, *, allow_private: bool) -> str:
    """The endpoint URL as stored: absolute https (http only where private targets are
    allowed: tests, development), no credentials, no fragment. A host that is an address
    must be a public one unless private targets are allowed; names are checked again on
    every delivery, after resolution (``address_allowed``)."""
    if len(url) > MAX_URL_LENGTH:
        raise _url_error(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise _url_error(f"The URL cannot be read: {error}.") from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise _url_error("The URL must start with https://.")
    if not parts.hostname:
        raise _url_error("The URL must name a host.")
    if parts.username is not None or parts.password is not None:
        raise _url_error("The URL must not carry credentials; the signature proves the sender.")
    if parts.fragment:
        raise _url_error("The URL must not have a fragment.")
    if port == 0:
        raise _url_error("The URL's port must be 1 to 65535.")
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        literal = None
    if literal is not None and not address_allowed(literal, allow_private=allow_private):
        raise _url_error("The URL points to a private, loopback or reserved address.")
    if not allow_private and literal is None:
        name = parts.hostname.rstrip(".").lower()
        if name == "localhost" or name.endswith(".localhost"):
            raise _url_error("The URL points to a private, loopback or reserved address.")
        # A last label of digits (or 0x...) is an address in a shorthand form ("127.1",
        # "2130706433", "0x7f.1") that resolvers accept; no DNS name ends so.
        last = name.rsplit(".", 1)[-1]
        if last.isdigit() or last.startswith("0x"):
            raise _url_error("Write an address in its full form (a.b.c.d), or use a name.")
    return url


# The well-known NAT64 prefix (RFC 6052): its addresses reach the IPv4 address they end with.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def address_allowed(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, *, allow_private: bool
) -> bool:
    """May a delivery connect to ``address``? Only globally routable unicast addresses,
    unless private targets are allowed (then anything but unspecified and multicast). An
    IPv6 address that carries an IPv4 one (IPv4-mapped, 6to4, NAT64) is judged as that
    IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            address = embedded
    if address.is_unspecified or address.is_multicast:
        return False
    if allow_private:
        return True
    return address.is_global and not address.is_reserved


def _url_error(detail: str) -> RuleViolation:
    return RuleViolation(detail, rule="webhook.url", field="url")


# ------------------------------------------------------------------ commands


def _event_types(values: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Known types only, at least one; sorted, each once."""
    unknown = sorted(set(values) - EVENT_TYPES)
    if unknown:
        raise RuleViolation(
            f"Unknown event types: {', '.join(unknown)}. Known: {', '.join(sorted(EVENT_TYPES))}.",
            rule="webhook.event_types",
            field="event_types",
        )
    if not values:
        raise RuleViolation(
            "Name at least one event type.", rule="webhook.event_types", field="event_types"
        )
    return tuple(sorted(set(values)))


@dataclass(frozen=True)
class NewWebhook:
    """``POST /practices/{id}/webhooks``; the URL is checked by the service (it knows
    whether private targets are allowed)."""

    url: str
    event_types: tuple[str, ...]
    description: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "event_types", _event_types(self.event_types))
        object.__setattr__(self, "description", stripped(self.description))


@dataclass(frozen=True)
class WebhookChanges:
    """``PATCH /webhooks/{id}``: the fields sent (``UNSET`` leaves one as it is)."""

    url: str | Unset = UNSET
    event_types: tuple[str, ...] | Unset = UNSET
    description: str | Unset | None = UNSET
    is_active: bool | Unset = UNSET

    def __post_init__(self) -> None:
        for name in ("url", "event_types", "is_active"):
            if sent_null(self, name):
                raise RuleViolation(
                    f"{name} cannot be removed.", rule="webhook.required", field=name
                )
        normalise(self, "event_types", _event_types)
        normalise(self, "description", stripped)

    def values(self) -> dict[str, object]:
        return given(self)
