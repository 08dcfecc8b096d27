"""test_connect.py -- POST /v1/{id}/connect and /v1/{id}/connects/{nonce}:
punch delivery, answers across workers, the 10 s fallback, the in-flight
limit, deregister failing waiting connects, and every 400/404."""

import json
import os
import re
import time

from client import (ADDRS, Background, check, eq, expect_error, expect_json,
                    nonce, obfs, realm_name)
from stack import net_ns_inode, tcp_connected, uses

CLIENT_ADDRS = ["198.51.100.20:5000", "[2001:db8::20]:5001"]
ANSWER_ADDRS = ["192.0.2.50:7000", "[2001:db8::50]:7001"]


def _compact(obj):
    return json.dumps(obj, separators=(",", ":"))


def _expect_connect_reply(r, addrs, n, o, what):
    expect_json(r, 200, what)
    want = _compact({"addresses": addrs, "nonce": n, "obfs": o}) + "\n"
    eq(r.body.decode(), want, "%s: body" % what)


@uses()
def test_connect_answered(st):
    api = st.api()
    name = realm_name()
    sid = api.register_ok(name)
    n, o = nonce(), obfs()
    with api.events(name, sid) as es:
        bg = Background(api.connect, name, CLIENT_ADDRS, n, o)
        ev = es.next_event(3)
        eq(ev.event, "punch", "event name")
        eq(ev.data, _compact({"addresses": CLIENT_ADDRS, "nonce": n, "obfs": o}), "punch data")
        check(re.fullmatch(r"id: \d+\nevent: punch\ndata: \{[^\n]*\}\n\n", ev.raw),
              "punch framing: %r" % ev.raw)
        check(not bg.done(), "connect returned before the answer: %r" % (bg.result,))
        t0 = time.monotonic()
        r = api.answer(name, n, sid, ANSWER_ADDRS)
        eq(r.status, 204, "answer status (%r)" % r.body)
        eq(r.body, b"", "answer body")
        r = bg.wait(5)
        took = bg.finished - t0
        _expect_connect_reply(r, ANSWER_ADDRS, n, o, "connect")
        check(took < 2.0, "connect returned %.2f s after the answer" % took)
        check(bg.elapsed < 5.0, "connect took %.2f s in all" % bg.elapsed)


@uses()
def test_connect_answer_nonce_any_case(st):
    """The answer's nonce matches whatever its hex case."""
    api = st.api()
    name = realm_name()
    sid = api.register_ok(name)
    n, o = nonce(), obfs()
    with api.events(name, sid) as es:
        bg = Background(api.connect, name, CLIENT_ADDRS, n, o)
        eq(es.next_event(3).event, "punch", "event name")
        eq(api.answer(name, n.upper(), sid, ANSWER_ADDRS).status, 204, "answer in upper case")
        _expect_connect_reply(bg.wait(5), ANSWER_ADDRS, n, o, "connect")


@uses()
def test_connect_across_workers(st):
    """Stream on worker 1, connect on worker 2, answer on worker 1. With two
    hosts the workers are in different network namespaces (host A and host
    B), so the punch and the wake-up cross between hosts through Redis."""
    w1, w2 = st.api(worker=0), st.api(worker=1)
    ns1, ns2 = st.worker_netns(0), st.worker_netns(1)
    if st.hosts >= 2:
        check(ns1 != ns2, "two-host mode, yet workers 1 and 2 share network namespace %d" % ns1)
        check(net_ns_inode(os.getpid()) not in (ns1, ns2),
              "two-host mode, yet a worker runs in the tests' own network namespace")
    else:
        eq(ns1, ns2, "one-host mode: network namespaces of workers 1 and 2")
    name = realm_name()
    sid = w1.register_ok(name)
    n, o = nonce(), obfs()
    with w1.events(name, sid) as es:
        t0 = time.monotonic()
        bg = Background(w2.connect, name, CLIENT_ADDRS, n, o)
        ev = es.next_event(3)
        eq(ev.event, "punch", "event on worker 1")
        check(time.monotonic() - t0 < 2.0, "punch took %.2f s" % (time.monotonic() - t0))
        eq(ev.json(), {"addresses": CLIENT_ADDRS, "nonce": n, "obfs": o}, "punch data")
        t1 = time.monotonic()
        eq(w1.answer(name, n, sid, ANSWER_ADDRS).status, 204, "answer on worker 1")
        r = bg.wait(5)
        _expect_connect_reply(r, ANSWER_ADDRS, n, o, "connect on worker 2")
        check(bg.finished - t1 < 2.0, "connect on worker 2 woke %.2f s after the answer"
              % (bg.finished - t1))
    if st.hosts >= 2:
        # worker 2 (host B) talks to Redis on host A over the link between them
        check(tcp_connected(st.worker_pid(1), st.redis_host, st.redis_port),
              "worker 2 has no connection to Redis at %s:%d" % (st.redis_host, st.redis_port))


@uses()
def test_answer_on_other_worker_wakes_connect(st):
    """The other direction: stream and connect on worker 1 (host A), the
    answer posted to worker 2 (host B) wakes the connect waiting on host A."""
    w1, w2 = st.api(worker=0), st.api(worker=1)
    if st.hosts >= 2:
        check(st.worker_netns(0) != st.worker_netns(1), "two-host mode, yet one namespace")
    name = realm_name()
    sid = w1.register_ok(name)
    n, o = nonce(), obfs()
    with w1.events(name, sid) as es:
        bg = Background(w1.connect, name, CLIENT_ADDRS, n, o)
        ev = es.next_event(3)
        eq(ev.event, "punch", "event on worker 1")
        t1 = time.monotonic()
        eq(w2.answer(name, n, sid, ANSWER_ADDRS).status, 204, "answer on worker 2")
        _expect_connect_reply(bg.wait(5), ANSWER_ADDRS, n, o, "connect on worker 1")
        check(bg.finished - t1 < 2.0, "connect on worker 1 woke %.2f s after the answer"
              % (bg.finished - t1))


@uses(parallel=True, timeout=60)
def test_connect_fallback_after_wait(st):
    """No answer: after 10 s the addresses of the last heartbeat come back."""
    api = st.api()
    name = realm_name()
    sid = api.register_ok(name, ["203.0.113.1:1111"])
    new = ["203.0.113.2:2222", "[2001:db8::2]:2222"]
    expect_json(api.heartbeat(name, sid, {"addresses": new}), 200, "heartbeat with addresses")
    n, o = nonce(), obfs()
    t0 = time.monotonic()
    r = api.connect(name, CLIENT_ADDRS, n, o, timeout=30)
    took = time.monotonic() - t0
    _expect_connect_reply(r, new, n, o, "connect with no answer")
    check(9.0 <= took <= 12.5, "fallback came after %.2f s, not ~10 s" % took)


@uses()
def test_connect_rate_limited(st):
    api = st.api()
    name = realm_name()
    sid = api.register_ok(name)
    with api.events(name, sid) as es:
        waiting = [Background(api.connect, name, CLIENT_ADDRS, nonce(), obfs())
                   for _ in range(16)]
        punches = set()
        deadline = time.monotonic() + 10
        while len(punches) < 16 and time.monotonic() < deadline:
            ev = es.next_event(max(0.1, deadline - time.monotonic()))
            if ev.event == "punch":
                punches.add(ev.json()["nonce"])
        eq(len(punches), 16, "punches for 16 connects in flight")
        t0 = time.monotonic()
        r = api.connect(name, CLIENT_ADDRS, nonce(), obfs(), timeout=5)
        expect_error(r, 503, "rate_limited", "17th connect in flight")
        check(time.monotonic() - t0 < 1.0, "17th connect took %.2f s" % (time.monotonic() - t0))
        eq(sum(1 for b in waiting if b.done()), 0, "connects finished early")
        # deregister releases them all at once
        t1 = time.monotonic()
        eq(api.deregister(name, sid).status, 204, "deregister")
        for b in waiting:
            expect_error(b.wait(5), 404, "realm_not_found", "waiting connect after deregister")
            check(b.finished - t1 < 2.0, "a waiting connect ended %.2f s after deregister"
                  % (b.finished - t1))


@uses()
def test_deregister_fails_waiting_connect(st):
    api = st.api(worker=0)
    other = st.api(worker=1)
    name = realm_name()
    sid = api.register_ok(name)
    with api.events(name, sid) as es:
        bg1 = Background(api.connect, name, CLIENT_ADDRS, nonce(), obfs())
        bg2 = Background(other.connect, name, CLIENT_ADDRS, nonce(), obfs())
        got = [es.next_event(3).event, es.next_event(3).event]
        eq(got, ["punch", "punch"], "two punches")
        t0 = time.monotonic()
        eq(other.deregister(name, sid).status, 204, "deregister on worker 2")
        for what, bg in (("on worker 1", bg1), ("on worker 2", bg2)):
            expect_error(bg.wait(5), 404, "realm_not_found", "waiting connect %s" % what)
            check(bg.finished - t0 < 2.0, "connect %s ended %.2f s after deregister"
                  % (what, bg.finished - t0))
        check(es.wait_closed(2.0), "stream still open 2 s after deregister")


@uses()
def test_connect_unknown_realm(st):
    api = st.api()
    expect_error(api.connect(realm_name()), 404, "realm_not_found", "connect to an unknown realm")
    expect_error(api.connect(realm_name(), body={"addresses": ADDRS, "nonce": "x", "obfs": obfs()}),
                 400, "bad_request", "bad nonce to an unknown realm (400 before 404)")
    expect_error(api.connect(realm_name(), token="wrong"), 401, "invalid_token",
                 "wrong token to an unknown realm (401 before 404)")


def _bad_connect_bodies():
    n, o = nonce(), obfs()
    good = {"addresses": CLIENT_ADDRS, "nonce": n, "obfs": o}

    def but(**kw):
        d = dict(good)
        for k, v in kw.items():
            if v is KeyError:
                del d[k]
            else:
                d[k] = v
        return _compact(d).encode()
    return [
        ("not JSON", b"nope"),
        ("empty body", b""),
        ("array", b"[]"),
        ("no addresses", but(addresses=KeyError)),
        ("empty addresses", but(addresses=[])),
        ("host name address", but(addresses=["example.org:1"])),
        ("address without port", but(addresses=["198.51.100.1"])),
        ("port 70000", but(addresses=["198.51.100.1:70000"])),
        ("9 addresses", but(addresses=["198.51.100.1:%d" % i for i in range(9)])),
        ("number address", but(addresses=[1])),
        ("no nonce", but(nonce=KeyError)),
        ("nonce 31 hex", but(nonce=n[:31])),
        ("nonce 33 hex", but(nonce=n + "a")),
        ("nonce not hex", but(nonce="g" * 32)),
        ("nonce number", but(nonce=12345)),
        ("nonce null", but(nonce=None)),
        ("no obfs", but(obfs=KeyError)),
        ("obfs 63 hex", but(obfs=o[:63])),
        ("obfs 65 hex", but(obfs=o + "a")),
        ("obfs not hex", but(obfs="z" * 64)),
        ("obfs number", but(obfs=1)),
        ("obfs with spaces", but(obfs=" " + o[1:])),
    ]


@uses()
def test_connect_bad_bodies(st):
    api = st.api()
    name = realm_name()
    sid = api.register_ok(name)
    for what, raw in _bad_connect_bodies():
        r = api.req("POST", "/v1/%s/connect" % name, raw, auth=st.token,
                    headers={"Content-Type": "application/json"})
        expect_error(r, 400, "bad_request", "connect with %s" % what)
    # token before body
    r = api.req("POST", "/v1/%s/connect" % name, b"nope", auth="wrong")
    expect_error(r, 401, "invalid_token", "connect with a bad token and bad JSON")
    # nothing was recorded: no punch is waiting for the next stream
    with api.events(name, sid) as es:
        expect_json(api.heartbeat(name, sid), 200, "heartbeat")
        eq(es.next_event(3).event, "heartbeat_ack", "first event after refused connects")


@uses()
def test_answer_errors(st):
    api = st.api()
    name = realm_name()
    sid = api.register_ok(name)
    expect_error(api.answer(name, nonce(), sid), 404, "attempt_not_found",
                 "answer with no attempt in flight")
    for what, bad in [("short", "abc"), ("31 hex", "a" * 31), ("33 hex", "a" * 33),
                      ("not hex", "g" * 32), ("signed", "-" + "a" * 31)]:
        expect_error(api.answer(name, bad, sid), 400, "bad_request", "answer with a %s nonce" % what)
    n, o = nonce(), obfs()
    with api.events(name, sid) as es:
        bg = Background(api.connect, name, CLIENT_ADDRS, n, o)
        eq(es.next_event(3).event, "punch", "punch")
        for what, body in [("no addresses", {}), ("empty addresses", {"addresses": []}),
                           ("host name", {"addresses": ["example.com:1"]}),
                           ("no port", {"addresses": ["192.0.2.1"]})]:
            expect_error(api.answer(name, n, sid, body=body), 400, "bad_request",
                         "answer with %s" % what)
        expect_error(api.req("POST", "/v1/%s/connects/%s" % (name, n), b"{", auth=sid), 400,
                     "bad_request", "answer with bad JSON")
        expect_error(api.answer(name, n, "0" * 32), 401, "invalid_token", "answer with a wrong session")
        expect_error(api.answer(name, n, None), 401, "invalid_token", "answer without Authorization")
        expect_error(api.answer(name, n, st.token), 401, "invalid_token", "answer with the token")
        other = realm_name()
        so = api.register_ok(other)
        expect_error(api.answer(other, n, so), 404, "attempt_not_found",
                     "the nonce on another realm")
        eq(api.answer(name, n, sid, ANSWER_ADDRS).status, 204, "the real answer still works")
        _expect_connect_reply(bg.wait(5), ANSWER_ADDRS, n, o, "connect")
