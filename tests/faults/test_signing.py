"""Row 15, "the secret is never used": the secret signs expiring tokens (footprint.signing).

A token verifies only with the secret and the purpose it was signed with, only before it
expires, and not after any byte of it changed.
"""

from __future__ import annotations

import base64
import json

import pytest

from footprint import signing
from footprint.errors import AuthenticationError, InvalidTokenError
from footprint.settings import Settings

SECRET = "s" * 40
NOW_S = 1_800_000_000.0


def test_a_token_round_trips_its_payload_until_it_expires():
    token = signing.sign({"key_id": "k1", "role": "monitor"}, 600, secret=SECRET, now_s=NOW_S)
    assert signing.verify(token, secret=SECRET, now_s=NOW_S + 599) == {"key_id": "k1",
                                                                      "role": "monitor"}
    with pytest.raises(InvalidTokenError, match="expired"):
        signing.verify(token, secret=SECRET, now_s=NOW_S + 600)


def test_another_secret_or_purpose_is_refused():
    token = signing.sign({"a": 1}, 60, secret=SECRET, now_s=NOW_S)
    with pytest.raises(InvalidTokenError, match="signature"):
        signing.verify(token, secret="t" * 40, now_s=NOW_S)
    with pytest.raises(InvalidTokenError):
        signing.verify(token, purpose="report-link", secret=SECRET, now_s=NOW_S)


def test_every_altered_character_is_refused():
    token = signing.sign({"role": "reader"}, 60, secret=SECRET, now_s=NOW_S)
    for i, char in enumerate(token):
        if char == ".":
            continue
        altered = token[:i] + ("A" if char != "A" else "B") + token[i + 1:]
        with pytest.raises(InvalidTokenError):
            signing.verify(altered, secret=SECRET, now_s=NOW_S)


def test_a_forged_payload_with_a_longer_expiry_is_refused():
    token = signing.sign({"role": "reader"}, 60, secret=SECRET, now_s=NOW_S)
    body, mac = token.split(".")
    envelope = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    envelope["p"]["role"] = "admin"
    envelope["exp"] += 10**6
    forged = base64.urlsafe_b64encode(json.dumps(envelope).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidTokenError):
        signing.verify(f"{forged}.{mac}", secret=SECRET, now_s=NOW_S)


@pytest.mark.parametrize("garbage", ["", ".", "a.b.c", "x" * 5000, "é.é", "abc"])
def test_garbage_is_an_authentication_error_not_a_crash(garbage):
    with pytest.raises(AuthenticationError):
        signing.verify(garbage, secret=SECRET, now_s=NOW_S)


def test_the_default_secret_is_the_settings_secret(monkeypatch):
    from footprint import settings as settings_module

    monkeypatch.setattr(settings_module, "get_settings",
                        lambda: Settings(secret_key=SECRET))
    monkeypatch.setattr(signing, "get_settings", settings_module.get_settings)
    token = signing.sign({"a": 1}, 60)
    assert signing.verify(token, secret=SECRET) == {"a": 1}


@pytest.mark.parametrize("ttl_s", [0, -1, signing.MAX_TTL_S + 1])
def test_a_lifetime_out_of_bounds_is_refused(ttl_s):
    with pytest.raises(ValueError):
        signing.sign({}, ttl_s, secret=SECRET)


def test_an_empty_secret_signs_nothing():
    with pytest.raises(InvalidTokenError):
        signing.sign({}, 60, secret="")
