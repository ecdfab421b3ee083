"""Run every benchmark and print its report."""

from __future__ import annotations

from bench import auth_latency, kb_query, records_amend

if __name__ == "__main__":
    auth_latency.main()
    records_amend.main()
    kb_query.main()
