"""The BOLA / scope matrix: every endpoint of the practices, staff, invitations, pet owners,
associations, pets, medical records and appointments / visits / dashboard tables of API.md
x every role x every relation that matters.

The cases come from ONE table, ``MATRIX``: a row names an endpoint (method and the route's
path template, exactly as the app declares it), a *relation* (which object the request
targets, named from the Riverside staff's point of view; see below) and the expected
status for each caller. A new endpoint
joins by adding rows here and, if it needs one, a request builder in ``BUILDERS``;
``test_matrix_covers_every_route`` fails while a route of these tables has no row.

Callers (one per column; staff are all Riverside's):

    ANON     no Authorization header
    OWNER    owner@vetchart.local (PET_OWNER; the demo owner profile linked to it is an
             approved client of both practices)
    STAFF    tech@riverside  (VET_STAFF)
    VET      vet@riverside   (VET)
    P_ADMIN  manager@riverside (PRACTICE_ADMIN)
    S_ADMIN  admin@vetchart.local (SYSTEM_ADMIN)

Relations:

    practices   own_practice (Riverside), other_practice (Hillcrest), inactive_practice (a
                deactivated practice), fresh_practice (one made for the case), missing
                (a random id). For OWNER and S_ADMIN "own" and "other" are just two practices.
    owners and  mine (OWNER's own profile / a pet of it), own_practice_client (approved
    pets        with Riverside only), other_practice_client (approved with Hillcrest only),
                pending_client (a *pending* association with Riverside, approved with
                Hillcrest), missing.
    others      named per endpoint below (tokens, association states, conflicts).

A cell is a status, or ``-`` for a combination that means nothing (e.g. "a second owner
profile" for staff, who have none). The expected statuses follow API.md: out of scope is
404 (never 403), a visible object with a forbidden action is 403, a legal request that
conflicts is 409, no token is 401.

The world (demo data plus a few objects per relation) is built once for this module on
its own database. Reads use shared objects; every request that changes something works
on objects created for that case, or makes a harmless change (a phone number), so the
cases are independent of their order.

    medical    a record on the named pet: mine (OWNER's pet, written by Riverside's vet),
    records    own_practice_client (written by Riverside's vet), own_practice_by_staff
               (the same pet, written by Riverside's technician, i.e. STAFF is the
               author), mine_other_practice (OWNER's pet, written by Hillcrest's vet: a
               shared client), other_practice_client and pending_client (written by
               Hillcrest's vet), missing. Reads use one shared record per relation;
               changes (If-Match "1") a record made for the case.

    appoint-   an appointment of the named owner's pet, at the named practice, with
    ments      that practice's demo vet: mine_own_practice (OWNER's pet at Riverside),
               mine_other_practice (OWNER's pet at Hillcrest: the client is shared, the
               appointment is Hillcrest's business only), own_practice_client (at
               Riverside), other_practice_client (at Hillcrest), missing. Reads use one
               shared appointment per relation; changes (If-Match "1") one made for the
               case, each in a slot of its own. Booking (POST) names the practice;
               taken_slot books a Riverside slot that is already taken (409).
    visits     a visit of the named pet, recorded by the named practice: mine (OWNER's
               pet, Riverside), mine_other_practice (OWNER's pet, Hillcrest), and
               own_practice_client, other_practice_client, pending_client (by the practice
               they are approved with). Visits are read like medical records (any practice
               the client is approved with), changed only by the recording practice.

    uploads    visit audio and record attachments use the visit and record relations
               above; the upload bodies themselves are tested in test_uploads.py.

"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from sqlalchemy import text

from tests.api.audit_checks import assert_audited, declared_actions
from tests.api.auth_helpers import (
    ADMIN,
    HILLCREST_MANAGER,
    HILLCREST_TECH,
    HILLCREST_VET,
    OWNER,
    RIVERSIDE_MANAGER,
    RIVERSIDE_TECH,
    RIVERSIDE_VET,
    STRONG_PASSWORD,
)
from tests.api.test_schedule_flow import tiny_pdf, tiny_wav
from tests.fixtures.world import World as BaseWorld
from tests.fixtures.world import open_world
from vetchart.config import RateLimitSettings, StorageSettings, SttSettings
from vetchart.domain import api_keys as api_key_parts
from vetchart.domain.api_keys import ApiKey
from vetchart.domain.appointments import (
    AppointmentStatus,
    AppointmentType,
    StoredFile,
    Visit,
    VisitState,
    new_appointment,
)
from vetchart.domain.messaging import ReminderRule
from vetchart.domain.owners import (
    AssociationStatus,
    ConsentParty,
)
from vetchart.domain.policy import Action, ClientScope
from vetchart.domain.records import MedicalRecord, PetFacts, RecordContent, RecordType
from vetchart.domain.scheduling import (
    AppointmentTypeSetting,
    ScheduleException,
    ScheduleSettings,
    WeeklyInterval,
)
from vetchart.domain.uploads import ObjectKey, UploadKind
from vetchart.domain.users import Role, User
from vetchart.domain.webhooks import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from vetchart.services.auth.base import token_digest
from vetchart.services.ports.identity import Invitation
from vetchart.services.ports.records import Attachment
from vetchart.services.ports.storage import StoredObject
from vetchart.services.webhooks import new_secret

pytestmark = pytest.mark.asyncio(loop_scope="module")

API = "/api/v1"

# --------------------------------------------------------------------------- the table

COLUMNS = ("ANON", "OWNER", "STAFF", "VET", "P_ADMIN", "S_ADMIN")
HEADER = ("relation", *COLUMNS)
METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")
MATRIX = """
    relation                 ANON  OWNER  STAFF  VET  P_ADMIN  S_ADMIN
POST /practices
    new                       401    403    403  403      403      201
    taken_license             401    403    403  403      403      409
GET /practices
    -                         401    200    200  200      200      200
GET /practices/{practice_id}
    own_practice              401    200    200  200      200      200
    other_practice            401    200    200  200      200      200
    inactive_practice         401    404    404  404      404      200
    missing                   401    404    404  404      404      404
# An inactive practice exists for SYSTEM_ADMIN only (404 for everyone else).
PATCH /practices/{practice_id}
    own_practice              401    403    403  403      200      200
    other_practice            401    403    403  403      403      200
    inactive_practice         401    404    404  404      404      200
    missing                   401    404    404  404      404      404
# Deactivating a shared practice would break the other cases: S_ADMIN uses a fresh one.
POST /practices/{practice_id}/deactivate
    own_practice              401    403    403  403      403        -
    fresh_practice            401    403    403  403      403      200
    missing                   401    403    403  403      403      404
GET /practices/{practice_id}/staff
    own_practice              401    403    200  200      200      200
    other_practice            401    403    403  403      403      200
    inactive_practice         401    404    404  404      404      200
    missing                   401    404    404  404      404      404
# own_staff_email: Riverside's vet's email (already its staff: 409); other_staff_email:
# Hillcrest's vet's (an existing account may be invited: it moves when it accepts).
POST /practices/{practice_id}/invitations
    own_practice              401    403    403  403      201      201
    other_practice            401    403    403  403      403      201
    own_staff_email           401    403    403  403      409      409
    other_staff_email         401    403    403  403      201      201
    missing                   401    404    404  404      404      404
# Anyone holding the token; a bearer token sent along changes nothing.
POST /invitations/accept
    valid_token               201    201    201  201      201      201
    used_token                410    410    410  410      410      410
    expired_token             410    410    410  410      410      410
    revoked_token             410    410    410  410      410      410
    unknown_token             410    410    410  410      410      410
GET /practices/{practice_id}/invitations
    own_practice              401    403    403  403      200      200
    other_practice            401    403    403  403      403      200
    inactive_practice         401    404    404  404      404      200
    missing                   401    404    404  404      404      404
# A pending invitation made for the case: to Riverside (own_practice) or Hillcrest
# (other_practice); accepted: a used one of Riverside (409).
POST /invitations/{invitation_id}/revoke
    own_practice              401    403    403  403      200      200
    other_practice            401    403    403  403      404      200
    accepted                  401    403    403  403      409      409
    missing                   401    403    403  403      404      404
# With the caller's own signed-in account. for_me: an invitation to Riverside for the
# caller's email, the caller made for the case (OWNER: a PET_OWNER without a profile;
# STAFF, VET, P_ADMIN: Hillcrest staff of that role, who move to Riverside);
# for_someone_else: a valid token of another email; already_mine: a valid invitation to
# Riverside for the column's demo account (Riverside staff already; OWNER has a profile).
POST /invitations/accept-existing
    for_me                    401    200    200  200      200      403
    for_someone_else          401    403    403  403      403      403
    already_mine              401    409    409  409      409      403
    used_token                401    410    410  410      410      403

# no_profile_yet: OWNER is a PET_OWNER without a profile (made for the case); staff
# create a client of their practice. has_profile: OWNER already has one.
POST /pet-owners
    no_profile_yet            401    201    201  201      201      403
    has_profile               401    409      -    -        -        -
GET /pet-owners
    -                         401    200    200  200      200      200
GET /pet-owners/{owner_id}
    mine                      401    200    200  200      200      200
    own_practice_client       401    404    200  200      200      200
    other_practice_client     401    404    404  404      404      200
    pending_client            401    404    404  404      404      200
    missing                   401    404    404  404      404      404
PATCH /pet-owners/{owner_id}
    mine                      401    200    200  200      200      200
    own_practice_client       401    404    200  200      200      200
    other_practice_client     401    404    404  404      404      200
    pending_client            401    404    404  404      404      200
    missing                   401    404    404  404      404      404
# Owner lifecycle. Changes work on owners made for the case: own_made_client (created by
# Riverside, its client only), own_practice_client (Riverside's client, not of its
# making), shared_made_client (created by Riverside, also Hillcrest's client),
# other_practice_client (Hillcrest's only). mine is OWNER's own profile (S_ADMIN would
# change the shared demo owner: no cell).
POST /pet-owners/{owner_id}/deactivate
    mine                      401    403    403  403      403        -
    own_made_client           401    404    403  403      200      200
    own_practice_client       401    404    403  403      403      200
    other_practice_client     401    404    404  404      404      200
    missing                   401    404    404  404      404      404
# The same, on owners made inactive for the case.
POST /pet-owners/{owner_id}/reactivate
    mine                      401    403    403  403      403        -
    own_made_client           401    404    403  403      200      200
    own_practice_client       401    404    403  403      403      200
    other_practice_client     401    404    404  404      404      200
    missing                   401    404    404  404      404      404
POST /pet-owners/{owner_id}/erase
    mine                      401    403    403  403      403        -
    own_made_client           401    404    403  403      200      200
    shared_made_client        401    404    403  403      403      200
    other_practice_client     401    404    404  404      404      200
    missing                   401    404    404  404      404      404
GET /pet-owners/{owner_id}/export
    mine                      401    200    403  403      200      200
    own_practice_client       401    404    403  403      200      200
    other_practice_client     401    404    404  404      404      200
    pending_client            401    404    404  404      404      200
    missing                   401    404    404  404      404      404
GET /pet-owners/{owner_id}/associations
    mine                      401    200    200  200      200      200
    own_practice_client       401    404    200  200      200      200
    other_practice_client     401    404    404  404      404      200
    pending_client            401    404    404  404      404      200
    missing                   401    404    404  404      404      404

# Body {pet_owner_id, practice_id}:
#   new_client_own_practice    a client of Hillcrest only (made for the case) -> Riverside:
#                              for staff 201 *pending*, awaiting the owner's consent
#   own_made_own_practice      a client Riverside created, its association deactivated
#                              (made for the case) -> Riverside: for staff 201 approved
#   awaiting_own_practice      a client of Hillcrest that Riverside asked for already
#                              (pending, awaiting the owner) -> Riverside: for staff the
#                              answer of missing_owner (not a 409: no existence oracle)
#   client_own_practice        own_practice_client -> Riverside (approved already)
#   pending_own_practice       pending_client -> Riverside (pending already)
#   client_other_practice      a client of Riverside only (made for the case) -> Hillcrest
#   mine_new_practice          OWNER's profile -> a practice made for the case
#   mine_linked_practice       OWNER's profile -> Riverside (approved already)
#   mine_inactive_practice     OWNER's profile -> a deactivated practice
#   mine_missing_practice      OWNER's profile -> a random practice id
#   missing_owner              a random owner id -> Riverside: for staff the answer of
#                              new_client_own_practice (201 pending, nothing stored)
POST /associations
    new_client_own_practice   401    404    201  201      201      403
    own_made_own_practice     401    404    201  201      201      403
    awaiting_own_practice     401    404    201  201      201      403
    client_own_practice       401    404    409  409      409      403
    pending_own_practice      401    404    409  409      409      403
    client_other_practice     401    404    403  403      403      403
    mine_new_practice         401    201    403  403      403      403
    mine_linked_practice      401    409    409  409      409      403
    mine_inactive_practice    401    404    403  403      403      403
    mine_missing_practice     401    404    403  403      403      403
    missing_owner             401    404    201  201      201      403
GET /practices/{practice_id}/associations
    own_practice              401    403    200  200      200      200
    other_practice            401    403    403  403      403      200
    inactive_practice         401    404    404  404      404      200
    missing                   401    404    404  404      404      404

# Decisions work on an association made for the case, in the named state.
# The OWNER sees their own associations (GET /pet-owners/{owner_id}/associations), so
# deciding one is 403 for them. "awaiting": a practice's request pending the owner's
# consent (the owner approves or rejects it; the practice does not see it); "refused":
# such a request the owner rejected (still out of the practice's sight).
POST /associations/{association_id}/approve
    mine_pending              401    403    404  404      404      403
    mine_awaiting             401    200    404  404      404      403
    own_practice_awaiting     401    404    404  404      404      403
    own_practice_refused      401    404    404  404      404      403
    own_practice_pending      401    404    403  200      200      403
    own_practice_approved     401    404    403  409      409      403
    other_practice_pending    401    404    404  404      404      403
    missing                   401    404    404  404      404      404
POST /associations/{association_id}/reject
    own_practice_pending      401    404    403  200      200      403
    mine_awaiting             401    200    404  404      404      403
    own_practice_awaiting     401    404    404  404      404      403
    own_practice_rejected     401    404    403  409      409      403
    other_practice_pending    401    404    404  404      404      403
    missing                   401    404    404  404      404      404
POST /associations/{association_id}/deactivate
    own_practice_approved     401    404    403  200      200      403
    own_practice_pending      401    404    403  409      409      403
    mine_awaiting             401    403    404  404      404      403
    own_practice_awaiting     401    404    404  404      404      403
    other_practice_approved   401    404    404  404      404      403
    missing                   401    404    404  404      404      404

# taken_microchip: OWNER's profile, with a microchip id another pet has.
POST /pets
    mine                      401    201    201  201      201      403
    own_practice_client       401    404    201  201      201      403
    other_practice_client     401    404    404  404      404      403
    pending_client            401    404    404  404      404      403
    missing                   401    404    404  404      404      403
    taken_microchip           401    409    409  409      409      403
GET /pets
    -                         401    200    200  200      200      200
GET /pets/{pet_id}
    mine                      401    200    200  200      200      200
    own_practice_client       401    404    200  200      200      200
    other_practice_client     401    404    404  404      404      200
    pending_client            401    404    404  404      404      200
    missing                   401    404    404  404      404      404
# Changes work on a pet made for the case (of the named owner), If-Match "1".
PATCH /pets/{pet_id}
    mine                      401    200    200  200      200      403
    own_practice_client       401    404    200  200      200      403
    other_practice_client     401    404    404  404      404      403
    pending_client            401    404    404  404      404      403
    missing                   401    404    404  404      404      404
POST /pets/{pet_id}/deactivate
    mine                      401    200    200  200      200      403
    own_practice_client       401    404    200  200      200      403
    other_practice_client     401    404    404  404      404      403
    pending_client            401    404    404  404      404      403
    missing                   401    404    404  404      404      404
POST /pets/{pet_id}/reactivate
    mine                      401    200    200  200      200      403
    own_practice_client       401    404    200  200      200      403
    other_practice_client     401    404    404  404      404      403
    pending_client            401    404    404  404      404      403
    missing                   401    404    404  404      404      404

# Medical records. Creating is a staff act (OWNER and S_ADMIN: 403 whatever the pet).
POST /pets/{pet_id}/medical-records
    mine                      401    403    201  201      201      403
    own_practice_client       401    403    201  201      201      403
    other_practice_client     401    403    404  404      404      403
    pending_client            401    403    404  404      404      403
    missing                   401    403    404  404      404      403
GET /pets/{pet_id}/medical-records
    mine                      401    200    200  200      200      200
    own_practice_client       401    404    200  200      200      200
    other_practice_client     401    404    404  404      404      200
    pending_client            401    404    404  404      404      200
    missing                   401    404    404  404      404      404
GET /pets/{pet_id}/timeline
    mine                      401    200    200  200      200      200
    own_practice_client       401    404    200  200      200      200
    other_practice_client     401    404    404  404      404      200
    pending_client            401    404    404  404      404      200
    missing                   401    404    404  404      404      404
GET /pets/{pet_id}/access-log
    mine                      401    200    200  200      200      200
    own_practice_client       401    404    200  200      200      200
    other_practice_client     401    404    404  404      404      200
    pending_client            401    404    404  404      404      200
    missing                   401    404    404  404      404      404
GET /audit-events
    all                       401    403    403  403      200      200
GET /medical-records/{record_id}
    mine                      401    200    200  200      200      200
    own_practice_client       401    404    200  200      200      200
    mine_other_practice       401    200    200  200      200      200
    other_practice_client     401    404    404  404      404      200
    pending_client            401    404    404  404      404      200
    missing                   401    404    404  404      404      404
GET /medical-records/{record_id}/history
    mine                      401    200    200  200      200      200
    own_practice_client       401    404    200  200      200      200
    mine_other_practice       401    200    200  200      200      200
    other_practice_client     401    404    404  404      404      200
    pending_client            401    404    404  404      404      200
    missing                   401    404    404  404      404      404
GET /medical-records/{record_id}/versions/{version}
    mine                      401    200    200  200      200      200
    own_practice_client       401    404    200  200      200      200
    mine_other_practice       401    200    200  200      200      200
    other_practice_client     401    404    404  404      404      200
    pending_client            401    404    404  404      404      200
    missing                   401    404    404  404      404      404
# Changes: the author, or a VET / PRACTICE_ADMIN of the authoring practice; readers who
# may not change a visible record get 403.
PATCH /medical-records/{record_id}
    mine                      401    403    403  200      200      403
    own_practice_client       401    404    403  200      200      403
    own_practice_by_staff     401    404    200  200      200      403
    mine_other_practice       401    403    403  403      403      403
    other_practice_client     401    404    404  404      404      403
    pending_client            401    404    404  404      404      403
    missing                   401    404    404  404      404      404
POST /medical-records/{record_id}/entered-in-error
    mine                      401    403    403  200      200      403
    own_practice_client       401    404    403  200      200      403
    own_practice_by_staff     401    404    200  200      200      403
    mine_other_practice       401    403    403  403      403      403
    other_practice_client     401    404    404  404      404      403
    pending_client            401    404    404  404      404      403
    missing                   401    404    404  404      404      404
# Signing: a VET of the authoring practice only.
POST /medical-records/{record_id}/sign
    mine                      401    403    403  200      403      403
    own_practice_client       401    404    403  200      403      403
    own_practice_by_staff     401    404    403  200      403      403
    mine_other_practice       401    403    403  403      403      403
    other_practice_client     401    404    404  404      404      403
    pending_client            401    404    404  404      404      403
    missing                   401    404    404  404      404      404
GET /practices/{practice_id}/follow-ups
    own_practice              401    403    200  200      200      200
    other_practice            401    403    403  403      403      200
    inactive_practice         401    404    404  404      404      200
    missing                   401    404    404  404      404      404

# Appointments. Booking is the practice's staff's (a practice is public: others 403); the
# list too, but SYSTEM_ADMIN may read it.
POST /practices/{practice_id}/appointments
    own_practice              401    403    201  201      201      403
    other_practice            401    403    403  403      403      403
    inactive_practice         401    404    404  404      404      403
    missing                   401    404    404  404      404      404
    taken_slot                401    403    409  409      409      403
GET /practices/{practice_id}/appointments
    own_practice              401    403    200  200      200      200
    other_practice            401    403    403  403      403      200
    inactive_practice         401    404    404  404      404      200
    missing                   401    404    404  404      404      404
# An owner's appointments: as visible as the owner profile (staff then see their own
# practice's appointments in it; the list may be empty).
GET /pet-owners/{owner_id}/appointments
    mine                      401    200    200  200      200      200
    own_practice_client       401    404    200  200      200      200
    other_practice_client     401    404    404  404      404      200
    pending_client            401    404    404  404      404      200
    missing                   401    404    404  404      404      404
# One appointment: the owner, the practice's staff, SYSTEM_ADMIN. Another practice's
# staff get 404 even for a client they share.
GET /appointments/{appointment_id}
    mine_own_practice         401    200    200  200      200      200
    mine_other_practice       401    200    404  404      404      200
    own_practice_client       401    404    200  200      200      200
    other_practice_client     401    404    404  404      404      200
    missing                   401    404    404  404      404      404
PATCH /appointments/{appointment_id}
    mine_own_practice         401    403    200  200      200      403
    mine_other_practice       401    403    404  404      404      403
    own_practice_client       401    404    200  200      200      403
    other_practice_client     401    404    404  404      404      403
    missing                   401    404    404  404      404      404
POST /appointments/{appointment_id}/status
    mine_own_practice         401    403    200  200      200      403
    mine_other_practice       401    403    404  404      404      403
    own_practice_client       401    404    200  200      200      403
    other_practice_client     401    404    404  404      404      403
    missing                   401    404    404  404      404      404
GET /dashboard/today
    -                         401    403    200  200      200      403

# Visits. Recording one is a staff act (OWNER and S_ADMIN: 403 whatever the pet).
POST /pets/{pet_id}/visits
    mine                      401    403    201  201      201      403
    own_practice_client       401    403    201  201      201      403
    other_practice_client     401    403    404  404      404      403
    pending_client            401    403    404  404      404      403
    missing                   401    403    404  404      404      403
GET /pets/{pet_id}/visits
    mine                      401    200    200  200      200      200
    own_practice_client       401    404    200  200      200      200
    other_practice_client     401    404    404  404      404      200
    pending_client            401    404    404  404      404      200
    missing                   401    404    404  404      404      404
GET /visits/{visit_id}
    mine                      401    200    200  200      200      200
    mine_other_practice       401    200    200  200      200      200
    own_practice_client       401    404    200  200      200      200
    other_practice_client     401    404    404  404      404      200
    pending_client            401    404    404  404      404      200
    missing                   401    404    404  404      404      404
# Changes: the recording practice's staff only (a visible visit of another practice: 403).
PATCH /visits/{visit_id}
    mine                      401    403    200  200      200      403
    mine_other_practice       401    403    403  403      403      403
    own_practice_client       401    404    200  200      200      403
    other_practice_client     401    404    404  404      404      403
    pending_client            401    404    404  404      404      403
    missing                   401    404    404  404      404      404
# Summaries: asking for one changes the visit (its practice's staff, as PATCH; 202);
# accepting a draft is for a VET of the visit's practice only (201; a draft is made for
# the case first).
POST /visits/{visit_id}/summary
    mine                      401    403    202  202      202      403
    mine_other_practice       401    403    403  403      403      403
    own_practice_client       401    404    202  202      202      403
    other_practice_client     401    404    404  404      404      403
    pending_client            401    404    404  404      404      403
    missing                   401    404    404  404      404      404
POST /visits/{visit_id}/summary/accept
    mine                      401    403    403  201      403      403
    mine_other_practice       401    403    403  403      403      403
    own_practice_client       401    404    403  201      403      403
    other_practice_client     401    404    404  404      404      403
    pending_client            401    404    404  404      404      403
    missing                   401    404    404  404      404      404
# Transcription: asking for it changes the visit (its practice's staff, as PATCH; 202).
POST /visits/{visit_id}/transcription
    mine                      401    403    202  202      202      403
    mine_other_practice       401    403    403  403      403      403
    own_practice_client       401    404    202  202      202      403
    other_practice_client     401    404    404  404      404      403
    pending_client            401    404    404  404      404      403
    missing                   401    404    404  404      404      404

# Visit audio: uploading is changing the visit (its practice's staff, as PATCH); the
# recording is read like the visit (a 307 to a short-lived URL). complete: the object
# was PUT to the upload URL already.
PUT /visits/{visit_id}/audio
    mine                      401    403    201  201      201      403
    mine_other_practice       401    403    403  403      403      403
    own_practice_client       401    404    201  201      201      403
    other_practice_client     401    404    404  404      404      403
    pending_client            401    404    404  404      404      403
    missing                   401    404    404  404      404      404
POST /visits/{visit_id}/audio/upload-url
    mine                      401    403    200  200      200      403
    mine_other_practice       401    403    403  403      403      403
    own_practice_client       401    404    200  200      200      403
    other_practice_client     401    404    404  404      404      403
    pending_client            401    404    404  404      404      403
    missing                   401    404    404  404      404      404
POST /visits/{visit_id}/audio/complete
    mine                      401    403    200  200      200      403
    mine_other_practice       401    403    403  403      403      403
    own_practice_client       401    404    200  200      200      403
    other_practice_client     401    404    404  404      404      403
    pending_client            401    404    404  404      404      403
    missing                   401    404    404  404      404      404
GET /visits/{visit_id}/audio
    mine                      401    307    307  307      307      307
    mine_other_practice       401    307    307  307      307      307
    own_practice_client       401    404    307  307      307      307
    other_practice_client     401    404    404  404      404      307
    pending_client            401    404    404  404      404      307
    missing                   401    404    404  404      404      404
# Attachments: adding one is changing the record (as PATCH /medical-records); reading
# them is reading the record.
POST /medical-records/{record_id}/attachments
    mine                      401    403    403  201      201      403
    own_practice_client       401    404    403  201      201      403
    own_practice_by_staff     401    404    201  201      201      403
    mine_other_practice       401    403    403  403      403      403
    other_practice_client     401    404    404  404      404      403
    pending_client            401    404    404  404      404      403
    missing                   401    404    404  404      404      404
GET /medical-records/{record_id}/attachments
    mine                      401    200    200  200      200      200
    own_practice_client       401    404    200  200      200      200
    mine_other_practice       401    200    200  200      200      200
    other_practice_client     401    404    404  404      404      200
    pending_client            401    404    404  404      404      200
    missing                   401    404    404  404      404      404
GET /attachments/{attachment_id}/content
    mine                      401    307    307  307      307      307
    own_practice_client       401    404    307  307      307      307
    mine_other_practice       401    307    307  307      307      307
    other_practice_client     401    404    404  404      404      307
    pending_client            401    404    404  404      404      307
    missing                   401    404    404  404      404      404

# Client messages (issue 15). An owner's channel consent and message log are as visible
# as the owner profile; consent is changed by the owner or staff in scope (SYSTEM_ADMIN
# reads only). A PATCH sets sms to true (harmless, repeatable).
GET /pet-owners/{owner_id}/message-consent
    mine                      401    200    200  200      200      200
    own_practice_client       401    404    200  200      200      200
    other_practice_client     401    404    404  404      404      200
    pending_client            401    404    404  404      404      200
    missing                   401    404    404  404      404      404
PATCH /pet-owners/{owner_id}/message-consent
    mine                      401    200    200  200      200      403
    own_practice_client       401    404    200  200      200      403
    other_practice_client     401    404    404  404      404      403
    pending_client            401    404    404  404      404      403
    missing                   401    404    404  404      404      404
GET /pet-owners/{owner_id}/messages
    mine                      401    200    200  200      200      200
    own_practice_client       401    404    200  200      200      200
    other_practice_client     401    404    404  404      404      200
    pending_client            401    404    404  404      404      200
    missing                   401    404    404  404      404      404
# A practice's reminder rules: read by its staff, managed by its PRACTICE_ADMIN. A rule
# exists only for its practice's staff and SYSTEM_ADMIN (404 for anyone else); PATCH and
# DELETE work on a rule made for the case.
POST /practices/{practice_id}/reminder-rules
    own_practice              401    403    403  403      201      403
    other_practice            401    403    403  403      403      403
    inactive_practice         401    404    404  404      404      403
    missing                   401    404    404  404      404      404
GET /practices/{practice_id}/reminder-rules
    own_practice              401    403    200  200      200      200
    other_practice            401    403    403  403      403      200
    inactive_practice         401    404    404  404      404      200
    missing                   401    404    404  404      404      404
PATCH /reminder-rules/{rule_id}
    own_practice              401    404    403  403      200      403
    other_practice            401    404    404  404      404      403
    missing                   401    404    404  404      404      404
DELETE /reminder-rules/{rule_id}
    own_practice              401    404    403  403      204      403
    other_practice            401    404    404  404      404      403
    missing                   401    404    404  404      404      404
# Scheduling (docs/scheduling.md). Settings, rosters and exceptions: read by the practice's
# staff, changed by its PRACTICE_ADMIN (and SYSTEM_ADMIN). Types: anyone who sees the
# practice reads them. Slots: its staff and its approved clients (OWNER is a client of
# both demo practices, not of a fresh one). Requests: owners only, in a free slot.
GET /practices/{practice_id}/schedule-settings
    own_practice              401    403    200  200      200      200
    other_practice            401    403    403  403      403      200
    inactive_practice         401    404    404  404      404      200
    missing                   401    404    404  404      404      404
PUT /practices/{practice_id}/schedule-settings
    own_practice              401    403    403  403      200      200
    other_practice            401    403    403  403      403      200
    inactive_practice         401    404    404  404      404      200
    missing                   401    404    404  404      404      404
GET /practices/{practice_id}/rosters
    own_practice              401    403    200  200      200      200
    other_practice            401    403    403  403      403      200
    inactive_practice         401    404    404  404      404      200
    missing                   401    404    404  404      404      404
# The practice's own vet (inactive practice: a vet it does not have).
PUT /practices/{practice_id}/rosters/{vet_id}
    own_practice              401    403    403  403      200      200
    other_practice            401    403    403  403      403      200
    inactive_practice         401    404    404  404      404      404
    missing                   401    404    404  404      404      404
GET /practices/{practice_id}/schedule-exceptions
    own_practice              401    403    200  200      200      200
    other_practice            401    403    403  403      403      200
    inactive_practice         401    404    404  404      404      200
    missing                   401    404    404  404      404      404
POST /practices/{practice_id}/schedule-exceptions
    own_practice              401    403    403  403      201      201
    other_practice            401    403    403  403      403      201
    inactive_practice         401    404    404  404      404      201
    missing                   401    404    404  404      404      404
# An exception of the named practice, made for the case (missing: an id it has not).
DELETE /practices/{practice_id}/schedule-exceptions/{exception_id}
    own_practice              401    403    403  403      204      204
    other_practice            401    403    403  403      403      204
    missing                   401    403    403  403      404      404
GET /practices/{practice_id}/appointment-types
    own_practice              401    200    200  200      200      200
    other_practice            401    200    200  200      200      200
    inactive_practice         401    404    404  404      404      200
    missing                   401    404    404  404      404      404
PUT /practices/{practice_id}/appointment-types/{appointment_type}
    own_practice              401    403    403  403      200      200
    other_practice            401    403    403  403      403      200
    inactive_practice         401    404    404  404      404      200
    missing                   401    404    404  404      404      404
# A type made for the case first (missing practice: none).
DELETE /practices/{practice_id}/appointment-types/{appointment_type}
    own_practice              401    403    403  403      204      204
    other_practice            401    403    403  403      403      204
    inactive_practice         401    404    404  404      404      204
    missing                   401    404    404  404      404      404
GET /practices/{practice_id}/slots
    own_practice              401    200    200  200      200      200
    other_practice            401    200    403  403      403      200
    inactive_practice         401    404    404  404      404      200
    fresh_practice            401    403    403  403      403      200
    missing                   401    404    404  404      404      404
# A free slot of its own per case (a far-future day); taken_slot: a Riverside slot
# already requested.
POST /practices/{practice_id}/appointment-requests
    own_practice              401    201    403  403      403      403
    other_practice            401    201    403  403      403      403
    inactive_practice         401    404    404  404      404      403
    fresh_practice            401    403    403  403      403      403
    missing                   401    404    404  404      404      404
    taken_slot                401    409    403  403      403      403
# Owners cancel their own (a far-future appointment made for the case); staff use the
# status machine (a visible appointment: 403).
POST /appointments/{appointment_id}/cancel
    mine_own_practice         401    200    403  403      403      403
    mine_other_practice       401    200    404  404      404      403
    own_practice_client       401    404    403  403      403      403
    other_practice_client     401    404    404  404      404      403
    missing                   401    404    404  404      404      404
# An appointment's visits: as visible as the appointment.
GET /visits
    mine_own_practice         401    200    200  200      200      200
    mine_other_practice       401    200    404  404      404      200
    own_practice_client       401    404    200  200      200      200
    other_practice_client     401    404    404  404      404      200
    missing                   401    404    404  404      404      404
# The FHIR R4 read API (docs/fhir.md): paths are full (not under /api/v1), errors are
# OperationOutcomes. The same scope as the JSON API's reads: Patient and RelatedPerson as
# GET /pets/{pet_id}, Encounter as GET /visits/{visit_id}, the searches by patient and
# $everything as the pet's records list. The CapabilityStatement is public.
GET /fhir/R4/metadata
    -                         200    200    200  200      200      200
GET /fhir/R4/Patient/{pet_id}
    mine                      401    200    200  200      200      200
    own_practice_client       401    404    200  200      200      200
    other_practice_client     401    404    404  404      404      200
    pending_client            401    404    404  404      404      200
    missing                   401    404    404  404      404      404
GET /fhir/R4/Patient/{pet_id}/$everything
    mine                      401    200    200  200      200      200
    own_practice_client       401    404    200  200      200      200
    other_practice_client     401    404    404  404      404      200
    pending_client            401    404    404  404      404      200
    missing                   401    404    404  404      404      404
GET /fhir/R4/RelatedPerson/{pet_id}
    mine                      401    200    200  200      200      200
    own_practice_client       401    404    200  200      200      200
    other_practice_client     401    404    404  404      404      200
    pending_client            401    404    404  404      404      200
    missing                   401    404    404  404      404      404
GET /fhir/R4/Encounter/{visit_id}
    mine                      401    200    200  200      200      200
    mine_other_practice       401    200    200  200      200      200
    own_practice_client       401    404    200  200      200      200
    other_practice_client     401    404    404  404      404      200
    pending_client            401    404    404  404      404      200
    missing                   401    404    404  404      404      404
GET /fhir/R4/Observation
    mine                      401    200    200  200      200      200
    own_practice_client       401    404    200  200      200      200
    other_practice_client     401    404    404  404      404      200
    pending_client            401    404    404  404      404      200
    missing                   401    404    404  404      404      404
GET /fhir/R4/Immunization
    mine                      401    200    200  200      200      200
    own_practice_client       401    404    200  200      200      200
    other_practice_client     401    404    404  404      404      200
    pending_client            401    404    404  404      404      200
    missing                   401    404    404  404      404      404
GET /fhir/R4/DocumentReference
    mine                      401    200    200  200      200      200
    own_practice_client       401    404    200  200      200      200
    other_practice_client     401    404    404  404      404      200
    pending_client            401    404    404  404      404      200
    missing                   401    404    404  404      404      404
# Webhooks: configuration of one practice, its PRACTICE_ADMIN's and SYSTEM_ADMIN's. The
# matrix comes first (OWNER/STAFF/VET 403 whatever the object); then another practice's
# endpoint or delivery is 404 for a PRACTICE_ADMIN, while a practice (public) is 403.
# Endpoints and deliveries are stored for the case ("dead" / "pending" deliveries).
POST /practices/{practice_id}/webhooks
    own_practice              401    403    403  403      201      201
    other_practice            401    403    403  403      403      201
    inactive_practice         401    404    404  404      404      409
    missing                   401    404    404  404      404      404
GET /practices/{practice_id}/webhooks
    own_practice              401    403    403  403      200      200
    other_practice            401    403    403  403      403      200
    inactive_practice         401    404    404  404      404      200
    missing                   401    404    404  404      404      404
GET /webhooks/{webhook_id}
    own_practice              401    403    403  403      200      200
    other_practice            401    403    403  403      404      200
    missing                   401    403    403  403      404      404
PATCH /webhooks/{webhook_id}
    own_practice              401    403    403  403      200      200
    other_practice            401    403    403  403      404      200
    missing                   401    403    403  403      404      404
POST /webhooks/{webhook_id}/rotate-secret
    own_practice              401    403    403  403      200      200
    other_practice            401    403    403  403      404      200
    missing                   401    403    403  403      404      404
GET /webhooks/{webhook_id}/deliveries
    own_practice              401    403    403  403      200      200
    other_practice            401    403    403  403      404      200
    missing                   401    403    403  403      404      404
POST /webhook-deliveries/{delivery_id}/resend
    own_practice_dead         401    403    403  403      202      202
    own_practice_pending      401    403    403  403      409      409
    other_practice_dead       401    403    403  403      404      202
    missing                   401    403    403  403      404      404
# API keys: a practice's credentials, managed by its PRACTICE_ADMIN only (not SYSTEM_ADMIN:
# a platform operator does not mint a practice's credentials). The matrix comes first
# (403 whatever the object); another practice's key is 404 for a PRACTICE_ADMIN, while a
# practice (public) is 403. Keys are stored for the case.
POST /practices/{practice_id}/api-keys
    own_practice              401    403    403  403      201      403
    other_practice            401    403    403  403      403      403
    inactive_practice         401    404    404  404      404      403
    missing                   401    404    404  404      404      404
GET /practices/{practice_id}/api-keys
    own_practice              401    403    403  403      200      403
    other_practice            401    403    403  403      403      403
    inactive_practice         401    404    404  404      404      403
    missing                   401    404    404  404      404      404
GET /practices/{practice_id}/api-keys/{key_id}
    own_practice              401    403    403  403      200      403
    other_practice            401    403    403  403      404      403
    missing                   401    403    403  403      404      403
DELETE /practices/{practice_id}/api-keys/{key_id}
    own_practice              401    403    403  403      204      403
    other_practice            401    403    403  403      404      403
    missing                   401    403    403  403      404      403
"""

# Routes of these tables that are deliberately not in the matrix yet (see the docstring).
NOT_BUILT: set[tuple[str, str]] = set()
# Routes of these tags whose rows are being written elsewhere, in parallel: the uploads
# and attachments (another engineer's, with their storage world), and the visit summary
# routes (the AI summary work). Whoever adds their rows (and builders) here removes them
# from this set; test_matrix_covers_every_route then insists on the rows.
COVERED_ELSEWHERE: set[tuple[str, str]] = set()
# The OpenAPI tags of the routers of the practices/owners/associations, pets, medical
# records and appointments/visits/dashboard tables of API.md (later tables have their own
# tags, and their own rows later).
TABLE_TAGS = {
    "practices",
    "pet owners",
    "pets",
    "medical records",
    "audit",
    "appointments",
    "visits",
    "messages",
    "scheduling",
    "webhooks",
    "api-keys",
}


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    relation: str
    caller: str
    expected: int

    @property
    def endpoint(self) -> tuple[str, str]:
        return self.method, self.path

    @property
    def id(self) -> str:
        return f"{self.method} {self.path} [{self.relation}] {self.caller}->{self.expected}"


def parse_matrix(table: str) -> list[Case]:
    """An endpoint line (``METHOD /path``) followed by its relation rows; ``#`` comments."""
    lines = [
        line.split()
        for line in table.strip().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not lines or tuple(lines[0]) != HEADER:
        raise ValueError(f"the matrix header must read {' '.join(HEADER)!r}")
    cases: list[Case] = []
    seen: set[tuple[str, str, str]] = set()
    endpoint: tuple[str, str] | None = None
    for cells in lines[1:]:
        if cells[0] in METHODS and len(cells) == 2:
            endpoint = (cells[0], cells[1])
            continue
        if endpoint is None or len(cells) != len(HEADER):
            raise ValueError(f"malformed matrix row: {' '.join(cells)}")
        relation, *statuses = cells
        if (*endpoint, relation) in seen:
            raise ValueError(f"duplicate matrix row: {endpoint} {relation}")
        seen.add((*endpoint, relation))
        for caller, status in zip(COLUMNS, statuses, strict=True):
            if status != "-":
                cases.append(Case(*endpoint, relation, caller, int(status)))
    return cases


CASES = parse_matrix(MATRIX)

# --------------------------------------------------------------------------- the world

CALLER_EMAILS = {
    "OWNER": OWNER,
    "STAFF": RIVERSIDE_TECH,
    "VET": RIVERSIDE_VET,
    "P_ADMIN": RIVERSIDE_MANAGER,
    "S_ADMIN": ADMIN,
}
EVERY_DEMO_USER = (
    OWNER,
    RIVERSIDE_TECH,
    RIVERSIDE_VET,
    RIVERSIDE_MANAGER,
    HILLCREST_TECH,
    HILLCREST_VET,
    HILLCREST_MANAGER,
    ADMIN,
)
CLIENT_RELATIONS = ("mine", "own_practice_client", "other_practice_client", "pending_client")
# The associations a practice's staff see: not its requests that await (or were refused
# by) the owner's consent.
PRACTICE_SEES = "NOT (awaiting IS NOT DISTINCT FROM 'owner' AND status IN ('pending', 'rejected'))"
APPROVED = AssociationStatus.APPROVED
PENDING = AssociationStatus.PENDING
_counter = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_counter):04d}{uuid.uuid4().hex[:6]}"


@dataclass
class World(BaseWorld):
    def caller_headers(self, caller: str) -> dict[str, str]:
        return {} if caller == "ANON" else self.headers[CALLER_EMAILS[caller]]

    # ------------------------------------------------------------------ factories

    async def new_practice(self, *, active: bool = True) -> UUID:
        return (await self.add_practice(unique("Scope Practice "), active=active)).id

    async def new_owner(
        self, links: dict[UUID, AssociationStatus], *, created_by: UUID | None = None
    ) -> UUID:
        return await self.add_owner(
            unique("Scope Client "),
            links,
            email=f"{unique('client')}@example.com",
            created_by=created_by,
        )

    async def new_association(
        self,
        owner_id: UUID,
        practice_id: UUID,
        status: AssociationStatus,
        awaiting: ConsentParty | None = None,
    ) -> UUID:
        """A pending one awaits the practice (the owner asked) unless told otherwise."""
        return await self.add_association(owner_id, practice_id, status, awaiting=awaiting)

    async def new_pet(self, owner_id: UUID, *, active: bool = True) -> UUID:
        return (await self.add_pet(owner_id, unique("Scope Pet "), active=active)).id

    async def new_owner_user(self) -> dict[str, str]:
        """A PET_OWNER account without an owner profile, signed in: its headers."""
        email = f"{unique('newowner')}@example.com"
        await self.add_user(email, Role.PET_OWNER, full_name="New Owner", sign_in=True)
        return self.headers[email]

    async def new_invitation(
        self, state: str, *, email: str | None = None, practice: str = "own_practice"
    ) -> str:
        """The token of an invitation to Riverside: valid, used, expired or revoked."""
        return (await self.new_invitation_row(state, email=email, practice=practice))[1]

    async def new_invitation_row(
        self, state: str, *, email: str | None = None, practice: str = "own_practice"
    ) -> tuple[UUID, str]:
        """An invitation (to Riverside unless told) in the named state: its id and token."""
        token = unique("invitation-token-") + uuid.uuid4().hex
        now = self.now()
        invitation = Invitation(
            id=self.new_id(),
            practice_id=self.practices[practice],
            email=email or f"{unique('invitee')}@example.com",
            role=Role.VET_STAFF,
            token_hash=token_digest(token),
            invited_by=self.users[RIVERSIDE_MANAGER].id,
            created_at=now - timedelta(days=8) if state == "expired" else now,
            expires_at=now - timedelta(days=1) if state == "expired" else now + timedelta(days=7),
        )
        async with self.container.uow() as uow:
            await uow.invitations.add(invitation)
            if state == "used":
                await uow.invitations.mark_accepted(
                    invitation.id, self.users[RIVERSIDE_TECH].id, now
                )
            if state == "revoked":
                await uow.invitations.mark_revoked(
                    invitation.id, self.users[RIVERSIDE_MANAGER].id, now
                )
            await uow.commit()
        return invitation.id, token

    async def lifecycle_owner(self, relation: str, *, active: bool = True) -> UUID:
        """An owner made for an owner-lifecycle case (see the matrix's comment)."""
        r, h = self.practices["own_practice"], self.practices["other_practice"]
        links, created_by = {
            "own_made_client": ({r: APPROVED}, r),
            "own_practice_client": ({r: APPROVED}, None),
            "shared_made_client": ({r: APPROVED, h: APPROVED}, r),
            "other_practice_client": ({h: APPROVED}, h),
        }[relation]
        owner = replace(
            self.make_owner(unique("Lifecycle Client "), created_by=created_by),
            email=f"{unique('lifecycle')}@example.com",
            phone="+44 20 7946 0000",
            is_active=active,
        )
        async with self.container.uow() as uow:
            await uow.pet_owners.add(owner)
            for practice_id, status in links.items():
                await uow.associations.add(
                    self.make_association(owner.id, practice_id, status, by=self.users[ADMIN].id)
                )
            await uow.commit()
        return owner.id

    # ------------------------------------------------------------------ relations

    async def practice_for(self, relation: str) -> UUID:
        if relation == "missing":
            return uuid.uuid4()
        if relation == "fresh_practice":
            return await self.new_practice()
        return self.practices[relation]

    def owner_for(self, relation: str) -> UUID:
        return uuid.uuid4() if relation == "missing" else self.owners[relation]

    def pet_for(self, relation: str) -> UUID:
        return uuid.uuid4() if relation == "missing" else self.pets[relation]

    async def fresh_pet_for(self, relation: str, *, active: bool = True) -> UUID:
        if relation == "missing":
            return uuid.uuid4()
        return await self.new_pet(self.owners[relation], active=active)


async def build_world(world: World) -> None:
    await world.seed_demo()
    await world.sign_in(*EVERY_DEMO_USER)
    async with world.container.uow() as uow:
        mine = await uow.pet_owners.get_by_user(world.users[OWNER].id)
    assert mine is not None
    r, h = world.riverside, world.hillcrest
    world.practices.update(
        own_practice=r,
        other_practice=h,
        inactive_practice=await world.new_practice(active=False),
    )
    world.owners = {
        "mine": mine.id,
        "own_practice_client": await world.new_owner({r: APPROVED}),
        "other_practice_client": await world.new_owner({h: APPROVED}),
        "pending_client": await world.new_owner({r: PENDING, h: APPROVED}),
    }
    world.pets = {
        relation: await world.new_pet(world.owners[relation]) for relation in CLIENT_RELATIONS
    }


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(
    pg_server_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    """One database (a copy of the migrated template) and one app for the whole module."""
    # Rate limits off: this module sends hundreds of requests from one address.
    async with open_world(
        pg_server_url,
        template_database,
        "scope",
        World,
        rate_limit=RateLimitSettings(enabled=False),
        storage=StorageSettings(files_dir=tmp_path_factory.mktemp("scope-files")),
        # A configured transcriber (offline: nothing is delivered in this module).
        stt=SttSettings(provider="local"),
    ) as world:
        await build_world(world)
        yield world


# --------------------------------------------------------------------------- requests


@dataclass
class Request:
    url: str
    json: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Set when the case needs a caller other than the column's (a fresh PET_OWNER).
    caller_headers: dict[str, str] | None = None
    # A raw body (uploads), sent instead of ``json``.
    content: bytes | None = None


Builder = Callable[[World, Case], Awaitable[Request]]


async def create_practice(w: World, case: Case) -> Request:
    license_number = "RAC-1001" if case.relation == "taken_license" else unique("LIC-")
    body = {"name": unique("New Practice "), "timezone": "Europe/Paris"}
    return Request("/practices", {**body, "license_number": license_number})


async def list_practices(w: World, case: Case) -> Request:
    return Request("/practices")


async def get_practice(w: World, case: Case) -> Request:
    return Request(f"/practices/{await w.practice_for(case.relation)}")


async def update_practice(w: World, case: Case) -> Request:
    # A harmless change on a shared practice: a new phone number.
    phone = f"+44 20 {next(_counter):08d}"
    return Request(f"/practices/{await w.practice_for(case.relation)}", {"phone": phone})


async def deactivate_practice(w: World, case: Case) -> Request:
    return Request(f"/practices/{await w.practice_for(case.relation)}/deactivate")


async def list_staff(w: World, case: Case) -> Request:
    return Request(f"/practices/{await w.practice_for(case.relation)}/staff")


async def invite(w: World, case: Case) -> Request:
    if case.relation in ("own_staff_email", "other_staff_email"):
        practice_id = w.practices["own_practice"]
        email = RIVERSIDE_VET if case.relation == "own_staff_email" else HILLCREST_VET
    else:
        practice_id = await w.practice_for(case.relation)
        email = f"{unique('staff')}@example.com"
    return Request(f"/practices/{practice_id}/invitations", {"email": email, "role": "VET_STAFF"})


async def accept_invitation(w: World, case: Case) -> Request:
    if case.relation == "unknown_token":
        token = uuid.uuid4().hex + uuid.uuid4().hex
    else:
        token = await w.new_invitation(case.relation.removesuffix("_token"))
    body = {"token": token, "password": STRONG_PASSWORD, "full_name": "Invited Person"}
    return Request("/invitations/accept", body)


async def list_invitations(w: World, case: Case) -> Request:
    return Request(f"/practices/{await w.practice_for(case.relation)}/invitations")


async def revoke_invitation(w: World, case: Case) -> Request:
    if case.relation == "missing":
        return Request(f"/invitations/{uuid.uuid4()}/revoke")
    if case.relation == "accepted":
        invitation_id, _ = await w.new_invitation_row("used")
    else:
        invitation_id, _ = await w.new_invitation_row("valid", practice=case.relation)
    return Request(f"/invitations/{invitation_id}/revoke")


# The account that accepts for_me, per column: made for the case.
_JOINERS = {
    "OWNER": (Role.PET_OWNER, None),
    "STAFF": (Role.VET_STAFF, "other_practice"),
    "VET": (Role.VET, "other_practice"),
    "P_ADMIN": (Role.PRACTICE_ADMIN, "other_practice"),
}


async def accept_existing(w: World, case: Case) -> Request:
    if case.relation == "used_token":
        return Request("/invitations/accept-existing", {"token": await w.new_invitation("used")})
    if case.relation == "for_someone_else":
        return Request("/invitations/accept-existing", {"token": await w.new_invitation("valid")})
    if case.relation == "already_mine" or case.caller in ("ANON", "S_ADMIN"):
        email = CALLER_EMAILS.get(case.caller, ADMIN)
        token = await w.new_invitation("valid", email=email)
        return Request("/invitations/accept-existing", {"token": token})
    role, practice = _JOINERS[case.caller]
    email = f"{unique('joiner')}@example.com"
    practice_id = None if practice is None else w.practices[practice]
    await w.add_user(email, role, practice_id, full_name="Joining Person", sign_in=True)
    request = Request(
        "/invitations/accept-existing", {"token": await w.new_invitation("valid", email=email)}
    )
    request.caller_headers = w.headers[email]
    return request


async def lifecycle_target(w: World, case: Case, *, active: bool = True) -> str:
    if case.relation in ("mine", "missing"):
        return str(w.owner_for(case.relation))
    return str(await w.lifecycle_owner(case.relation, active=active))


async def deactivate_owner(w: World, case: Case) -> Request:
    return Request(f"/pet-owners/{await lifecycle_target(w, case)}/deactivate")


async def reactivate_owner(w: World, case: Case) -> Request:
    return Request(f"/pet-owners/{await lifecycle_target(w, case, active=False)}/reactivate")


async def erase_owner(w: World, case: Case) -> Request:
    return Request(f"/pet-owners/{await lifecycle_target(w, case)}/erase")


async def export_owner(w: World, case: Case) -> Request:
    return Request(f"/pet-owners/{w.owner_for(case.relation)}/export")


async def create_owner(w: World, case: Case) -> Request:
    request = Request("/pet-owners", {"full_name": unique("Created Client "), "phone": "+1 555"})
    if case.relation == "no_profile_yet" and case.caller == "OWNER":
        request.caller_headers = await w.new_owner_user()
    return request


async def list_owners(w: World, case: Case) -> Request:
    return Request("/pet-owners")


async def get_owner(w: World, case: Case) -> Request:
    return Request(f"/pet-owners/{w.owner_for(case.relation)}")


async def update_owner(w: World, case: Case) -> Request:
    phone = f"+44 161 {next(_counter):07d}"
    return Request(f"/pet-owners/{w.owner_for(case.relation)}", {"phone": phone})


async def owner_associations(w: World, case: Case) -> Request:
    return Request(f"/pet-owners/{w.owner_for(case.relation)}/associations")


async def create_association(w: World, case: Case) -> Request:
    own, other = w.practices["own_practice"], w.practices["other_practice"]
    mine = w.owners["mine"]
    match case.relation:
        case "new_client_own_practice":
            owner_id, practice_id = await w.new_owner({other: APPROVED}), own
        case "own_made_own_practice":
            owner_id = await w.new_owner({own: AssociationStatus.INACTIVE}, created_by=own)
            practice_id = own
        case "awaiting_own_practice":
            owner_id, practice_id = await w.new_owner({other: APPROVED}), own
            await w.new_association(owner_id, own, PENDING, ConsentParty.OWNER)
        case "client_own_practice":
            owner_id, practice_id = w.owners["own_practice_client"], own
        case "pending_own_practice":
            owner_id, practice_id = w.owners["pending_client"], own
        case "client_other_practice":
            owner_id, practice_id = await w.new_owner({own: APPROVED}), other
        case "mine_new_practice":
            owner_id, practice_id = mine, await w.new_practice()
        case "mine_linked_practice":
            owner_id, practice_id = mine, own
        case "mine_inactive_practice":
            owner_id, practice_id = mine, w.practices["inactive_practice"]
        case "mine_missing_practice":
            owner_id, practice_id = mine, uuid.uuid4()
        case "missing_owner":
            owner_id, practice_id = uuid.uuid4(), own
        case _:
            raise AssertionError(f"no association body for {case.relation}")
    body = {"pet_owner_id": str(owner_id), "practice_id": str(practice_id)}
    return Request("/associations", {**body, "request_type": "new_client"})


async def practice_associations(w: World, case: Case) -> Request:
    return Request(f"/practices/{await w.practice_for(case.relation)}/associations")


async def decide_association(w: World, case: Case) -> Request:
    decision = case.path.rsplit("/", 1)[1]
    if case.relation == "missing":
        association_id = uuid.uuid4()
    else:
        side, state = case.relation.rsplit("_", 1)
        if side == "mine":
            # The OWNER's own profile, pending with a practice of its own (the demo owner
            # is already a client of both demo practices).
            practice_id, owner_id = await w.new_practice(), w.owners["mine"]
        else:
            practice_id, owner_id = w.practices[side], await w.new_owner({})
        # A practice's request awaiting the owner's consent, or refused by the owner.
        consent_states = {
            "awaiting": (PENDING, ConsentParty.OWNER),
            "refused": (AssociationStatus.REJECTED, ConsentParty.OWNER),
        }
        status, awaiting = consent_states.get(state) or (AssociationStatus(state), None)
        association_id = await w.new_association(owner_id, practice_id, status, awaiting)
    return Request(f"/associations/{association_id}/{decision}")


async def create_pet(w: World, case: Case) -> Request:
    body: dict[str, Any] = {"name": unique("New Pet "), "species": "cat"}
    if case.relation == "taken_microchip":
        # A demo pet's microchip (the demo data names them DEMO<owner><pet>).
        body |= {"owner_id": str(w.owners["mine"]), "microchip_id": "DEMO00000"}
    else:
        body["owner_id"] = str(w.owner_for(case.relation))
    return Request("/pets", body)


async def list_pets(w: World, case: Case) -> Request:
    return Request("/pets")


async def get_pet(w: World, case: Case) -> Request:
    return Request(f"/pets/{w.pet_for(case.relation)}")


async def update_pet(w: World, case: Case) -> Request:
    pet_id = await w.fresh_pet_for(case.relation)
    return Request(f"/pets/{pet_id}", {"notes": "Scope check."}, {"If-Match": '"1"'})


async def set_pet_active(w: World, case: Case) -> Request:
    reactivate = case.path.endswith("/reactivate")
    # Each pet starts in the other state, so a success really changes it.
    pet_id = await w.fresh_pet_for(case.relation, active=not reactivate)
    return Request(case.path.replace("{pet_id}", str(pet_id)))


# Records per relation: (pet relation, practice relation, author's email).
RECORD_RELATIONS = {
    "mine": ("mine", "own_practice", RIVERSIDE_VET),
    "own_practice_client": ("own_practice_client", "own_practice", RIVERSIDE_VET),
    "own_practice_by_staff": ("own_practice_client", "own_practice", RIVERSIDE_TECH),
    "mine_other_practice": ("mine", "other_practice", HILLCREST_VET),
    "other_practice_client": ("other_practice_client", "other_practice", HILLCREST_VET),
    "pending_client": ("pending_client", "other_practice", HILLCREST_VET),
}
# The shared records the reads use, one per (app, relation), made on first use.
_shared_records: dict[tuple[int, str], UUID] = {}


async def new_record(w: World, relation: str) -> UUID:
    """A record (version 1) on the relation's pet, by the relation's author."""
    pet_relation, practice_relation, author = RECORD_RELATIONS[relation]
    now = w.now()
    record = MedicalRecord.create(
        record_id=w.new_id(),
        pet=PetFacts(w.pets[pet_relation], "dog", None, True),
        practice_id=w.practices[practice_relation],
        author_id=w.users[author].id,
        content=RecordContent(
            record_type=RecordType.CHECKUP,
            title=unique("Scope check-up "),
            visit_date=now.date() - timedelta(days=1),
        ),
        now=now,
    )
    async with w.container.uow() as uow:
        await uow.records.add(record)
        await uow.commit()
    return record.id


async def shared_record(w: World, relation: str) -> UUID:
    if relation == "missing":
        return uuid.uuid4()
    key = (id(w.app), relation)
    if key not in _shared_records:
        _shared_records[key] = await new_record(w, relation)
    return _shared_records[key]


async def create_record(w: World, case: Case) -> Request:
    body = {
        "record_type": "checkup",
        "title": unique("Scope record "),
        "visit_date": (w.now().date() - timedelta(days=1)).isoformat(),
    }
    return Request(f"/pets/{w.pet_for(case.relation)}/medical-records", body)


async def list_records(w: World, case: Case) -> Request:
    return Request(f"/pets/{w.pet_for(case.relation)}/medical-records")


async def timeline(w: World, case: Case) -> Request:
    return Request(f"/pets/{w.pet_for(case.relation)}/timeline")


async def access_log(w: World, case: Case) -> Request:
    return Request(f"/pets/{w.pet_for(case.relation)}/access-log")


async def audit_events(w: World, case: Case) -> Request:
    return Request("/audit-events?limit=5")


async def read_record(w: World, case: Case) -> Request:
    path = case.path.replace("{version}", "1")
    return Request(path.replace("{record_id}", str(await shared_record(w, case.relation))))


async def change_record(w: World, case: Case) -> Request:
    record_id = uuid.uuid4() if case.relation == "missing" else await new_record(w, case.relation)
    url = case.path.replace("{record_id}", str(record_id))
    body: dict[str, Any] | None = None
    if case.method == "PATCH":
        body = {"diagnosis": "Scope check."}
    elif url.endswith("/entered-in-error"):
        body = {"reason": "Scope check."}
    return Request(url, body, {"If-Match": '"1"'})


async def follow_ups(w: World, case: Case) -> Request:
    return Request(f"/practices/{await w.practice_for(case.relation)}/follow-ups")


# --------------------------------------------------------------------------- appointments

# Appointments per relation: (owner and pet relation, practice relation, the vet's email).
APPOINTMENT_RELATIONS = {
    "mine_own_practice": ("mine", "own_practice", RIVERSIDE_VET),
    "mine_other_practice": ("mine", "other_practice", HILLCREST_VET),
    "own_practice_client": ("own_practice_client", "own_practice", RIVERSIDE_VET),
    "other_practice_client": ("other_practice_client", "other_practice", HILLCREST_VET),
}
# Every appointment of this module gets a slot of its own (any vet), back-entered in 2025.
_slots = itertools.count()
_shared_appointments: dict[tuple[int, str], UUID] = {}


def next_slot() -> datetime:
    return datetime.fromisoformat("2025-01-06T00:00:00+00:00") + timedelta(
        minutes=30 * next(_slots)
    )


async def new_appointment_for(w: World, relation: str, *, start_at: datetime | None = None) -> UUID:
    """A scheduled appointment (version 1) of the relation, in a slot of its own."""
    client, practice, vet = APPOINTMENT_RELATIONS[relation]
    now = w.now()
    appointment = new_appointment(
        id=w.new_id(),
        practice_id=w.practices[practice],
        pet_owner_id=w.owners[client],
        pet_ids=(w.pets[client],),
        assigned_vet_id=w.users[vet].id,
        start_at=start_at or next_slot(),
        duration_minutes=30,
        appointment_type=AppointmentType.CHECKUP,
        title=unique("Scope appointment "),
        notes=None,
        status=AppointmentStatus.SCHEDULED,
        created_by=w.users[RIVERSIDE_TECH].id,
        created_at=now,
        updated_at=now,
    )
    async with w.container.uow() as uow:
        await uow.appointments.add(appointment)
        await uow.commit()
    return appointment.id


async def shared_appointment(w: World, relation: str) -> UUID:
    if relation == "missing":
        return uuid.uuid4()
    key = (id(w.app), relation)
    if key not in _shared_appointments:
        _shared_appointments[key] = await new_appointment_for(w, relation)
    return _shared_appointments[key]


async def book_appointment(w: World, case: Case) -> Request:
    relation = case.relation
    if relation == "other_practice":
        client, vet = "other_practice_client", HILLCREST_VET
    else:
        client, vet = "own_practice_client", RIVERSIDE_VET
    practice_id = await w.practice_for("own_practice" if relation == "taken_slot" else relation)
    start = next_slot()
    if relation == "taken_slot":
        taken = await new_appointment_for(w, "own_practice_client")
        async with w.container.uow() as uow:
            booked = await uow.appointments.get(taken, ClientScope(everything=True))
        assert booked is not None
        start = booked.start_at + timedelta(minutes=10)
    body = {
        "pet_owner_id": str(w.owners[client]),
        "pet_ids": [str(w.pets[client])],
        "assigned_vet_id": str(w.users[vet].id),
        "start_at": start.isoformat(),
        "duration_minutes": 30,
        "appointment_type": "checkup",
        "title": unique("Scope booking "),
    }
    return Request(f"/practices/{practice_id}/appointments", body)


async def practice_appointments(w: World, case: Case) -> Request:
    return Request(f"/practices/{await w.practice_for(case.relation)}/appointments")


async def owner_appointments(w: World, case: Case) -> Request:
    return Request(f"/pet-owners/{w.owner_for(case.relation)}/appointments")


async def read_appointment(w: World, case: Case) -> Request:
    return Request(f"/appointments/{await shared_appointment(w, case.relation)}")


async def change_appointment(w: World, case: Case) -> Request:
    if case.relation == "missing":
        appointment_id = uuid.uuid4()
    else:
        appointment_id = await new_appointment_for(w, case.relation)
    url = case.path.replace("{appointment_id}", str(appointment_id))
    if case.method == "PATCH":
        # A real change (a later slot of its own), so a success leaves an audit row.
        return Request(url, {"start_at": next_slot().isoformat()}, {"If-Match": '"1"'})
    return Request(url, {"status": "confirmed"})


async def dashboard(w: World, case: Case) -> Request:
    return Request("/dashboard/today")


# --------------------------------------------------------------------------- visits

# Visits per relation: (pet relation, recording practice relation, recorded by).
VISIT_RELATIONS = {
    "mine": ("mine", "own_practice", RIVERSIDE_TECH),
    "mine_other_practice": ("mine", "other_practice", HILLCREST_TECH),
    "own_practice_client": ("own_practice_client", "own_practice", RIVERSIDE_TECH),
    "other_practice_client": ("other_practice_client", "other_practice", HILLCREST_TECH),
    "pending_client": ("pending_client", "other_practice", HILLCREST_TECH),
}
_shared_visits: dict[tuple[int, str], UUID] = {}


async def new_visit(w: World, relation: str) -> UUID:
    """A visit (version 1) of the relation's pet, by the relation's practice."""
    pet, practice, author = VISIT_RELATIONS[relation]
    now = w.now()
    visit = Visit(
        id=w.new_id(),
        pet_id=w.pets[pet],
        practice_id=w.practices[practice],
        appointment_id=None,
        visit_date=now - timedelta(days=1),
        transcript_text="Scope visit.",
        state=VisitState.NEW,
        created_by=w.users[author].id,
        created_at=now,
        updated_at=now,
    )
    async with w.container.uow() as uow:
        await uow.visits.add(visit)
        await uow.commit()
    return visit.id


async def shared_visit(w: World, relation: str) -> UUID:
    if relation == "missing":
        return uuid.uuid4()
    key = (id(w.app), relation)
    if key not in _shared_visits:
        _shared_visits[key] = await new_visit(w, relation)
    return _shared_visits[key]


async def create_visit(w: World, case: Case) -> Request:
    body = {"visit_date": (w.now() - timedelta(hours=2)).isoformat(), "transcript_text": "Hi."}
    return Request(f"/pets/{w.pet_for(case.relation)}/visits", body)


async def list_visits(w: World, case: Case) -> Request:
    return Request(f"/pets/{w.pet_for(case.relation)}/visits")


async def read_visit(w: World, case: Case) -> Request:
    return Request(f"/visits/{await shared_visit(w, case.relation)}")


async def change_visit(w: World, case: Case) -> Request:
    visit_id = uuid.uuid4() if case.relation == "missing" else await new_visit(w, case.relation)
    body = {"transcript_text": unique("Scope transcript ")}
    return Request(f"/visits/{visit_id}", body, {"If-Match": '"1"'})


async def summarise_visit(w: World, case: Case) -> Request:
    visit_id = uuid.uuid4() if case.relation == "missing" else await new_visit(w, case.relation)
    return Request(f"/visits/{visit_id}/summary")


async def transcribe_visit(w: World, case: Case) -> Request:
    """A visit with a recording (its row only: nothing is delivered here)."""
    if case.relation == "missing":
        return Request(f"/visits/{uuid.uuid4()}/transcription")
    visit_id = await new_visit(w, case.relation)
    async with w.container.uow() as uow:
        visit = await uow.visits.get(visit_id, ClientScope(everything=True), for_update=True)
        assert visit is not None
        visit.audio = StoredFile(
            key=f"visit-audio/2026/01/{visit_id}",
            content_type="audio/wav",
            size_bytes=44,
            sha256="0" * 64,
        )
        await uow.visits.save(visit)
        await uow.commit()
    return Request(f"/visits/{visit_id}/transcription")


async def accept_summary(w: World, case: Case) -> Request:
    """A visit with a draft summary ready to accept (written as the worker would)."""
    if case.relation == "missing":
        return Request(f"/visits/{uuid.uuid4()}/summary/accept")
    visit_id = await new_visit(w, case.relation)
    async with w.container.uow() as uow:
        visit = await uow.visits.get(visit_id, ClientScope(everything=True), for_update=True)
        assert visit is not None
        visit.state = VisitState.PROCESSED
        visit.summary = {
            "sections": {"assessment": {"text": "Healthy.", "spans": []}},
            "provenance": {"adapter": "extractive", "model": None},
            "status": "draft",
        }
        await uow.visits.save(visit)
        await uow.commit()
    return Request(f"/visits/{visit_id}/summary/accept")


# --------------------------------------------------------------------------- uploads
# Visit audio and record attachments (bodies in tests/api/test_uploads.py). Objects are
# stored for real (the module's files folder); rows that name them are written directly.

UPLOAD_BOUNDARY = "scope-matrix-boundary"


def _pdf_form() -> bytes:
    head = (
        f'--{UPLOAD_BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="scope.pdf"\r\nContent-Type: application/pdf\r\n\r\n'
    )
    return head.encode() + tiny_pdf() + f"\r\n--{UPLOAD_BOUNDARY}--\r\n".encode()


async def _stored(w: World, kind: UploadKind, data: bytes) -> StoredObject:
    async def chunks() -> AsyncIterator[bytes]:
        yield data

    key = ObjectKey.new(kind, now=w.now(), object_id=w.new_id()).value
    stored: StoredObject = await w.container.storage.put_stream(
        key, chunks(), max_bytes=len(data), inspect_head=w.container.content_checks(kind)
    )
    return stored


async def _visit_with(w: World, relation: str, *, audio: bool, pending: bool) -> UUID:
    if relation == "missing":
        return uuid.uuid4()
    visit_id = await new_visit(w, relation)
    stored = await _stored(w, UploadKind.VISIT_AUDIO, tiny_wav())
    async with w.container.uow() as uow:
        visit = await uow.visits.get(visit_id, ClientScope(everything=True), for_update=True)
        assert visit is not None
        if audio:
            visit.audio = StoredFile(
                stored.key, stored.content_type or "", stored.size, stored.sha256 or ""
            )
        if pending:
            visit.audio_pending_key = stored.key
        await uow.visits.save(visit)
        await uow.commit()
    return visit_id


_shared_audio_visits: dict[tuple[int, str], UUID] = {}
_shared_attachments: dict[tuple[int, str], UUID] = {}


async def put_audio(w: World, case: Case) -> Request:
    visit_id = await _visit_with(w, case.relation, audio=False, pending=False)
    return Request(
        f"/visits/{visit_id}/audio", headers={"Content-Type": "audio/wav"}, content=tiny_wav()
    )


async def audio_upload_url(w: World, case: Case) -> Request:
    visit_id = await _visit_with(w, case.relation, audio=False, pending=False)
    return Request(f"/visits/{visit_id}/audio/upload-url")


async def complete_audio(w: World, case: Case) -> Request:
    # A recording PUT to the upload URL already, waiting for "complete".
    visit_id = await _visit_with(w, case.relation, audio=False, pending=True)
    return Request(f"/visits/{visit_id}/audio/complete")


async def read_audio(w: World, case: Case) -> Request:
    key = (id(w.app), case.relation)
    if key not in _shared_audio_visits:
        _shared_audio_visits[key] = await _visit_with(w, case.relation, audio=True, pending=False)
    return Request(f"/visits/{_shared_audio_visits[key]}/audio")


async def add_attachment(w: World, case: Case) -> Request:
    record_id = await shared_record(w, case.relation)
    content_type = f"multipart/form-data; boundary={UPLOAD_BOUNDARY}"
    return Request(
        f"/medical-records/{record_id}/attachments",
        headers={"Content-Type": content_type},
        content=_pdf_form(),
    )


async def list_attachments(w: World, case: Case) -> Request:
    return Request(f"/medical-records/{await shared_record(w, case.relation)}/attachments")


async def attachment_content(w: World, case: Case) -> Request:
    key = (id(w.app), case.relation)
    if case.relation == "missing":
        return Request(f"/attachments/{uuid.uuid4()}/content")
    if key not in _shared_attachments:
        record_id = await shared_record(w, case.relation)
        async with w.container.uow() as uow:
            record = await uow.records.get(record_id, ClientScope(everything=True))
        assert record is not None
        stored = await _stored(w, UploadKind.RECORD_ATTACHMENT, tiny_pdf())
        attachment = Attachment(
            id=w.new_id(),
            record_id=record_id,
            practice_id=record.practice_id,
            object_key=stored.key,
            file_name="scope.pdf",
            content_type=stored.content_type or "",
            size_bytes=stored.size,
            sha256=stored.sha256 or "",
            description=None,
            created_by=record.author_id,
            created_at=w.now(),
        )
        async with w.container.uow() as uow:
            await uow.attachments.add(attachment)
            await uow.commit()
        _shared_attachments[key] = attachment.id
    return Request(f"/attachments/{_shared_attachments[key]}/content")


async def read_consent(w: World, case: Case) -> Request:
    return Request(f"/pet-owners/{w.owner_for(case.relation)}/message-consent")


async def change_consent(w: World, case: Case) -> Request:
    return Request(f"/pet-owners/{w.owner_for(case.relation)}/message-consent", {"sms": True})


async def owner_messages(w: World, case: Case) -> Request:
    return Request(f"/pet-owners/{w.owner_for(case.relation)}/messages")


async def create_reminder_rule(w: World, case: Case) -> Request:
    body = {"record_type": "vaccination", "lead_days": [30, 7], "species": "dog"}
    return Request(f"/practices/{await w.practice_for(case.relation)}/reminder-rules", body)


async def list_reminder_rules(w: World, case: Case) -> Request:
    return Request(f"/practices/{await w.practice_for(case.relation)}/reminder-rules")


async def change_reminder_rule(w: World, case: Case) -> Request:
    """A rule of the named practice made for the case (PATCH sends new lead times)."""
    if case.relation == "missing":
        rule_id = uuid.uuid4()
    else:
        now = w.now()
        rule = ReminderRule(
            id=w.new_id(),
            practice_id=w.practices[case.relation],
            record_type=RecordType.VACCINATION,
            species=None,
            lead_days=(14,),
            active=True,
            created_at=now,
            updated_at=now,
        )
        async with w.container.uow() as uow:
            await uow.messaging.add_rule(rule)
            await uow.commit()
        rule_id = rule.id
    body = {"lead_days": [21, 3]} if case.method == "PATCH" else None
    return Request(f"/reminder-rules/{rule_id}", body)


# --------------------------------------------------------------------------- scheduling

_days = itertools.count()
_HOURS = [{"weekday": d, "start_time": "08:00", "end_time": "18:00"} for d in range(1, 8)]
_PRACTICE_VETS = {"own_practice": RIVERSIDE_VET, "other_practice": HILLCREST_VET}


async def _schedule_ready(w: World, practice_id: UUID, vet_email: str | None) -> None:
    """Open every day 08:00-18:00, the vet rostered likewise, checkup 30 minutes (written
    through the repository, as the demo data is)."""
    now = w.now()
    async with w.container.uow() as uow:
        if await uow.scheduling.settings(practice_id) is None:
            await uow.scheduling.save_settings(
                ScheduleSettings(
                    practice_id=practice_id,
                    opening_hours=tuple(WeeklyInterval(d, time(8), time(18)) for d in range(1, 8)),
                    cancel_cutoff_hours=24,
                    slot_step_minutes=15,
                    created_at=now,
                    updated_at=now,
                )
            )
        if vet_email is not None:
            await uow.scheduling.replace_roster(
                practice_id,
                w.users[vet_email].id,
                [WeeklyInterval(d, time(8), time(18)) for d in range(1, 8)],
            )
        await uow.scheduling.save_type(
            AppointmentTypeSetting(
                id=w.new_id(),
                practice_id=practice_id,
                appointment_type=AppointmentType.CHECKUP,
                name="Check-up",
                duration_minutes=30,
                owner_bookable=True,
                created_at=now,
                updated_at=now,
            )
        )
        await uow.commit()


async def schedule_settings(w: World, case: Case) -> Request:
    practice_id = await w.practice_for(case.relation)
    url = f"/practices/{practice_id}/schedule-settings"
    if case.method == "GET":
        return Request(url)
    return Request(url, {"opening_hours": _HOURS, "cancel_cutoff_hours": 24})


async def rosters(w: World, case: Case) -> Request:
    return Request(f"/practices/{await w.practice_for(case.relation)}/rosters")


async def put_roster(w: World, case: Case) -> Request:
    practice_id = await w.practice_for(case.relation)
    vet = _PRACTICE_VETS.get(case.relation)
    vet_id = w.users[vet].id if vet else uuid.uuid4()
    body = {"intervals": _HOURS}
    return Request(f"/practices/{practice_id}/rosters/{vet_id}", body)


async def schedule_exceptions(w: World, case: Case) -> Request:
    practice_id = await w.practice_for(case.relation)
    url = f"/practices/{practice_id}/schedule-exceptions"
    if case.method == "GET":
        return Request(url + "?from=2031-01-01&to=2031-01-31")
    day = date(2032, 1, 1) + timedelta(days=next(_days))
    return Request(url, {"date": day.isoformat(), "reason": "Scope closure"})


async def remove_exception(w: World, case: Case) -> Request:
    """missing: an exception id Riverside does not have."""
    practice_id = w.riverside if case.relation == "missing" else await w.practice_for(case.relation)
    exception_id = uuid.uuid4()
    if case.relation != "missing":
        now = w.now()
        exception = ScheduleException(
            id=w.new_id(),
            practice_id=practice_id,
            vet_id=None,
            day=date(2033, 1, 1) + timedelta(days=next(_days)),
            start_time=None,
            end_time=None,
            reason=None,
            created_by=w.users[RIVERSIDE_MANAGER].id,
            created_at=now,
            updated_at=now,
        )
        async with w.container.uow() as uow:
            await uow.scheduling.add_exception(exception)
            await uow.commit()
        exception_id = exception.id
    return Request(f"/practices/{practice_id}/schedule-exceptions/{exception_id}")


async def appointment_types(w: World, case: Case) -> Request:
    practice_id = await w.practice_for(case.relation)
    url = f"/practices/{practice_id}/appointment-types"
    if case.method == "GET":
        return Request(url)
    if case.method == "DELETE" and case.relation != "missing":
        await _schedule_ready(w, practice_id, None)
        return Request(url + "/checkup")
    return Request(url + "/vaccination", {"name": "Vaccination", "duration_minutes": 20})


async def slots(w: World, case: Case) -> Request:
    practice_id = await w.practice_for(case.relation)
    if case.relation != "missing":
        await _schedule_ready(w, practice_id, _PRACTICE_VETS.get(case.relation))
    return Request(f"/practices/{practice_id}/slots?date=2031-03-03&type=checkup")


async def request_appointment(w: World, case: Case) -> Request:
    relation = "own_practice" if case.relation == "taken_slot" else case.relation
    practice_id = await w.practice_for(relation)
    if relation != "missing":
        await _schedule_ready(w, practice_id, _PRACTICE_VETS.get(relation))
    day = date(2034, 1, 1) + timedelta(days=next(_days))
    zone = ZoneInfo("America/New_York" if relation == "other_practice" else "Europe/London")
    start = datetime.combine(day, time(9), tzinfo=zone).isoformat()
    body = {"pet_ids": [str(w.pets["mine"])], "appointment_type": "checkup", "start_at": start}
    if case.relation == "taken_slot":
        first = await w.client.post(
            f"{API}/practices/{practice_id}/appointment-requests",
            json=body,
            headers=w.headers[OWNER],
        )
        assert first.status_code == 201, first.text
    return Request(f"/practices/{practice_id}/appointment-requests", body)


async def cancel_appointment(w: World, case: Case) -> Request:
    if case.relation == "missing":
        return Request(f"/appointments/{uuid.uuid4()}/cancel")
    appointment_id = await new_appointment_for(
        w, case.relation, start_at=datetime(2035, 1, 1, tzinfo=UTC) + timedelta(hours=next(_days))
    )
    return Request(f"/appointments/{appointment_id}/cancel")


async def appointment_visits(w: World, case: Case) -> Request:
    appointment_id = await shared_appointment(w, case.relation)
    return Request(f"/visits?appointment_id={appointment_id}")


FHIR = "/fhir/R4"


async def fhir_metadata(w: World, case: Case) -> Request:
    return Request(f"{FHIR}/metadata")


async def fhir_pet_read(w: World, case: Case) -> Request:
    return Request(case.path.replace("{pet_id}", str(w.pet_for(case.relation))))


async def fhir_encounter(w: World, case: Case) -> Request:
    return Request(f"{FHIR}/Encounter/{await shared_visit(w, case.relation)}")


async def fhir_search(w: World, case: Case) -> Request:
    return Request(f"{case.path}?patient=Patient/{w.pet_for(case.relation)}")


# --------------------------------------------------------------------------- webhooks


async def new_webhook(w: World, practice_id: UUID) -> UUID:
    """An endpoint stored through the repository (no HTTP, no audit row)."""
    now = w.now()
    endpoint = WebhookEndpoint(
        id=w.new_id(),
        practice_id=practice_id,
        url=f"https://{unique('hooks')}.example.com/in",
        event_types=("appointment.changed",),
        description=None,
        is_active=True,
        secret=new_secret(),
        created_by=w.users[ADMIN].id,
        created_at=now,
        updated_at=now,
    )
    async with w.container.uow() as uow:
        await uow.webhooks.add(endpoint)
        await uow.commit()
    return endpoint.id


async def new_webhook_delivery(w: World, practice_id: UUID, status: DeliveryStatus) -> UUID:
    endpoint_id = await new_webhook(w, practice_id)
    delivery = WebhookDelivery(
        id=w.new_id(),
        endpoint_id=endpoint_id,
        practice_id=practice_id,
        event_id=uuid.uuid4(),
        event_type="appointment.changed",
        payload={"type": "appointment.changed", "data": {}},
        status=status,
        attempts=8 if status is DeliveryStatus.DEAD else 0,
        last_attempt_at=None,
        last_status_code=None,
        last_error=None,
        created_at=w.now(),
        delivered_at=None,
    )
    async with w.container.uow() as uow:
        await uow.webhooks.add_deliveries([delivery])
        await uow.commit()
    return delivery.id


_shared_webhooks: dict[str, UUID] = {}


async def webhook_for(w: World, relation: str) -> UUID:
    if relation == "missing":
        return uuid.uuid4()
    if relation not in _shared_webhooks:
        _shared_webhooks[relation] = await new_webhook(w, w.practices[relation])
    return _shared_webhooks[relation]


async def register_webhook(w: World, case: Case) -> Request:
    body = {"url": f"https://{unique('hooks')}.example.com/in", "event_types": ["visit.changed"]}
    return Request(f"/practices/{await w.practice_for(case.relation)}/webhooks", json=body)


async def list_webhooks(w: World, case: Case) -> Request:
    return Request(f"/practices/{await w.practice_for(case.relation)}/webhooks")


async def read_webhook(w: World, case: Case) -> Request:
    suffix = case.path.removeprefix("/webhooks/{webhook_id}")
    return Request(f"/webhooks/{await webhook_for(w, case.relation)}{suffix}")


async def change_webhook(w: World, case: Case) -> Request:
    webhook_id = uuid.uuid4()
    if case.relation != "missing":
        webhook_id = await new_webhook(w, w.practices[case.relation])
    if case.method == "PATCH":
        return Request(f"/webhooks/{webhook_id}", json={"description": unique("Scope hook ")})
    return Request(f"/webhooks/{webhook_id}/rotate-secret")


async def resend_delivery(w: World, case: Case) -> Request:
    if case.relation == "missing":
        return Request(f"/webhook-deliveries/{uuid.uuid4()}/resend")
    practice, _, state = case.relation.rpartition("_")
    delivery_id = await new_webhook_delivery(w, w.practices[practice], DeliveryStatus(state))
    return Request(f"/webhook-deliveries/{delivery_id}/resend")


# --------------------------------------------------------------------------- API keys


async def new_api_key(w: World, practice_id: UUID) -> UUID:
    """A key stored through the repository (no HTTP, no audit row)."""
    _, public_id, secret = api_key_parts.generate()
    key = ApiKey(
        id=w.new_id(),
        practice_id=practice_id,
        public_id=public_id,
        name=unique("Scope key "),
        secret_hash=api_key_parts.secret_digest(secret),
        scopes=(Action.PET_READ,),
        created_by=w.users[ADMIN].id,
        created_at=w.now(),
    )
    async with w.container.uow() as uow:
        await uow.api_keys.add(key)
        await uow.commit()
    return key.id


async def create_api_key(w: World, case: Case) -> Request:
    body = {"name": unique("Scope key "), "scopes": ["pet.read"]}
    return Request(f"/practices/{await w.practice_for(case.relation)}/api-keys", json=body)


async def list_api_keys(w: World, case: Case) -> Request:
    return Request(f"/practices/{await w.practice_for(case.relation)}/api-keys")


async def one_api_key(w: World, case: Case) -> Request:
    """A key of the relation's practice, under that practice's path (DELETE: a new one)."""
    if case.relation == "missing":
        return Request(f"/practices/{w.practices['own_practice']}/api-keys/{uuid.uuid4()}")
    practice_id = w.practices[case.relation]
    return Request(f"/practices/{practice_id}/api-keys/{await new_api_key(w, practice_id)}")


BUILDERS: dict[tuple[str, str], Builder] = {
    ("POST", "/practices"): create_practice,
    ("GET", "/practices"): list_practices,
    ("GET", "/practices/{practice_id}"): get_practice,
    ("PATCH", "/practices/{practice_id}"): update_practice,
    ("POST", "/practices/{practice_id}/deactivate"): deactivate_practice,
    ("GET", "/practices/{practice_id}/staff"): list_staff,
    ("POST", "/practices/{practice_id}/invitations"): invite,
    ("POST", "/invitations/accept"): accept_invitation,
    ("GET", "/practices/{practice_id}/invitations"): list_invitations,
    ("POST", "/invitations/{invitation_id}/revoke"): revoke_invitation,
    ("POST", "/invitations/accept-existing"): accept_existing,
    ("POST", "/pet-owners/{owner_id}/deactivate"): deactivate_owner,
    ("POST", "/pet-owners/{owner_id}/reactivate"): reactivate_owner,
    ("POST", "/pet-owners/{owner_id}/erase"): erase_owner,
    ("GET", "/pet-owners/{owner_id}/export"): export_owner,
    ("POST", "/pet-owners"): create_owner,
    ("GET", "/pet-owners"): list_owners,
    ("GET", "/pet-owners/{owner_id}"): get_owner,
    ("PATCH", "/pet-owners/{owner_id}"): update_owner,
    ("GET", "/pet-owners/{owner_id}/associations"): owner_associations,
    ("POST", "/associations"): create_association,
    ("GET", "/practices/{practice_id}/associations"): practice_associations,
    ("POST", "/associations/{association_id}/approve"): decide_association,
    ("POST", "/associations/{association_id}/reject"): decide_association,
    ("POST", "/associations/{association_id}/deactivate"): decide_association,
    ("POST", "/pets"): create_pet,
    ("GET", "/pets"): list_pets,
    ("GET", "/pets/{pet_id}"): get_pet,
    ("PATCH", "/pets/{pet_id}"): update_pet,
    ("POST", "/pets/{pet_id}/deactivate"): set_pet_active,
    ("POST", "/pets/{pet_id}/reactivate"): set_pet_active,
    ("POST", "/pets/{pet_id}/medical-records"): create_record,
    ("GET", "/pets/{pet_id}/medical-records"): list_records,
    ("GET", "/pets/{pet_id}/timeline"): timeline,
    ("GET", "/pets/{pet_id}/access-log"): access_log,
    ("GET", "/audit-events"): audit_events,
    ("GET", "/medical-records/{record_id}"): read_record,
    ("GET", "/medical-records/{record_id}/history"): read_record,
    ("GET", "/medical-records/{record_id}/versions/{version}"): read_record,
    ("PATCH", "/medical-records/{record_id}"): change_record,
    ("POST", "/medical-records/{record_id}/entered-in-error"): change_record,
    ("POST", "/medical-records/{record_id}/sign"): change_record,
    ("GET", "/practices/{practice_id}/follow-ups"): follow_ups,
    ("POST", "/practices/{practice_id}/appointments"): book_appointment,
    ("GET", "/practices/{practice_id}/appointments"): practice_appointments,
    ("GET", "/pet-owners/{owner_id}/appointments"): owner_appointments,
    ("GET", "/appointments/{appointment_id}"): read_appointment,
    ("PATCH", "/appointments/{appointment_id}"): change_appointment,
    ("POST", "/appointments/{appointment_id}/status"): change_appointment,
    ("GET", "/dashboard/today"): dashboard,
    ("POST", "/pets/{pet_id}/visits"): create_visit,
    ("GET", "/pets/{pet_id}/visits"): list_visits,
    ("GET", "/visits/{visit_id}"): read_visit,
    ("PATCH", "/visits/{visit_id}"): change_visit,
    ("POST", "/visits/{visit_id}/summary"): summarise_visit,
    ("POST", "/visits/{visit_id}/summary/accept"): accept_summary,
    ("POST", "/visits/{visit_id}/transcription"): transcribe_visit,
    ("PUT", "/visits/{visit_id}/audio"): put_audio,
    ("POST", "/visits/{visit_id}/audio/upload-url"): audio_upload_url,
    ("POST", "/visits/{visit_id}/audio/complete"): complete_audio,
    ("GET", "/visits/{visit_id}/audio"): read_audio,
    ("GET", "/practices/{practice_id}/schedule-settings"): schedule_settings,
    ("PUT", "/practices/{practice_id}/schedule-settings"): schedule_settings,
    ("GET", "/practices/{practice_id}/rosters"): rosters,
    ("PUT", "/practices/{practice_id}/rosters/{vet_id}"): put_roster,
    ("GET", "/practices/{practice_id}/schedule-exceptions"): schedule_exceptions,
    ("POST", "/practices/{practice_id}/schedule-exceptions"): schedule_exceptions,
    ("DELETE", "/practices/{practice_id}/schedule-exceptions/{exception_id}"): remove_exception,
    ("GET", "/practices/{practice_id}/appointment-types"): appointment_types,
    ("PUT", "/practices/{practice_id}/appointment-types/{appointment_type}"): appointment_types,
    ("DELETE", "/practices/{practice_id}/appointment-types/{appointment_type}"): appointment_types,
    ("GET", "/practices/{practice_id}/slots"): slots,
    ("POST", "/practices/{practice_id}/appointment-requests"): request_appointment,
    ("POST", "/appointments/{appointment_id}/cancel"): cancel_appointment,
    ("GET", "/visits"): appointment_visits,
    ("POST", "/medical-records/{record_id}/attachments"): add_attachment,
    ("GET", "/medical-records/{record_id}/attachments"): list_attachments,
    ("GET", "/attachments/{attachment_id}/content"): attachment_content,
    ("GET", "/pet-owners/{owner_id}/message-consent"): read_consent,
    ("PATCH", "/pet-owners/{owner_id}/message-consent"): change_consent,
    ("GET", "/pet-owners/{owner_id}/messages"): owner_messages,
    ("POST", "/practices/{practice_id}/reminder-rules"): create_reminder_rule,
    ("GET", "/practices/{practice_id}/reminder-rules"): list_reminder_rules,
    ("PATCH", "/reminder-rules/{rule_id}"): change_reminder_rule,
    ("DELETE", "/reminder-rules/{rule_id}"): change_reminder_rule,
    ("GET", f"{FHIR}/metadata"): fhir_metadata,
    ("GET", f"{FHIR}/Patient/{{pet_id}}"): fhir_pet_read,
    ("GET", f"{FHIR}/Patient/{{pet_id}}/$everything"): fhir_pet_read,
    ("GET", f"{FHIR}/RelatedPerson/{{pet_id}}"): fhir_pet_read,
    ("GET", f"{FHIR}/Encounter/{{visit_id}}"): fhir_encounter,
    ("GET", f"{FHIR}/Observation"): fhir_search,
    ("GET", f"{FHIR}/Immunization"): fhir_search,
    ("GET", f"{FHIR}/DocumentReference"): fhir_search,
    ("POST", "/practices/{practice_id}/webhooks"): register_webhook,
    ("GET", "/practices/{practice_id}/webhooks"): list_webhooks,
    ("GET", "/webhooks/{webhook_id}"): read_webhook,
    ("PATCH", "/webhooks/{webhook_id}"): change_webhook,
    ("POST", "/webhooks/{webhook_id}/rotate-secret"): change_webhook,
    ("GET", "/webhooks/{webhook_id}/deliveries"): read_webhook,
    ("POST", "/webhook-deliveries/{delivery_id}/resend"): resend_delivery,
    ("POST", "/practices/{practice_id}/api-keys"): create_api_key,
    ("GET", "/practices/{practice_id}/api-keys"): list_api_keys,
    ("GET", "/practices/{practice_id}/api-keys/{key_id}"): one_api_key,
    ("DELETE", "/practices/{practice_id}/api-keys/{key_id}"): one_api_key,
}


# --------------------------------------------------------------------------- the tests


async def test_matrix_is_consistent() -> None:
    """Every row has a request builder and every builder has rows; each endpoint is
    tried without a token and by every role."""
    endpoints = {case.endpoint for case in CASES}
    assert endpoints == set(BUILDERS), endpoints ^ set(BUILDERS)
    for endpoint in endpoints:
        callers = {case.caller for case in CASES if case.endpoint == endpoint}
        assert callers == set(COLUMNS), (endpoint, set(COLUMNS) - callers)


async def test_matrix_covers_every_route(world: World) -> None:
    """Every operation of these tables of API.md is in the matrix (or known not built yet).
    The OpenAPI document is the app's own list of its routes, tagged by table."""
    routes = {
        (method.upper(), path.removeprefix(API))
        for path, operations in world.app.openapi()["paths"].items()
        for method, operation in operations.items()
        if method.upper() in METHODS and TABLE_TAGS & set(operation.get("tags", ()))
    }
    assert routes, "no routes found: has the OpenAPI layout changed?"
    # The FHIR routes are not in the OpenAPI document (a FHIR server describes itself with
    # its CapabilityStatement): every GET under /fhir/R4 of the app, from its routes.
    fhir_routes = {
        (method, path) for method, path in declared_actions(world.app) if path.startswith(FHIR)
    }
    assert {method for method, _ in fhir_routes} == {"GET"}, "FHIR is read-only"
    routes |= fhir_routes
    in_matrix = {case.endpoint for case in CASES}
    assert routes & NOT_BUILT == set(), "built now: add its rows, drop it from NOT_BUILT"
    assert in_matrix & COVERED_ELSEWHERE == set(), "has rows now: drop it from COVERED_ELSEWHERE"
    assert routes >= COVERED_ELSEWHERE, "COVERED_ELSEWHERE names routes the app does not have"
    assert routes - in_matrix - NOT_BUILT - COVERED_ELSEWHERE == set(), (
        "routes without scope-matrix rows"
    )
    assert in_matrix - routes == set(), "matrix rows for routes the app does not have"


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
async def test_scope_matrix(world: World, case: Case) -> None:
    request = await BUILDERS[case.endpoint](world, case)
    caller = request.caller_headers
    headers = request.headers | (
        caller if caller is not None else world.caller_headers(case.caller)
    )
    # FHIR paths are full; every other path is under /api/v1.
    fhir = case.path.startswith(FHIR)
    prefix = "" if fhir else API
    response = await world.client.request(
        case.method,
        prefix + request.url,
        json=request.json,
        content=request.content,
        headers=headers,
    )
    assert response.status_code == case.expected, (
        f"{case.id}: got {response.status_code} {response.text[:500]}"
    )
    if case.expected >= 400:
        error_type = "application/fhir+json" if fhir else "application/problem+json"
        assert response.headers["content-type"].startswith(error_type)
        if fhir:
            assert response.json()["resourceType"] == "OperationOutcome"
    if case.expected == 401:
        assert response.headers.get("www-authenticate", "").lower().startswith("bearer")
    await assert_audited(world, case.method, prefix + case.path, request.url, headers, response)


# --------------------------------------------------------------------------- lists


async def walk(world: World, url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    """Every item of a list, following the cursor (limit 200)."""
    items: list[dict[str, Any]] = []
    params: dict[str, str] = {"limit": "200"}
    separator = "&" if "?" in url else "?"
    for _ in range(50):
        query = "&".join(f"{k}={v}" for k, v in params.items())
        response = await world.client.get(f"{API}{url}{separator}{query}", headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        if body["next_cursor"] is None:
            return items
        params["cursor"] = body["next_cursor"]
    raise AssertionError("the list never ended")


def ids(items: list[dict[str, Any]]) -> set[str]:
    return {item["id"] for item in items}


async def sql_ids(world: World, statement: str, **params: Any) -> set[str]:
    """Expected rows, computed with plain SQL independent of the app's scope code."""
    async with world.container.engine.connect() as conn:
        rows = (await conn.execute(text(statement), params)).all()
    return {str(row[0]) for row in rows}


# Owners each caller may see: SYSTEM_ADMIN all, PET_OWNER their linked profile, staff those
# with an *approved* association with their practice.
VISIBLE_OWNERS = """
    SELECT o.id FROM pet_owners o
    WHERE :everything
       OR o.user_id = :user_id
       OR EXISTS (SELECT 1 FROM practice_associations a
                  WHERE a.pet_owner_id = o.id AND a.practice_id = :practice_id
                    AND a.status = 'approved')
"""


async def visible_owner_ids(world: World, user: User) -> set[str]:
    is_staff = user.role in {Role.VET_STAFF, Role.VET, Role.PRACTICE_ADMIN}
    return await sql_ids(
        world,
        VISIBLE_OWNERS,
        everything=user.role is Role.SYSTEM_ADMIN,
        user_id=user.id if user.role is Role.PET_OWNER else None,
        practice_id=user.practice_id if is_staff else None,
    )


@pytest.mark.parametrize("email", EVERY_DEMO_USER)
async def test_owner_and_pet_lists_show_exactly_the_scope(world: World, email: str) -> None:
    """The lists show what the single reads would: no out-of-scope row, none missing."""
    user, headers = world.users[email], world.headers[email]
    owners = await visible_owner_ids(world, user)
    assert ids(await walk(world, "/pet-owners", headers)) == owners

    all_pets = await walk(world, "/pets?include_inactive=true", headers)
    assert {pet["owner_id"] for pet in all_pets} <= owners
    async with world.container.engine.connect() as conn:
        every_pet = (await conn.execute(text("SELECT id, owner_id FROM pets"))).all()
    assert ids(all_pets) == {
        str(pet_id) for pet_id, owner_id in every_pet if str(owner_id) in owners
    }
    for pet in all_pets:
        assert pet["owner"]["id"] == pet["owner_id"]

    active = await walk(world, "/pets", headers)
    assert all(pet["is_active"] for pet in active)
    assert ids(active) == {pet["id"] for pet in all_pets if pet["is_active"]}


async def test_named_objects_in_lists(world: World) -> None:
    """The relations of the matrix, as list content, for the readers of the brief."""
    pets = {
        email: ids(await walk(world, "/pets", world.headers[email]))
        for email in (RIVERSIDE_VET, HILLCREST_VET, OWNER, ADMIN)
    }
    p = world.pets
    # Hillcrest's vet never sees a pet of a Riverside-only client, and vice versa.
    assert str(p["own_practice_client"]) not in pets[HILLCREST_VET]
    assert str(p["other_practice_client"]) in pets[HILLCREST_VET]
    assert str(p["other_practice_client"]) not in pets[RIVERSIDE_VET]
    assert str(p["own_practice_client"]) in pets[RIVERSIDE_VET]
    # A pending association shows nothing; the approved one with Hillcrest does.
    assert str(p["pending_client"]) not in pets[RIVERSIDE_VET]
    assert str(p["pending_client"]) in pets[HILLCREST_VET]
    assert str(p["mine"]) in pets[OWNER]
    assert pets[OWNER] <= pets[RIVERSIDE_VET] | pets[HILLCREST_VET]
    assert set(map(str, p.values())) <= pets[ADMIN]

    # The PET_OWNER's owner list is exactly their own profile.
    own = await walk(world, "/pet-owners", world.headers[OWNER])
    assert [item["id"] for item in own] == [str(world.owners["mine"])]
    assert own[0]["user_id"] == str(world.users[OWNER].id)


async def test_filters_never_widen_the_scope(world: World) -> None:
    """Filtering by an out-of-scope owner id or name finds nothing (not a 404, not rows)."""
    headers = world.headers[RIVERSIDE_VET]
    for relation in ("other_practice_client", "pending_client"):
        owner_id = world.owners[relation]
        response = await world.client.get(
            f"{API}/pets", params={"owner_id": str(owner_id)}, headers=headers
        )
        assert response.status_code == 200
        assert response.json()["items"] == []
        name = await sql_ids(world, "SELECT full_name FROM pet_owners WHERE id = :i", i=owner_id)
        response = await world.client.get(
            f"{API}/pet-owners", params={"q": name.pop()}, headers=headers
        )
        assert response.status_code == 200
        assert response.json()["items"] == []
        pet_name = await sql_ids(world, "SELECT name FROM pets WHERE owner_id = :i", i=owner_id)
        response = await world.client.get(
            f"{API}/pets", params={"q": pet_name.pop()}, headers=headers
        )
        assert str(world.pets[relation]) not in ids(response.json()["items"])


@pytest.mark.parametrize("email", EVERY_DEMO_USER)
async def test_owner_association_lists(world: World, email: str) -> None:
    """The OWNER's profile is a client of both practices: staff see only their own
    practice's association with it, the owner and SYSTEM_ADMIN see all of them."""
    user = world.users[email]
    mine = world.owners["mine"]
    rows = await walk(world, f"/pet-owners/{mine}/associations", world.headers[email])
    everything = await sql_ids(
        world, "SELECT id FROM practice_associations WHERE pet_owner_id = :o", o=mine
    )
    if user.role in {Role.PET_OWNER, Role.SYSTEM_ADMIN}:
        assert ids(rows) == everything
    else:
        assert ids(rows) == await sql_ids(
            world,
            "SELECT id FROM practice_associations"
            f" WHERE pet_owner_id = :o AND practice_id = :p AND {PRACTICE_SEES}",
            o=mine,
            p=user.practice_id,
        )
        assert rows  # the profile is an approved client of both practices
    assert {row["pet_owner_id"] for row in rows} == {str(mine)}


@pytest.mark.parametrize(
    "email", [RIVERSIDE_TECH, RIVERSIDE_MANAGER, HILLCREST_VET, HILLCREST_MANAGER, ADMIN]
)
async def test_practice_lists_show_only_that_practice(world: World, email: str) -> None:
    user = world.users[email]
    practice_id = user.practice_id or world.practices["other_practice"]
    headers = world.headers[email]
    associations = await walk(world, f"/practices/{practice_id}/associations", headers)
    # Staff do not see their practice's requests awaiting (or refused by) the owner.
    hidden = "" if user.role is Role.SYSTEM_ADMIN else f" AND {PRACTICE_SEES}"
    assert ids(associations) == await sql_ids(
        world,
        f"SELECT id FROM practice_associations WHERE practice_id = :p{hidden}",
        p=practice_id,
    )
    staff = await walk(world, f"/practices/{practice_id}/staff", headers)
    assert ids(staff) == await sql_ids(
        world, "SELECT id FROM users WHERE practice_id = :p AND is_active", p=practice_id
    )
    assert {row["practice_id"] for row in staff} == {str(practice_id)}


@pytest.mark.parametrize("email", [OWNER, RIVERSIDE_VET, HILLCREST_MANAGER, ADMIN])
async def test_practice_directory(world: World, email: str) -> None:
    """Active practices only; full fields for the caller's own practice (everything for
    SYSTEM_ADMIN), directory fields for the rest."""
    user = world.users[email]
    practices = await walk(world, "/practices", world.headers[email])
    assert ids(practices) == await sql_ids(world, "SELECT id FROM practices WHERE is_active")
    assert str(world.practices["inactive_practice"]) not in ids(practices)
    for practice in practices:
        full = user.role is Role.SYSTEM_ADMIN or practice["id"] == str(user.practice_id)
        assert ("license_number" in practice) is full, practice
        assert ("is_active" in practice) is full, practice


@pytest.mark.parametrize(
    ("kind", "relation"),
    [
        ("pets", "other_practice_client"),
        ("pets", "pending_client"),
        ("pet-owners", "other_practice_client"),
        ("pet-owners", "pending_client"),
    ],
)
async def test_out_of_scope_looks_like_missing(world: World, kind: str, relation: str) -> None:
    """An out-of-scope object answers exactly like one that does not exist (no oracle)."""
    headers = world.headers[RIVERSIDE_VET]
    target = world.pets[relation] if kind == "pets" else world.owners[relation]
    hidden = await world.client.get(f"{API}/{kind}/{target}", headers=headers)
    missing = await world.client.get(f"{API}/{kind}/{uuid.uuid4()}", headers=headers)
    assert hidden.status_code == missing.status_code == 404
    per_request = {"request_id", "instance"}
    assert {k: v for k, v in hidden.json().items() if k not in per_request} == {
        k: v for k, v in missing.json().items() if k not in per_request
    }
