"""Authentication use cases: signup, login (with MFA), refresh, sessions, passwords, MFA.

Every public method is one or two units of work. Slow password hashing always runs
outside a transaction, so a burst of logins holds no database connections while hashing.
Every auth event leaves an audit entry in the same transaction as its effect.

When the hasher is overloaded it sheds with ``Unavailable`` (503) before checking
anything: such an attempt changes nothing, so it counts no failure towards a lockout and
leaves no audit row (the hasher logs and counts it).

Failed passwords (sign-in and password change) and failed MFA codes are throttled per
(account, client network) and per account (``domain.throttle``): a stranger's failures
lock their own address out, not the account's owner; only a ceiling far above what one
address can reach locks the account for every address but those it recently signed in
from.
"""

from __future__ import annotations

from vetchart.services.auth.mfa import Mfa
from vetchart.services.auth.password_change import PasswordChange
from vetchart.services.auth.sessions import Sessions
from vetchart.services.auth.sign_in import SignIn


class AuthService(SignIn, Mfa, PasswordChange, Sessions):
    """The authentication use cases, one object: sign-up and sign-in (``sign_in``), sessions
    and tokens (``sessions``), MFA (``mfa``) and password change (``password_change``),
    sharing the collaborators of ``base.AuthBase`` and the throttling of ``lockout``."""
