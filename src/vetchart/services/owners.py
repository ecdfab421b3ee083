"""Pet owners (clients) and their associations with practices."""

from __future__ import annotations

from uuid import UUID

from vetchart.domain.audit import AuditEntry, RequestMeta
from vetchart.domain.audit_actions import ASSOCIATION_STEPS, AuditAction
from vetchart.domain.commands import given
from vetchart.domain.errors import Conflict, NotFound
from vetchart.domain.owners import (
    Association,
    AssociationStatus,
    ConsentParty,
    NewAssociation,
    NewOwner,
    OwnerChanges,
    PetOwner,
    RequestType,
)
from vetchart.domain.policy import (
    Action,
    AssociationRequest,
    AssociationStep,
    PracticeLookup,
    Principal,
    client_scope,
    needs_owner_lookup,
    owner_account,
    require,
    staff_practice,
)
from vetchart.services.audit import care_practices, read_entry, save_changes, seen_page
from vetchart.services.audit import record as audit
from vetchart.services.base import SubjectService, found, practice_for
from vetchart.services.ports.clients import (
    AssociationFilters,
    AssociationView,
    ClientQueries,
    ClientReads,
)
from vetchart.services.ports.paging import Page, PageRequest, ReadAudit, Row
from vetchart.services.ports.unit_of_work import UnitOfWork

DECISIONS = {
    "approve": AssociationStatus.APPROVED,
    "reject": AssociationStatus.REJECTED,
    "deactivate": AssociationStatus.INACTIVE,
}


class OwnerService(SubjectService[ClientQueries, ClientReads]):
    """Owners (their audited reads on the fast path) and their associations."""

    # ------------------------------------------------------------------ owners

    async def create(self, actor: Principal, new: NewOwner, meta: RequestMeta) -> PetOwner:
        """Staff: a client of their practice (association approved at once; the owner is
        recorded as this practice's making). PET_OWNER: their own profile, once, linked to
        their account."""
        require(actor, Action.PET_OWNER_CREATE)
        now = self._clock.now()
        practice_id = staff_practice(actor)
        account = owner_account(actor)
        owner = PetOwner(
            id=self._ids.new_id(),
            created_at=now,
            updated_at=now,
            user_id=account,
            created_by_practice_id=practice_id,
            **given(new),
        )
        async with self._uow() as uow:
            if account is not None and await uow.pet_owners.get_by_user(account):
                raise Conflict("You already have an owner profile.", code="owner-profile-exists")
            await uow.pet_owners.add(owner)
            if practice_id is not None:
                association = Association.new(
                    id=self._ids.new_id(),
                    pet_owner_id=owner.id,
                    practice_id=practice_id,
                    by=actor.user_id,
                    now=now,
                )
                await uow.associations.add(association)
            audit(uow, meta, actor, AuditAction.PET_OWNER_CREATE, owner.id, practice_id)
            await uow.commit()
        return owner

    async def get(self, actor: Principal, owner_id: UUID, meta: RequestMeta) -> Row:
        """The owner in scope (404 otherwise), its ``pet_owner.read`` audit row committed
        first (one audited read on the fast path)."""
        require(actor, Action.PET_OWNER_READ)

        def entry_for(row: Row) -> AuditEntry:
            return read_entry(
                actor,
                AuditAction.PET_OWNER_READ,
                row["id"],
                data_practice_ids=care_practices(actor, row),
            )

        return found(
            await self._reads.owner(client_scope(actor), owner_id, ReadAudit(entry_for, meta)),
            "Pet owner",
        )

    async def list(
        self, actor: Principal, q: str | None, page: PageRequest, meta: RequestMeta
    ) -> Page[Row]:
        """A page of owners in scope, its ``pet_owner.list`` audit row (the owners shown)
        committed first, an empty page's too."""
        require(actor, Action.PET_OWNER_READ)

        def entry_for(row: Row) -> AuditEntry:
            asked: dict[str, object] = {} if q is None else {"q": q}
            return read_entry(
                actor,
                AuditAction.PET_OWNER_LIST,
                None,
                {**asked, **seen_page(row)},
                data_practice_ids=care_practices(actor, row),
            )

        return await self._reads.owners_page(
            client_scope(actor), q, page, ReadAudit(entry_for, meta)
        )

    async def update(
        self, actor: Principal, owner_id: UUID, changes: OwnerChanges, meta: RequestMeta
    ) -> PetOwner:
        async with self._uow() as uow:
            owner = await visible_owner(uow, actor, owner_id, for_update=True)
            require(actor, Action.PET_OWNER_UPDATE)
            return await save_changes(
                uow,
                meta,
                actor,
                AuditAction.PET_OWNER_UPDATE,
                owner,
                given(changes),
                now=self._clock.now,
                save=uow.pet_owners.save,
                practice_id=actor.practice_id,
            )

    # ------------------------------------------------------------------ associations

    async def request_association(
        self, actor: Principal, asked: NewAssociation, meta: RequestMeta
    ) -> Association:
        """A PET_OWNER asks for themselves: pending until the practice decides.

        Staff, for their own practice: approved at once for an owner this practice created
        (``POST /pet-owners``); for any other owner, pending until that owner consents, and
        out of the practice's sight until then. An unknown owner id gets exactly the answer
        an existing owner out of the practice's scope gets (a pending association; for the
        unknown id it is not stored), so the endpoint tells staff nothing about which ids
        exist."""
        require(actor, Action.ASSOCIATION_CREATE, AssociationRequest(asked.practice_id))
        if staff_practice(actor) is not None:
            return await self._staff_request(actor, asked, meta)
        async with self._uow() as uow:
            (await visible_owner(uow, actor, asked.pet_owner_id)).require_active()
            practice = await uow.practices.get(asked.practice_id)
            require(actor, Action.ASSOCIATION_CREATE, PracticeLookup(practice, members_only=False))
            assert practice is not None  # require: 404 for a missing practice
            if asked.request_type is RequestType.NEW_CLIENT and not practice.accepts_new_patients:
                raise Conflict(
                    "This practice is not accepting new patients.",
                    code="practice-not-accepting-new-patients",
                )
            association = self._new_association(actor, asked, awaiting=ConsentParty.PRACTICE)
            await uow.associations.add(association)
            self._audit_request(uow, meta, actor, association)
            await uow.commit()
        return association

    async def _staff_request(
        self, actor: Principal, asked: NewAssociation, meta: RequestMeta
    ) -> Association:
        async with self._uow() as uow:
            # The practice first: every refusal below the owner lookup would tell whether
            # the owner exists.
            practice = await uow.practices.get(asked.practice_id)
            require(actor, Action.ASSOCIATION_CREATE, PracticeLookup(practice, members_only=False))
            owner = await uow.pet_owners.get_unscoped(asked.pet_owner_id)
            if owner is not None and owner.created_by_practice_id == asked.practice_id:
                # The practice's own client: linked at once (409 while one is open).
                owner.require_active()
                association = self._new_association(actor, asked, awaiting=None)
                await uow.associations.add(association)
            else:
                association = self._new_association(actor, asked, awaiting=ConsentParty.OWNER)
                if owner is not None:
                    await self._add_awaiting_owner(uow, association)
                # An unknown owner: nothing can be stored (and nothing is said).
            self._audit_request(uow, meta, actor, association)
            await uow.commit()
        return association

    @staticmethod
    async def _add_awaiting_owner(uow: UnitOfWork, association: Association) -> None:
        """Store a staff request that awaits the owner's consent. When an open association
        exists already: one the practice sees (approved, or asked for by the owner) is the
        usual 409 - the practice knows the owner; one that itself awaits the owner is not
        disclosed, the answer is the one an unknown owner gets (not stored again)."""
        try:
            await uow.associations.add(association)
        except Conflict:
            open_one = await uow.associations.get_open(
                association.pet_owner_id, association.practice_id
            )
            if open_one is None or open_one.visible_to_practice:
                raise

    def _new_association(
        self, actor: Principal, asked: NewAssociation, *, awaiting: ConsentParty | None
    ) -> Association:
        """A new association asked for by the actor: pending while it awaits someone's
        consent, else approved at once by the actor."""
        return Association.new(
            id=self._ids.new_id(),
            pet_owner_id=asked.pet_owner_id,
            practice_id=asked.practice_id,
            by=actor.user_id,
            now=self._clock.now(),
            request_type=asked.request_type,
            awaiting=awaiting,
        )

    @staticmethod
    def _audit_request(
        uow: UnitOfWork, meta: RequestMeta, actor: Principal, association: Association
    ) -> None:
        """One row per request, filed under the practice asked. A staff request for an
        owner out of scope and one for an unknown id leave the same row (the id aside)."""
        audit(
            uow,
            meta,
            actor,
            AuditAction.ASSOCIATION_CREATE,
            association.id,
            association.practice_id,
            {
                "status": association.status.value,
                "request_type": association.request_type.value,
                "awaiting": None if association.awaiting is None else association.awaiting.value,
                # The id asked for (the caller sent it): probing unknown ids leaves a trace.
                "pet_owner_id": str(association.pet_owner_id),
            },
        )

    async def decide(
        self, actor: Principal, association_id: UUID, decision: str, meta: RequestMeta
    ) -> Association:
        """approve / reject / deactivate, along the workflow's edges only (else 409), by
        whoever the step belongs to (``policy.rules.association_step_action``): the owner consents
        to a practice's request, the practice decides an owner's request and deactivates."""
        target = DECISIONS[decision]
        async with self._uow() as uow:
            association = await uow.associations.get(association_id, for_update=True)
            if association is None:
                raise NotFound("Association not found.")
            owner_in_scope = await self._owner_in_scope(uow, actor, association)
            require(
                actor,
                Action.ASSOCIATION_DECIDE,
                AssociationStep(association, target, owner_in_scope=owner_in_scope),
            )
            moved = association.move_to(target, actor=actor.user_id, now=self._clock.now())
            await uow.associations.save(moved)
            # Filed under the practice only when the practice may see the association: an
            # owner's refusal of a practice's request stays out of the practice's audit log.
            audit(
                uow,
                meta,
                actor,
                ASSOCIATION_STEPS[decision],
                association.id,
                association.practice_id if moved.visible_to_practice else None,
                {
                    "from": association.status.value,
                    "to": moved.status.value,
                    "awaiting": None
                    if association.awaiting is None
                    else association.awaiting.value,
                },
            )
            await uow.commit()
        return moved

    @staticmethod
    async def _owner_in_scope(uow: UnitOfWork, actor: Principal, association: Association) -> bool:
        """Whether the association's owner is in a pet owner's client scope (one lookup,
        for pet owners only: staff and admins see associations by practice,
        ``policy.scope.sees_association``). An owner sees their own (listed under
        /pet-owners/{id}/associations), so a step that is not theirs is 403, not 404."""
        if not needs_owner_lookup(actor):
            return False
        owner = await uow.pet_owners.get(association.pet_owner_id, client_scope(actor))
        return owner is not None

    async def practice_associations(
        self,
        actor: Principal,
        practice_id: UUID,
        status: AssociationStatus | None,
        page: PageRequest,
    ) -> Page[AssociationView]:
        """The practice's associations; its staff do not see those awaiting (or refused
        by) an owner's consent. SYSTEM_ADMIN sees every one."""
        async with self._uow() as uow:
            await practice_for(uow, actor, Action.ASSOCIATION_LIST, practice_id)
        filters = AssociationFilters(
            practice_id=practice_id,
            owner_id=None,
            status=status,
            practice_view=staff_practice(actor) is not None,
        )
        return await self._queries.associations_page(filters, page)

    async def owner_associations(
        self, actor: Principal, owner_id: UUID, page: PageRequest
    ) -> Page[AssociationView]:
        require(actor, Action.PET_OWNER_READ)
        async with self._uow() as uow:
            await visible_owner(uow, actor, owner_id)
        # Staff see the owner's associations with their own practice only (and of those,
        # the ones their practice may see); the owner sees every one, pending included.
        practice_id = staff_practice(actor)
        filters = AssociationFilters(
            practice_id=practice_id,
            owner_id=owner_id,
            status=None,
            practice_view=practice_id is not None,
        )
        return await self._queries.associations_page(filters, page)


async def visible_owner(
    uow: UnitOfWork, actor: Principal, owner_id: UUID, *, for_update: bool = False
) -> PetOwner:
    """The owner in the actor's client scope; out of it, they do not exist (404)."""
    owner = await uow.pet_owners.get(owner_id, client_scope(actor), for_update=for_update)
    return found(owner, "Pet owner")
