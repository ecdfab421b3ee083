"""Client ports: pet owners, their associations with practices, and pets (repositories),
the read side of practices, owners, associations and pets, and their fast-path reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from vetchart.domain.owners import Association, AssociationStatus, PetOwner
from vetchart.domain.pets import Pet
from vetchart.domain.policy import ClientScope
from vetchart.domain.practices import Practice
from vetchart.domain.users import User
from vetchart.services.ports.paging import Page, PageRequest, ReadAudit, Row


class PetOwnerRepository(Protocol):
    async def add(self, owner: PetOwner) -> None: ...
    async def get(
        self, owner_id: UUID, scope: ClientScope, *, for_update: bool = False
    ) -> PetOwner | None:
        """The owner if it exists *and* is in the scope; None otherwise."""
        ...

    async def get_by_user(self, user_id: UUID) -> PetOwner | None: ...
    async def find_by_email(self, email: str) -> PetOwner | None: ...
    async def get_unscoped(self, owner_id: UUID) -> PetOwner | None:
        """The owner whatever the caller's scope: for the services' own decisions (whose
        consent a link needs), never handed to a caller as it is."""
        ...

    async def save(self, owner: PetOwner) -> None: ...


class AssociationRepository(Protocol):
    async def add(self, association: Association) -> None:
        """Insert; ``Conflict`` when an open one exists for the owner and practice."""
        ...

    async def get(
        self, association_id: UUID, *, for_update: bool = False
    ) -> Association | None: ...
    async def get_open(self, owner_id: UUID, practice_id: UUID) -> Association | None:
        """The open (pending or approved) association of the owner and practice, if any."""
        ...

    async def save(self, association: Association) -> None: ...
    async def for_owner(self, owner_id: UUID) -> list[Association]:
        """Every association of the owner, row-locked for this transaction."""
        ...


class PetRepository(Protocol):
    async def add(self, pet: Pet) -> None:
        """Insert; ``Conflict`` when the microchip is taken."""
        ...

    async def get(
        self, pet_id: UUID, scope: ClientScope, *, for_update: bool = False
    ) -> Pet | None:
        """The pet if it exists and its owner is in the scope; None otherwise."""
        ...

    async def care_practices(self, pet_id: UUID, scope: ClientScope) -> list[UUID] | None:
        """The practices the pet's owner is a client of (an approved association), by id:
        what the pet's data belongs to, for the audit row of a read; None when the pet is
        not in the scope. One statement."""
        ...

    async def save(self, pet: Pet) -> None:
        """Update; ``Conflict`` when the microchip is taken."""
        ...

    async def for_owner(self, owner_id: UUID) -> list[Pet]:
        """Every pet of the owner (inactive ones too), row-locked for this transaction."""
        ...


@dataclass(frozen=True)
class PetFilters:
    owner_id: UUID | None = None
    species: str | None = None
    q: str | None = None
    include_inactive: bool = False


@dataclass(frozen=True, kw_only=True)
class AssociationFilters:
    """Which associations a page lists: a practice's, an owner's or both (None: not
    narrowed by it), in one status (None: every one). ``practice_view``: only those a
    practice's staff may see (``Association.visible_to_practice``). Every field is
    stated at each use: an unstated filter must never widen a page to other practices'
    associations."""

    practice_id: UUID | None
    owner_id: UUID | None
    status: AssociationStatus | None
    practice_view: bool


@dataclass(frozen=True)
class AssociationView:
    association: Association
    owner_name: str
    practice_name: str


@dataclass(frozen=True)
class PetView:
    pet: Pet
    owner: PetOwner


class ClientQueries(Protocol):
    """Read side of practices, owners, associations and pets (keyset pages)."""

    async def practices_page(self, page: PageRequest) -> Page[Practice]:
        """Active practices by (name, id)."""
        ...

    async def staff_page(self, practice_id: UUID, page: PageRequest) -> Page[User]:
        """Active staff of a practice by (full_name, id)."""
        ...

    async def associations_page(
        self, filters: AssociationFilters, page: PageRequest
    ) -> Page[AssociationView]:
        """Associations by (created_at, id), newest first."""
        ...

    async def pets_page(
        self, scope: ClientScope, filters: PetFilters, page: PageRequest
    ) -> Page[PetView]:
        """Pets in scope by (name, id), each with its owner."""
        ...

    async def pet_detail(self, scope: ClientScope, pet_id: UUID) -> PetView | None: ...


class ClientReads(Protocol):
    """The fast path of the pet and owner reads: plain rows (a pet with its owner, the
    owner's fields prefixed ``owner__``; an owner), in the scope or not at all, each read
    with its audit row committed before the rows are returned. A page is never None (an
    empty page is audited too); a single read is None when not in the scope (nothing
    written)."""

    async def pet(self, scope: ClientScope, pet_id: UUID, audit: ReadAudit) -> Row | None: ...

    async def pets_page(
        self, scope: ClientScope, filters: PetFilters, page: PageRequest, audit: ReadAudit
    ) -> Page[Row]:
        """By (name, id)."""
        ...

    async def owner(self, scope: ClientScope, owner_id: UUID, audit: ReadAudit) -> Row | None: ...

    async def owners_page(
        self, scope: ClientScope, q: str | None, page: PageRequest, audit: ReadAudit
    ) -> Page[Row]:
        """By (full_name, id)."""
        ...
