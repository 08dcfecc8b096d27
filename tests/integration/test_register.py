"""test_register.py -- POST /v1/{id}: body shape, names, addresses, check
order, realm_taken, the global and per-IP limits."""

import re

from client import (ADDRS, check, eq, expect_error, expect_json, realm_name)
from stack import uses

BAD_ADDRESS_LISTS = [
    ("empty list", []),
    ("9 entries", ["203.0.113.%d:1000" % i for i in range(1, 10)]),
    ("host name", ["example.com:443"]),
    ("localhost", ["localhost:443"]),
    ("no port", ["203.0.113.10"]),
    ("empty port", ["203.0.113.10:"]),
    ("port 70000", ["203.0.113.10:70000"]),
    ("port 65536", ["203.0.113.10:65536"]),
    ("negative port", ["203.0.113.10:-1"]),
    ("port with sign", ["203.0.113.10:+80"]),
    ("IPv6 without brackets", ["2001:db8::1:4433"]),
    ("IPv6 brackets no port", ["[2001:db8::1]"]),
    ("bad IPv4", ["203.0.113.300:443"]),
    ("short IPv4", ["203.0.113:443"]),
    ("leading space", [" 203.0.113.10:443"]),
    ("trailing space", ["203.0.113.10:443 "]),
    ("empty string", [""]),
    ("number element", [4433]),
    ("null element", [None]),
    ("object element", [{"ip": "203.0.113.10", "port": 443}]),
    ("list element", [["203.0.113.10:443"]]),
    ("bool element", [True]),
    ("one good one bad", ["203.0.113.10:443", "nope:1"]),
]

BAD_ADDRESS_BODIES = [
    ("addresses is a string", {"addresses": "203.0.113.10:443"}),
    ("addresses is null", {"addresses": None}),
    ("addresses is a number", {"addresses": 5}),
    ("addresses is an object", {"addresses": {"a": "203.0.113.10:443"}}),
    ("no addresses member", {}),
]

BAD_JSON = [
    ("empty body", b""),
    ("not JSON", b"hello"),
    ("truncated", b'{"addresses":["203.0.113.10:443"]'),
    ("array", b'["203.0.113.10:443"]'),
    ("null", b"null"),
    ("string", b'"x"'),
    ("binary", bytes(range(256))),
    ("trailing garbage", b'{"addresses":["203.0.113.10:443"]} xyz'),
]

BAD_NAMES = [
    ("65 chars", "a" * 65),
    ("percent ff", "%ff"),
    ("dot", "a.b"),
    ("leading dot", ".abc"),
    ("leading dash", "-abc"),
    ("leading underscore", "_abc"),
    ("space", "a%20b"),
    ("non-ASCII", "caf%C3%A9"),
    ("encoded dot", "a%2Eb"),
    ("tilde", "a~b"),
    ("plus", "a+b"),
]


@uses()
def test_register_200_shape(st):
    api = st.api()
    name = realm_name()
    r = api.register(name)
    body = expect_json(r, 200, "register")
    check(isinstance(body, dict), "register body is not an object: %r" % body)
    eq(sorted(body.keys()), ["session_id", "ttl"], "register body keys")
    sid = body["session_id"]
    check(isinstance(sid, str) and re.fullmatch(r"[0-9a-f]{32}", sid),
          "session_id is not 32 lowercase hex: %r" % (sid,))
    check(type(body["ttl"]) is int, "ttl is not a JSON integer: %r" % (body["ttl"],))
    eq(body["ttl"], 60, "ttl")
    check(b" " not in r.body, "register body is not compact: %r" % r.body)
    sid2 = api.register_ok(realm_name())
    check(sid2 != sid, "two registrations got the same session id")


@uses()
def test_register_without_content_type(st):
    """Peers send Content-Type, but it must not be required."""
    api = st.api()
    r = api.req("POST", "/v1/" + realm_name(), b'{"addresses":["203.0.113.10:443"]}',
                auth=st.token)
    expect_json(r, 200, "register with no Content-Type")


@uses()
def test_register_good_addresses(st):
    api = st.api()
    cases = [
        ["203.0.113.10:0"],
        ["203.0.113.10:65535"],
        ["[2001:db8::1]:4433"],
        ["[::1]:1", "127.0.0.1:2"],
        ["[::ffff:192.0.2.1]:443"],
        ["198.51.100.%d:%d" % (i, 1000 + i) for i in range(1, 9)],
    ]
    for addrs in cases:
        name = realm_name()
        r = api.register(name, addrs)
        expect_json(r, 200, "register with %r" % addrs)
        api.deregister(name, r.json()["session_id"])


@uses()
def test_register_bad_addresses(st):
    api = st.api()
    for what, addrs in BAD_ADDRESS_LISTS:
        r = api.register(realm_name(), body={"addresses": addrs})
        expect_error(r, 400, "bad_request", "register with %s" % what)
    for what, body in BAD_ADDRESS_BODIES:
        r = api.register(realm_name(), body=body)
        expect_error(r, 400, "bad_request", "register with %s" % what)


@uses()
def test_register_bad_json(st):
    api = st.api()
    for what, raw in BAD_JSON:
        r = api.req("POST", "/v1/" + realm_name(), raw, auth=st.token,
                    headers={"Content-Type": "application/json"})
        expect_error(r, 400, "bad_request", "register with %s" % what)


@uses()
def test_register_bad_names(st):
    api = st.api()
    for what, name in BAD_NAMES:
        r = api.register(name)
        expect_error(r, 400, "bad_request", "register name %s (%r)" % (what, name))


@uses()
def test_bad_name_on_every_endpoint(st):
    """{id} is checked first on every route: 400 even with bad credentials."""
    api = st.api()
    n = "a" * 32
    for method, path in [("POST", "/v1/a.b"), ("DELETE", "/v1/a.b"),
                         ("GET", "/v1/a.b/events"), ("POST", "/v1/a.b/heartbeat"),
                         ("POST", "/v1/a.b/connect"), ("POST", "/v1/a.b/connects/" + n),
                         ("POST", "/v1/%s/heartbeat" % ("x" * 65))]:
        r = api.req(method, path, {"addresses": ADDRS}, auth="wrong")
        expect_error(r, 400, "bad_request", "%s %s" % (method, path))


@uses()
def test_register_good_names(st):
    api = st.api()
    tail = realm_name("")
    for name in ["b" * 52 + tail, "Z" + tail, "9" + tail, "a-_" + tail]:
        eq(len(name) <= 64, True, "test name length")
        r = api.register(name)
        expect_json(r, 200, "register name %r" % name)


@uses()
def test_register_name_percent_decoded(st):
    """The name is the path segment after percent-decoding: %61 is 'a'."""
    api = st.api()
    tail = realm_name("")
    expect_json(api.register("%61" + tail), 200, "register %61-encoded name")
    expect_error(api.register("a" + tail), 409, "realm_taken", "register the decoded name")


@uses()
def test_register_taken(st):
    api = st.api()
    name = realm_name()
    api.register_ok(name)
    expect_error(api.register(name), 409, "realm_taken", "second register")
    expect_error(api.register(name, ["192.0.2.1:1"]), 409, "realm_taken",
                 "second register with other addresses")


@uses()
def test_register_check_order(st):
    api = st.api()
    name = realm_name()
    # name before token
    expect_error(api.register("a.b", token="wrong"), 400, "bad_request", "bad name and bad token")
    expect_error(api.req("POST", "/v1/a.b", b"{", auth=None), 400, "bad_request",
                 "bad name, no token, bad JSON")
    # token before JSON
    expect_error(api.req("POST", "/v1/" + name, b"{nope", auth="wrong"), 401, "invalid_token",
                 "bad token and bad JSON")
    expect_error(api.req("POST", "/v1/" + name, b"{nope", auth=None), 401, "invalid_token",
                 "missing token and bad JSON")
    expect_error(api.register(name, token="wrong", body={"addresses": []}), 401,
                 "invalid_token", "bad token and bad addresses")
    # JSON and addresses before realm_taken
    api.register_ok(name)
    expect_error(api.register(name, body={"addresses": ["nope"]}), 400, "bad_request",
                 "taken name with bad addresses")
    # token before realm_taken
    expect_error(api.register(name, token="wrong"), 401, "invalid_token", "taken name, bad token")


@uses(args=("--max-realms", "2", "--max-realms-per-ip", "0"))
def test_realm_limit(st):
    api = st.api()
    a, b, c = realm_name(), realm_name(), realm_name()
    sa = api.register_ok(a)
    api.register_ok(b)
    expect_error(api.register(c), 429, "realm_limit_reached", "third realm with --max-realms 2")
    expect_error(api.register(a), 409, "realm_taken", "taken name at the limit (409 first)")
    expect_error(api.register("x.y"), 400, "bad_request", "bad name at the limit")
    eq(api.deregister(a, sa).status, 204, "deregister at the limit")
    expect_json(api.register(c), 200, "register after a deregister freed a place")


IP_ARGS = ("--max-realms-per-ip", "2", "--trusted-proxy-header", "X-Forwarded-For")


def _xff(ip):
    return {"X-Forwarded-For": ip}


@uses(args=IP_ARGS)
def test_ip_limit_peer_and_fallback(st):
    """No header: the peer (127.0.0.1) counts. An unparseable or empty
    header falls back to the peer."""
    api = st.api()
    api.register_ok(realm_name())
    api.register_ok(realm_name())
    expect_error(api.register(realm_name()), 429, "ip_limit_reached", "third realm from the peer")
    for bad in ["garbage", "999.1.1.1", "unknown, 198.51.100.99", "198.51.100.1:80"]:
        expect_error(api.register(realm_name(), headers=_xff(bad)), 429, "ip_limit_reached",
                     "X-Forwarded-For %r falls back to the full peer" % bad)
    # a parseable header escapes the peer's count
    expect_json(api.register(realm_name(), headers=_xff("198.51.100.60")), 200,
                "register from a fresh X-Forwarded-For IP")


@uses(args=IP_ARGS)
def test_ip_limit_header_leftmost(st):
    api = st.api()
    ip = "198.51.100.7"
    api.register_ok(realm_name(), headers=_xff(ip))
    api.register_ok(realm_name(), headers=_xff(ip + ", 10.9.9.9"))
    expect_error(api.register(realm_name(), headers=_xff(ip)), 429, "ip_limit_reached",
                 "third realm from the leftmost header IP")
    expect_error(api.register(realm_name(), headers=_xff(" %s , 192.0.2.1" % ip)), 429,
                 "ip_limit_reached", "leftmost value with spaces")
    expect_json(api.register(realm_name(), headers=_xff("192.0.2.77, " + ip)), 200,
                "the same IP in second place does not count")


@uses(args=IP_ARGS)
def test_ip_limit_mapped_ipv6(st):
    """::ffff:a.b.c.d counts as a.b.c.d."""
    api = st.api()
    api.register_ok(realm_name(), headers=_xff("198.51.100.8"))
    api.register_ok(realm_name(), headers=_xff("::ffff:198.51.100.8"))
    expect_error(api.register(realm_name(), headers=_xff("198.51.100.8")), 429,
                 "ip_limit_reached", "IPv4 after an IPv4-mapped registration")
    api.register_ok(realm_name(), headers=_xff("2001:db8::8"))


@uses(args=IP_ARGS)
def test_ip_limit_drops_on_deregister(st):
    api = st.api()
    ip = "198.51.100.9"
    n1 = realm_name()
    s1 = api.register_ok(n1, headers=_xff(ip))
    api.register_ok(realm_name(), headers=_xff(ip))
    expect_error(api.register(realm_name(), headers=_xff(ip)), 429, "ip_limit_reached",
                 "third realm")
    eq(api.deregister(n1, s1).status, 204, "deregister")
    expect_json(api.register(realm_name(), headers=_xff(ip)), 200,
                "register after the IP's count dropped")


@uses(args=("--trusted-proxy-header", "X-Forwarded-For", "--max-realms-per-ip", "2",
            "--session-ttl", "2"))
def test_ip_limit_drops_on_expiry(st):
    import time
    api = st.api()
    ip = "198.51.100.10"
    api.register_ok(realm_name(), headers=_xff(ip))
    api.register_ok(realm_name(), headers=_xff(ip))
    expect_error(api.register(realm_name(), headers=_xff(ip)), 429, "ip_limit_reached",
                 "third realm")
    t0 = time.monotonic()
    name = realm_name()
    while True:
        r = api.register(name, headers=_xff(ip))
        if r.status != 429 or time.monotonic() - t0 > 5.0:
            break
        time.sleep(0.1)
    expect_json(r, 200, "register after the IP's realms expired (2 s TTL)")
    check(time.monotonic() - t0 < 4.5, "the IP's count dropped only after %.1f s"
          % (time.monotonic() - t0))


@uses(args=())
def test_ip_limit_default_is_4(st):
    """Default limit 4 per IP; with no --trusted-proxy-header the client's
    X-Forwarded-For is ignored (the peer address counts)."""
    api = st.api()
    for i in range(4):
        api.register_ok(realm_name(), headers=_xff("198.51.100.%d" % (i + 1)))
    expect_error(api.register(realm_name(), headers=_xff("198.51.100.99")), 429,
                 "ip_limit_reached", "fifth realm from the peer with the default per-IP limit")


@uses(args=("--realm-name-pattern", "^[a-z]{3,8}$", "--max-realms-per-ip", "0"))
def test_custom_name_pattern(st):
    api = st.api()
    expect_json(api.register("abcd"), 200, "name matching the custom pattern")
    for bad in ["Abcd", "ab", "abc1", "abcdefghi"]:
        expect_error(api.register(bad), 400, "bad_request", "name %r against ^[a-z]{3,8}$" % bad)
