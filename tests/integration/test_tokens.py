"""test_tokens.py -- scoped tokens in the worker (--token-key-file), through
the proxy: scopes, name bindings, quotas, expiry, revocation, relaying per
token, and the owner's re-claim of a live realm.

The records are written here as sql/token_add.lua writes them (fields of
fcgi/token.h, the mac an HMAC-SHA256 of the secret under the key file's
first line), so these tests check the worker, not the admin tool (that is
test_admin_tokens.py). Every test asserts an answer that would differ if
the rule were not enforced.
"""

import hashlib
import hmac
import json
import os
import secrets
import tempfile
import time

from client import Api, Background, check, eq, expect_error, nonce, obfs, realm_name
from stack import uses
from test_metrics import scrape, values

KEY = secrets.token_hex(32)
_KEYDIR = tempfile.mkdtemp(prefix="rr-tokens-")
KEY_FILE = os.path.join(_KEYDIR, "token-key")
with open(KEY_FILE, "w") as _f:
    _f.write(KEY + "\n")
os.chmod(_KEYDIR, 0o755)
os.chmod(KEY_FILE, 0o644)

RELAY = "192.0.2.77:7000"
ARGS = ("--max-realms-per-ip", "0", "--token-key-file", KEY_FILE, "--relay-address", RELAY)
CLIENT_ADDRS = ["198.51.100.20:5000"]
ANSWER_ADDRS = ["192.0.2.50:7000"]


def make_token(st, scope, realm="", prefix="", connect_realm="", connect_prefix="",
               quota=0, expires_ms=0, relay=1, label="test", mac_key=KEY):
    """A scoped token with its record in the stack's Redis; returns the token."""
    tid, secret = secrets.token_hex(6), secrets.token_hex(16)
    mac = hmac.new(mac_key.encode(), secret.encode(), hashlib.sha256).hexdigest()
    sec, usec = st.redis("TIME")
    now = int(sec) * 1000 + int(usec) // 1000
    st.redis("HSET", "hr:tok:" + tid, "mac", mac, "scope", scope, "realm", realm,
             "prefix", prefix, "connect_realm", connect_realm, "connect_prefix", connect_prefix,
             "quota", str(quota), "expires", str(expires_ms), "created", str(now),
             "relay", str(relay), "label", label)
    st.redis("ZADD", "hr:toks", str(expires_ms) if expires_ms else "+inf", tid)
    return "hrt_%s_%s" % (tid, secret)


def token_id(token):
    return token.split("_")[1]


def _api(st, token):
    return Api(st.port, token)


@uses(args=ARGS)
def test_token_scopes_and_bindings(st):
    name, other = realm_name("own"), realm_name("own")
    reg = make_token(st, "register", realm=name)
    con = make_token(st, "connect", connect_realm=name)
    pre = make_token(st, "register", prefix="pfx-")
    a_reg, a_con, a_pre = _api(st, reg), _api(st, con), _api(st, pre)
    expect_error(a_reg.register(other), 401, "invalid_token", "register outside the bound name")
    sid = a_reg.register_ok(name)
    expect_error(a_con.register(realm_name("c")), 401, "invalid_token", "register with a connect-only token")
    expect_error(a_reg.connect(name), 401, "invalid_token", "connect with a register-only token")
    expect_error(a_con.connect(other), 401, "invalid_token", "connect outside the bound name")
    pname = "pfx-" + secrets.token_hex(4)
    a_pre.register_ok(pname)
    expect_error(a_pre.register("xpfx-" + secrets.token_hex(4)), 401, "invalid_token", "outside the prefix")
    # the connect token reaches the realm, and may look up its status
    n, o = nonce(), obfs()
    with st.api().events(name, sid) as es:
        bg = Background(a_con.connect, name, CLIENT_ADDRS, n, o)
        eq(es.next_event(3).event, "punch", "punch from a connect token")
        eq(st.api().answer(name, n, sid, ANSWER_ADDRS).status, 204, "answer")
        eq(bg.wait(5).status, 200, "connect with a connect token")
    eq(a_con.req("GET", "/v1/" + name, auth=con).status, 200, "status lookup with a connect token")
    expect_error(a_reg.req("GET", "/v1/" + name, auth=reg), 401, "invalid_token",
                 "status lookup with a register-only token")
    # a token of the right form whose secret is not the one stored
    forged = "hrt_%s_%s" % (token_id(con), secrets.token_hex(16))
    expect_error(_api(st, forged).connect(name), 401, "invalid_token", "a forged secret")
    expect_error(_api(st, "hrt_%s_%s" % (secrets.token_hex(6), secrets.token_hex(16))).connect(name),
                 401, "invalid_token", "an unknown id")


@uses(args=ARGS)
def test_token_revocation_and_expiry(st):
    name = realm_name("rv")
    tok = make_token(st, "both", realm=name, connect_realm=name)
    api = _api(st, tok)
    sid = api.register_ok(name)
    st.redis("DEL", "hr:tok:" + token_id(tok))
    expect_error(api.connect(name), 401, "invalid_token", "connect with a revoked token")
    expect_error(api.register(realm_name("rv")), 401, "invalid_token", "register with a revoked token")
    eq(st.api().heartbeat(name, sid).status, 200, "the realm's session lives on")
    sec, _ = st.redis("TIME")
    past = make_token(st, "both", expires_ms=(int(sec) - 1) * 1000)
    expect_error(_api(st, past).register(realm_name("ex")), 401, "invalid_token", "an expired token")
    future = make_token(st, "both", expires_ms=(int(sec) + 3600) * 1000)
    _api(st, future).register_ok(realm_name("ex"))


@uses(args=ARGS)
def test_token_expiry_ends_session_at_heartbeat(st):
    """A realm registered with a token that then expires lives until its
    next heartbeat: that heartbeat gets 401 and the session ends (its
    stream closes), and registering again is refused."""
    name = realm_name("te")
    sec, usec = st.redis("TIME")
    expires = int(sec) * 1000 + int(usec) // 1000 + 1500
    api = _api(st, make_token(st, "register", realm=name, expires_ms=expires))
    sid = api.register_ok(name)
    eq(st.api().heartbeat(name, sid).status, 200, "a heartbeat before the expiry")
    es = st.api().events(name, sid)
    eq(es.next_event(3).event, "heartbeat_ack", "the stream is open")
    while True:                                 # Redis's clock decides, as in the script
        sec, usec = st.redis("TIME")
        left = expires - (int(sec) * 1000 + int(usec) // 1000)
        if left < 0:
            break
        time.sleep(left / 1000 + 0.01)
    series = 'hysteria_realm_token_sessions_ended_total{reason="expired"}'
    before = values(scrape(st)).get(series, 0)
    expect_error(st.api().heartbeat(name, sid), 401, "invalid_token", "the heartbeat after the expiry")
    eq(values(scrape(st)).get(series), before + 1, "counted in /metrics")
    check(es.wait_closed(3), "the stream did not end")
    eq(st.redis("EXISTS", "hr:realm:" + name), 0, "the realm is gone")
    expect_error(api.register(name), 401, "invalid_token", "register again with the expired token")


@uses(args=ARGS)
def test_token_quota(st):
    tok = make_token(st, "register", prefix="q-", quota=2)
    api = _api(st, tok)
    names = ["q-" + secrets.token_hex(4) for _ in range(3)]
    sids = [api.register_ok(names[0]), api.register_ok(names[1])]
    expect_error(api.register(names[2]), 429, "token_quota_reached", "the third realm")
    eq(st.api().deregister(names[0], sids[0]).status, 204, "deregister one")
    api.register_ok(names[2])
    # the shared token is not counted
    st.api().register_ok(realm_name("shared"))


@uses(args=ARGS)
def test_token_reclaim_real_flow(st):
    """The holder registers with its bound token, dies without
    deregistering (its stream just drops), registers again at once: 200,
    the old session is dead, and a connect reaches the new one."""
    name = realm_name("home")
    tok = make_token(st, "register", realm=name)
    owner = _api(st, tok)
    old_sid = owner.register_ok(name)
    es = owner.events(name, old_sid)
    n1 = nonce()
    waiting = Background(st.api().connect, name, CLIENT_ADDRS, n1, obfs())
    eq(es.next_event(3).event, "punch", "the old session's punch")
    es.close(abort=True)                       # killed: no deregister
    new_sid = owner.register_ok(name)          # not 409: re-claimed
    check(new_sid != old_sid, "a new session id")
    expect_error(waiting.wait(5), 404, "realm_not_found", "the connect waiting on the old session")
    expect_error(st.api().heartbeat(name, old_sid), 401, "invalid_token", "the old session id")
    with owner.events(name, new_sid) as es2:
        n = nonce()
        bg = Background(st.api().connect, name, CLIENT_ADDRS, n, obfs())
        ev = es2.next_event(3)
        eq(ev.event, "punch", "punch on the new session")
        eq(json.loads(ev.data)["nonce"], n, "the connect's nonce")
        eq(st.api().answer(name, n, new_sid, ANSWER_ADDRS).status, 204, "answer")
        eq(bg.wait(5).json()["addresses"], ANSWER_ADDRS + [RELAY], "connect answer")
    eq(int(st.redis("HGET", "hr:metrics", "hysteria_realm_reclaims_total") or 0) >= 1, True,
       "reclaims_total counted")
    # nobody else takes the name: the shared token still gets 409, and a
    # token bound to another name 401
    expect_error(st.api().register(name), 409, "realm_taken", "shared token on a live realm")
    stranger = _api(st, make_token(st, "register", realm=realm_name("x")))
    expect_error(stranger.register(name), 401, "invalid_token", "another name's token")
    unbound = _api(st, make_token(st, "register"))
    expect_error(unbound.register(name), 409, "realm_taken", "an unbound token does not re-claim")


@uses(args=ARGS)
def test_token_relay_denied(st):
    name = realm_name("nr")
    sid = st.api().register_ok(name)
    no_relay = _api(st, make_token(st, "connect", relay=0))
    with st.api().events(name, sid) as es:
        n = nonce()
        bg = Background(no_relay.connect, name, CLIENT_ADDRS, n, obfs())
        ev = es.next_event(3)
        eq(json.loads(ev.data)["addresses"], CLIENT_ADDRS, "no relay address for this token")
        eq(st.api().answer(name, n, sid, ANSWER_ADDRS).status, 204, "answer")
        eq(bg.wait(5).json()["addresses"], ANSWER_ADDRS, "connect answer without the relay")


@uses()
def test_scoped_token_without_key(st):
    """A worker without --token-key-file takes only the shared token."""
    tok = make_token(st, "both")
    expect_error(_api(st, tok).register(realm_name("nk")), 401, "invalid_token", "no token key")
