"""test_auth.py -- 401 invalid_token, 404 not_found, 405 with Allow, 413."""

import json
import time

from client import (ADDRS, EventStream, check, eq, expect_error, expect_json,
                    nonce, obfs, realm_name)
from stack import uses


def _calls(name, sid_or_token, n):
    """Every endpoint of a realm as (what, method, path, body, auth)."""
    connect_body = {"addresses": ADDRS, "nonce": n, "obfs": obfs()}
    return [
        ("register", "POST", "/v1/" + name, {"addresses": ADDRS}, sid_or_token),
        ("heartbeat", "POST", "/v1/%s/heartbeat" % name, {}, sid_or_token),
        ("deregister", "DELETE", "/v1/" + name, None, sid_or_token),
        ("connect", "POST", "/v1/%s/connect" % name, connect_body, sid_or_token),
        ("answer", "POST", "/v1/%s/connects/%s" % (name, n), {"addresses": ADDRS}, sid_or_token),
    ]


def _events_401(st, name, sid, what):
    es = EventStream(st.port, name, sid, timeout=5)
    try:
        eq(es.status, 401, "%s: events status" % what)
        check(es.headers.get("content-type", "").startswith("application/json"),
              "%s: events 401 content type %r" % (what, es.headers.get("content-type")))
        eq(es.json().get("error"), "invalid_token", "%s: events error code" % what)
    finally:
        es.close()


@uses()
def test_missing_authorization(st):
    api = st.api()
    name = realm_name()
    sid = api.register_ok(name)
    for what, method, path, body, _ in _calls(name, None, nonce()):
        r = api.req(method, path, body, auth=None)
        expect_error(r, 401, "invalid_token", "%s without Authorization" % what)
    _events_401(st, name, None, "events without Authorization")
    expect_json(api.heartbeat(name, sid), 200, "the realm is untouched")


@uses()
def test_wrong_credentials(st):
    api = st.api()
    name = realm_name()
    sid = api.register_ok(name)
    n = nonce()
    for what, method, path, body, auth in _calls(name, "0" * 32, n):
        expect_error(api.req(method, path, body, auth=auth), 401, "invalid_token",
                     "%s with a wrong secret" % what)
    # the token is not a session, a session is not the token
    expect_error(api.heartbeat(name, st.token), 401, "invalid_token", "heartbeat with the token")
    expect_error(api.deregister(name, st.token), 401, "invalid_token", "deregister with the token")
    expect_error(api.register(realm_name(), token=sid), 401, "invalid_token",
                 "register with a session id")
    expect_error(api.connect(name, token=sid), 401, "invalid_token", "connect with a session id")
    # other schemes and shapes of the header
    for hdr in ["Basic " + st.token, st.token, "Bearer", "Bearer ", "Bearer  " + st.token + "x",
                "Bearer " + st.token + "x", "Bearer " + st.token[:-1]]:
        r = api.req("POST", "/v1/" + realm_name(), {"addresses": ADDRS},
                    headers={"Authorization": hdr})
        expect_error(r, 401, "invalid_token", "register with Authorization %r" % hdr)
    _events_401(st, name, "f" * 32, "events with a wrong session")
    _events_401(st, name, st.token, "events with the token")
    expect_json(api.heartbeat(name, sid), 200, "the realm is untouched")


@uses()
def test_other_realms_session(st):
    api = st.api()
    a, b = realm_name(), realm_name()
    sa = api.register_ok(a)
    sb = api.register_ok(b)
    expect_error(api.heartbeat(b, sa), 401, "invalid_token", "heartbeat with another realm's session")
    expect_error(api.deregister(b, sa), 401, "invalid_token", "deregister with another realm's session")
    expect_error(api.answer(b, nonce(), sa), 401, "invalid_token", "answer with another realm's session")
    _events_401(st, b, sa, "events with another realm's session")
    expect_json(api.heartbeat(b, sb), 200, "realm b untouched")
    expect_json(api.heartbeat(a, sa), 200, "realm a untouched")


@uses()
def test_deregistered_session(st):
    api = st.api()
    name = realm_name()
    sid = api.register_ok(name)
    eq(api.deregister(name, sid).status, 204, "deregister")
    expect_error(api.heartbeat(name, sid), 401, "invalid_token", "heartbeat after deregister")
    expect_error(api.deregister(name, sid), 401, "invalid_token", "deregister twice")
    _events_401(st, name, sid, "events after deregister")
    sid2 = api.register_ok(name)
    expect_error(api.heartbeat(name, sid), 401, "invalid_token",
                 "the old session on the re-registered realm")
    expect_json(api.heartbeat(name, sid2), 200, "the new session")


@uses(args=("--session-ttl", "2", "--max-realms-per-ip", "0"))
def test_expired_session(st):
    api = st.api()
    name = realm_name()
    sid = api.register_ok(name)
    expect_json(api.heartbeat(name, sid), 200, "heartbeat within the TTL")
    t0 = time.monotonic()
    while True:  # poll the session until it is gone (events do not refresh it)
        es = EventStream(st.port, name, sid, timeout=5)
        status = es.status
        es.close()
        if status != 200 or time.monotonic() - t0 > 6:
            break
        time.sleep(0.2)
    eq(status, 401, "events once the 2 s session expired")
    check(time.monotonic() - t0 >= 1.5, "session ended after %.1f s, before its 2 s TTL"
          % (time.monotonic() - t0))
    expect_error(api.heartbeat(name, sid), 401, "invalid_token", "heartbeat after expiry")
    expect_error(api.deregister(name, sid), 401, "invalid_token", "deregister after expiry")
    expect_json(api.register(name), 200, "the expired realm's name is free")


NOT_FOUND = [
    ("GET", "/"), ("GET", "/v1"), ("POST", "/v1"), ("GET", "/v2/abc"),
    ("POST", "/v2/abc"), ("GET", "/v1/abc/nope"), ("POST", "/v1/abc/events/x"),
    ("POST", "/v1/abc/connects"), ("POST", "/v1/abc/heartbeat/x"),
    ("GET", "/favicon.ico"), ("POST", "/v1/abc/connects/%s/x" % ("a" * 32)),
    ("GET", "/v1/abc/def/ghi/jkl"), ("DELETE", "/abc"), ("GET", "/V1/abc/events"),
    ("GET", "/v1/abc/Events"),
]


@uses()
def test_not_found(st):
    api = st.api()
    for method, path in NOT_FOUND:
        expect_error(api.req(method, path, None, auth=st.token), 404, "not_found",
                     "%s %s" % (method, path))


METHOD_CASES = [
    ("GET", "/v1/{n}", {"POST", "DELETE"}),
    ("PUT", "/v1/{n}", {"POST", "DELETE"}),
    ("PATCH", "/v1/{n}", {"POST", "DELETE"}),
    ("OPTIONS", "/v1/{n}", {"POST", "DELETE"}),
    ("POST", "/v1/{n}/events", {"GET"}),
    ("DELETE", "/v1/{n}/events", {"GET"}),
    ("GET", "/v1/{n}/heartbeat", {"POST"}),
    ("DELETE", "/v1/{n}/heartbeat", {"POST"}),
    ("GET", "/v1/{n}/connect", {"POST"}),
    ("PUT", "/v1/{n}/connect", {"POST"}),
    ("GET", "/v1/{n}/connects/" + "a" * 32, {"POST"}),
    ("DELETE", "/v1/{n}/connects/" + "a" * 32, {"POST"}),
]


@uses(args=("--max-realms-per-ip", "0", "--status-lookup", "false"))
def test_method_not_allowed(st):
    """The contract's 405s, with the status lookup (GET /v1/{id}, an
    extension) off; test_health.py has them with it on."""
    api = st.api()
    name = realm_name()
    for method, path, allow in METHOD_CASES:
        path = path.replace("{n}", name)
        r = api.req(method, path, None)
        expect_error(r, 405, "method_not_allowed", "%s %s" % (method, path))
        got = r.header("allow")
        check(got is not None, "%s %s: 405 without an Allow header" % (method, path))
        eq({m.strip() for m in got.split(",")}, allow, "%s %s: Allow header" % (method, path))


def _padded(obj, size):
    """obj as JSON padded with spaces to exactly size bytes."""
    s = json.dumps(obj, separators=(",", ":")).encode()
    return s[:-1] + b" " * (size - len(s)) + s[-1:]


@uses()
def test_body_size_limit(st):
    api = st.api()
    body = {"addresses": ADDRS}
    r = api.req("POST", "/v1/" + realm_name(), _padded(body, 4096), auth=st.token)
    expect_json(r, 200, "register with a 4096-byte body")
    for size in (4097, 6000, 8192):  # refused by the worker
        r = api.req("POST", "/v1/" + realm_name(), _padded(body, size), auth=st.token)
        expect_error(r, 413, "bad_request", "register with a %d-byte body" % size)
    for size in (9000, 20000):      # refused by the proxy (nginx client_max_body_size 8k,
                                    # lighttpd server.max-request-size 8)
        r = api.req("POST", "/v1/" + realm_name(), _padded(body, size), auth=st.token)
        expect_error(r, 413, "bad_request", "register with a %d-byte body" % size)
    name = realm_name()
    sid = api.register_ok(name)
    r = api.heartbeat(name, sid, _padded(body, 5000))
    expect_error(r, 413, "bad_request", "heartbeat with a 5000-byte body")
    r = api.connect(name, body=_padded({"addresses": ADDRS, "nonce": nonce(), "obfs": obfs()}, 4500))
    expect_error(r, 413, "bad_request", "connect with a 4500-byte body")
