"""Read-side queries: plain selects of exactly what a response needs, keyset-paginated."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import Select, and_, or_, select, tuple_
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.sql.elements import KeyedColumnElement

from vetchart.adapters.db.audited_reads import AuditedReader, with_chain_head
from vetchart.adapters.db.pg import Rows, SqlArgs
from vetchart.adapters.db.repositories import (
    association_from_row,
    invitation_from_row,
    owner_from_row,
    pet_from_row,
    practice_from_row,
    user_from_row,
)
from vetchart.adapters.db.resilience import retry_idempotent_read
from vetchart.adapters.db.scope import (
    association_visible_to_practice,
    care_practices,
    owner_in_scope,
    owner_in_scope_sql,
    page_care_practices,
    user_in_scope,
)
from vetchart.adapters.db.seen import PAGE_ORDER, audited_page
from vetchart.adapters.db.tables import (
    pet_owners,
    pets,
    practice_associations,
    practices,
    staff_invitations,
    users,
)
from vetchart.domain.invitations import InvitationStatus
from vetchart.domain.pets import normalize_species
from vetchart.domain.policy import ClientScope
from vetchart.domain.practices import Practice
from vetchart.domain.users import User
from vetchart.services.ports.clients import AssociationFilters, AssociationView, PetFilters, PetView
from vetchart.services.ports.identity import Invitation, UserFilters
from vetchart.services.ports.paging import SEEN_PRACTICES, Page, PageRequest, ReadAudit, Row

T = TypeVar("T")


def like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def page_of(rows: list[T], limit: int, key: Callable[[T], tuple[object, ...]]) -> Page[T]:
    """Rows were fetched with limit + 1: the extra one only says there is a next page."""
    items = rows[:limit]
    return Page(items=items, next_key=key(items[-1]) if len(rows) > limit and items else None)


async def newest_first(
    session: AsyncSession, query: Select[Any], order: tuple[Any, ...], page: PageRequest
) -> Page[RowMapping]:
    """A keyset page of ``query``'s rows, newest first by ``order`` (its last column the
    tie-breaking id), after the key ``page.after``."""
    if page.after is not None:
        query = query.where(tuple_(*order) < tuple_(*page.after))
    query = query.order_by(*(column.desc() for column in order)).limit(page.limit + 1)
    rows = list((await session.execute(query)).mappings())
    return page_of(rows, page.limit, lambda row: tuple(row[c.key] for c in order))


def shown_page(
    rows: Rows,
    page: PageRequest,
    key: Callable[[Row], tuple[object, ...]],
    *,
    present: str = "id",
) -> Page[Row]:
    """The page of an audited page's rows (adapters/db/seen.py): the empty page's one row
    of NULLs (``present`` is NULL) dropped."""
    found: list[Row] = [row for row in rows if row[present] is not None]
    return page_of(found, page.limit, key)


class ReadQueries:
    """A read-side query object: plain selects on the read engine, retried on a lost
    connection (they are idempotent)."""

    def __init__(self, engine: AsyncEngine, *, read_retries: int) -> None:
        self._engine = engine
        self._retries = read_retries

    async def _rows(self, query: Select[Any]) -> list[RowMapping]:
        async def run() -> list[RowMapping]:
            async with self._engine.connect() as conn:
                return list((await conn.execute(query)).mappings().all())

        return await retry_idempotent_read(run, retries=self._retries)

    async def _page(
        self,
        query: Select[Any],
        page: PageRequest,
        order: tuple[KeyedColumnElement[Any], ...],
        item: Callable[[RowMapping], T],
        *,
        newest_first: bool = False,
    ) -> Page[T]:
        """A keyset page of ``query`` by the columns ``order`` (the last one unique),
        ascending or newest first; its next key is the last item's values of ``order``."""
        if page.after is not None:
            seen, after = tuple_(*order), tuple_(*page.after)
            query = query.where(seen < after if newest_first else seen > after)
        ordering = [column.desc() for column in order] if newest_first else order
        query = query.order_by(*ordering).limit(page.limit + 1)
        rows = page_of(
            await self._rows(query), page.limit, lambda row: tuple(row[c.key] for c in order)
        )
        return Page(items=[item(row) for row in rows.items], next_key=rows.next_key)


class SqlUserQueries(ReadQueries):
    async def users_page(
        self, scope_practice_id: UUID | None, filters: UserFilters, page: PageRequest
    ) -> Page[User]:
        query = select(users)
        if scope_practice_id is not None:
            query = query.where(user_in_scope(scope_practice_id))
        if filters.practice_id is not None:
            query = query.where(users.c.practice_id == filters.practice_id)
        if filters.role is not None:
            query = query.where(users.c.role == filters.role.value)
        if filters.q:
            pattern = like_pattern(filters.q.lower())
            query = query.where(or_(users.c.email.like(pattern), users.c.full_name.ilike(pattern)))
        return await self._page(query, page, (users.c.full_name, users.c.id), user_from_row)

    async def invitations_page(
        self,
        practice_id: UUID,
        status: InvitationStatus | None,
        now: datetime,
        page: PageRequest,
    ) -> Page[Invitation]:
        i = staff_invitations
        query = select(i).where(i.c.practice_id == practice_id)
        open_ = and_(i.c.accepted_at.is_(None), i.c.revoked_at.is_(None))
        match status:
            case InvitationStatus.PENDING:
                query = query.where(open_, i.c.expires_at > now)
            case InvitationStatus.EXPIRED:
                query = query.where(open_, i.c.expires_at <= now)
            case InvitationStatus.ACCEPTED:
                query = query.where(i.c.accepted_at.is_not(None))
            case InvitationStatus.REVOKED:
                query = query.where(i.c.revoked_at.is_not(None))
            case None:
                pass
        return await self._page(
            query, page, (i.c.created_at, i.c.id), invitation_from_row, newest_first=True
        )


class SqlClientQueries(ReadQueries):
    """Practices, owners, associations and pets: one statement per page or detail."""

    async def practices_page(self, page: PageRequest) -> Page[Practice]:
        query = select(practices).where(practices.c.is_active)
        return await self._page(query, page, (practices.c.name, practices.c.id), practice_from_row)

    async def staff_page(self, practice_id: UUID, page: PageRequest) -> Page[User]:
        query = select(users).where(users.c.practice_id == practice_id, users.c.is_active)
        return await self._page(query, page, (users.c.full_name, users.c.id), user_from_row)

    async def associations_page(
        self, filters: AssociationFilters, page: PageRequest
    ) -> Page[AssociationView]:
        a = practice_associations
        query = (
            select(
                a,
                pet_owners.c.full_name.label("owner_name"),
                practices.c.name.label("practice_name"),
            )
            .join_from(a, pet_owners, pet_owners.c.id == a.c.pet_owner_id)
            .join(practices, practices.c.id == a.c.practice_id)
        )
        if filters.practice_id is not None:
            query = query.where(a.c.practice_id == filters.practice_id)
        if filters.owner_id is not None:
            query = query.where(a.c.pet_owner_id == filters.owner_id)
        if filters.status is not None:
            query = query.where(a.c.status == filters.status.value)
        if filters.practice_view:
            query = query.where(association_visible_to_practice())
        return await self._page(
            query,
            page,
            (a.c.created_at, a.c.id),
            lambda r: AssociationView(association_from_row(r), r["owner_name"], r["practice_name"]),
            newest_first=True,
        )

    def _pets_with_owner(self) -> Select[Any]:
        owner_cols = [c.label(f"owner__{c.name}") for c in pet_owners.c if c.name != "search_text"]
        return select(pets, *owner_cols).join_from(
            pets, pet_owners, pet_owners.c.id == pets.c.owner_id
        )

    @staticmethod
    def _pet_view(row: RowMapping) -> PetView:
        owner = {
            key.removeprefix("owner__"): value
            for key, value in row.items()
            if isinstance(key, str) and key.startswith("owner__")
        }
        return PetView(pet=pet_from_row(row), owner=owner_from_row(owner))

    async def pets_page(
        self, scope: ClientScope, filters: PetFilters, page: PageRequest
    ) -> Page[PetView]:
        query = self._pets_with_owner().where(owner_in_scope(scope, pets.c.owner_id))
        if not filters.include_inactive:
            query = query.where(pets.c.is_active)
        if filters.owner_id is not None:
            query = query.where(pets.c.owner_id == filters.owner_id)
        if filters.species:
            query = query.where(pets.c.species == normalize_species(filters.species))
        if filters.q:
            query = query.where(pets.c.name.ilike(like_pattern(filters.q)))
        return await self._page(query, page, (pets.c.name, pets.c.id), self._pet_view)

    async def pet_detail(self, scope: ClientScope, pet_id: UUID) -> PetView | None:
        query = self._pets_with_owner().where(
            pets.c.id == pet_id, owner_in_scope(scope, pets.c.owner_id)
        )
        rows = await self._rows(query)
        return self._pet_view(rows[0]) if rows else None


# ---------------------------------------------------------------------- the fast path

# A pet with its owner as the API answers it (the owner's columns prefixed ``owner__``).
PET_COLUMNS = (
    "p.id, p.owner_id, p.name, p.species, p.breed, p.sex, p.colour, p.date_of_birth, "
    "p.weight_kg::text AS weight_kg, p.microchip_id, p.neutered, p.allergies, p.notes, "
    "p.is_active, p.version, p.created_at, p.updated_at, "
    "o.id AS owner__id, o.full_name AS owner__full_name, o.email AS owner__email, "
    "o.phone AS owner__phone, o.address AS owner__address, "
    "o.preferred_communication AS owner__preferred_communication, "
    "o.user_id AS owner__user_id, o.created_at AS owner__created_at, "
    "o.updated_at AS owner__updated_at, o.is_active AS owner__is_active, "
    "o.erased_at AS owner__erased_at"
)
_PETS_WITH_OWNER = "FROM pets p JOIN pet_owners o ON o.id = p.owner_id"


# An owner as the API answers it.
OWNER_COLUMNS = (
    "o.id, o.full_name, o.email, o.phone, o.address, o.preferred_communication, o.user_id, "
    "o.created_at, o.updated_at, o.is_active, o.erased_at"
)


@dataclass(frozen=True)
class _ClientSource:
    """Where an audited pet or owner read finds its rows: the columns, the FROM clause,
    the row's id column, its owner's id column (in the row, then in a page's rows), and
    a page's order (its keyset: those columns as the page's rows name them)."""

    columns: str
    from_: str
    id: str
    owner_id: str
    page_owner_id: str
    order: str
    key: tuple[str, str]


_PET = _ClientSource(
    PET_COLUMNS, _PETS_WITH_OWNER, "p.id", "p.owner_id", "owner_id", "p.name, p.id", ("name", "id")
)
_OWNER = _ClientSource(
    OWNER_COLUMNS,
    "FROM pet_owners o",
    "o.id",
    "o.id",
    "id",
    "o.full_name, o.id",
    ("full_name", "id"),
)


def _care(scope: ClientScope, source: _ClientSource) -> tuple[str, str | None]:
    """The columns that name the data's practices in an audited pet or owner read: none
    in a practice's scope (its staff see the client through that practice only; the
    service names it), else the owner's practices (adapters/db/seen.py)."""
    if scope.practice_id is not None:
        return "", None
    single = f", {care_practices(source.owner_id)} AS {SEEN_PRACTICES}"
    return single, page_care_practices(source.page_owner_id)


class PgClientReads:
    """Pets and owners on the fast path: each read one short audited transaction on the
    primary (adapters/db/audited_reads.py: two statements, the scope check, chain head
    lock and data, then the audit row), its audit row committed before the rows are
    returned. A page always writes its row, empty or not (adapters/db/seen.py)."""

    def __init__(self, reader: AuditedReader) -> None:
        self._reader = reader

    async def pet(self, scope: ClientScope, pet_id: UUID, audit: ReadAudit) -> Row | None:
        return await self._one(scope, pet_id, _PET, audit)

    async def owner(self, scope: ClientScope, owner_id: UUID, audit: ReadAudit) -> Row | None:
        return await self._one(scope, owner_id, _OWNER, audit)

    async def _one(
        self, scope: ClientScope, row_id: UUID, source: _ClientSource, audit: ReadAudit
    ) -> Row | None:
        practices, _ = _care(scope, source)
        return await self._reader.owned_one(
            f"SELECT {source.columns}{practices} {source.from_}",
            row_id=source.id,
            owner_id=source.owner_id,
            scope=scope,
            args=SqlArgs(row_id, offset=1),  # $2
            audit=audit,
        )

    async def owners_page(
        self, scope: ClientScope, q: str | None, page: PageRequest, audit: ReadAudit
    ) -> Page[Row]:
        args = SqlArgs(page.limit + 1, offset=1)  # $2
        conditions = [
            owner_in_scope_sql(scope, "o.id", args),
            *args.conditions(("o.search_text LIKE", like_pattern(q.lower()) if q else None)),
        ]
        return await self._page(scope, _OWNER, conditions, args, page, audit)

    async def pets_page(
        self, scope: ClientScope, filters: PetFilters, page: PageRequest, audit: ReadAudit
    ) -> Page[Row]:
        args = SqlArgs(page.limit + 1, offset=1)  # $2
        conditions = [owner_in_scope_sql(scope, "p.owner_id", args)]
        if not filters.include_inactive:
            conditions.append("p.is_active")
        conditions += args.conditions(
            ("p.owner_id =", filters.owner_id),
            ("p.species =", normalize_species(filters.species) if filters.species else None),
            ("p.name ILIKE", like_pattern(filters.q) if filters.q else None),
        )
        return await self._page(scope, _PET, conditions, args, page, audit)

    async def _page(
        self,
        scope: ClientScope,
        source: _ClientSource,
        conditions: list[str],
        args: SqlArgs,
        page: PageRequest,
        audit: ReadAudit,
    ) -> Page[Row]:
        """A page of pets or owners (``$2`` is its size + 1), its audit row committed
        first, empty or not."""
        conditions = [*conditions, *args.after(source.order, page.after)]
        _, practices = _care(scope, source)
        sql = with_chain_head(
            audited_page(
                f"SELECT {source.columns} {source.from_} WHERE {' AND '.join(conditions)} "
                f"ORDER BY {source.order} LIMIT $2",
                "$2",
                practices=practices,
            ),
            order_by=PAGE_ORDER,
        )
        rows = await self._reader.read(sql, tuple(args.values), audit)
        first, second = source.key
        return shown_page(rows or [], page, lambda r: (r[first], r[second]))
