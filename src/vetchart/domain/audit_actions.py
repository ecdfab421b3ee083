"""The audit catalogue: every action an audit row can name, in one place.

Each member of :class:`AuditAction` says what its rows hold and which outcomes leave one:

- ``action``: the row's ``action`` string (``<resource_type>.<verb>``; several members
  may share one string when their rows name different resources, e.g. ``association.list``
  of a practice and of an owner);
- ``resource_type``: the resource the row names (for a refusal: the resource of the path);
- ``id_param``: the path parameter a refusal's ``resource_id`` is taken from (None: no id,
  or the resource is the caller's own);
- ``creates``: for a create, the type of the new object its success row names instead
  (its ``resource_id`` is the new object's id);
- ``audited``: which outcomes of the operation leave a row (:class:`Audited`);
- ``routed``: False for the actions only a service writes, outside the action of any route
  (a worker job, the command line, the second row of a sign-in: ``auth.lockout``...).

Every route declares its member beside itself (``api/route_audit.py``: ``@audited(...)``); the
one error handler writes refusals from that declaration, services write the other rows
through ``services/audit.py`` with a member, never a string. A leaf module: it imports
nothing of vetchart (``lint-imports`` checks it).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Audited(enum.Enum):
    """Which outcomes of an operation leave a row."""

    WRITE = "write"  # every success leaves a row (the service writes it)
    MEDICAL_READ = "medical_read"  # a read of medical data: every success leaves a row
    # A read of client data (pets, owners, appointments): every success leaves a row too,
    # written in the read's own transaction like a medical read's (docs/audit.md).
    READ = "read"
    AUTH = "auth"  # an authentication event: the service writes success and failure rows
    DENIALS_ONLY = "denials_only"  # a read of other data: only refusals leave a row
    NONE = "none"  # health, metrics, signed file URLs: no caller, no row


@dataclass(frozen=True)
class ActionSpec:
    """What one catalogue entry says (the value of an :class:`AuditAction` member)."""

    action: str
    resource_type: str
    audited: Audited
    id_param: str | None = None
    creates: str | None = None
    routed: bool = True


W, M, R, A, D, N = (
    Audited.WRITE,
    Audited.MEDICAL_READ,
    Audited.READ,
    Audited.AUTH,
    Audited.DENIALS_ONLY,
    Audited.NONE,
)


def _route(
    action: str,
    resource_type: str,
    audited: Audited,
    id_param: str | None = None,
    *,
    creates: str | None = None,
) -> ActionSpec:
    """The action of one or more routes (each declares it: ``@audited(...)``)."""
    return ActionSpec(action, resource_type, audited, id_param, creates)


def _service(action: str, resource_type: str, audited: Audited) -> ActionSpec:
    """An action only a service writes (no route declares it)."""
    return ActionSpec(action, resource_type, audited, routed=False)


@enum.unique
class AuditAction(enum.Enum):
    action: str
    resource_type: str
    audited: Audited
    id_param: str | None
    creates: str | None
    routed: bool

    def __init__(self, spec: ActionSpec) -> None:
        self.action = spec.action
        self.resource_type = spec.resource_type
        self.audited = spec.audited
        self.id_param = spec.id_param
        self.creates = spec.creates
        self.routed = spec.routed

    # ------------------------------------------------------------ service endpoints
    HEALTH_LIVE = _route("health.live", "health", N)
    HEALTH_READY = _route("health.ready", "health", N)
    METRICS_READ = _route("metrics.read", "metrics", N)
    # Signed-URL file access (local storage): no caller; the request that issued the URL
    # was audited, and the URL is short-lived and bound to one key and method.
    FILE_READ = _route("file.read", "file", N, "key")
    FILE_WRITE = _route("file.write", "file", N, "key")

    # ------------------------------------------------------------ identity
    USER_SIGNUP = _route("user.signup", "user", W, creates="user")
    AUTH_LOGIN = _route("auth.login", "user", A)  # the password step and the MFA step
    AUTH_MFA_ENROL_START = _route("auth.mfa_enrol_start", "user", A)
    AUTH_MFA_DISABLE = _route("auth.mfa_disable", "user", A)
    AUTH_MFA_ENABLE = _route("auth.mfa_enable", "user", A)
    # A refresh has no signed-in caller (no refusal row); its rows name the account.
    AUTH_REFRESH = _route("auth.refresh", "user", A)
    AUTH_LOGOUT = _route("auth.logout", "session", A)
    AUTH_LOGOUT_ALL = _route("auth.logout", "user", A)
    AUTH_SESSION_LIST = _route("auth.session_list", "user", D)
    AUTH_SESSION_REVOKE = _route("auth.session_revoke", "session", A, "session_id")
    AUTH_PASSWORD_CHANGE = _route("auth.password_change", "user", A)
    AUTH_LOGIN_FAILED = _service("auth.login_failed", "user", A)
    AUTH_LOCKOUT = _service("auth.lockout", "user", A)
    AUTH_MFA_CHALLENGE = _service("auth.mfa_challenge", "user", A)
    AUTH_REFRESH_REUSE = _service("auth.refresh_reuse", "user", A)
    OWN_USER_READ = _route("user.read", "user", D)
    OWN_USER_UPDATE = _route("user.update", "user", W)
    USER_LIST = _route("user.list", "user", D)
    USER_READ = _route("user.read", "user", D, "user_id")
    USER_UPDATE = _route("user.update", "user", W, "user_id")
    USER_UNLOCK = _route("user.unlock", "user", W, "user_id")
    USER_CREATE_ADMIN = _service("user.create_admin", "user", W)  # the command line

    # ------------------------------------------------------------ practices and staff
    PRACTICE_CREATE = _route("practice.create", "practice", W, creates="practice")
    PRACTICE_LIST = _route("practice.list", "practice", D)
    PRACTICE_READ = _route("practice.read", "practice", D, "practice_id")
    PRACTICE_UPDATE = _route("practice.update", "practice", W, "practice_id")
    PRACTICE_DEACTIVATE = _route("practice.deactivate", "practice", W, "practice_id")
    PRACTICE_STAFF_LIST = _route("practice.staff_list", "practice", D, "practice_id")
    INVITATION_CREATE = _route(
        "invitation.create", "practice", W, "practice_id", creates="invitation"
    )
    INVITATION_ACCEPT = _route("invitation.accept", "invitation", W)
    PRACTICE_ASSOCIATION_LIST = _route("association.list", "practice", D, "practice_id")

    # ------------------------------------------------------------ clients
    PET_OWNER_CREATE = _route("pet_owner.create", "pet_owner", W, creates="pet_owner")
    PET_OWNER_LIST = _route("pet_owner.list", "pet_owner", R)
    PET_OWNER_READ = _route("pet_owner.read", "pet_owner", R, "owner_id")
    PET_OWNER_UPDATE = _route("pet_owner.update", "pet_owner", W, "owner_id")
    OWNER_ASSOCIATION_LIST = _route("association.list", "pet_owner", D, "owner_id")
    ASSOCIATION_CREATE = _route("association.create", "association", W, creates="association")
    ASSOCIATION_APPROVE = _route("association.approve", "association", W, "association_id")
    ASSOCIATION_REJECT = _route("association.reject", "association", W, "association_id")
    ASSOCIATION_DEACTIVATE = _route("association.deactivate", "association", W, "association_id")
    PET_CREATE = _route("pet.create", "pet", W, creates="pet")
    PET_LIST = _route("pet.list", "pet", R)
    PET_READ = _route("pet.read", "pet", R, "pet_id")
    PET_UPDATE = _route("pet.update", "pet", W, "pet_id")
    PET_DEACTIVATE = _route("pet.deactivate", "pet", W, "pet_id")
    PET_REACTIVATE = _route("pet.reactivate", "pet", W, "pet_id")

    # ------------------------------------------------------------ medical records
    MEDICAL_RECORD_CREATE = _route(
        "medical_record.create", "pet", W, "pet_id", creates="medical_record"
    )
    MEDICAL_RECORD_LIST = _route("medical_record.list", "pet", M, "pet_id")
    # The current version, a version, ``as_of``, the history.
    MEDICAL_RECORD_READ = _route("medical_record.read", "medical_record", M, "record_id")
    MEDICAL_RECORD_AMEND = _route("medical_record.amend", "medical_record", W, "record_id")
    MEDICAL_RECORD_ENTERED_IN_ERROR = _route(
        "medical_record.entered_in_error", "medical_record", W, "record_id"
    )
    MEDICAL_RECORD_SIGN = _route("medical_record.sign", "medical_record", W, "record_id")
    PET_TIMELINE = _route("pet.timeline", "pet", M, "pet_id")
    FOLLOW_UP_LIST = _route("medical_record.list", "practice", M, "practice_id")

    # ------------------------------------------------------------ appointments, visits
    APPOINTMENT_CREATE = _route(
        "appointment.create", "practice", W, "practice_id", creates="appointment"
    )
    PRACTICE_APPOINTMENT_LIST = _route("appointment.list", "practice", R, "practice_id")
    OWNER_APPOINTMENT_LIST = _route("appointment.list", "pet_owner", R, "owner_id")
    APPOINTMENT_READ = _route("appointment.read", "appointment", R, "appointment_id")
    APPOINTMENT_UPDATE = _route("appointment.update", "appointment", W, "appointment_id")
    APPOINTMENT_STATUS_CHANGE = _route(
        "appointment.status_change", "appointment", W, "appointment_id"
    )
    VISIT_CREATE = _route("visit.create", "pet", W, "pet_id", creates="visit")
    VISIT_LIST = _route("visit.list", "pet", M, "pet_id")
    VISIT_READ = _route("visit.read", "visit", M, "visit_id")
    VISIT_UPDATE = _route("visit.update", "visit", W, "visit_id")
    VISIT_AUDIO_UPLOAD = _route("visit.audio_upload", "visit", W, "visit_id")
    VISIT_AUDIO_UPLOAD_URL = _route("visit.audio_upload_url", "visit", W, "visit_id")
    VISIT_AUDIO_READ = _route("visit.audio_read", "visit", M, "visit_id")
    VISIT_SUMMARY_REQUEST = _route("visit.summary_request", "visit", W, "visit_id")
    VISIT_SUMMARY_DRAFT = _service("visit.summary_draft", "visit", W)  # the worker
    VISIT_SUMMARY_ACCEPT = _route(
        "visit.summary_accept", "visit", W, "visit_id", creates="medical_record"
    )
    VISIT_TRANSCRIPTION_REQUEST = _route("visit.transcription_request", "visit", W, "visit_id")
    VISIT_TRANSCRIBE = _service("visit.transcribe", "visit", W)  # the worker
    ATTACHMENT_CREATE = _route(
        "attachment.create", "medical_record", W, "record_id", creates="attachment"
    )
    ATTACHMENT_LIST = _route("attachment.list", "medical_record", M, "record_id")
    ATTACHMENT_READ = _route("attachment.read", "attachment", M, "attachment_id")
    DASHBOARD_READ = _route("dashboard.read", "practice", M)

    # ------------------------------------------------------------ the audit trail
    AUDIT_SEARCH = _route("audit.read", "audit_event", M)
    PET_ACCESS_LOG_READ = _route("audit.read", "pet", M, "pet_id")

    # ------------------------------------------------------------ knowledge base
    # Reference documents, not medical data: reads leave refusals only.
    KB_DOCUMENT_CREATE = _route("kb_document.create", "kb_document", W, creates="kb_document")
    KB_DOCUMENT_LIST = _route("kb_document.list", "kb_document", D)
    KB_DOCUMENT_READ = _route("kb_document.read", "kb_document", D, "document_id")
    KB_DOCUMENT_DELETE = _route("kb_document.delete", "kb_document", W, "document_id")
    # The worker and the command line (``kb load``, the demo data).
    KB_DOCUMENT_INGEST = _service("kb_document.ingest", "kb_document", W)
    KB_DOCUMENT_REPLACE = _service("kb_document.replace", "kb_document", W)
    # A question is a read sent as POST (its body); no row unless refused.
    KB_QUERY = _route("kb.query", "kb", D)

    # ------------------------------------------------------------ invitations, owner lifecycle
    INVITATION_LIST = _route("invitation.list", "practice", D, "practice_id")
    INVITATION_REVOKE = _route("invitation.revoke", "invitation", W, "invitation_id")
    # An existing, signed-in account accepts (its row names the invitation).
    INVITATION_ACCEPT_EXISTING = _route("invitation.accept_existing", "invitation", W)
    PET_OWNER_DEACTIVATE = _route("pet_owner.deactivate", "pet_owner", W, "owner_id")
    PET_OWNER_REACTIVATE = _route("pet_owner.reactivate", "pet_owner", W, "owner_id")
    # Everything about an owner and their pets, medical records included.
    PET_OWNER_EXPORT = _route("pet_owner.export", "pet_owner", M, "owner_id")
    PET_OWNER_ERASE = _route("pet_owner.erase", "pet_owner", W, "owner_id")
    # ------------------------------------------------------------ client messages
    # An owner's channel consent and message log are client data: reads leave a row.
    MESSAGE_CONSENT_READ = _route("message_consent.read", "pet_owner", R, "owner_id")
    MESSAGE_CONSENT_UPDATE = _route("message_consent.update", "pet_owner", W, "owner_id")
    OWNER_MESSAGE_LIST = _route("message.list", "pet_owner", R, "owner_id")
    # A practice's reminder rules are its settings, not client data.
    REMINDER_RULE_CREATE = _route(
        "reminder_rule.create", "practice", W, "practice_id", creates="reminder_rule"
    )
    REMINDER_RULE_LIST = _route("reminder_rule.list", "practice", D, "practice_id")
    REMINDER_RULE_UPDATE = _route("reminder_rule.update", "reminder_rule", W, "rule_id")
    REMINDER_RULE_DELETE = _route("reminder_rule.delete", "reminder_rule", W, "rule_id")
    # ------------------------------------------------------------ scheduling
    # Settings, rosters, exceptions, types and free slots are not client data: their reads
    # leave refusals only.
    SCHEDULE_SETTINGS_READ = _route("schedule_settings.read", "practice", D, "practice_id")
    SCHEDULE_SETTINGS_UPDATE = _route("schedule_settings.update", "practice", W, "practice_id")
    ROSTER_LIST = _route("roster.list", "practice", D, "practice_id")
    ROSTER_UPDATE = _route("roster.update", "practice", W, "practice_id")
    SCHEDULE_EXCEPTION_LIST = _route("schedule_exception.list", "practice", D, "practice_id")
    SCHEDULE_EXCEPTION_CREATE = _route(
        "schedule_exception.create", "practice", W, "practice_id", creates="schedule_exception"
    )
    SCHEDULE_EXCEPTION_DELETE = _route(
        "schedule_exception.delete", "schedule_exception", W, "exception_id"
    )
    APPOINTMENT_TYPE_LIST = _route("appointment_type.list", "practice", D, "practice_id")
    APPOINTMENT_TYPE_UPDATE = _route("appointment_type.update", "practice", W, "practice_id")
    APPOINTMENT_TYPE_DELETE = _route("appointment_type.delete", "practice", W, "practice_id")
    SLOT_LIST = _route("slot.list", "practice", D, "practice_id")
    APPOINTMENT_REQUEST = _route(
        "appointment.request", "practice", W, "practice_id", creates="appointment"
    )
    APPOINTMENT_CANCEL = _route("appointment.cancel", "appointment", W, "appointment_id")
    # ``GET /visits?appointment_id=``: one row naming the appointment (a query parameter).
    APPOINTMENT_VISIT_LIST = _route("visit.list", "appointment", M)
    # ------------------------------------------------------------ FHIR R4 (api/fhir/)
    # The same reads as the JSON API's, under their own actions so that a pet's access
    # log tells which interface read it. Searches name the pet of ``?patient=``.
    FHIR_METADATA = _route("fhir.metadata", "fhir", N)  # the public CapabilityStatement
    FHIR_PATIENT_READ = _route("pet.fhir_read", "pet", R, "pet_id")
    FHIR_RELATED_PERSON_READ = _route("pet.fhir_owner_read", "pet", R, "pet_id")
    FHIR_ENCOUNTER_READ = _route("visit.fhir_read", "visit", M, "visit_id")
    FHIR_OBSERVATION_SEARCH = _route("pet.fhir_observation_search", "pet", M)
    FHIR_IMMUNIZATION_SEARCH = _route("pet.fhir_immunization_search", "pet", M)
    FHIR_DOCUMENT_SEARCH = _route("pet.fhir_document_search", "pet", M)
    FHIR_PATIENT_EVERYTHING = _route("pet.fhir_everything", "pet", M, "pet_id")
    # ------------------------------------------------------------ webhooks
    # Configuration, not client data: reads leave refusals only; every change a row.
    WEBHOOK_CREATE = _route("webhook.create", "practice", W, "practice_id", creates="webhook")
    WEBHOOK_LIST = _route("webhook.list", "practice", D, "practice_id")
    WEBHOOK_READ = _route("webhook.read", "webhook", D, "webhook_id")
    WEBHOOK_UPDATE = _route("webhook.update", "webhook", W, "webhook_id")
    WEBHOOK_ROTATE_SECRET = _route("webhook.rotate_secret", "webhook", W, "webhook_id")
    WEBHOOK_DELIVERY_LIST = _route("webhook_delivery.list", "webhook", D, "webhook_id")
    WEBHOOK_DELIVERY_RESEND = _route(
        "webhook_delivery.resend", "webhook_delivery", W, "delivery_id"
    )
    # ------------------------------------------------------------ API keys
    # Like webhooks: configuration, reads leave refusals only, every change a row. Each
    # request made with a key names the key as its actor (role API_KEY); a key refused at
    # authentication (unknown, revoked, expired) leaves AUTH_API_KEY_REJECTED.
    API_KEY_CREATE = _route("api_key.create", "practice", W, "practice_id", creates="api_key")
    API_KEY_LIST = _route("api_key.list", "practice", D, "practice_id")
    API_KEY_READ = _route("api_key.read", "api_key", D, "key_id")
    API_KEY_REVOKE = _route("api_key.revoke", "api_key", W, "key_id")
    AUTH_API_KEY_REJECTED = _service("auth.api_key_rejected", "api_key", A)

    def row_resource_type(self, *, success: bool) -> str:
        """The ``resource_type`` of this action's row: a create's success names the new
        object; anything else (a refusal of a create too) names the path's resource."""
        return self.creates if success and self.creates is not None else self.resource_type


# The association steps a decision names (``POST /associations/{id}/<step>``).
ASSOCIATION_STEPS = {
    "approve": AuditAction.ASSOCIATION_APPROVE,
    "reject": AuditAction.ASSOCIATION_REJECT,
    "deactivate": AuditAction.ASSOCIATION_DEACTIVATE,
}
