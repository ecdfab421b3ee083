"""Practices: the tenants. Deactivated, never deleted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID


@dataclass
class Practice:
    id: UUID
    name: str
    timezone: str
    created_at: datetime
    updated_at: datetime
    email: str | None = None
    phone: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None
    website: str | None = None
    license_number: str | None = None
    accepts_new_patients: bool = True
    is_active: bool = True
    version: int = 1
