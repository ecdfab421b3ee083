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


def test_lines_follow_the_stderr_of_the_moment_not_of_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io

    first = io.StringIO()
    monkeypatch.setattr("sys.stderr", first)
    configure_logging(level="INFO", json=True)
    first.close()  # the stream the process started with is gone (a test's capture, say)
    later = io.StringIO()
    monkeypatch.setattr("sys.stderr", later)
    structlog.get_logger("test").info("still.logged")
    assert '"event": "still.logged"' in later.getvalue()
