"""FastAPI dependencies: resolve what a route needs. They never decide access.

Each service has one typed alias (``PetsDep`` and so on), resolved by one factory
(``_provide``) from the container's attribute of that service: a route takes the services it
uses as parameters, never the ``Container`` (tests/api/test_route_dependencies.py checks
every route's dependency tree). Only this module reaches the container built by the
app's lifespan (``app.state.container``); routers do not import bootstrap.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Protocol, TypeVar

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


T = TypeVar("T")


def _provide(get: Callable[[Container], T]) -> Callable[[Request], Awaitable[T]]:
    """A dependency answering what ``get`` reads from the app's container."""

    async def from_container(request: Request) -> T:
        return get(container_of(request))

    return from_container


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


AuthDep = Annotated[AuthService, Depends(_provide(lambda c: c.auth))]
UsersDep = Annotated[UserService, Depends(_provide(lambda c: c.users))]
PracticesDep = Annotated[PracticeService, Depends(_provide(lambda c: c.practices))]
OwnersDep = Annotated[OwnerService, Depends(_provide(lambda c: c.owners))]
PetsDep = Annotated[PetService, Depends(_provide(lambda c: c.pets))]
RecordsDep = Annotated[MedicalRecordService, Depends(_provide(lambda c: c.records))]
AppointmentsDep = Annotated[AppointmentService, Depends(_provide(lambda c: c.appointments))]
DashboardDep = Annotated[DashboardService, Depends(_provide(lambda c: c.dashboard))]
VisitsDep = Annotated[VisitService, Depends(_provide(lambda c: c.visits))]
SchedulingDep = Annotated[SchedulingService, Depends(_provide(lambda c: c.scheduling))]
SummariesDep = Annotated[VisitSummaryService, Depends(_provide(lambda c: c.summaries))]
AuditDep = Annotated[AuditService, Depends(_provide(lambda c: c.audit))]
KbDocumentsDep = Annotated[KbDocumentService, Depends(_provide(lambda c: c.kb_documents))]
KbAnswersDep = Annotated[KbAnswerService, Depends(_provide(lambda c: c.kb_answers))]
FilesDep = Annotated[FileService, Depends(_provide(lambda c: c.files))]
HealthDep = Annotated[HealthService, Depends(_provide(lambda c: c.health))]
UploadLimitsDep = Annotated[UploadSizeLimits, Depends(_provide(lambda c: c.upload_limits))]
MessagingDep = Annotated[MessagingService, Depends(_provide(lambda c: c.messaging))]
ClockDep = Annotated[Clock, Depends(_provide(lambda c: c.clock))]
RateLimitsDep = Annotated[RateLimits, Depends(_provide(lambda c: c.rate_limiter))]
InvitationsDep = Annotated[InvitationService, Depends(_provide(lambda c: c.invitations))]
OwnerLifecycleDep = Annotated[OwnerLifecycleService, Depends(_provide(lambda c: c.owner_lifecycle))]
ChartsDep = Annotated[ChartService, Depends(_provide(lambda c: c.charts))]
TranscriptionDep = Annotated[
    VisitTranscriptionService, Depends(_provide(lambda c: c.transcription))
]
WebhooksDep = Annotated[WebhookService, Depends(_provide(lambda c: c.webhooks))]
ApiKeysDep = Annotated[ApiKeyService, Depends(_provide(lambda c: c.api_keys))]
