"""test_events.py -- the event stream: headers, framing, ids, the 16-event
buffer, no replay of delivered punches, client disconnects."""

import json
import time

from client import (Background, StreamTimeout, check, eq,
                    expect_json, nonce, obfs, realm_name)
from stack import uses, wait_until


def _punch_data(addrs, n, o):
    return json.dumps({"addresses": addrs, "nonce": n, "obfs": o}, separators=(",", ":"))


@uses()
def test_events_headers_before_any_event(st):
    api = st.api()
    name = realm_name()
    sid = api.register_ok(name)
    t0 = time.monotonic()
    # the head must come at once, with no event to push it out
    es = api.events(name, sid, timeout=2.0, headers={"Accept-Encoding": "gzip, deflate"})
    with es:
        took = time.monotonic() - t0
        eq(es.status, 200, "events status")
        check(took < 1.5, "events head took %.2f s" % took)
        eq(es.headers.get("content-type", "").split(";")[0].strip(), "text/event-stream",
           "Content-Type")
        check("no-cache" in es.headers.get("cache-control", ""),
              "Cache-Control %r lacks no-cache" % es.headers.get("cache-control"))
        check("content-encoding" not in es.headers,
              "stream is encoded: %r" % es.headers.get("content-encoding"))
        check("content-length" not in es.headers, "stream has a Content-Length")
        # still open, nothing pending
        try:
            item = es.next_event(0.5)
            raise AssertionError("unexpected event on a fresh stream: %r" % (item,))
        except StreamTimeout:
            pass
        expect_json(api.heartbeat(name, sid), 200, "heartbeat")
        eq(es.next_event(3).event, "heartbeat_ack", "event after the head")


@uses()
def test_events_ids_increase(st):
    api = st.api()
    name = realm_name()
    sid = api.register_ok(name)
    with api.events(name, sid) as es:
        ids = []
        for _ in range(5):
            expect_json(api.heartbeat(name, sid), 200, "heartbeat")
            ev = es.next_event(3)
            eq(ev.event, "heartbeat_ack", "event name")
            check(ev.id is not None and ev.id.isdigit(), "event id %r is not a number" % ev.id)
            ids.append(int(ev.id))
        check(all(b > a for a, b in zip(ids, ids[1:])), "ids not increasing: %r" % ids)


def _buffered(st, name):
    """The realm's buffered event records (sql/README.md key layout)."""
    return st.redis("LRANGE", "hr:ev:" + name, 0, -1)


@uses()
def test_events_buffered_until_open(st):
    """17 events while no stream is open: the oldest is dropped, the other
    16 (ending with the punch) arrive when a stream opens."""
    api = st.api()
    name = realm_name()
    sid = api.register_ok(name)
    for _ in range(16):
        expect_json(api.heartbeat(name, sid), 200, "heartbeat with no stream")
    addrs = ["198.51.100.31:3000"]
    n, o = nonce(), obfs()
    bg = Background(api.connect, name, addrs, n, o)
    wait_until(lambda: any(n.lower() in r.lower() for r in _buffered(st, name)), 5,
               "the punch in the realm's event buffer")
    with api.events(name, sid) as es:
        eq(es.status, 200, "events status")
        got = es.events_for(1.5)
    eq(len(got), 16, "events delivered from the buffer (got %r)" % [(e.id, e.event) for e in got])
    eq([e.event for e in got], ["heartbeat_ack"] * 15 + ["punch"], "buffered event names")
    ids = [int(e.id) for e in got]
    check(all(b > a for a, b in zip(ids, ids[1:])), "ids not increasing: %r" % ids)
    eq(got[-1].data, _punch_data(addrs, n, o), "buffered punch data")
    eq(api.answer(name, n, sid).status, 204, "answer the buffered punch")
    r = bg.wait(5)
    expect_json(r, 200, "connect")


@uses()
def test_punch_not_replayed(st):
    api = st.api()
    name = realm_name()
    sid = api.register_ok(name)
    n, o = nonce(), obfs()
    with api.events(name, sid) as es:
        bg = Background(api.connect, name, None, n, o)
        ev = es.next_event(3)
        eq(ev.event, "punch", "first event")
        eq(api.answer(name, n, sid).status, 204, "answer")
        expect_json(bg.wait(5), 200, "connect")
    # The holder reconnects at once. Heartbeats until one reaches the new
    # stream; the punch must not come back before it (or at all).
    with api.events(name, sid) as es2:
        eq(es2.status, 200, "second events status")
        deadline = time.monotonic() + 5
        seen = []
        while time.monotonic() < deadline:
            expect_json(api.heartbeat(name, sid), 200, "heartbeat")
            seen += es2.events_for(0.3)
            if any(e.event == "heartbeat_ack" for e in seen):
                break
        seen += es2.events_for(0.5)
        check(any(e.event == "heartbeat_ack" for e in seen),
              "no heartbeat_ack reached the second stream")
        check(not any(e.event == "punch" for e in seen),
              "a delivered punch was replayed on the next stream: %r" % seen)


@uses()
def test_client_disconnect_does_not_disturb_others(st):
    api = st.api(worker=0)
    a, b = realm_name(), realm_name()
    sa, sb = api.register_ok(a), api.register_ok(b)
    with api.events(b, sb) as esb:
        esa = api.events(a, sa)
        eq(esa.status, 200, "stream a")
        esa.close(abort=True)
        # many short-lived streams on a third realm, closed both ways
        c = realm_name()
        sc = api.register_ok(c)
        for i in range(20):
            es = api.events(c, sc)
            eq(es.status, 200, "short stream %d" % i)
            es.close(abort=(i % 2 == 0))
        expect_json(api.heartbeat(b, sb), 200, "heartbeat b")
        ev = esb.next_event(3)
        eq(ev.event, "heartbeat_ack", "b's stream still gets events")
        # realm a still works and gets a new stream's events
        with api.events(a, sa) as esa2:
            eq(esa2.status, 200, "stream a again")
            got = []
            deadline = time.monotonic() + 5
            while not got and time.monotonic() < deadline:
                expect_json(api.heartbeat(a, sa), 200, "heartbeat a")
                got = esa2.events_for(0.3)
            check(got, "a's new stream got no event")
    for i in range(st.nworkers):
        check(st.worker_alive(i), "worker %d died" % (i + 1))


@uses()
def test_stream_on_one_worker_events_from_another(st):
    """Heartbeats handled by worker 2 reach a stream held by worker 1."""
    w1, w2 = st.api(worker=0), st.api(worker=1)
    name = realm_name()
    sid = w2.register_ok(name)
    with w1.events(name, sid) as es:
        eq(es.status, 200, "events on worker 1")
        t0 = time.monotonic()
        expect_json(w2.heartbeat(name, sid), 200, "heartbeat on worker 2")
        ev = es.next_event(2)
        eq(ev.event, "heartbeat_ack", "event from the other worker")
        check(time.monotonic() - t0 < 1.0, "event took %.2f s" % (time.monotonic() - t0))
