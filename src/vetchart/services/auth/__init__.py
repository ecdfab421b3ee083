"""Authentication use cases (``service.AuthService``), one module per part:

- ``base``: the configuration, the shared collaborators, token digests, audit entries.
- ``lockout``: throttling of failed passwords and MFA codes per address and account.
- ``sessions``: opening sessions, refresh-token rotation, authentication, sign-out.
- ``sign_in``: sign-up, the password step and the MFA step of a sign-in.
- ``mfa``: TOTP enrolment, turning it off, spending a second factor.
- ``password_change``: changing one's password.
- ``service``: ``AuthService``, the one object made of those parts.
"""
