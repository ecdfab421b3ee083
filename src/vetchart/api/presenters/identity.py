"""Tokens and sessions as responses."""

from __future__ import annotations

from uuid import UUID

from vetchart.api.schemas.users import SessionOut, TokenOut
from vetchart.domain.sessions import SessionRecord
from vetchart.services.auth.sessions import TokenPair


def tokens_out(pair: TokenPair) -> TokenOut:
    return TokenOut(
        access_token=pair.access_token, expires_in=pair.expires_in, refresh_token=pair.refresh_token
    )


def session_out(record: SessionRecord, current_session_id: UUID) -> SessionOut:
    return SessionOut.from_object(record, current=record.id == current_session_id)
