"""Audit entries: what happened, by whom, to what, with what outcome — and their hash chain.

Every entry is appended to one of ``AUDIT_CHAINS`` hash chains. Its ``hash`` is the
HMAC-SHA-256, under the audit key (``VETCHART_AUDIT_KEY``, kept outside the database), of
the previous entry's hash in the same chain followed by the entry's canonical form, so
changing, removing or reordering a committed entry breaks the chain at that point, and
whoever can write the database but does not hold the key cannot forge a new chain.
Signed checkpoints of the chain heads (:class:`Checkpoint`), kept outside the database,
let ``audit verify --against`` detect a chain rewritten even by a key holder after the
checkpoint (see docs/audit.md for why there are several chains and how they are verified).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

# Number of independent chains. Writers append to one chain per transaction and hold its
# head only while committing, so unrelated transactions rarely wait for each other.
AUDIT_CHAINS = 16
GENESIS_HASH = bytes(32)
# 1: plain SHA-256 (revisions before r0010); 2: HMAC-SHA-256 under the audit key.
HASH_FORMAT_VERSION = 2
LEGACY_HASH_FORMAT_VERSION = 1
# The shortest audit key accepted in production, in bytes.
MIN_AUDIT_KEY_BYTES = 32


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
class AuditEvent:
    """One stored audit row, as the log's readers see it (the admins' search, API.md)."""

    id: UUID
    occurred_at: datetime
    actor_id: UUID | None
    actor_role: str | None
    practice_id: UUID | None
    action: str
    resource_type: str
    resource_id: str | None
    outcome: str
    request_id: str | None
    client_address: str | None
    user_agent: str | None
    details: dict[str, Any]


@dataclass(frozen=True)
class ChainedRow(AuditEvent):
    """The stored fields of one audit row that its hash covers: the event's, the pet whose
    access log it is in, and its place in a chain."""

    pet_id: UUID | None
    chain: int
    seq: int


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def canonical_form(row: ChainedRow, version: int = HASH_FORMAT_VERSION) -> bytes:
    """A byte string that changes whenever any stored field changes (JSON, sorted keys)."""
    moment = row.occurred_at.astimezone(UTC).isoformat(timespec="microseconds")
    fields = [
        version,
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


@dataclass(frozen=True)
class AuditKey:
    """The secret the chain's hashes are keyed with (never stored in the database)."""

    secret: bytes

    def __post_init__(self) -> None:
        if not self.secret:
            raise ValueError("the audit key must not be empty")

    def __repr__(self) -> str:  # never print the secret
        return "AuditKey(***)"

    def derived(self, purpose: str) -> bytes:
        """A key for another use (checkpoint signatures), independent of the chain's."""
        return hmac.new(self.secret, b"vetchart/" + purpose.encode(), hashlib.sha256).digest()


def chain_hash(key: AuditKey, previous: bytes, row: ChainedRow) -> bytes:
    """The entry's hash: HMAC-SHA-256 of the previous hash and the canonical form."""
    return hmac.new(key.secret, previous + canonical_form(row), hashlib.sha256).digest()


def legacy_chain_hash(previous: bytes, row: ChainedRow) -> bytes:
    """Format 1 (plain SHA-256), as revisions 0006 to 0009 wrote it: only for migrating."""
    return hashlib.sha256(previous + canonical_form(row, LEGACY_HASH_FORMAT_VERSION)).digest()


@dataclass(frozen=True)
class BrokenLink:
    chain: int
    seq: int
    row_id: UUID | None
    reason: str


class ChainVerifier:
    """Walks one chain in ``seq`` order and reports the first broken link."""

    def __init__(self, chain: int, key: AuditKey | None) -> None:
        """``key`` None checks the legacy plain hashes (migrations only)."""
        self.chain = chain
        self._key = key
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
        expected = (
            legacy_chain_hash(self.previous, row)
            if self._key is None
            else chain_hash(self._key, self.previous, row)
        )
        if not hmac.compare_digest(expected, stored_hash):
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


# ---------------------------------------------------------------------- checkpoints

CHECKPOINT_FORMAT = "vetchart-audit-checkpoint/1"
_CHECKPOINT_PURPOSE = "audit-checkpoint"


class CheckpointError(ValueError):
    """A checkpoint file that is not one, or whose signature does not verify."""


@dataclass(frozen=True)
class ChainHead:
    chain: int
    seq: int
    hash: bytes


@dataclass(frozen=True)
class Checkpoint:
    """The heads of every chain at one moment, signed with a key derived from the audit
    key. Kept outside the database (a file, object storage), it pins each chain's prefix:
    a later rewrite of any entry up to a head changes that entry's hash."""

    created_at: datetime
    database: str
    heads: tuple[ChainHead, ...]

    def _payload(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "created_at": self.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
            "database": self.database,
            "heads": [
                {"chain": head.chain, "seq": head.seq, "hash": head.hash.hex()}
                for head in sorted(self.heads, key=lambda h: h.chain)
            ],
        }

    def signature(self, key: AuditKey) -> str:
        canonical = json.dumps(self._payload(), sort_keys=True, separators=(",", ":"))
        return hmac.new(
            key.derived(_CHECKPOINT_PURPOSE), canonical.encode(), hashlib.sha256
        ).hexdigest()

    def to_json(self, key: AuditKey) -> str:
        return json.dumps({**self._payload(), "signature": self.signature(key)}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes, key: AuditKey) -> Checkpoint:
        """Parse and check the signature; CheckpointError when either fails."""
        try:
            document = json.loads(text)
            if document.get("format") != CHECKPOINT_FORMAT:
                raise CheckpointError(f"not a {CHECKPOINT_FORMAT} document")
            checkpoint = cls(
                created_at=datetime.fromisoformat(document["created_at"]),
                database=str(document["database"]),
                heads=tuple(
                    ChainHead(int(head["chain"]), int(head["seq"]), bytes.fromhex(head["hash"]))
                    for head in document["heads"]
                ),
            )
            signature = str(document["signature"])
        except CheckpointError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise CheckpointError(f"unreadable checkpoint: {error}") from error
        if not hmac.compare_digest(signature, checkpoint.signature(key)):
            raise CheckpointError(
                "the checkpoint's signature does not verify (altered, or signed with another key)"
            )
        return checkpoint


def check_against_checkpoint(
    checkpoint: Checkpoint, hash_at: dict[tuple[int, int], bytes]
) -> list[BrokenLink]:
    """Every checkpointed head must still be in its chain with the same hash. ``hash_at``
    maps (chain, seq) to the stored hash of that entry, for the checkpoint's heads."""
    broken: list[BrokenLink] = []
    for head in checkpoint.heads:
        if head.seq == 0:
            continue  # an empty chain then: nothing to pin
        stored = hash_at.get((head.chain, head.seq))
        if stored is None:
            broken.append(
                BrokenLink(
                    head.chain,
                    head.seq,
                    None,
                    f"entry {head.seq}, a head in the checkpoint of "
                    f"{checkpoint.created_at.isoformat()}, is missing",
                )
            )
        elif not hmac.compare_digest(stored, head.hash):
            broken.append(
                BrokenLink(
                    head.chain,
                    head.seq,
                    None,
                    f"entry {head.seq} differs from the checkpoint of "
                    f"{checkpoint.created_at.isoformat()}: the chain was rewritten",
                )
            )
    return broken
