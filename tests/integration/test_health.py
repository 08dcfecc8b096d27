"""test_health.py -- the realm's health and its healing, through the proxy:

 - realm health in Redis: addresses, heartbeat and stream IPs, punch counts;
 - stale-stream healing (--heal): a holder whose event stream comes from
   127.0.0.1 and whose heartbeats come from 127.0.0.2 (what a PPPoE redial
   leaves behind) has its session ended once, answered 404, and is back
   with one register; the same pattern again marks it multi-address and
   stops the healing; --heal false turns it off;
 - the status lookup GET /v1/{id} (--status-lookup), and its 405 when off;
 - --relay-address: the relay's addresses after the peers' own in the punch
   event and the connect answer, and the attempt's record for the relays.
"""

import json

from client import (Background, check, eq, expect_error, expect_json,
                    nonce, obfs, realm_name)
from stack import uses, wait_until

OLD_IP, NEW_IP = "127.0.0.1", "127.0.0.2"
CLIENT_ADDRS = ["198.51.100.20:5000"]
ANSWER_ADDRS = ["192.0.2.50:7000"]
RELAY = "192.0.2.77:7000,[2001:db8::77]:7000"
RELAY_ADDRS = ["192.0.2.77:7000", "[2001:db8::77]:7000"]
HEALED = 'hysteria_realm_heals_total{result="healed"}'
MULTI = 'hysteria_realm_heals_total{result="multi_address"}'


def _compact(obj):
    return json.dumps(obj, separators=(",", ":"))


def _field(st, name, field):
    v = st.redis("HGET", "hr:realm:" + name, field)
    return v.decode() if isinstance(v, bytes) else v


def _counter(st, series):
    v = st.redis("HGET", "hr:metrics", series)
    return int(v) if v is not None else 0


def _next_punch(es):
    """The next punch event of es, past any heartbeat_ack."""
    ev = es.next_event(3)
    while ev.event == "heartbeat_ack":
        ev = es.next_event(3)
    eq(ev.event, "punch", "event")
    return ev


def _wait_held(st, name):
    """Until the realm's stream has read its first events (hold is set)."""
    wait_until(lambda: _field(st, name, "stream_ip") is not None, 5, "the stream holds the realm")


@uses()
def test_health_fields(st):
    api, other = st.api(), st.api(source=NEW_IP)
    name = realm_name()
    sid = api.register_ok(name, ["203.0.113.5:443"])
    eq(_field(st, name, "ip"), OLD_IP, "register ip")
    check(_field(st, name, "reg_at") is not None, "reg_at set")
    eq(other.heartbeat(name, sid, {"addresses": ["203.0.113.6:443"]}).status, 200, "heartbeat")
    eq(_field(st, name, "hb_ip"), NEW_IP, "heartbeat ip")
    check(int(_field(st, name, "addrs_at")) >= int(_field(st, name, "reg_at")), "addrs_at moved")
    with api.events(name, sid) as es:
        _wait_held(st, name)
        eq(_field(st, name, "stream_ip"), OLD_IP, "stream ip")
        n = nonce()
        bg = Background(api.connect, name, CLIENT_ADDRS, n, obfs())
        _next_punch(es)
        eq(api.answer(name, n, sid, ANSWER_ADDRS).status, 204, "answer")
        eq(bg.wait(5).status, 200, "connect")
    eq(_field(st, name, "punches"), "1", "punches")
    eq(_field(st, name, "answered"), "1", "answered")
    check(_field(st, name, "answer_at") is not None, "answer_at")


@uses()
def test_heal_stale_stream(st):
    """The real flow: the holder's address changed; its old stream hangs,
    its heartbeats come from the new IP. One heartbeat ends the session
    (404), a waiting connect gets 404, and one register brings it back."""
    old, new = st.api(), st.api(source=NEW_IP)
    name = realm_name()
    healed = _counter(st, HEALED)
    sid = old.register_ok(name)
    es = old.events(name, sid)
    try:
        _wait_held(st, name)
        bg = Background(old.connect, name, CLIENT_ADDRS, nonce(), obfs())
        eq(es.next_event(3).event, "punch", "the waiting connect's punch")
        r = new.heartbeat(name, sid)
        expect_error(r, 404, "realm_not_found", "heartbeat from the new IP")
        expect_error(bg.wait(5), 404, "realm_not_found", "the waiting connect")
        check(es.wait_closed(5), "the stale stream was not closed")
    finally:
        es.close()
    expect_error(new.heartbeat(name, sid), 401, "invalid_token", "the old session id")
    eq(_counter(st, HEALED), healed + 1, "heals_total{healed}")
    sid2 = new.register_ok(name)
    with new.events(name, sid2) as es2:
        _wait_held(st, name)
        eq(new.heartbeat(name, sid2).status, 200, "heartbeat of the new session")
        n = nonce()
        bg = Background(old.connect, name, CLIENT_ADDRS, n, obfs())
        eq(_next_punch(es2).json()["nonce"], n, "the connect reaches the new session")
        eq(new.answer(name, n, sid2, ANSWER_ADDRS).status, 204, "answer")
        eq(bg.wait(5).json()["addresses"], ANSWER_ADDRS, "connect answer")


@uses()
def test_heal_flap_marks_multi_address(st):
    """A holder whose stream and heartbeats always come from two IPs is
    healed once, then marked multi-address and left alone."""
    a, b = st.api(), st.api(source=NEW_IP)
    name = realm_name()
    multi = _counter(st, MULTI)
    sid = a.register_ok(name)
    with a.events(name, sid):
        _wait_held(st, name)
        expect_error(b.heartbeat(name, sid), 404, "realm_not_found", "first healing")
    sid = a.register_ok(name)
    with a.events(name, sid) as es:
        _wait_held(st, name)
        for k in range(3):
            eq(b.heartbeat(name, sid).status, 200, "heartbeat %d after the healing" % k)
        eq(es.next_event(3).event, "heartbeat_ack", "the stream still gets its acks")
    eq(str(st.redis("HGET", "hr:heal:" + name, "multi")), "1", "marked multi-address")
    eq(_counter(st, MULTI), multi + 1, "heals_total{multi_address}")


@uses(args=("--max-realms-per-ip", "0", "--heal", "false"))
def test_heal_off(st):
    a, b = st.api(), st.api(source=NEW_IP)
    name = realm_name()
    sid = a.register_ok(name)
    with a.events(name, sid):
        _wait_held(st, name)
        eq(b.heartbeat(name, sid).status, 200, "heartbeat from another IP, healing off")
        eq(b.heartbeat(name, sid).status, 200, "again")
    check(st.redis("EXISTS", "hr:heal:" + name) == 0, "no healing record")


@uses()
def test_status_lookup(st):
    api = st.api()
    name = realm_name()
    expect_error(api.req("GET", "/v1/" + name, auth=st.token), 404, "realm_not_found", "before register")
    sid = api.register_ok(name)
    expect_error(api.req("GET", "/v1/" + name, auth="wrong"), 401, "invalid_token", "wrong token")
    expect_error(api.req("GET", "/v1/" + name, auth=sid), 401, "invalid_token", "a session id")
    r = api.req("GET", "/v1/" + name, auth=st.token)
    eq(expect_json(r, 200, "status"), {"online": True, "last_heartbeat_s": 0, "stream": False}, "status")
    eq(r.body, b'{"online":true,"last_heartbeat_s":0,"stream":false}\n', "status body")
    with api.events(name, sid):
        _wait_held(st, name)
        sec, usec = st.redis("TIME")
        st.redis("HSET", "hr:realm:" + name, "hb_at", str(int(sec) * 1000 + int(usec) // 1000 - 7500))
        body = expect_json(api.req("GET", "/v1/" + name, auth=st.token), 200, "status with a stream")
        eq(body, {"online": True, "last_heartbeat_s": 7, "stream": True}, "status with a stream")
    r = api.req("PUT", "/v1/" + name, auth=st.token)
    expect_error(r, 405, "method_not_allowed", "PUT")
    eq(r.header("allow"), "GET, POST, DELETE", "Allow with the status lookup")
    eq(api.deregister(name, sid).status, 204, "deregister")
    expect_error(api.req("GET", "/v1/" + name, auth=st.token), 404, "realm_not_found", "after deregister")


@uses(args=("--max-realms-per-ip", "0", "--status-lookup", "false"))
def test_status_lookup_off(st):
    api = st.api()
    name = realm_name()
    api.register_ok(name)
    r = api.req("GET", "/v1/" + name, auth=st.token)
    expect_error(r, 405, "method_not_allowed", "GET with the lookup off")
    eq(r.header("allow"), "POST, DELETE", "Allow as the contract's")


@uses(args=("--max-realms-per-ip", "0", "--relay-address", RELAY))
def test_relay_addresses_given(st):
    api = st.api()
    name = realm_name()
    sid = api.register_ok(name, ["203.0.113.9:443"])
    n, o = nonce(), obfs()
    with api.events(name, sid) as es:
        bg = Background(api.connect, name, CLIENT_ADDRS, n, o)
        ev = es.next_event(3)
        eq(ev.data, _compact({"addresses": CLIENT_ADDRS + RELAY_ADDRS, "nonce": n, "obfs": o}),
           "punch event: the client's addresses, then the relay's")
        rec = json.loads(st.redis("HGET", "hr:relay:att", n.lower()))
        eq(rec["obfs"], o.lower(), "record: obfs")
        eq(rec["realm"], name, "record: realm")
        eq(sorted(rec["client_ips"]), ["127.0.0.1", "198.51.100.20"], "record: client IPs")
        eq(sorted(rec["holder_ips"]), ["127.0.0.1", "203.0.113.9"], "record: holder IPs")
        eq(api.answer(name, n, sid, ANSWER_ADDRS).status, 204, "answer")
        r = bg.wait(5)
        eq(r.body.decode(), _compact({"addresses": ANSWER_ADDRS + RELAY_ADDRS, "nonce": n, "obfs": o}) + "\n",
           "connect answer: the holder's addresses, then the relay's")

