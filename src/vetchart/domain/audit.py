"""Audit entries: what happened, by whom, to what, with what outcome — and their hash chain.

Every entry is appended to one of ``AUDIT_CHAINS`` hash chains. Its ``hash`` is the
SHA-256 of the previous entry's hash in the same chain followed by the entry's canonical
form, so changing, removing or reordering a committed entry breaks the chain at that
point (see docs/audit.md for why there are several chains and how they are verified).
"""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

# Number of independent chains. Writers append to one chain per transaction and hold its
# head only while committing, so unrelated transactions rarely wait for each other.
AUDIT_CHAINS = 16
GENESIS_HASH = bytes(32)
HASH_FORMAT_VERSION = 1


class Outcome(enum.StrEnum):
    SUCCESS = "success"
    DENIED = "denied"
    ERROR = "error"


@dataclass(frozen=True)
class RequestMeta:
    """Who is on the other end of this use case: for the audit row and session records."""

    request_id: str | None = None
    client_address: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class AuditEntry:
    action: str
    resource_type: str
    resource_id: str | None
    outcome: Outcome
    actor_id: UUID | None = None
    actor_role: str | None = None
    practice_id: UUID | None = None
    details: dict[str, Any] = field(default_factory=dict)
    # The pet whose data was touched, when there is one: the pet's access log reads it.
    pet_id: UUID | None = None


@dataclass(frozen=True)
class ChainedRow:
    """The stored fields of one audit row that its hash covers."""

    id: UUID
    occurred_at: datetime
    actor_id: UUID | None
    actor_role: str | None
    practice_id: UUID | None
    pet_id: UUID | None
    action: str
    resource_type: str
    resource_id: str | None
    outcome: str
    request_id: str | None
    client_address: str | None
    user_agent: str | None
    details: dict[str, Any]
    chain: int
    seq: int


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def canonical_form(row: ChainedRow) -> bytes:
    """A byte string that changes whenever any stored field changes (JSON, sorted keys)."""
    moment = row.occurred_at.astimezone(UTC).isoformat(timespec="microseconds")
    fields = [
        HASH_FORMAT_VERSION,
        str(row.id),
        moment,
        _text(row.actor_id),
        row.actor_role,
        _text(row.practice_id),
        _text(row.pet_id),
        row.action,
        row.resource_type,
        row.resource_id,
        row.outcome,
        row.request_id,
        row.client_address,
        row.user_agent,
        row.details,
        row.chain,
        row.seq,
    ]
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(previous: bytes, row: ChainedRow) -> bytes:
    return hashlib.sha256(previous + canonical_form(row)).digest()


@dataclass(frozen=True)
class BrokenLink:
    chain: int
    seq: int
    row_id: UUID | None
    reason: str


class ChainVerifier:
    """Walks one chain in ``seq`` order and reports the first broken link."""

    def __init__(self, chain: int) -> None:
        self.chain = chain
        self.previous = GENESIS_HASH
        self.expected_seq = 1
        self.checked = 0

    def check(self, row: ChainedRow, stored_prev: bytes, stored_hash: bytes) -> BrokenLink | None:
        if row.seq != self.expected_seq:
            missing = "missing" if row.seq > self.expected_seq else "duplicated"
            return BrokenLink(
                self.chain,
                self.expected_seq,
                row.id,
                f"entry {self.expected_seq} is {missing} (found {row.seq} next)",
            )
        if stored_prev != self.previous:
            return BrokenLink(self.chain, row.seq, row.id, "previous-hash link does not match")
        if chain_hash(self.previous, row) != stored_hash:
            return BrokenLink(self.chain, row.seq, row.id, "content does not match its hash")
        self.previous = stored_hash
        self.expected_seq += 1
        self.checked += 1
        return None

    def check_head(self, head_seq: int, head_hash: bytes) -> BrokenLink | None:
        """The chain's recorded head must be its last entry (else entries were cut off)."""
        last = self.expected_seq - 1
        if head_seq != last or head_hash != self.previous:
            return BrokenLink(
                self.chain,
                last + 1,
                None,
                f"the chain head says {head_seq} entries but {last} are present",
            )
        return None
