"""Ports the use cases own: adapters implement them, bootstrap wires them.

One module per subject, each importing only the domain and ``paging``:

- ``paging``: keyset pages and the fast path's plain rows (a leaf).
- ``system``: clock, ids, sealing of secrets, idempotency of POSTs.
- ``identity``: users, practices, invitations, sessions, throttles, recovery codes; hashing,
  tokens, TOTP, the principal cache.
- ``clients``: pet owners, associations, pets.
- ``records``: medical records and their attachments.
- ``audit``: the audit log and its read side.
- ``outbox``: jobs, the outbox of domain events, mail.
- ``schedule``: appointments, visits, the dashboard, the timeline.
- ``kb``: knowledge-base documents, search, the upload form.
- ``ai``: embeddings, vector index, answers, summaries, text extraction.
- ``storage``: object storage and the file part of an upload.
- ``unit_of_work``: the UnitOfWork over the repositories (on top of the others).
"""
