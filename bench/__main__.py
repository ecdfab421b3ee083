"""Run every benchmark and print its report."""

from __future__ import annotations

from bench import auth_latency

if __name__ == "__main__":
    auth_latency.main()
