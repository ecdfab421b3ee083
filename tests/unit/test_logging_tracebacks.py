from __future__ import annotations

import logging

import pytest
import structlog

from vetchart.adapters.observability.logging import configure_logging


@pytest.mark.parametrize("json", [False, True])
def test_tracebacks_are_plain_and_never_print_local_variables(
    json: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(level="INFO", json=json)
    try:
        secret_local = "hunter2-do-not-log-me"  # noqa: F841 - it must not reach the log
        raise ZeroDivisionError("boom")
    except ZeroDivisionError:
        structlog.get_logger("test").exception("failed")
    logging.shutdown()
    err = capsys.readouterr().err
    assert "ZeroDivisionError" in err
    assert "hunter2-do-not-log-me" not in err
