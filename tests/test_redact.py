"""octoprint_pifocus.redact: URL credentials masked in URLs, in any text, in log records."""
from __future__ import annotations

import io
import logging

import pytest

from octoprint_pifocus.errors import CameraError, LensError
from octoprint_pifocus.redact import RedactingFilter, mask_url, protect_loggers, redact, redact_data


@pytest.mark.parametrize("url, shown", [
    ("http://cam:PW@127.0.0.1:5209", "http://cam:***@127.0.0.1:5209"),
    ("https://cam:PW@host/snapshot?x=1", "https://cam:***@host/snapshot?x=1"),
    ("http://TOKEN@host/stream", "http://***@host/stream"),                  # a user name alone may be a token
    ("http://cam:p%40ss@host", "http://cam:***@host"),
    ("http://cam:p@ss@host/x", "http://cam:***@host/x"),                     # an unencoded @ in the password
    ("http://cam:pa/ss@host/x", "http://cam:***@host/x"),                    # an unencoded / in it
    ("http://cam:pa ss@host/x", "http://cam:***@host/x"),                    # a space: mask_url takes it all
    ("http://host/cgi?user=admin&pwd=PW&x=1", "http://host/cgi?user=admin&pwd=***&x=1"),
    ("http://host/s.cgi?loginuse=a&loginpas=PW", "http://host/s.cgi?loginuse=a&loginpas=***"),
    ("http://host/snap?access_token=PW", "http://host/snap?access_token=***"),
    ("http://127.0.0.1:8080/option?device=CAMERA&key=LensPosition&value=2", None),  # nothing secret
    ("http://127.0.0.1:8080", None),
])
def test_mask_url(url, shown):
    assert mask_url(url) == (shown or url)
    assert mask_url(mask_url(url)) == mask_url(url)


def test_redact_finds_every_url_in_text():
    text = ("Cannot reach camera-streamer at http://cam:PW1@127.0.0.1:5209 (connection refused); "
            "camera 'https://u:PW2@cam.local/snap' and {'url': \"http://x:PW'3@h/\"}, "
            "not http://plain.host/?a=1 nor user@example.org")
    masked = redact(text)
    for secret in ("PW1", "PW2", "PW'3"):
        assert secret not in masked
    assert "http://cam:***@127.0.0.1:5209 (connection refused)" in masked
    assert "https://u:***@cam.local/snap" in masked
    assert "http://plain.host/?a=1 nor user@example.org" in masked
    assert redact(masked) == masked


def test_redact_data_masks_keys_and_values_at_any_depth():
    data = {"status": {"last_result": {"message": "at http://a:PW@h"}, "curve": [[1, 2.5]]},
            "list": ["http://b:PW@h", None, 3], "http://c:PW@h": True}
    assert "PW" not in repr(redact_data(data))
    assert redact_data(data)["status"]["curve"] == [[1, 2.5]]


def test_expected_errors_are_masked_when_made():
    assert str(LensError("camera-streamer at http://cam:PW@host failed")) == "camera-streamer at http://cam:***@host failed"
    assert "PW" not in str(CameraError("x", "http://a:PW@h"))


def test_the_log_filter_masks_messages_arguments_and_tracebacks():
    out = io.StringIO()
    logger = logging.getLogger("octoprint_pifocus.test_redact_logger")
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    protect_loggers(logger)
    protect_loggers(logger)  # idempotent
    assert sum(isinstance(f, RedactingFilter) for f in logger.filters) == 1
    try:
        logger.warning("Opening %s failed: %s", "http://cam:PW1@host", {"url": "http://u:PW2@h"})
        try:
            raise OSError("refused: http://cam:PW3@host:8080/option")
        except OSError:
            logger.exception("Moving failed")
    finally:
        logger.removeHandler(handler)
    text = out.getvalue()
    assert "PW1" not in text and "PW2" not in text and "PW3" not in text
    assert "Opening http://cam:***@host failed" in text and "OSError: refused: http://cam:***@host:8080" in text


def test_engine_loggers_are_protected_once_the_plugin_asks():
    engine = logging.getLogger("octoprint_pifocus.focus.search")
    protect_loggers()
    assert any(isinstance(f, RedactingFilter) for f in engine.filters)
