"""Table definitions (SQLAlchemy Core metadata). Alembic migrations are the only way
the schema is made; ``alembic check`` in the test suite keeps this file and them in step."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    SmallInteger,
    Table,
    Text,
    Time,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR, ExcludeConstraint

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _id() -> Column[uuid.UUID]:
    return Column("id", Uuid, primary_key=True)


def _time(name: str, *, nullable: bool = True) -> Column[datetime]:
    """A moment: every time is stored with its time zone."""
    if nullable:
        return Column(name, DateTime(timezone=True))
    return Column(name, DateTime(timezone=True), nullable=False)


def _timestamps() -> list[Column[datetime]]:
    return [_time("created_at", nullable=False), _time("updated_at", nullable=False)]


def _ref(
    name: str,
    table: str,
    *,
    ondelete: str = "RESTRICT",
    nullable: bool = True,
    primary_key: bool = False,
) -> Column[uuid.UUID]:
    """A reference to ``table``'s id, RESTRICT unless said (a referenced row stays)."""
    key = ForeignKey(f"{table}.id", ondelete=ondelete)
    if primary_key:
        return Column(name, Uuid, key, primary_key=True)
    if nullable:
        return Column(name, Uuid, key)
    return Column(name, Uuid, key, nullable=False)


def _flag(name: str, *, default: bool) -> Column[bool]:
    """A yes/no that is never NULL: ``default`` where an insert leaves it out."""
    return Column(name, Boolean, nullable=False, server_default=text(str(default).lower()))


def _version() -> Column[int]:
    """The version (the ETag) of a row that is edited with If-Match."""
    return Column("version", Integer, nullable=False, server_default=text("1"))


def _weekly_interval() -> list[Column[Any] | CheckConstraint]:
    """A weekly interval: ``[start_time, end_time)`` on an ISO weekday (1 Monday to 7 Sunday)."""
    return [
        Column("weekday", SmallInteger, nullable=False),
        Column("start_time", Time, nullable=False),
        Column("end_time", Time, nullable=False),
        CheckConstraint("weekday BETWEEN 1 AND 7", name="weekday_range"),
        CheckConstraint("end_time > start_time", name="ends_after_start"),
    ]


def _kb_labels() -> list[Column[Any]]:
    """The labels of a knowledge-base document; each of its chunks carries a copy."""
    return [
        Column("species", ARRAY(Text), nullable=False),
        Column("symptoms", ARRAY(Text), nullable=False),
        Column("body_system", Text),
        Column("audience", Text),
        Column("doc_type", Text),
    ]


ROLES = ("PET_OWNER", "VET_STAFF", "VET", "PRACTICE_ADMIN", "SYSTEM_ADMIN")
STAFF_ROLES_SQL = "('VET_STAFF', 'VET', 'PRACTICE_ADMIN')"

practices = Table(
    "practices",
    metadata,
    _id(),
    Column("name", Text, nullable=False),
    Column("email", Text),
    Column("phone", Text),
    Column("address_line1", Text),
    Column("address_line2", Text),
    Column("city", Text),
    Column("region", Text),
    Column("postal_code", Text),
    Column("country", Text),
    Column("website", Text),
    Column("timezone", Text, nullable=False),
    Column("license_number", Text),
    _flag("accepts_new_patients", default=True),
    _flag("is_active", default=True),
    _version(),
    *_timestamps(),
    CheckConstraint("length(btrim(name)) > 0", name="name_not_blank"),
    CheckConstraint("version >= 1", name="version_positive"),
    Index(
        "uq_practices_license_number",
        "license_number",
        unique=True,
        postgresql_where=text("license_number IS NOT NULL"),
    ),
    Index("ix_practices_active_name", "name", "id", postgresql_where=text("is_active")),
)

users = Table(
    "users",
    metadata,
    _id(),
    Column("email", Text, nullable=False),
    Column("full_name", Text, nullable=False),
    Column("role", Text, nullable=False),
    _ref("practice_id", "practices"),
    _flag("is_active", default=True),
    Column("password_hash", Text, nullable=False),
    _time("password_changed_at"),
    _flag("mfa_enabled", default=False),
    Column("mfa_secret", Text),
    Column("mfa_pending_secret", Text),
    Column("mfa_last_timestep", BigInteger),
    *_timestamps(),
    CheckConstraint("email = lower(email)", name="email_lowercase"),
    CheckConstraint(f"role IN {tuple(ROLES)!r}", name="role_known"),
    CheckConstraint(
        f"(role IN {STAFF_ROLES_SQL}) = (practice_id IS NOT NULL)", name="staff_has_practice"
    ),
    CheckConstraint("NOT mfa_enabled OR mfa_secret IS NOT NULL", name="mfa_has_secret"),
    UniqueConstraint("email", name="uq_users_email"),
    Index("ix_users_practice_id", "practice_id", "id"),
    Index("ix_users_name", "full_name", "id"),
    Index("ix_users_practice_name", "practice_id", "full_name", "id"),
    Index("ix_users_role", "role", "id"),
    Index(
        "ix_users_full_name_trgm",
        "full_name",
        postgresql_using="gin",
        postgresql_ops={"full_name": "gin_trgm_ops"},
    ),
    Index(
        "ix_users_email_trgm",
        "email",
        postgresql_using="gin",
        postgresql_ops={"email": "gin_trgm_ops"},
    ),
)

auth_sessions = Table(
    "auth_sessions",
    metadata,
    _id(),
    _ref("user_id", "users", nullable=False),
    _time("created_at", nullable=False),
    _time("last_used_at", nullable=False),
    _time("expires_at", nullable=False),
    Column("idle_timeout_seconds", Integer, nullable=False),
    _time("revoked_at"),
    Column("revoked_reason", Text),
    Column("client_address", Text),
    Column("user_agent", Text),
    CheckConstraint("expires_at > created_at", name="expires_after_creation"),
    CheckConstraint("idle_timeout_seconds > 0", name="idle_timeout_positive"),
    Index(
        "ix_auth_sessions_user_active",
        "user_id",
        "created_at",
        postgresql_where=text("revoked_at IS NULL"),
    ),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    _id(),
    _ref("session_id", "auth_sessions", ondelete="CASCADE", nullable=False),
    Column("token_hash", LargeBinary, nullable=False),
    _time("created_at", nullable=False),
    _time("used_at"),
    UniqueConstraint("token_hash", name="uq_refresh_tokens_token_hash"),
    Index("ix_refresh_tokens_session_id", "session_id"),
)

login_throttles = Table(
    "login_throttles",
    metadata,
    Column("key", Text, primary_key=True),
    Column("failure_count", Integer, nullable=False, server_default=text("0")),
    _time("window_started_at", nullable=False),
    _time("locked_until"),
    Column("lockout_level", Integer, nullable=False, server_default=text("0")),
    _time("updated_at", nullable=False),
    CheckConstraint("failure_count >= 0", name="failure_count_not_negative"),
    CheckConstraint("lockout_level >= 0", name="lockout_level_not_negative"),
)

mfa_recovery_codes = Table(
    "mfa_recovery_codes",
    metadata,
    _id(),
    _ref("user_id", "users", ondelete="CASCADE", nullable=False),
    Column("code_hash", LargeBinary, nullable=False),
    _time("created_at", nullable=False),
    _time("used_at"),
    UniqueConstraint("user_id", "code_hash", name="uq_mfa_recovery_codes_user_code"),
)

audit_events = Table(
    "audit_events",
    metadata,
    _id(),
    _time("occurred_at", nullable=False),
    Column("actor_id", Uuid),
    Column("actor_role", Text),
    Column("practice_id", Uuid),
    Column("action", Text, nullable=False),
    Column("resource_type", Text, nullable=False),
    Column("resource_id", Text),
    Column("outcome", Text, nullable=False),
    Column("request_id", Text),
    Column("client_address", Text),
    Column("user_agent", Text),
    Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    # The pet whose data was touched (for the pet's access log), when there is one.
    Column("pet_id", Uuid),
    # Tamper evidence: position in one of the hash chains (docs/audit.md).
    Column("chain", SmallInteger, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("prev_hash", LargeBinary, nullable=False),
    Column("hash", LargeBinary, nullable=False),
    CheckConstraint("outcome IN ('success', 'denied', 'error')", name="outcome_known"),
    UniqueConstraint("chain", "seq", name="uq_audit_events_chain_seq"),
    Index("ix_audit_events_occurred_at", "occurred_at", "id"),
    Index("ix_audit_events_practice_occurred", "practice_id", "occurred_at", "id"),
    Index("ix_audit_events_actor_occurred", "actor_id", "occurred_at", "id"),
    Index("ix_audit_events_resource", "resource_type", "resource_id", "occurred_at"),
    Index("ix_audit_events_action_occurred", "action", "occurred_at", "id"),
    Index(
        "ix_audit_events_pet_occurred",
        "pet_id",
        "occurred_at",
        "id",
        postgresql_where=text("pet_id IS NOT NULL"),
    ),
)

# The head of each audit chain: its last sequence number and hash. Appending locks one
# head row until commit, which orders that chain's entries.
audit_chains = Table(
    "audit_chains",
    metadata,
    Column("chain", SmallInteger, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", LargeBinary, nullable=False),
)

# Domain events saved in the transaction that raised them; the worker delivers them.
# The fingerprint of the key the audit chain is keyed with (revision 0010): one row.
audit_key_fingerprint = Table(
    "audit_key_fingerprint",
    metadata,
    Column("id", SmallInteger, primary_key=True, autoincrement=False, server_default=text("1")),
    Column("fingerprint", LargeBinary, nullable=False),
    Column("claimed_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    CheckConstraint("id = 1", name="one_row"),
)

outbox_events = Table(
    "outbox_events",
    metadata,
    _id(),
    Column("event_type", Text, nullable=False),
    Column("payload", JSONB, nullable=False),
    _time("occurred_at", nullable=False),
    _time("delivered_at"),
    Index("ix_outbox_events_occurred_at", "occurred_at"),
)

# Which handler has already handled which event: a handler that runs twice acts once.
handled_events = Table(
    "handled_events",
    metadata,
    Column("handler", Text, primary_key=True),
    Column("event_id", Uuid, primary_key=True),
    _time("handled_at", nullable=False),
)

staff_invitations = Table(
    "staff_invitations",
    metadata,
    _id(),
    _ref("practice_id", "practices", nullable=False),
    Column("email", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("token_hash", LargeBinary, nullable=False),
    _ref("invited_by", "users", nullable=False),
    _time("created_at", nullable=False),
    _time("expires_at", nullable=False),
    _time("accepted_at"),
    _ref("accepted_user_id", "users"),
    _time("revoked_at"),
    _ref("revoked_by", "users"),
    CheckConstraint(f"role IN {STAFF_ROLES_SQL}", name="staff_role"),
    CheckConstraint("email = lower(email)", name="email_lowercase"),
    CheckConstraint("expires_at > created_at", name="expires_after_creation"),
    CheckConstraint("(accepted_at IS NULL) = (accepted_user_id IS NULL)", name="accepted_has_user"),
    CheckConstraint("(revoked_at IS NULL) = (revoked_by IS NULL)", name="revoked_has_actor"),
    CheckConstraint("accepted_at IS NULL OR revoked_at IS NULL", name="accepted_or_revoked"),
    UniqueConstraint("token_hash", name="uq_staff_invitations_token_hash"),
    Index("ix_staff_invitations_practice", "practice_id", "created_at"),
)

pet_owners = Table(
    "pet_owners",
    metadata,
    _id(),
    Column("full_name", Text, nullable=False),
    Column("email", Text),
    Column("phone", Text),
    Column("address", Text),
    Column("preferred_communication", Text),
    _ref("user_id", "users"),
    # The practice whose staff created the owner (NULL: the owner registered themselves).
    # Its staff's associations with this owner are approved at once; others need consent.
    _ref("created_by_practice_id", "practices"),
    # Deactivated (soft) owners stay readable; no new pets, associations or appointments.
    _flag("is_active", default=True),
    # When the owner's personal data was erased (the row stays, pseudonymised).
    _time("erased_at"),
    # What the `q` filter searches (name, email, phone), indexed for trigram matching.
    Column(
        "search_text",
        Text,
        Computed(
            "lower(full_name || ' ' || coalesce(email, '') || ' ' || coalesce(phone, ''))",
            persisted=True,
        ),
        nullable=False,
    ),
    *_timestamps(),
    CheckConstraint("length(btrim(full_name)) > 0", name="full_name_not_blank"),
    CheckConstraint("erased_at IS NULL OR NOT is_active", name="erased_is_inactive"),
    CheckConstraint(
        "preferred_communication IS NULL OR "
        "preferred_communication IN ('email', 'phone', 'sms', 'mail')",
        name="preferred_communication_known",
    ),
    Index(
        "uq_pet_owners_user_id",
        "user_id",
        unique=True,
        postgresql_where=text("user_id IS NOT NULL"),
    ),
    Index("ix_pet_owners_name", "full_name", "id"),
    Index(
        "ix_pet_owners_search_trgm",
        "search_text",
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    ),
)

practice_associations = Table(
    "practice_associations",
    metadata,
    _id(),
    _ref("pet_owner_id", "pet_owners", nullable=False),
    _ref("practice_id", "practices", nullable=False),
    Column("request_type", Text, nullable=False),
    Column("status", Text, nullable=False),
    _ref("requested_by", "users", nullable=False),
    _ref("decided_by", "users"),
    _time("decided_at"),
    _ref("deactivated_by", "users"),
    _time("deactivated_at"),
    # Whose consent the association awaits while pending: 'practice' (the owner asked) or
    # 'owner' (the practice asked for an owner it did not create); kept once decided.
    Column("awaiting", Text),
    *_timestamps(),
    CheckConstraint("awaiting IS NULL OR awaiting IN ('practice', 'owner')", name="awaiting_known"),
    CheckConstraint("status <> 'pending' OR awaiting IS NOT NULL", name="pending_awaits_someone"),
    CheckConstraint(
        "request_type IN ('new_client', 'referral', 'transfer', 'emergency')",
        name="request_type_known",
    ),
    CheckConstraint(
        "status IN ('pending', 'approved', 'rejected', 'inactive')", name="status_known"
    ),
    CheckConstraint("(status = 'pending') = (decided_at IS NULL)", name="decided_unless_pending"),
    CheckConstraint(
        "(status = 'inactive') = (deactivated_at IS NOT NULL)", name="deactivated_iff_inactive"
    ),
    # One open (pending or approved) association per owner and practice.
    Index(
        "uq_practice_associations_open",
        "pet_owner_id",
        "practice_id",
        unique=True,
        postgresql_where=text("status IN ('pending', 'approved')"),
    ),
    # The scope check: "is this owner approved with this practice?" and its reverse.
    Index(
        "ix_practice_associations_approved_practice",
        "practice_id",
        "pet_owner_id",
        postgresql_where=text("status = 'approved'"),
    ),
    Index("ix_practice_associations_owner", "pet_owner_id", "created_at", "id"),
    Index("ix_practice_associations_practice_created", "practice_id", "created_at", "id"),
    Index("ix_practice_associations_practice_status", "practice_id", "status", "created_at", "id"),
)

pets = Table(
    "pets",
    metadata,
    _id(),
    _ref("owner_id", "pet_owners", nullable=False),
    Column("name", Text, nullable=False),
    Column("species", Text, nullable=False),
    Column("breed", Text),
    Column("sex", Text),
    Column("colour", Text),
    Column("date_of_birth", Date),
    Column("weight_kg", Numeric(7, 3)),
    Column("microchip_id", Text),
    Column("neutered", Boolean),
    Column("allergies", Text),
    Column("notes", Text),
    _flag("is_active", default=True),
    _version(),
    *_timestamps(),
    CheckConstraint("length(btrim(name)) > 0", name="name_not_blank"),
    CheckConstraint("length(btrim(species)) > 0", name="species_not_blank"),
    CheckConstraint(
        "weight_kg IS NULL OR (weight_kg > 0 AND weight_kg <= 1500)", name="weight_in_range"
    ),
    CheckConstraint("sex IS NULL OR sex IN ('male', 'female', 'unknown')", name="sex_known"),
    CheckConstraint("version >= 1", name="version_positive"),
    Index(
        "uq_pets_microchip_id",
        "microchip_id",
        unique=True,
        postgresql_where=text("microchip_id IS NOT NULL"),
    ),
    Index("ix_pets_owner_name", "owner_id", "name", "id"),
    Index("ix_pets_name", "name", "id"),
    Index("ix_pets_species_name", "species", "name", "id"),
    Index(
        "ix_pets_name_trgm",
        "name",
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    ),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    _ref("user_id", "users", ondelete="CASCADE", primary_key=True),
    Column("key", Text, primary_key=True),
    Column("fingerprint", LargeBinary, nullable=False),
    # NULL while the first request is still being processed.
    Column("status_code", Integer),
    Column("response_body", LargeBinary),
    Column("response_headers", JSONB),
    # When the current attempt claimed the key: an unanswered claim's lease runs from here.
    _time("created_at", nullable=False),
    _time("expires_at", nullable=False),
    CheckConstraint("length(key) BETWEEN 1 AND 255", name="key_length"),
    Index("ix_idempotency_keys_expires_at", "expires_at"),
)

medical_records = Table(
    "medical_records",
    metadata,
    _id(),
    _ref("pet_id", "pets", nullable=False),
    _ref("practice_id", "practices", nullable=False),
    _ref("author_id", "users", nullable=False),
    Column("record_type", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("description", Text),
    Column("visit_date", Date, nullable=False),
    Column("diagnosis", Text),
    Column("treatment", Text),
    Column("medications", Text),
    Column("weight_kg", Numeric(7, 3)),
    Column("temperature_c", Numeric(4, 1)),
    Column("cost", Numeric(12, 2)),
    _flag("follow_up_required", default=False),
    Column("follow_up_date", Date),
    Column("data", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("version", Integer, nullable=False),
    Column("status", Text, nullable=False),
    _time("signed_at"),
    _ref("signed_by", "users"),
    Column("entered_in_error_reason", Text),
    *_timestamps(),
    CheckConstraint(
        "record_type IN ('checkup', 'vaccination', 'surgery', 'diagnostic', "
        "'prescription', 'dental', 'emergency', 'other')",
        name="record_type_known",
    ),
    CheckConstraint("status IN ('active', 'entered_in_error')", name="status_known"),
    CheckConstraint("length(btrim(title)) > 0", name="title_not_blank"),
    CheckConstraint(
        "weight_kg IS NULL OR (weight_kg > 0 AND weight_kg <= 1500)", name="weight_in_range"
    ),
    CheckConstraint(
        "temperature_c IS NULL OR temperature_c BETWEEN 30 AND 45", name="temperature_in_range"
    ),
    CheckConstraint("cost IS NULL OR cost >= 0", name="cost_not_negative"),
    CheckConstraint(
        "NOT follow_up_required OR (follow_up_date IS NOT NULL AND follow_up_date > visit_date)",
        name="follow_up_after_visit",
    ),
    CheckConstraint("version >= 1", name="version_positive"),
    CheckConstraint("(signed_at IS NULL) = (signed_by IS NULL)", name="signed_by_when_signed"),
    CheckConstraint(
        "(status = 'entered_in_error') = (entered_in_error_reason IS NOT NULL)",
        name="reason_when_entered_in_error",
    ),
    # A pet's records, newest visit first (the list and the timeline).
    Index("ix_medical_records_pet_visit", "pet_id", text("visit_date DESC"), text("id DESC")),
    # Follow-ups due, per practice.
    Index(
        "ix_medical_records_follow_ups",
        "practice_id",
        "follow_up_date",
        "id",
        postgresql_where=text("follow_up_required AND status = 'active'"),
    ),
)

medical_record_events = Table(
    "medical_record_events",
    metadata,
    _ref("record_id", "medical_records", primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("event_type", Text, nullable=False),
    Column("changed_fields", JSONB, nullable=False),
    Column("snapshot", JSONB, nullable=False),
    _ref("actor_id", "users", nullable=False),
    _ref("practice_id", "practices", nullable=False),
    Column("reason", Text),
    _flag("late", default=False),
    _time("recorded_at", nullable=False),
    CheckConstraint(
        "event_type IN ('created', 'amended', 'signed', 'entered_in_error')",
        name="event_type_known",
    ),
    CheckConstraint("version >= 1", name="version_positive"),
    CheckConstraint("(event_type = 'created') = (version = 1)", name="created_is_version_one"),
    Index("ix_medical_record_events_record_time", "record_id", "recorded_at"),
)

# --------------------------------------------------------------------------- appointments

appointments = Table(
    "appointments",
    metadata,
    _id(),
    _ref("practice_id", "practices", nullable=False),
    _ref("pet_owner_id", "pet_owners", nullable=False),
    _ref("assigned_vet_id", "users", nullable=False),
    _time("start_at", nullable=False),
    _time("end_at", nullable=False),
    Column("duration_minutes", Integer, nullable=False),
    Column("appointment_type", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("notes", Text),
    Column("status", Text, nullable=False),
    _ref("created_by", "users", nullable=False),
    *_timestamps(),
    _version(),
    CheckConstraint("end_at > start_at", name="ends_after_start"),
    CheckConstraint("duration_minutes BETWEEN 5 AND 720", name="duration_range"),
    CheckConstraint(
        "status IN ('requested', 'scheduled', 'confirmed', 'checked_in', 'in_progress',"
        " 'completed', 'cancelled', 'no_show', 'declined')",
        name="status_known",
    ),
    Index("ix_appointments_practice_start", "practice_id", "start_at", "id"),
    Index("ix_appointments_owner_start", "pet_owner_id", "start_at", "id"),
    Index("ix_appointments_vet_start", "assigned_vet_id", "start_at"),
)

# No double booking: one vet, overlapping [start, end) of appointments that still hold
# their slot. The database decides, so concurrent bookings cannot both win.
appointments.append_constraint(
    ExcludeConstraint(
        (appointments.c.assigned_vet_id, "="),
        (func.tstzrange(appointments.c.start_at, appointments.c.end_at, "[)"), "&&"),
        name="ex_appointments_vet_slot",
        using="gist",
        where=text("status NOT IN ('cancelled', 'no_show', 'declined')"),
    )
)

appointment_pets = Table(
    "appointment_pets",
    metadata,
    _ref("appointment_id", "appointments", ondelete="CASCADE", primary_key=True),
    _ref("pet_id", "pets", primary_key=True),
    Index("ix_appointment_pets_pet", "pet_id", "appointment_id"),
)

visits = Table(
    "visits",
    metadata,
    _id(),
    _ref("pet_id", "pets", nullable=False),
    _ref("practice_id", "practices", nullable=False),
    _ref("appointment_id", "appointments"),
    _time("visit_date", nullable=False),
    Column("transcript_text", Text),
    Column("state", Text, nullable=False),
    Column("audio_key", Text),
    Column("audio_content_type", Text),
    Column("audio_size_bytes", BigInteger),
    Column("audio_sha256", Text),
    Column("audio_file_name", Text),
    Column("audio_pending_key", Text),
    # The AI summary draft with its provenance, until a vet accepts it.
    Column("summary", JSONB(none_as_null=True)),
    _ref("summary_record_id", "medical_records"),
    _ref("created_by", "users", nullable=False),
    *_timestamps(),
    _version(),
    # Speech to text of the recording (revision 0014, docs/transcription.md).
    Column("transcript_source", Text),
    Column("transcription_status", Text, nullable=False, server_default="not_requested"),
    Column("transcription_error", Text),
    Column("transcription", JSONB(none_as_null=True)),
    Column("transcription_audio_key", Text),
    Column("transcription_attempts", Integer, nullable=False, server_default="0"),
    CheckConstraint("state IN ('new', 'processing', 'processed', 'failed')", name="state_known"),
    CheckConstraint(
        "transcription_status IN ('not_requested', 'not_configured', 'pending', "
        "'transcribing', 'done', 'failed')",
        name="transcription_status_known",
    ),
    CheckConstraint(
        "transcript_source IN ('client', 'openai', 'local')", name="transcript_source_known"
    ),
    CheckConstraint("(audio_key IS NULL) = (audio_sha256 IS NULL)", name="audio_complete"),
    Index("ix_visits_pet_date", "pet_id", "visit_date", "id"),
    Index("ix_visits_appointment_date", "appointment_id", "visit_date", "id"),
    Index("ix_visits_practice_state", "practice_id", "state", "visit_date"),
    Index("ix_visits_audio_key", "audio_key", postgresql_where=text("audio_key IS NOT NULL")),
    Index(
        "ix_visits_audio_pending_key",
        "audio_pending_key",
        postgresql_where=text("audio_pending_key IS NOT NULL"),
    ),
)

# --------------------------------------------------------------------------- scheduling
# Times of day (``Time`` without zone) are the practice's wall-clock times.

schedule_settings = Table(
    "schedule_settings",
    metadata,
    _ref("practice_id", "practices", ondelete="CASCADE", primary_key=True),
    Column("cancel_cutoff_hours", Integer, nullable=False, server_default=text("24")),
    Column("slot_step_minutes", Integer, nullable=False, server_default=text("15")),
    *_timestamps(),
    CheckConstraint("cancel_cutoff_hours BETWEEN 0 AND 720", name="cancel_cutoff_range"),
    CheckConstraint("slot_step_minutes BETWEEN 5 AND 240", name="slot_step_range"),
)

opening_hours = Table(
    "opening_hours",
    metadata,
    _id(),
    _ref("practice_id", "practices", ondelete="CASCADE", nullable=False),
    *_weekly_interval(),
    Index("ix_opening_hours_practice", "practice_id", "weekday", "start_time"),
)

vet_rosters = Table(
    "vet_rosters",
    metadata,
    _id(),
    _ref("practice_id", "practices", ondelete="CASCADE", nullable=False),
    _ref("vet_id", "users", ondelete="CASCADE", nullable=False),
    *_weekly_interval(),
    Index("ix_vet_rosters_practice_vet", "practice_id", "vet_id", "weekday", "start_time"),
)

schedule_exceptions = Table(
    "schedule_exceptions",
    metadata,
    _id(),
    _ref("practice_id", "practices", ondelete="CASCADE", nullable=False),
    _ref("vet_id", "users", ondelete="CASCADE"),
    Column("day", Date, nullable=False),
    Column("start_time", Time),
    Column("end_time", Time),
    Column("reason", Text),
    _ref("created_by", "users", nullable=False),
    *_timestamps(),
    CheckConstraint("(start_time IS NULL) = (end_time IS NULL)", name="times_together"),
    CheckConstraint("end_time > start_time", name="ends_after_start"),
    Index(
        "uq_schedule_exceptions_day",
        "practice_id",
        "vet_id",
        "day",
        unique=True,
        postgresql_nulls_not_distinct=True,
    ),
)

appointment_types = Table(
    "appointment_types",
    metadata,
    _id(),
    _ref("practice_id", "practices", ondelete="CASCADE", nullable=False),
    Column("appointment_type", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("duration_minutes", Integer, nullable=False),
    _flag("owner_bookable", default=True),
    *_timestamps(),
    CheckConstraint("duration_minutes BETWEEN 5 AND 720", name="duration_range"),
    CheckConstraint(
        "appointment_type IN ('checkup', 'emergency', 'surgery', 'consultation',"
        " 'vaccination', 'other')",
        name="type_known",
    ),
    UniqueConstraint("practice_id", "appointment_type", name="uq_appointment_types_kind"),
)

record_attachments = Table(
    "record_attachments",
    metadata,
    _id(),
    _ref("record_id", "medical_records", nullable=False),
    _ref("practice_id", "practices", nullable=False),
    Column("object_key", Text, nullable=False),
    Column("file_name", Text, nullable=False),
    Column("content_type", Text, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("description", Text),
    _ref("created_by", "users", nullable=False),
    _time("created_at", nullable=False),
    UniqueConstraint("object_key", name="uq_record_attachments_object_key"),
    Index("ix_record_attachments_record", "record_id", "created_at", "id"),
)

# --------------------------------------------------------------------------- knowledge base
# Revision 0007. The embeddings table (kb_chunk_embeddings: chunk_id, model, embedding
# vector(1536), HNSW index) exists only where the server has pgvector, so it is not
# declared here (migrations/env.py leaves it out of the comparison).

KB_AUDIENCES_SQL = "('expert', 'pet-owner')"
KB_STATES_SQL = "('pending', 'ingesting', 'ingested', 'failed')"

kb_documents = Table(
    "kb_documents",
    metadata,
    _id(),
    Column("title", Text, nullable=False),
    *_kb_labels(),
    Column("source_url", Text),
    Column("state", Text, nullable=False),
    Column("chunk_count", Integer, nullable=False),
    Column("error", Text),
    # What the uploader stated explicitly (it wins over the document's front matter).
    Column("given", JSONB, nullable=False),
    Column("filename", Text, nullable=False),
    Column("media_type", Text, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("object_key", Text, nullable=False),
    _ref("created_by", "users"),
    *_timestamps(),
    _time("ingested_at"),
    CheckConstraint(f"state IN {KB_STATES_SQL}", name="state_known"),
    CheckConstraint(f"audience IS NULL OR audience IN {KB_AUDIENCES_SQL}", name="audience_known"),
    CheckConstraint("chunk_count >= 0", name="chunk_count_not_negative"),
    CheckConstraint("length(btrim(title)) > 0", name="title_not_blank"),
    Index("ix_kb_documents_title", "title", "id"),
    Index("ix_kb_documents_filename", "filename", "created_at"),
)

kb_chunks = Table(
    "kb_chunks",
    metadata,
    _id(),
    _ref("document_id", "kb_documents", ondelete="CASCADE", nullable=False),
    Column("chunk_index", Integer, nullable=False),
    # The document's title and the chunk's heading path ("Vaccines > Kittens"), for the
    # full-text weights and for the answer's context.
    Column("title", Text, nullable=False),
    Column("heading", Text, nullable=False),
    Column("text", Text, nullable=False),
    # The document's labels, copied so that filters and ranking read one table.
    *_kb_labels(),
    Column(
        "search_vector",
        TSVECTOR,
        Computed(
            "setweight(to_tsvector('english'::regconfig, title), 'A') || "
            "setweight(to_tsvector('english'::regconfig, heading), 'A') || "
            "setweight(to_tsvector('english'::regconfig, text), 'B')",
            persisted=True,
        ),
        nullable=False,
    ),
    CheckConstraint("chunk_index >= 0", name="chunk_index_not_negative"),
    UniqueConstraint("document_id", "chunk_index"),
    Index("ix_kb_chunks_search_vector", "search_vector", postgresql_using="gin"),
    Index("ix_kb_chunks_species", "species", postgresql_using="gin"),
    Index("ix_kb_chunks_symptoms", "symptoms", postgresql_using="gin"),
    Index("ix_kb_chunks_body_system", "body_system"),
    Index("ix_kb_chunks_audience", "audience"),
    Index("ix_kb_chunks_doc_type", "doc_type"),
)


# --------------------------------------------------------------------------- messaging
# Revision 0012. Personal data (an owner's address in ``recipient``, what was said in
# ``subject`` and ``body``) lives only in these nullable columns of ``messages``, and in
# ``message_consents`` (an owner's choices): erasing an owner sets the first to NULL and
# deletes the second (both are keyed by ``pet_owner_id``).

message_consents = Table(
    "message_consents",
    metadata,
    _ref("pet_owner_id", "pet_owners", ondelete="CASCADE", primary_key=True),
    Column("channel", Text, primary_key=True),
    Column("granted", Boolean, nullable=False),
    _time("changed_at", nullable=False),
    _ref("changed_by", "users", ondelete="SET NULL"),
    CheckConstraint("channel IN ('email', 'sms')", name="channel_known"),
)

messages = Table(
    "messages",
    metadata,
    _id(),
    _ref("pet_owner_id", "pet_owners", ondelete="CASCADE", nullable=False),
    _ref("practice_id", "practices"),
    # The outbox event the message was sent for: one message per event and channel.
    Column("event_id", Uuid, nullable=False),
    Column("kind", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("reason", Text),
    Column("recipient", Text),
    Column("subject", Text),
    Column("body", Text),
    Column("provider_id", Text),
    _time("created_at", nullable=False),
    CheckConstraint("channel IN ('email', 'sms')", name="channel_known"),
    CheckConstraint("status IN ('sent', 'skipped')", name="status_known"),
    CheckConstraint("(status = 'skipped') = (reason IS NOT NULL)", name="skipped_has_reason"),
    UniqueConstraint("event_id", "channel"),
    Index("ix_messages_owner", "pet_owner_id", "created_at", "id"),
    Index("ix_messages_owner_practice", "pet_owner_id", "practice_id", "created_at", "id"),
)

reminder_rules = Table(
    "reminder_rules",
    metadata,
    _id(),
    _ref("practice_id", "practices", nullable=False),
    Column("record_type", Text, nullable=False),
    # NULL: every species.
    Column("species", Text),
    Column("lead_days", ARRAY(Integer), nullable=False),
    _flag("active", default=True),
    *_timestamps(),
    CheckConstraint("cardinality(lead_days) BETWEEN 1 AND 10", name="lead_days_count"),
    Index("ix_reminder_rules_practice", "practice_id", "created_at", "id"),
)

reminders = Table(
    "reminders",
    metadata,
    _id(),
    # What makes a reminder once: vaccination:<record>:<rule>:<lead days>:<due date>, or
    # appointment:<appointment>:<start>. The scan inserts ON CONFLICT DO NOTHING.
    Column("dedupe_key", Text, nullable=False, unique=True),
    Column("kind", Text, nullable=False),
    _ref("practice_id", "practices", nullable=False),
    _ref("pet_owner_id", "pet_owners", ondelete="CASCADE", nullable=False),
    _ref("pet_id", "pets", ondelete="CASCADE"),
    _ref("record_id", "medical_records", ondelete="CASCADE"),
    _ref("appointment_id", "appointments", ondelete="CASCADE"),
    _ref("rule_id", "reminder_rules", ondelete="SET NULL"),
    Column("due_on", Date, nullable=False),
    _time("created_at", nullable=False),
)

# --------------------------------------------------------------------------- webhooks

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    _id(),
    _ref("practice_id", "practices", nullable=False),
    Column("url", Text, nullable=False),
    Column("event_types", ARRAY(Text), nullable=False),
    Column("description", Text),
    _flag("is_active", default=True),
    # The signing secret, sealed with VETCHART_ENCRYPTION_KEY (the sender needs it back).
    Column("secret_sealed", Text, nullable=False),
    _ref("created_by", "users", nullable=False),
    *_timestamps(),
    CheckConstraint("cardinality(event_types) > 0", name="event_types_not_empty"),
    Index("ix_webhook_endpoints_practice_id_created_at", "practice_id", "created_at", "id"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    _id(),
    _ref("endpoint_id", "webhook_endpoints", ondelete="CASCADE", nullable=False),
    _ref("practice_id", "practices", nullable=False),
    Column("event_id", Uuid, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("status", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    _time("last_attempt_at"),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    _time("created_at", nullable=False),
    _time("delivered_at"),
    CheckConstraint("status IN ('pending', 'succeeded', 'dead')", name="status_known"),
    CheckConstraint("attempts >= 0", name="attempts_not_negative"),
    # One delivery per endpoint and event: a fan-out run twice adds none.
    UniqueConstraint("endpoint_id", "event_id"),
    Index("ix_webhook_deliveries_endpoint_id_created_at", "endpoint_id", "created_at", "id"),
)

# --------------------------------------------------------------------------- API keys

api_keys = Table(
    "api_keys",
    metadata,
    _id(),
    _ref("practice_id", "practices", nullable=False),
    # The key's public part (vck_<public_id>_<secret>): how a presented key finds its row.
    Column("public_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    # SHA-256 of the secret (domain/api_keys.py); the secret itself is never stored.
    Column("secret_hash", LargeBinary, nullable=False),
    Column("scopes", ARRAY(Text), nullable=False),
    _ref("created_by", "users", nullable=False),
    _time("created_at", nullable=False),
    _time("last_used_at"),
    _time("revoked_at"),
    _time("expires_at"),
    UniqueConstraint("public_id", name="uq_api_keys_public_id"),
    CheckConstraint("cardinality(scopes) > 0", name="scopes_not_empty"),
    CheckConstraint("octet_length(secret_hash) = 32", name="secret_hash_sha256"),
    Index("ix_api_keys_practice_id_created_at", "practice_id", "created_at", "id"),
)

# Applied expand revisions (zero-downtime migrations, docs/operations.md): readiness of code
# that does not know the database's revision serves if only these lie between (r0017).
schema_compatibility = Table(
    "schema_compatibility",
    metadata,
    Column("revision", Text, primary_key=True),
    Column("down_revision", Text, nullable=False),
    Column("kind", Text, nullable=False),
    CheckConstraint("kind IN ('expand')", name="kind_known"),
)
