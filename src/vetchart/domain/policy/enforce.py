"""``require(actor, action, resource)``: the one question services ask the policy.

In order: the object must exist for the actor (scope: 404, so what is out of scope is
indistinguishable from what does not exist), the matrix must let the actor's role attempt
the action (403), and the rule of the object must allow it (403). Each refusal is the
existing ``DomainError`` subclass with the message and ``action`` member the API has
always answered.
"""

from __future__ import annotations

from uuid import UUID

from vetchart.domain.errors import Forbidden, NotFound
from vetchart.domain.policy import resources, rules, scope
from vetchart.domain.policy.matrix import Action, allows
from vetchart.domain.policy.principal import Principal

# The actions whose rule is "may change this record".
_RECORD_CHANGES = frozenset({Action.MEDICAL_RECORD_AMEND, Action.ATTACHMENT_CREATE})


def require(actor: Principal, action: Action, resource: resources.Resource = None) -> None:
    """Raise ``NotFound`` or ``Forbidden`` unless ``actor`` may do ``action`` to
    ``resource`` (``None``: an action on no particular object, the matrix alone).

    An API key's principal is first limited to its scopes (403 ``api-key-scope``, before
    anything about the object is looked at); then it is asked as the PRACTICE_ADMIN of the
    key's practice, so the practice scope applies to it as to that admin."""
    if actor.api_key is not None and action.value not in actor.api_key.scopes:
        raise Forbidden(
            "This API key is not scoped to this action.",
            code="api-key-scope",
            extra={"action": action.value},
        )
    match resource:
        case None:
            _matrix(actor, action)
        case resources.PracticeLookup(found=found, members_only=members_only):
            _visible(scope.practice_exists_for(actor, found), "Practice")
            assert found is not None
            if members_only:
                _practice_member(actor, action, found.id)
            else:
                _matrix(actor, action)
        case resources.PracticeBusiness(practice_id=practice_id):
            _practice_member(actor, action, practice_id)
        case resources.PracticeConfiguration(practice_id=practice_id, kind=kind):
            _matrix(actor, action)
            _visible(scope.is_practice_member(actor, practice_id), kind)
        case resources.UserAccount(practice_id=practice_id):
            _matrix(actor, action)
            _visible(scope.sees_user(actor, practice_id), "User")
        case resources.RoleChange(current=current, new=new):
            _matrix(actor, action)
            _allowed(
                rules.may_assign_role(current, new),
                "Only staff roles can be assigned, and only to staff users.",
                Action.USER_UPDATE,
            )
        case resources.RecordRef():
            _record(actor, action, resource)
        case resources.AssociationRequest(practice_id=practice_id):
            _matrix(actor, action)
            _allowed(
                rules.may_associate(actor, practice_id),
                "Staff can associate clients with their own practice only.",
                Action.ASSOCIATION_CREATE,
            )
        case resources.AssociationStep():
            _association_step(actor, action, resource)
        case resources.InvitationRef(practice_id=practice_id):
            _matrix(actor, action)
            _visible(scope.is_practice_member(actor, practice_id), "Invitation")
        case resources.OwnerCustody():
            _owner_custody(actor, action, resource)
        case _:  # pragma: no cover - the Resource union is closed
            raise TypeError(f"no access rule for {resource!r}")


def _visible(seen: bool, what: str) -> None:
    """404 "<what> not found." unless the object is ``seen`` (in the actor's scope)."""
    if not seen:
        raise NotFound(f"{what} not found.")


def _allowed(allowed: bool, message: str, action: Action) -> None:
    """403 with ``message``, naming ``action``, unless ``allowed``."""
    if not allowed:
        raise Forbidden(message, extra={"action": action.value})


def _matrix(actor: Principal, action: Action) -> None:
    _allowed(allows(actor.role, action), "You are not allowed to do this.", action)


def _practice_member(actor: Principal, action: Action, practice_id: UUID) -> None:
    _matrix(actor, action)
    _allowed(
        scope.is_practice_member(actor, practice_id),
        "Only this practice's staff may do this.",
        action,
    )


def _record(actor: Principal, action: Action, record: resources.RecordRef) -> None:
    _matrix(actor, action)
    if action is Action.MEDICAL_RECORD_SIGN:
        _allowed(
            rules.may_sign(actor, record),
            "Only a vet of the authoring practice may sign this record.",
            Action.MEDICAL_RECORD_SIGN,
        )
    elif action in _RECORD_CHANGES:
        _allowed(
            rules.may_amend_record(actor, record),
            "Only the author, or a vet or practice admin of the authoring practice, "
            "may change this record.",
            Action.MEDICAL_RECORD_AMEND,
        )
    else:
        raise TypeError(f"no record rule for {action}")


def _association_step(actor: Principal, action: Action, step: resources.AssociationStep) -> None:
    if action is not Action.ASSOCIATION_DECIDE:
        raise TypeError(f"an association step is asked as {Action.ASSOCIATION_DECIDE}")
    seen = scope.sees_association(actor, step.association, owner_in_scope=step.owner_in_scope)
    _visible(seen, "Association")
    needed = rules.association_step_action(step.association, step.target)
    if needed is Action.ASSOCIATION_CONSENT:
        _matrix(actor, needed)
    else:
        _practice_member(actor, needed, step.association.practice_id)


def _owner_custody(actor: Principal, action: Action, owner: resources.OwnerCustody) -> None:
    _matrix(actor, action)
    if action is Action.PET_OWNER_DEACTIVATE:
        _allowed(
            rules.may_deactivate_owner(actor, owner),
            "Only the practice that created this client, or a platform administrator, "
            "may deactivate it.",
            action,
        )
    elif action is Action.PET_OWNER_ERASE:
        _allowed(
            rules.may_erase_owner(actor, owner),
            "A practice may erase only a client it created, without an account of their "
            "own and not a client of another practice; ask a platform administrator.",
            action,
        )
    else:
        raise TypeError(f"no owner custody rule for {action}")
