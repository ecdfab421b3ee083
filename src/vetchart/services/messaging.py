"""The use cases of client messaging behind the API: an owner's channel consent (opt in,
opt out), the owner's message log, and a practice's reminder rules."""

from __future__ import annotations

from uuid import UUID

from vetchart.domain.audit import RequestMeta
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.commands import given
from vetchart.domain.errors import NotFound
from vetchart.domain.messaging import (
    ChannelConsent,
    ConsentChanges,
    NewReminderRule,
    ReminderRule,
    ReminderRuleChanges,
)
from vetchart.domain.owners import PetOwner
from vetchart.domain.policy import (
    Action,
    PracticeBusiness,
    Principal,
    client_scope,
    is_practice_member,
    require,
    staff_practice,
)
from vetchart.services.audit import record as audit
from vetchart.services.audit import record_read, save_changes
from vetchart.services.base import QueryService, practice_for
from vetchart.services.ports.notifications import LoggedMessage, MessageQueries
from vetchart.services.ports.paging import Page, PageRequest
from vetchart.services.ports.unit_of_work import UnitOfWork


class MessagingService(QueryService[MessageQueries]):
    # ------------------------------------------------------------------ consent

    async def consents(
        self, actor: Principal, owner_id: UUID, meta: RequestMeta
    ) -> list[ChannelConsent]:
        """The owner's consent per channel (owner in scope, else 404)."""
        async with self._uow() as uow:
            await self._owner(uow, actor, owner_id)
            require(actor, Action.MESSAGE_CONSENT_READ)
            found = await uow.messaging.consents(owner_id)
            record_read(
                uow,
                meta,
                actor,
                AuditAction.MESSAGE_CONSENT_READ,
                owner_id,
                data_practice_id=staff_practice(actor),
            )
            await uow.commit()
        return found

    async def change_consents(
        self, actor: Principal, owner_id: UUID, changes: ConsentChanges, meta: RequestMeta
    ) -> list[ChannelConsent]:
        """Opt in or out per channel: the owner, or staff recording the owner's choice."""
        async with self._uow() as uow:
            await self._owner(uow, actor, owner_id, for_update=True)
            require(actor, Action.MESSAGE_CONSENT_UPDATE)
            now = self._clock.now()
            wanted = changes.by_channel()
            for channel, granted in wanted.items():
                await uow.messaging.set_consent(owner_id, channel, granted, now, actor.user_id)
            audit(
                uow,
                meta,
                actor,
                AuditAction.MESSAGE_CONSENT_UPDATE,
                owner_id,
                staff_practice(actor),
                {"channels": {channel.value: granted for channel, granted in wanted.items()}},
            )
            found = await uow.messaging.consents(owner_id)
            await uow.commit()
        return found

    # ------------------------------------------------------------------ the log

    async def messages(
        self, actor: Principal, owner_id: UUID, page: PageRequest, meta: RequestMeta
    ) -> Page[LoggedMessage]:
        """The owner's messages, newest first: the owner (and SYSTEM_ADMIN) all of them,
        staff only their own practice's. The read's audit row is committed first."""
        practice_id = staff_practice(actor)
        async with self._uow() as uow:
            await self._owner(uow, actor, owner_id)
            require(actor, Action.MESSAGE_LIST)
            record_read(
                uow,
                meta,
                actor,
                AuditAction.OWNER_MESSAGE_LIST,
                owner_id,
                data_practice_id=practice_id,
            )
            await uow.commit()
        return await self._queries.messages_page(owner_id, practice_id, page)

    async def _owner(
        self, uow: UnitOfWork, actor: Principal, owner_id: UUID, *, for_update: bool = False
    ) -> PetOwner:
        owner = await uow.pet_owners.get(owner_id, client_scope(actor), for_update=for_update)
        if owner is None:
            raise NotFound("Pet owner not found.")
        return owner

    # ------------------------------------------------------------------ reminder rules

    async def create_rule(
        self, actor: Principal, practice_id: UUID, new: NewReminderRule, meta: RequestMeta
    ) -> ReminderRule:
        async with self._uow() as uow:
            await practice_for(uow, actor, Action.REMINDER_RULE_MANAGE, practice_id)
            now = self._clock.now()
            rule = ReminderRule(
                id=self._ids.new_id(),
                practice_id=practice_id,
                created_at=now,
                updated_at=now,
                **given(new),
            )
            await uow.messaging.add_rule(rule)
            audit(uow, meta, actor, AuditAction.REMINDER_RULE_CREATE, rule.id, practice_id)
            await uow.commit()
        return rule

    async def rules(
        self, actor: Principal, practice_id: UUID, page: PageRequest
    ) -> Page[ReminderRule]:
        """A practice's rules, oldest first (its staff; SYSTEM_ADMIN)."""
        async with self._uow() as uow:
            await practice_for(uow, actor, Action.REMINDER_RULE_READ, practice_id)
        return await self._queries.rules_page(practice_id, page)

    async def change_rule(
        self, actor: Principal, rule_id: UUID, changes: ReminderRuleChanges, meta: RequestMeta
    ) -> ReminderRule:
        async with self._uow() as uow:
            rule = await self._rule(uow, actor, rule_id, for_update=True)
            return await save_changes(
                uow,
                meta,
                actor,
                AuditAction.REMINDER_RULE_UPDATE,
                rule,
                given(changes),
                now=self._clock.now,
                save=uow.messaging.save_rule,
                practice_id=rule.practice_id,
            )

    async def delete_rule(self, actor: Principal, rule_id: UUID, meta: RequestMeta) -> None:
        """Reminders already made stay (and are sent); none are made from it any more."""
        async with self._uow() as uow:
            rule = await self._rule(uow, actor, rule_id, for_update=True)
            await uow.messaging.delete_rule(rule.id)
            audit(uow, meta, actor, AuditAction.REMINDER_RULE_DELETE, rule.id, rule.practice_id)
            await uow.commit()

    async def _rule(
        self, uow: UnitOfWork, actor: Principal, rule_id: UUID, *, for_update: bool
    ) -> ReminderRule:
        """A rule exists only for its practice's staff and SYSTEM_ADMIN (404 for anyone
        else); changing it is its practice's admins' business (403)."""
        rule = await uow.messaging.get_rule(rule_id, for_update=for_update)
        if rule is None or not is_practice_member(actor, rule.practice_id):
            raise NotFound("Reminder rule not found.")
        require(actor, Action.REMINDER_RULE_MANAGE, PracticeBusiness(rule.practice_id))
        return rule
