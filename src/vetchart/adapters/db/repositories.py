"""Repositories over one session (SQLAlchemy Core). They never commit or flush."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from vetchart.adapters.db.constraints import translated
from vetchart.adapters.db.rows import EntityRows, columns_of
from vetchart.adapters.db.scope import client_practices, owner_in_scope
from vetchart.adapters.db.tables import (
    auth_sessions,
    login_throttles,
    mfa_recovery_codes,
    pet_owners,
    pets,
    practice_associations,
    practices,
    refresh_tokens,
    staff_invitations,
    users,
)
from vetchart.domain.owners import (
    OPEN_STATUSES,
    Association,
    AssociationStatus,
    ConsentParty,
    PetOwner,
    PreferredCommunication,
    RequestType,
)
from vetchart.domain.pets import Pet, Sex
from vetchart.domain.policy import ClientScope
from vetchart.domain.practices import Practice
from vetchart.domain.sessions import SessionRecord
from vetchart.domain.throttle import ThrottleState
from vetchart.domain.users import Role, User
from vetchart.services.ports.identity import (
    Invitation,
    RefreshTokenState,
    SessionPrincipal,
    SpentToken,
)
from vetchart.services.ports.system import IdGenerator

_USER_COLUMNS = list(users.c)
_SESSION_COLUMNS = list(auth_sessions.c)


_USERS = EntityRows(User, columns_of(users), enums={"role": Role})
user_from_row = _USERS.entity
session_from_row = EntityRows(SessionRecord, columns_of(auth_sessions)).entity


class SqlUserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, user_id: UUID, *, for_update: bool = False) -> User | None:
        query = select(users).where(users.c.id == user_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).mappings().first()
        return user_from_row(row) if row else None

    async def get_by_email(self, email: str) -> User | None:
        row = (
            (await self._session.execute(select(users).where(users.c.email == email)))
            .mappings()
            .first()
        )
        return user_from_row(row) if row else None

    async def add(self, user: User) -> None:
        async with translated(self._session):
            await self._session.execute(insert(users).values(**_USERS.values(user)))

    async def save(self, user: User) -> None:
        values = _USERS.updated(user)
        await self._session.execute(update(users).where(users.c.id == user.id).values(**values))


_PRACTICES = EntityRows(Practice, columns_of(practices))
practice_from_row = _PRACTICES.entity


class SqlPracticeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, practice_id: UUID, *, for_update: bool = False) -> Practice | None:
        query = select(practices).where(practices.c.id == practice_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).mappings().first()
        return practice_from_row(row) if row else None

    async def get_by_name(self, name: str) -> Practice | None:
        query = select(practices).where(practices.c.name == name).order_by(practices.c.id).limit(1)
        row = (await self._session.execute(query)).mappings().first()
        return practice_from_row(row) if row else None

    async def add(self, practice: Practice) -> None:
        values = _PRACTICES.values(practice)
        async with translated(self._session):
            await self._session.execute(insert(practices).values(**values))

    async def save(self, practice: Practice) -> None:
        values = _PRACTICES.updated(practice)
        async with translated(self._session):
            await self._session.execute(
                update(practices).where(practices.c.id == practice.id).values(**values)
            )


class SqlSessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, record: SessionRecord) -> None:
        await self._session.execute(
            insert(auth_sessions).values(
                id=record.id,
                user_id=record.user_id,
                created_at=record.created_at,
                last_used_at=record.last_used_at,
                expires_at=record.expires_at,
                idle_timeout_seconds=record.idle_timeout_seconds,
                client_address=record.client_address,
                user_agent=record.user_agent,
            )
        )

    async def get(self, session_id: UUID, *, for_update: bool = False) -> SessionRecord | None:
        query = select(auth_sessions).where(auth_sessions.c.id == session_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).mappings().first()
        return session_from_row(row) if row else None

    async def touch(self, session_id: UUID, now: datetime) -> None:
        await self._session.execute(
            update(auth_sessions).where(auth_sessions.c.id == session_id).values(last_used_at=now)
        )

    async def revoke(self, session_id: UUID, now: datetime, reason: str) -> bool:
        result = await self._session.execute(
            update(auth_sessions)
            .where(auth_sessions.c.id == session_id, auth_sessions.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason)
            .returning(auth_sessions.c.id)
        )
        return result.first() is not None

    async def revoke_all(
        self, user_id: UUID, now: datetime, reason: str, *, keep: UUID | None = None
    ) -> list[UUID]:
        conditions = [auth_sessions.c.user_id == user_id, auth_sessions.c.revoked_at.is_(None)]
        if keep is not None:
            conditions.append(auth_sessions.c.id != keep)
        result = await self._session.execute(
            update(auth_sessions)
            .where(*conditions)
            .values(revoked_at=now, revoked_reason=reason)
            .returning(auth_sessions.c.id)
        )
        return [row[0] for row in result]

    async def list_active(self, user_id: UUID, now: datetime) -> list[SessionRecord]:
        rows = (
            await self._session.execute(
                select(auth_sessions)
                .where(
                    auth_sessions.c.user_id == user_id,
                    auth_sessions.c.revoked_at.is_(None),
                    auth_sessions.c.expires_at > now,
                    auth_sessions.c.last_used_at
                    + func.make_interval(0, 0, 0, 0, 0, 0, auth_sessions.c.idle_timeout_seconds)
                    > now,
                )
                .order_by(auth_sessions.c.created_at.desc(), auth_sessions.c.id.desc())
            )
        ).mappings()
        return [session_from_row(row) for row in rows]

    async def add_refresh_token(
        self, token_id: UUID, session_id: UUID, token_hash: bytes, now: datetime
    ) -> None:
        await self._session.execute(
            insert(refresh_tokens).values(
                id=token_id, session_id=session_id, token_hash=token_hash, created_at=now
            )
        )

    async def spend_refresh_token(self, token_hash: bytes, now: datetime) -> SpentToken:
        # One statement decides the race: of concurrent spenders only one sees a row.
        spent = (
            await self._session.execute(
                update(refresh_tokens)
                .where(
                    refresh_tokens.c.token_hash == token_hash, refresh_tokens.c.used_at.is_(None)
                )
                .values(used_at=now)
                .returning(refresh_tokens.c.session_id)
            )
        ).first()
        if spent is not None:
            return SpentToken(RefreshTokenState.SPENT_NOW, spent[0])
        known = await self._session.scalar(
            select(refresh_tokens.c.session_id).where(refresh_tokens.c.token_hash == token_hash)
        )
        if known is None:
            return SpentToken(RefreshTokenState.UNKNOWN, None)
        return SpentToken(RefreshTokenState.ALREADY_SPENT, known)

    async def principal(self, session_id: UUID, user_id: UUID) -> SessionPrincipal | None:
        session_cols = [c.label(f"s_{c.name}") for c in _SESSION_COLUMNS]
        row = (
            (
                await self._session.execute(
                    select(*_USER_COLUMNS, *session_cols)
                    .join_from(users, auth_sessions, auth_sessions.c.user_id == users.c.id)
                    .where(and_(auth_sessions.c.id == session_id, users.c.id == user_id))
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        session_row = {c.name: row[f"s_{c.name}"] for c in _SESSION_COLUMNS}
        return SessionPrincipal(session=session_from_row(session_row), user=user_from_row(row))


class SqlThrottleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    @staticmethod
    def _from_row(row: RowMapping) -> ThrottleState:
        return ThrottleState(
            key=row["key"],
            failure_count=row["failure_count"],
            window_started_at=row["window_started_at"],
            locked_until=row["locked_until"],
            lockout_level=row["lockout_level"],
        )

    async def lock(self, key: str, now: datetime) -> ThrottleState:
        await self._session.execute(
            pg_insert(login_throttles)
            .values(
                key=key, failure_count=0, window_started_at=now, lockout_level=0, updated_at=now
            )
            .on_conflict_do_nothing(index_elements=["key"])
        )
        row = (
            (
                await self._session.execute(
                    select(login_throttles).where(login_throttles.c.key == key).with_for_update()
                )
            )
            .mappings()
            .one()
        )
        return self._from_row(row)

    async def peek(self, key: str) -> ThrottleState | None:
        row = (
            (
                await self._session.execute(
                    select(login_throttles).where(login_throttles.c.key == key)
                )
            )
            .mappings()
            .first()
        )
        return self._from_row(row) if row else None

    async def save(self, state: ThrottleState, now: datetime) -> None:
        await self._session.execute(
            update(login_throttles)
            .where(login_throttles.c.key == state.key)
            .values(
                failure_count=state.failure_count,
                window_started_at=state.window_started_at,
                locked_until=state.locked_until,
                lockout_level=state.lockout_level,
                updated_at=now,
            )
        )

    async def clear(self, key: str) -> None:
        await self._session.execute(delete(login_throttles).where(login_throttles.c.key == key))

    async def clear_many(self, keys: Sequence[str], prefixes: Sequence[str]) -> int:
        key = login_throttles.c.key
        # autoescape: an email's own % and _ are matched literally, not as wildcards.
        conditions = [key.startswith(prefix, autoescape=True) for prefix in prefixes]
        if keys:
            conditions.append(key.in_(list(keys)))
        if not conditions:
            return 0
        # Lock in key order first, as sign-ins do (account key before pair key): a
        # DELETE locks rows in scan order and could deadlock with a failing sign-in.
        matching = or_(*conditions)
        locked = await self._session.execute(
            select(key).where(matching).order_by(key.collate("C")).with_for_update()
        )
        keys_found = [row[0] for row in locked]
        if not keys_found:
            return 0
        result = await self._session.execute(delete(login_throttles).where(key.in_(keys_found)))
        return int(getattr(result, "rowcount", 0) or 0)

    async def purge_idle(self, idle_before: datetime, now: datetime) -> int:
        table = login_throttles.c
        result = await self._session.execute(
            delete(login_throttles).where(
                table.updated_at < idle_before,
                or_(table.locked_until.is_(None), table.locked_until <= now),
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)


class SqlRecoveryCodeRepository:
    def __init__(self, session: AsyncSession, ids: IdGenerator) -> None:
        self._session = session
        self._ids = ids

    async def replace(self, user_id: UUID, code_hashes: Sequence[bytes], now: datetime) -> None:
        await self.clear(user_id)
        if code_hashes:
            await self._session.execute(
                insert(mfa_recovery_codes),
                [
                    {
                        "id": self._ids.new_id(),
                        "user_id": user_id,
                        "code_hash": h,
                        "created_at": now,
                    }
                    for h in code_hashes
                ],
            )

    async def use(self, user_id: UUID, code_hash: bytes, now: datetime) -> bool:
        result = await self._session.execute(
            update(mfa_recovery_codes)
            .where(
                mfa_recovery_codes.c.user_id == user_id,
                mfa_recovery_codes.c.code_hash == code_hash,
                mfa_recovery_codes.c.used_at.is_(None),
            )
            .values(used_at=now)
            .returning(mfa_recovery_codes.c.id)
        )
        return result.first() is not None

    async def clear(self, user_id: UUID) -> None:
        await self._session.execute(
            delete(mfa_recovery_codes).where(mfa_recovery_codes.c.user_id == user_id)
        )


# --------------------------------------------------------------------------- invitations


_INVITATIONS = EntityRows(Invitation, columns_of(staff_invitations), enums={"role": Role})
invitation_from_row = _INVITATIONS.entity


class SqlInvitationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, invitation: Invitation) -> None:
        await self._session.execute(
            insert(staff_invitations).values(**_INVITATIONS.values(invitation))
        )

    async def get_by_token_hash(self, token_hash: bytes) -> Invitation | None:
        query = (
            select(staff_invitations)
            .where(staff_invitations.c.token_hash == token_hash)
            .with_for_update()
        )
        row = (await self._session.execute(query)).mappings().first()
        return invitation_from_row(row) if row else None

    async def mark_accepted(self, invitation_id: UUID, user_id: UUID, now: datetime) -> None:
        await self._session.execute(
            update(staff_invitations)
            .where(staff_invitations.c.id == invitation_id)
            .values(accepted_at=now, accepted_user_id=user_id)
        )

    async def get(self, invitation_id: UUID, *, for_update: bool = False) -> Invitation | None:
        query = select(staff_invitations).where(staff_invitations.c.id == invitation_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).mappings().first()
        return invitation_from_row(row) if row else None

    async def mark_revoked(self, invitation_id: UUID, actor_id: UUID, now: datetime) -> None:
        await self._session.execute(
            update(staff_invitations)
            .where(staff_invitations.c.id == invitation_id)
            .values(revoked_at=now, revoked_by=actor_id)
        )


# --------------------------------------------------------------------------- pet owners

_OWNERS = EntityRows(
    PetOwner,
    columns_of(pet_owners, without=["search_text"]),
    enums={"preferred_communication": PreferredCommunication},
)
owner_from_row = _OWNERS.entity


class SqlPetOwnerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, owner: PetOwner) -> None:
        # The service checks first; this index decides a race between two requests.
        async with translated(self._session):
            await self._session.execute(insert(pet_owners).values(**_OWNERS.values(owner)))

    async def get(
        self, owner_id: UUID, scope: ClientScope, *, for_update: bool = False
    ) -> PetOwner | None:
        query = select(pet_owners).where(
            pet_owners.c.id == owner_id, owner_in_scope(scope, pet_owners.c.id)
        )
        if for_update:
            query = query.with_for_update(of=pet_owners)
        row = (await self._session.execute(query)).mappings().first()
        return owner_from_row(row) if row else None

    async def get_by_user(self, user_id: UUID) -> PetOwner | None:
        query = select(pet_owners).where(pet_owners.c.user_id == user_id)
        row = (await self._session.execute(query)).mappings().first()
        return owner_from_row(row) if row else None

    async def find_by_email(self, email: str) -> PetOwner | None:
        query = (
            select(pet_owners).where(pet_owners.c.email == email).order_by(pet_owners.c.id).limit(1)
        )
        row = (await self._session.execute(query)).mappings().first()
        return owner_from_row(row) if row else None

    async def get_unscoped(self, owner_id: UUID) -> PetOwner | None:
        query = select(pet_owners).where(pet_owners.c.id == owner_id)
        row = (await self._session.execute(query)).mappings().first()
        return owner_from_row(row) if row else None

    async def save(self, owner: PetOwner) -> None:
        values = _OWNERS.updated(owner)
        await self._session.execute(
            update(pet_owners).where(pet_owners.c.id == owner.id).values(**values)
        )


# --------------------------------------------------------------------------- associations

_ASSOCIATIONS = EntityRows(
    Association,
    columns_of(practice_associations),
    enums={"request_type": RequestType, "status": AssociationStatus, "awaiting": ConsentParty},
)
association_from_row = _ASSOCIATIONS.entity


class SqlAssociationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, association: Association) -> None:
        async with translated(self._session):
            await self._session.execute(
                insert(practice_associations).values(**_ASSOCIATIONS.values(association))
            )

    async def get(self, association_id: UUID, *, for_update: bool = False) -> Association | None:
        query = select(practice_associations).where(practice_associations.c.id == association_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).mappings().first()
        return association_from_row(row) if row else None

    async def get_open(self, owner_id: UUID, practice_id: UUID) -> Association | None:
        a = practice_associations
        query = select(a).where(
            a.c.pet_owner_id == owner_id,
            a.c.practice_id == practice_id,
            a.c.status.in_([status.value for status in OPEN_STATUSES]),
        )
        row = (await self._session.execute(query)).mappings().first()
        return association_from_row(row) if row else None

    async def save(self, association: Association) -> None:
        values = _ASSOCIATIONS.updated(association)
        await self._session.execute(
            update(practice_associations)
            .where(practice_associations.c.id == association.id)
            .values(**values)
        )

    async def for_owner(self, owner_id: UUID) -> list[Association]:
        a = practice_associations
        query = select(a).where(a.c.pet_owner_id == owner_id).order_by(a.c.id).with_for_update()
        return [association_from_row(r) for r in (await self._session.execute(query)).mappings()]


# --------------------------------------------------------------------------- pets

_PETS = EntityRows(Pet, columns_of(pets), enums={"sex": Sex})
pet_from_row = _PETS.entity


class SqlPetRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, pet: Pet) -> None:
        async with translated(self._session):
            await self._session.execute(insert(pets).values(**_PETS.values(pet)))

    async def get(
        self, pet_id: UUID, scope: ClientScope, *, for_update: bool = False
    ) -> Pet | None:
        query = select(pets).where(pets.c.id == pet_id, owner_in_scope(scope, pets.c.owner_id))
        if for_update:
            query = query.with_for_update(of=pets)
        row = (await self._session.execute(query)).mappings().first()
        return pet_from_row(row) if row else None

    async def care_practices(self, pet_id: UUID, scope: ClientScope) -> list[UUID] | None:
        # One statement: the pet's scope check, and its owner's approved practices.
        approved = client_practices(pets.c.owner_id)
        query = select(approved).where(pets.c.id == pet_id, owner_in_scope(scope, pets.c.owner_id))
        row = (await self._session.execute(query)).first()
        return None if row is None else sorted(row[0] or [])

    async def save(self, pet: Pet) -> None:
        values = _PETS.updated(pet)
        async with translated(self._session):
            await self._session.execute(update(pets).where(pets.c.id == pet.id).values(**values))

    async def for_owner(self, owner_id: UUID) -> list[Pet]:
        query = (
            select(pets).where(pets.c.owner_id == owner_id).order_by(pets.c.id).with_for_update()
        )
        return [pet_from_row(row) for row in (await self._session.execute(query)).mappings()]
