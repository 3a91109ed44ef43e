"""Monitor sign-in: a form POST with the key sets a signed, expiring, HttpOnly,
SameSite=Strict session cookie that opens reports (GET) and authorises nothing else."""

from __future__ import annotations

import logging
import time

import pytest

from api.session import SESSION_COOKIE, SessionClaims, new_session, sign_session, verify_session

REPORT = "/participants/GHA/report"
PARAMS = {"from": 2005, "to": 2006, "f": "json"}


@pytest.fixture
def report_stub(monkeypatch):
    """The report service answers a fixed document (the report itself has its own tests)."""
    import api.routers.layers as layers

    monkeypatch.setattr(layers.report_service, "make_report",
                        lambda *a, **k: {"participant": "GHA", "sections": []})


def _sign_in(client, key: str, **headers):
    return client.post("/session", data={"key": key}, follow_redirects=False, headers=headers)


def _cookie_header(response) -> str:
    return [v for k, v in response.headers.multi_items()
            if k == "set-cookie" and v.startswith(SESSION_COOKIE)][0]


def test_sign_in_sets_a_strict_http_only_expiring_cookie(client, api_keys):
    response = _sign_in(client, api_keys["monitor"])
    assert response.status_code == 303
    assert response.headers["location"] == "map"
    header = _cookie_header(response).lower()
    assert "httponly" in header and "samesite=strict" in header and "max-age=28800" in header
    assert "path=/" in header
    assert "secure" not in header  # plain HTTP (TestClient); HTTPS adds it, see below
    assert api_keys["monitor"] not in header  # the cookie carries no key material
    assert client.get("/session").json()["signed_in"] is True


def test_the_cookie_is_secure_over_https(app, api_keys):
    from fastapi.testclient import TestClient

    with TestClient(app, base_url="https://testserver") as secure_client:
        response = _sign_in(secure_client, api_keys["monitor"])
    assert response.status_code == 303
    assert "; secure" in _cookie_header(response).lower()


def test_the_cookie_opens_the_report_and_sign_out_closes_it(client, api_keys, report_stub):
    assert client.get(REPORT, params=PARAMS).status_code == 401
    _sign_in(client, api_keys["monitor"])
    opened = client.get(REPORT, params=PARAMS)
    assert opened.status_code == 200 and opened.json()["participant"] == "GHA"
    signed_out = client.post("/session/sign-out", follow_redirects=False)
    assert signed_out.status_code == 303
    assert 'max-age=0' in _cookie_header(signed_out).lower()
    assert client.get(REPORT, params=PARAMS).status_code == 401
    assert client.get("/session").json() == {"signed_in": False}


def test_json_sign_in_and_delete(client, api_keys):
    response = client.post("/session", data={"key": api_keys["admin"]},
                           headers={"Accept": "application/json"})
    assert response.status_code == 200
    assert response.json()["role"] == "admin" and response.json()["name"] == "test-admin"
    assert client.delete("/session").status_code == 204
    assert client.get("/session").json()["signed_in"] is False


@pytest.mark.parametrize("role, status", [("reader", 403), ("surveyor", 403)])
def test_only_monitor_keys_sign_in(client, api_keys, role, status):
    assert _sign_in(client, api_keys[role]).status_code == status
    assert SESSION_COOKIE not in client.cookies


def test_an_unknown_key_and_another_sites_form_are_refused(client, api_keys):
    assert _sign_in(client, "not-a-key").status_code == 401
    refused = _sign_in(client, api_keys["monitor"], Origin="https://evil.example")
    assert refused.status_code == 403
    assert SESSION_COOKIE not in client.cookies
    assert _sign_in(client, api_keys["monitor"], Origin="http://testserver").status_code == 303


def _claims(store, name: str, expires_s: int) -> SessionClaims:
    key = [k for k in store.list_api_keys() if k.name == name][0]
    return SessionClaims(key_id=key.id, name=key.name, role=key.role, expires_s=expires_s)


def test_forged_expired_and_revoked_cookies_are_401(client, store, settings, api_keys,
                                                    report_stub):
    secret = settings.secret_key.get_secret_value()
    now = int(time.time())
    cases = {
        "forged signature": sign_session(_claims(store, "test-monitor", now + 600), "x" * 40),
        "expired": sign_session(_claims(store, "test-monitor", now - 1), secret),
        # a reader's id dressed up as a monitor: the role no longer matches the key
        "role raised": sign_session(SessionClaims(_claims(store, "test-reader", 0).key_id,
                                                  "test-reader", "monitor", now + 600), secret),
        "garbage": "abc.def",
    }
    for what, token in cases.items():
        client.cookies.set(SESSION_COOKIE, token)
        response = client.get(REPORT, params=PARAMS)
        assert response.status_code == 401, what
        assert response.json()["type"] == "Unauthorized", what
    good = sign_session(_claims(store, "test-monitor", now + 600), secret)
    client.cookies.set(SESSION_COOKIE, good)
    assert client.get(REPORT, params=PARAMS).status_code == 200
    store.revoke_api_key(_claims(store, "test-monitor", 0).key_id)
    assert client.get(REPORT, params=PARAMS).status_code == 401  # revoking ends sessions


def test_the_cookie_authorises_no_write(client, api_keys):
    """A cross-site form could send the cookie with a POST (were SameSite ignored): it
    must be worth nothing there."""
    _sign_in(client, api_keys["monitor"])
    upload = client.post("/declarations/exports",
                         files={"file": ("x.csv", b"a,b\n1,2\n", "text/csv")})
    assert upload.status_code == 401


def test_a_key_header_wins_over_the_cookie(client, api_keys, report_stub):
    _sign_in(client, api_keys["monitor"])
    response = client.get(REPORT, params=PARAMS, headers={"X-API-Key": api_keys["reader"]})
    assert response.status_code == 403


def test_the_key_is_in_no_url_and_no_log(client, api_keys, caplog):
    key = api_keys["monitor"]
    with caplog.at_level(logging.DEBUG):
        response = _sign_in(client, key)
        client.get("/session")
    assert response.status_code == 303
    assert key not in response.headers["location"]
    assert all(key not in str(r.__dict__) for r in caplog.records)
    assert all(key not in r.getMessage() for r in caplog.records)
    assert any(getattr(r, "path", None) == "/session" for r in caplog.records)


def test_tokens_round_trip_and_resist_tampering():
    claims = new_session(7, "m", "monitor", now_s=1_000_000, ttl_s=60)
    token = sign_session(claims, "s" * 40)
    assert verify_session(token, "s" * 40, now_s=1_000_059) == claims
    assert verify_session(token, "s" * 40, now_s=1_000_060) is None  # expired
    assert verify_session(token, "t" * 40, now_s=1_000_000) is None  # another secret
    payload, signature = token.split(".")
    assert verify_session(f"{payload}x.{signature}", "s" * 40, now_s=1_000_000) is None
    assert verify_session("é.ü", "s" * 40) is None
