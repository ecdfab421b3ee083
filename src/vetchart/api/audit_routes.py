"""What every operation is, for the audit trail: its action, the resource it names, and
which of its outcomes leave a row.

Services write the rows of successes (in the transaction of the change, or of the read).
Denials (403, and 404 where the caller may not see the resource) are written here, by the
one error handler, from this table. The table must name every operation: the audit
coverage test fails when a new route is added without an entry.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Audited(enum.Enum):
    WRITE = "write"  # every success leaves a row (the service writes it)
    MEDICAL_READ = "medical_read"  # a read of medical data: every success leaves a row
    # A read of client data (pets, owners, appointments): every success leaves a row too,
    # written in the read's own transaction like a medical read's (docs/audit.md).
    READ = "read"
    AUTH = "auth"  # an authentication event: the service writes success and failure rows
    DENIALS_ONLY = "denials_only"  # a read of other data: only refusals leave a row
    NONE = "none"  # health and metrics: no caller, no data


@dataclass(frozen=True)
class AuditedRoute:
    action: str
    resource_type: str
    id_param: str | None
    audited: Audited
    # A create's success row names the new object, of this type, not the path's resource.
    creates: str | None = None


def _r(
    action: str,
    resource_type: str,
    id_param: str | None,
    audited: Audited,
    creates: str | None = None,
) -> AuditedRoute:
    return AuditedRoute(action, resource_type, id_param, audited, creates)


W, M, R, A, D, N = (
    Audited.WRITE,
    Audited.MEDICAL_READ,
    Audited.READ,
    Audited.AUTH,
    Audited.DENIALS_ONLY,
    Audited.NONE,
)
V1 = "/api/v1"

ROUTES: dict[tuple[str, str], AuditedRoute] = {
    ("GET", "/health/live"): _r("health.live", "health", None, N),
    ("GET", "/health/ready"): _r("health.ready", "health", None, N),
    ("GET", "/metrics"): _r("metrics.read", "metrics", None, N),
    # identity
    ("POST", f"{V1}/auth/signup"): _r("user.signup", "user", None, W, "user"),
    ("POST", f"{V1}/auth/token"): _r("auth.login", "user", None, A),
    ("POST", f"{V1}/auth/mfa/verify"): _r("auth.login", "user", None, A),
    ("POST", f"{V1}/auth/mfa/totp"): _r("auth.mfa_enrol_start", "user", None, A),
    ("DELETE", f"{V1}/auth/mfa/totp"): _r("auth.mfa_disable", "user", None, A),
    ("POST", f"{V1}/auth/mfa/totp/confirm"): _r("auth.mfa_enable", "user", None, A),
    ("POST", f"{V1}/auth/refresh"): _r("auth.refresh", "session", None, A),
    ("POST", f"{V1}/auth/logout"): _r("auth.logout", "session", None, A),
    ("POST", f"{V1}/auth/logout-all"): _r("auth.logout", "user", None, A),
    ("GET", f"{V1}/auth/sessions"): _r("auth.session_list", "user", None, D),
    ("DELETE", f"{V1}/auth/sessions/{{session_id}}"): _r(
        "auth.session_revoke", "session", "session_id", A
    ),
    ("POST", f"{V1}/auth/password"): _r("auth.password_change", "user", None, A),
    ("GET", f"{V1}/users/me"): _r("user.read", "user", None, D),
    ("PATCH", f"{V1}/users/me"): _r("user.update", "user", None, W),
    ("GET", f"{V1}/users"): _r("user.list", "user", None, D),
    ("GET", f"{V1}/users/{{user_id}}"): _r("user.read", "user", "user_id", D),
    ("PATCH", f"{V1}/users/{{user_id}}"): _r("user.update", "user", "user_id", W),
    ("POST", f"{V1}/users/{{user_id}}/unlock"): _r("user.unlock", "user", "user_id", W),
    # practices and staff
    ("POST", f"{V1}/practices"): _r("practice.create", "practice", None, W, "practice"),
    ("GET", f"{V1}/practices"): _r("practice.list", "practice", None, D),
    ("GET", f"{V1}/practices/{{practice_id}}"): _r("practice.read", "practice", "practice_id", D),
    ("PATCH", f"{V1}/practices/{{practice_id}}"): _r(
        "practice.update", "practice", "practice_id", W
    ),
    ("POST", f"{V1}/practices/{{practice_id}}/deactivate"): _r(
        "practice.deactivate", "practice", "practice_id", W
    ),
    ("GET", f"{V1}/practices/{{practice_id}}/staff"): _r(
        "practice.staff_list", "practice", "practice_id", D
    ),
    ("POST", f"{V1}/practices/{{practice_id}}/invitations"): _r(
        "invitation.create", "practice", "practice_id", W, "invitation"
    ),
    ("GET", f"{V1}/practices/{{practice_id}}/associations"): _r(
        "association.list", "practice", "practice_id", D
    ),
    ("POST", f"{V1}/invitations/accept"): _r("invitation.accept", "invitation", None, W),
    # clients
    ("POST", f"{V1}/pet-owners"): _r("pet_owner.create", "pet_owner", None, W, "pet_owner"),
    ("GET", f"{V1}/pet-owners"): _r("pet_owner.list", "pet_owner", None, R),
    ("GET", f"{V1}/pet-owners/{{owner_id}}"): _r("pet_owner.read", "pet_owner", "owner_id", R),
    ("PATCH", f"{V1}/pet-owners/{{owner_id}}"): _r("pet_owner.update", "pet_owner", "owner_id", W),
    ("GET", f"{V1}/pet-owners/{{owner_id}}/associations"): _r(
        "association.list", "pet_owner", "owner_id", D
    ),
    ("POST", f"{V1}/associations"): _r("association.create", "association", None, W, "association"),
    ("POST", f"{V1}/associations/{{association_id}}/approve"): _r(
        "association.approve", "association", "association_id", W
    ),
    ("POST", f"{V1}/associations/{{association_id}}/reject"): _r(
        "association.reject", "association", "association_id", W
    ),
    ("POST", f"{V1}/associations/{{association_id}}/deactivate"): _r(
        "association.deactivate", "association", "association_id", W
    ),
    ("POST", f"{V1}/pets"): _r("pet.create", "pet", None, W, "pet"),
    ("GET", f"{V1}/pets"): _r("pet.list", "pet", None, R),
    ("GET", f"{V1}/pets/{{pet_id}}"): _r("pet.read", "pet", "pet_id", R),
    ("PATCH", f"{V1}/pets/{{pet_id}}"): _r("pet.update", "pet", "pet_id", W),
    ("POST", f"{V1}/pets/{{pet_id}}/deactivate"): _r("pet.deactivate", "pet", "pet_id", W),
    ("POST", f"{V1}/pets/{{pet_id}}/reactivate"): _r("pet.reactivate", "pet", "pet_id", W),
    # medical records
    ("POST", f"{V1}/pets/{{pet_id}}/medical-records"): _r(
        "medical_record.create", "pet", "pet_id", W, "medical_record"
    ),
    ("GET", f"{V1}/pets/{{pet_id}}/medical-records"): _r("medical_record.list", "pet", "pet_id", M),
    ("GET", f"{V1}/medical-records/{{record_id}}"): _r(
        "medical_record.read", "medical_record", "record_id", M
    ),
    ("PATCH", f"{V1}/medical-records/{{record_id}}"): _r(
        "medical_record.amend", "medical_record", "record_id", W
    ),
    ("GET", f"{V1}/medical-records/{{record_id}}/history"): _r(
        "medical_record.read", "medical_record", "record_id", M
    ),
    ("GET", f"{V1}/medical-records/{{record_id}}/versions/{{version}}"): _r(
        "medical_record.read", "medical_record", "record_id", M
    ),
    ("POST", f"{V1}/medical-records/{{record_id}}/entered-in-error"): _r(
        "medical_record.entered_in_error", "medical_record", "record_id", W
    ),
    ("POST", f"{V1}/medical-records/{{record_id}}/sign"): _r(
        "medical_record.sign", "medical_record", "record_id", W
    ),
    ("GET", f"{V1}/pets/{{pet_id}}/timeline"): _r("pet.timeline", "pet", "pet_id", M),
    ("GET", f"{V1}/practices/{{practice_id}}/follow-ups"): _r(
        "medical_record.list", "practice", "practice_id", M
    ),
    # appointments, visits, attachments, dashboard
    ("POST", f"{V1}/practices/{{practice_id}}/appointments"): _r(
        "appointment.create", "practice", "practice_id", W, "appointment"
    ),
    ("GET", f"{V1}/practices/{{practice_id}}/appointments"): _r(
        "appointment.list", "practice", "practice_id", R
    ),
    ("GET", f"{V1}/pet-owners/{{owner_id}}/appointments"): _r(
        "appointment.list", "pet_owner", "owner_id", R
    ),
    ("GET", f"{V1}/appointments/{{appointment_id}}"): _r(
        "appointment.read", "appointment", "appointment_id", R
    ),
    ("PATCH", f"{V1}/appointments/{{appointment_id}}"): _r(
        "appointment.update", "appointment", "appointment_id", W
    ),
    ("POST", f"{V1}/appointments/{{appointment_id}}/status"): _r(
        "appointment.status_change", "appointment", "appointment_id", W
    ),
    ("POST", f"{V1}/pets/{{pet_id}}/visits"): _r("visit.create", "pet", "pet_id", W, "visit"),
    ("GET", f"{V1}/pets/{{pet_id}}/visits"): _r("visit.list", "pet", "pet_id", M),
    ("GET", f"{V1}/visits/{{visit_id}}"): _r("visit.read", "visit", "visit_id", M),
    ("PATCH", f"{V1}/visits/{{visit_id}}"): _r("visit.update", "visit", "visit_id", W),
    ("PUT", f"{V1}/visits/{{visit_id}}/audio"): _r("visit.audio_upload", "visit", "visit_id", W),
    ("POST", f"{V1}/visits/{{visit_id}}/audio/upload-url"): _r(
        "visit.audio_upload_url", "visit", "visit_id", W
    ),
    ("POST", f"{V1}/visits/{{visit_id}}/audio/complete"): _r(
        "visit.audio_upload", "visit", "visit_id", W
    ),
    ("GET", f"{V1}/visits/{{visit_id}}/audio"): _r("visit.audio_read", "visit", "visit_id", M),
    ("POST", f"{V1}/medical-records/{{record_id}}/attachments"): _r(
        "attachment.create", "medical_record", "record_id", W, "attachment"
    ),
    ("GET", f"{V1}/medical-records/{{record_id}}/attachments"): _r(
        "attachment.list", "medical_record", "record_id", M
    ),
    ("GET", f"{V1}/attachments/{{attachment_id}}/content"): _r(
        "attachment.read", "attachment", "attachment_id", M
    ),
    ("POST", f"{V1}/visits/{{visit_id}}/summary"): _r(
        "visit.summary_request", "visit", "visit_id", W
    ),
    ("POST", f"{V1}/visits/{{visit_id}}/summary/accept"): _r(
        "visit.summary_accept", "visit", "visit_id", W, "medical_record"
    ),
    ("GET", f"{V1}/dashboard/today"): _r("dashboard.read", "practice", None, M),
    # audit
    ("GET", f"{V1}/audit-events"): _r("audit.read", "audit_event", None, M),
    ("GET", f"{V1}/pets/{{pet_id}}/access-log"): _r("audit.read", "pet", "pet_id", M),
    # Signed-URL file access (local storage): no caller; the request that issued the URL
    # was audited, and the URL is short-lived and bound to one key and method.
    ("GET", f"{V1}/files/{{key}}"): _r("file.read", "file", "key", N),
    ("PUT", f"{V1}/files/{{key}}"): _r("file.write", "file", "key", N),
    # knowledge base (reference documents, not medical data: reads leave denials only)
    ("POST", f"{V1}/kb/documents"): _r("kb_document.create", "kb_document", None, W, "kb_document"),
    ("GET", f"{V1}/kb/documents"): _r("kb_document.list", "kb_document", None, D),
    ("GET", f"{V1}/kb/documents/{{document_id}}"): _r(
        "kb_document.read", "kb_document", "document_id", D
    ),
    ("DELETE", f"{V1}/kb/documents/{{document_id}}"): _r(
        "kb_document.delete", "kb_document", "document_id", W
    ),
    # A question is a read sent as POST (its body); no row unless refused.
    ("POST", f"{V1}/kb/query"): _r("kb.query", "kb", None, D),
}

# Operations sent as POST that change nothing (so not audited as writes).
READS_BY_POST = frozenset({("POST", f"{V1}/kb/query")})


def route_for(method: str, template: str) -> AuditedRoute | None:
    return ROUTES.get((method.upper(), template))
