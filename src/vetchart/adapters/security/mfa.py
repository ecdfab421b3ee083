"""TOTP (RFC 6238, pyotp) and the sealed storage of TOTP seeds (Fernet, cryptography)."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime

import pyotp
from cryptography.fernet import Fernet, InvalidToken

TOTP_INTERVAL_SECONDS = 30
TOTP_DRIFT_STEPS = 1


class PyOtpTotp:
    def __init__(self, *, issuer: str) -> None:
        self._issuer = issuer

    def new_secret(self) -> str:
        return pyotp.random_base32()

    def provisioning_uri(self, secret: str, account: str) -> str:
        return pyotp.TOTP(secret, interval=TOTP_INTERVAL_SECONDS).provisioning_uri(
            name=account, issuer_name=self._issuer
        )

    def matching_timestep(self, secret: str, code: str, now: datetime) -> int | None:
        totp = pyotp.TOTP(secret, interval=TOTP_INTERVAL_SECONDS)
        step = int(now.timestamp()) // TOTP_INTERVAL_SECONDS
        for candidate in range(step - TOTP_DRIFT_STEPS, step + TOTP_DRIFT_STEPS + 1):
            expected = totp.generate_otp(candidate)
            if pyotp.utils.strings_equal(expected, code):
                return candidate
        return None


class FernetSecretBox:
    """Authenticated symmetric encryption; the key is derived from a configured secret."""

    def __init__(self, secret: str) -> None:
        key = base64.urlsafe_b64encode(hashlib.sha256(("vetchart-box:" + secret).encode()).digest())
        self._fernet = Fernet(key)

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except InvalidToken as error:
            raise ValueError("sealed value cannot be opened with the configured key") from error
