"""Tokens, sessions and API keys as responses."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from vetchart.api.schemas.api_keys import ApiKeyOut, ApiKeyWithSecretOut
from vetchart.api.schemas.users import SessionOut, TokenOut
from vetchart.domain.api_keys import KEY_PREFIX, ApiKey, NewApiKey
from vetchart.domain.sessions import SessionRecord
from vetchart.services.auth.sessions import TokenPair


def tokens_out(pair: TokenPair) -> TokenOut:
    return TokenOut(
        access_token=pair.access_token, expires_in=pair.expires_in, refresh_token=pair.refresh_token
    )


def session_out(record: SessionRecord, current_session_id: UUID) -> SessionOut:
    return SessionOut.from_object(record, current=record.id == current_session_id)


def _api_key_fields(key: ApiKey, now: datetime) -> dict[str, object]:
    return {
        "id": key.id,
        "practice_id": key.practice_id,
        "name": key.name,
        "prefix": f"{KEY_PREFIX}{key.public_id}",
        "scopes": [action.value for action in key.scopes],
        "state": key.state(now).value,
        "created_by": key.created_by,
        "created_at": key.created_at,
        "last_used_at": key.last_used_at,
        "revoked_at": key.revoked_at,
        "expires_at": key.expires_at,
    }


def api_key_out(key: ApiKey, now: datetime) -> ApiKeyOut:
    """A key as listed and read: never its secret (only its digest exists)."""
    return ApiKeyOut.model_validate(_api_key_fields(key, now))


def api_key_with_secret_out(made: NewApiKey, now: datetime) -> ApiKeyWithSecretOut:
    return ApiKeyWithSecretOut.model_validate(
        {**_api_key_fields(made.key, now), "key": made.plaintext}
    )
