"""FastAPI dependencies: resolve what a route needs. They never decide access.

Each service has one typed alias (``PetsDep`` and so on): a route takes the services it
uses as parameters, never the ``Container`` (tests/api/test_route_dependencies.py checks
every route's dependency tree). Only this module reaches the container built by the
app's lifespan (``app.state.container``); routers do not import bootstrap.
"""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import Depends, Request

from vetchart.bootstrap import Container
from vetchart.services.api_keys import ApiKeyService
from vetchart.services.appointments import AppointmentService, DashboardService
from vetchart.services.audit import AuditService
from vetchart.services.auth.service import AuthService
from vetchart.services.charts import ChartService
from vetchart.services.files import FileService, UploadSizeLimits
from vetchart.services.health import HealthService
from vetchart.services.invitations import InvitationService
from vetchart.services.kb import KbDocumentService
from vetchart.services.kb_answers import KbAnswerService
from vetchart.services.messaging import MessagingService
from vetchart.services.owner_lifecycle import OwnerLifecycleService
from vetchart.services.owners import OwnerService
from vetchart.services.pets import PetService
from vetchart.services.ports.system import Clock
from vetchart.services.practices import PracticeService
from vetchart.services.records import MedicalRecordService
from vetchart.services.scheduling import SchedulingService
from vetchart.services.summaries import VisitSummaryService
from vetchart.services.transcription import VisitTranscriptionService
from vetchart.services.users import UserService
from vetchart.services.visits import VisitService
from vetchart.services.webhooks import WebhookService


def container_of(request: Request) -> Container:
    """The app's container (for this module and the api's own plumbing, not for routes)."""
    container: Container = request.app.state.container
    return container


class RateDecision(Protocol):
    @property
    def allowed(self) -> bool: ...

    @property
    def limit(self) -> int: ...

    @property
    def remaining(self) -> int: ...

    @property
    def reset_seconds(self) -> int: ...


class RateLimits(Protocol):
    """Counts a request against a named limit (adapters/ratelimit.py)."""

    async def hit(self, name: str, identity: str) -> RateDecision: ...

    async def spent(self, name: str, identity: str) -> bool:
        """Whether the named limit is spent for ``identity`` (counts nothing)."""
        ...


async def auth_service(request: Request) -> AuthService:
    return container_of(request).auth


async def users_service(request: Request) -> UserService:
    return container_of(request).users


async def practices_service(request: Request) -> PracticeService:
    return container_of(request).practices


async def owners_service(request: Request) -> OwnerService:
    return container_of(request).owners


async def pets_service(request: Request) -> PetService:
    return container_of(request).pets


async def records_service(request: Request) -> MedicalRecordService:
    return container_of(request).records


async def appointments_service(request: Request) -> AppointmentService:
    return container_of(request).appointments


async def dashboard_service(request: Request) -> DashboardService:
    return container_of(request).dashboard


async def visits_service(request: Request) -> VisitService:
    return container_of(request).visits


async def scheduling_service(request: Request) -> SchedulingService:
    return container_of(request).scheduling


async def summaries_service(request: Request) -> VisitSummaryService:
    return container_of(request).summaries


async def audit_service(request: Request) -> AuditService:
    return container_of(request).audit


async def kb_documents_service(request: Request) -> KbDocumentService:
    return container_of(request).kb_documents


async def kb_answers_service(request: Request) -> KbAnswerService:
    return container_of(request).kb_answers


async def messaging_service(request: Request) -> MessagingService:
    return container_of(request).messaging


async def files_service(request: Request) -> FileService:
    return container_of(request).files


async def health_service(request: Request) -> HealthService:
    return container_of(request).health


async def webhooks_service(request: Request) -> WebhookService:
    return container_of(request).webhooks


async def upload_limits(request: Request) -> UploadSizeLimits:
    return container_of(request).upload_limits


async def clock(request: Request) -> Clock:
    return container_of(request).clock


async def charts_service(request: Request) -> ChartService:
    return container_of(request).charts


async def rate_limits(request: Request) -> RateLimits:
    return container_of(request).rate_limiter


async def api_keys_service(request: Request) -> ApiKeyService:
    return container_of(request).api_keys


async def transcription_service(request: Request) -> VisitTranscriptionService:
    return container_of(request).transcription


AuthDep = Annotated[AuthService, Depends(auth_service)]
UsersDep = Annotated[UserService, Depends(users_service)]
PracticesDep = Annotated[PracticeService, Depends(practices_service)]
OwnersDep = Annotated[OwnerService, Depends(owners_service)]
PetsDep = Annotated[PetService, Depends(pets_service)]
RecordsDep = Annotated[MedicalRecordService, Depends(records_service)]
AppointmentsDep = Annotated[AppointmentService, Depends(appointments_service)]
DashboardDep = Annotated[DashboardService, Depends(dashboard_service)]
VisitsDep = Annotated[VisitService, Depends(visits_service)]
SchedulingDep = Annotated[SchedulingService, Depends(scheduling_service)]
SummariesDep = Annotated[VisitSummaryService, Depends(summaries_service)]
AuditDep = Annotated[AuditService, Depends(audit_service)]
KbDocumentsDep = Annotated[KbDocumentService, Depends(kb_documents_service)]
KbAnswersDep = Annotated[KbAnswerService, Depends(kb_answers_service)]
FilesDep = Annotated[FileService, Depends(files_service)]
HealthDep = Annotated[HealthService, Depends(health_service)]
UploadLimitsDep = Annotated[UploadSizeLimits, Depends(upload_limits)]
MessagingDep = Annotated[MessagingService, Depends(messaging_service)]
ClockDep = Annotated[Clock, Depends(clock)]
RateLimitsDep = Annotated[RateLimits, Depends(rate_limits)]


async def invitations_service(request: Request) -> InvitationService:
    return container_of(request).invitations


async def owner_lifecycle_service(request: Request) -> OwnerLifecycleService:
    return container_of(request).owner_lifecycle


InvitationsDep = Annotated[InvitationService, Depends(invitations_service)]
OwnerLifecycleDep = Annotated[OwnerLifecycleService, Depends(owner_lifecycle_service)]
ChartsDep = Annotated[ChartService, Depends(charts_service)]
TranscriptionDep = Annotated[VisitTranscriptionService, Depends(transcription_service)]
WebhooksDep = Annotated[WebhookService, Depends(webhooks_service)]
ApiKeysDep = Annotated[ApiKeyService, Depends(api_keys_service)]
