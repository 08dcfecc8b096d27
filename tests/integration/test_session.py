"""test_session.py -- heartbeat, deregister, session expiry, keepalive."""

import re
import time

from client import (ADDRS, StreamTimeout, check, eq, expect_error, expect_json, realm_name)
from stack import uses

SHORT = ("--session-ttl", "3", "--keepalive", "1", "--max-realms-per-ip", "0")


@uses()
def test_heartbeat_empty_body(st):
    api = st.api()
    name = realm_name()
    sid = api.register_ok(name)
    r = api.req("POST", "/v1/%s/heartbeat" % name, None, auth=sid)
    body = expect_json(r, 200, "heartbeat with no body")
    eq(r.body, b'{"ttl":60}\n', "heartbeat body")
    check(type(body["ttl"]) is int, "ttl is not an integer")
    r = api.req("POST", "/v1/%s/heartbeat" % name, b"", auth=sid,
                headers={"Content-Type": "application/json"})
    expect_json(r, 200, "heartbeat with an empty body and a content type")


@uses()
def test_heartbeat_empty_object(st):
    api = st.api()
    name = realm_name()
    sid = api.register_ok(name)
    r = api.heartbeat(name, sid, {})
    expect_json(r, 200, "heartbeat with {}")
    eq(r.body, b'{"ttl":60}\n', "heartbeat body")


@uses()
def test_heartbeat_with_addresses(st):
    api = st.api()
    name = realm_name()
    sid = api.register_ok(name)
    r = api.heartbeat(name, sid, {"addresses": ["192.0.2.9:9000", "[2001:db8::9]:9000"]})
    expect_json(r, 200, "heartbeat with addresses")
    eq(r.body, b'{"ttl":60}\n', "heartbeat body")


@uses()
def test_heartbeat_bad_body(st):
    api = st.api()
    name = realm_name()
    sid = api.register_ok(name)
    for what, raw in [("not JSON", b"nope"), ("truncated", b"{"), ("array", b"[]"),
                      ("empty addresses", b'{"addresses":[]}'),
                      ("host name", b'{"addresses":["example.com:1"]}'),
                      ("no port", b'{"addresses":["192.0.2.1"]}'),
                      ("string addresses", b'{"addresses":"192.0.2.1:1"}'),
                      ("9 addresses", ('{"addresses":[%s]}' % ",".join(
                          '"192.0.2.%d:1"' % i for i in range(9))).encode())]:
        r = api.req("POST", "/v1/%s/heartbeat" % name, raw, auth=sid,
                    headers={"Content-Type": "application/json"})
        expect_error(r, 400, "bad_request", "heartbeat with %s" % what)
    expect_json(api.heartbeat(name, sid), 200, "the session survives bad heartbeats")


@uses()
def test_heartbeat_ack_on_stream(st):
    api = st.api()
    name = realm_name()
    sid = api.register_ok(name)
    with api.events(name, sid) as es:
        eq(es.status, 200, "events status")
        expect_json(api.heartbeat(name, sid), 200, "heartbeat")
        ev = es.next_event(3)
        eq(ev.event, "heartbeat_ack", "event name")
        eq(ev.data, '{"ttl":60}', "heartbeat_ack data")
        check(re.fullmatch(r'id: \d+\nevent: heartbeat_ack\ndata: \{"ttl":60\}\n\n', ev.raw),
              "event framing: %r" % ev.raw)
        expect_json(api.heartbeat(name, sid, {"addresses": ADDRS}), 200, "second heartbeat")
        ev2 = es.next_event(3)
        eq(ev2.event, "heartbeat_ack", "second event name")
        check(int(ev2.id) > int(ev.id), "event ids do not increase: %s then %s" % (ev.id, ev2.id))


@uses()
def test_deregister(st):
    api = st.api()
    name = realm_name()
    sid = api.register_ok(name)
    r = api.deregister(name, sid)
    eq(r.status, 204, "deregister status")
    eq(r.body, b"", "deregister body")
    sid2 = api.register_ok(name)
    check(sid2 != sid, "re-registered realm got the old session id")
    expect_error(api.connect(realm_name()), 404, "realm_not_found", "connect to a never-registered realm")
    eq(api.deregister(name, sid2).status, 204, "deregister the second session")
    expect_error(api.connect(name), 404, "realm_not_found", "connect after deregister")


@uses(args=SHORT)
def test_heartbeat_keeps_session(st):
    api = st.api()
    name = realm_name()
    sid = api.register_ok(name)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 5.0:  # longer than the 3 s TTL
        r = api.heartbeat(name, sid)
        expect_json(r, 200, "heartbeat at %.1f s" % (time.monotonic() - t0))
        eq(r.json()["ttl"], 3, "ttl with --session-ttl 3")
        time.sleep(0.8)


@uses(args=SHORT)
def test_session_expiry_closes_stream(st):
    api = st.api()
    name = realm_name()
    sid = api.register_ok(name)
    t0 = time.monotonic()
    with api.events(name, sid) as es:
        eq(es.status, 200, "events status")
        closed = es.wait_closed(3 + 3.5)
        took = time.monotonic() - t0
        check(closed, "stream still open %.1f s after register with a 3 s TTL" % took)
        check(took >= 2.5, "stream closed after %.1f s, before the 3 s TTL" % took)
    expect_error(api.heartbeat(name, sid), 401, "invalid_token", "heartbeat after expiry")
    expect_json(api.register(name), 200, "name free after expiry")


@uses(args=("--keepalive", "1", "--max-realms-per-ip", "0"))
def test_keepalive_comment(st):
    """With --keepalive 1 an idle stream gets a ": ka" comment every second
    or so (a comment right after the head, if any, does not count)."""
    api = st.api()
    name = realm_name()
    sid = api.register_ok(name)
    with api.events(name, sid) as es:
        t0 = time.monotonic()
        times = []
        while time.monotonic() - t0 < 4.5:
            try:
                item = es.next_item(4.5 - (time.monotonic() - t0))
            except StreamTimeout:
                break
            eq(item, "comment:ka", "item on an idle stream")
            times.append(round(time.monotonic() - t0, 2))
        late = [t for t in times if t >= 0.5]
        check(len(late) >= 2, "keepalive comments after 0.5 s within 4.5 s: %r" % times)
        gaps = [b - a for a, b in zip([0.0] + late, late + [4.5])]
        check(max(gaps) <= 2.6, "a gap of %.2f s between keepalives with --keepalive 1: %r"
              % (max(gaps), times))


@uses()
def test_stream_closed_by_deregister(st):
    api = st.api()
    name = realm_name()
    sid = api.register_ok(name)
    with api.events(name, sid) as es:
        eq(es.status, 200, "events status")
        t0 = time.monotonic()
        eq(api.deregister(name, sid).status, 204, "deregister")
        check(es.wait_closed(2.0), "stream still open 2 s after deregister")
        check(time.monotonic() - t0 < 2.0, "stream closed late")
