"""The log filter: secrets out, the record still renders exactly once."""

from __future__ import annotations

import io
import logging

import pytest

from bmadweb.logscrub import REDACTED, ScrubSecretsFilter, register_secret


@pytest.fixture
def emit() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ScrubSecretsFilter())
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("tests.logscrub")
    logger.addHandler(handler)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def test_known_secret_and_url_token_are_redacted(emit: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = emit
    register_secret("s3cr3t-value-42")
    logger.warning("push to %s with %s", "https://x:tok@example.com/r.git", "s3cr3t-value-42")
    assert stream.getvalue() == f"push to https://{REDACTED}@example.com/r.git with {REDACTED}\n"


def test_traceback_is_scrubbed_and_printed_once(emit: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = emit
    register_secret("tb-secret-99")
    try:
        raise ValueError("100% failed with tb-secret-99")
    except ValueError:
        logger.exception("step %s failed", "clone")
    out = stream.getvalue()
    assert out.startswith("step clone failed\nTraceback (most recent call last):")
    assert f"ValueError: 100% failed with {REDACTED}" in out
    assert "tb-secret-99" not in out
    assert out.count("Traceback") == 1


def test_two_handlers_both_print_the_traceback_once() -> None:
    streams = [io.StringIO(), io.StringIO()]
    logger = logging.getLogger("tests.logscrub.two")
    logger.propagate = False
    handlers = [logging.StreamHandler(s) for s in streams]
    for handler in handlers:
        handler.addFilter(ScrubSecretsFilter())
        logger.addHandler(handler)
    try:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logger.exception("failed")
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
    for stream in streams:
        assert stream.getvalue().count("RuntimeError: boom") == 1


def test_malformed_call_does_not_raise_at_the_call_site(
    emit: tuple[logging.Logger, io.StringIO], monkeypatch: pytest.MonkeyPatch
) -> None:
    logger, stream = emit
    monkeypatch.setattr(logging, "raiseExceptions", False)
    logger.warning("%s and %s", "only one")  # the handler reports it; nothing raises here
    assert stream.getvalue() == ""
