"""test_admin_api.py -- the admin HTTP API (fcgi/admin_api.c) through the
proxy's admin listen (HR_ADMIN=1): create, list and revoke scoped tokens
with the admin token (a revoke ends the realms registered with the token),
end a realm's session (kick), and what it refuses."""

import os
import secrets
import tempfile

from client import (Api, Background, check, eq, expect_error, expect_json, nonce, obfs, realm_name,
                    request)
from stack import uses
from test_metrics import scrape, values

REVOKED = 'hysteria_realm_token_sessions_ended_total{reason="revoked"}'

_DIR = tempfile.mkdtemp(prefix="rr-admin-api-")
os.chmod(_DIR, 0o755)


def _secret_file(name, value):
    path = os.path.join(_DIR, name)
    with open(path, "w") as f:
        f.write(value + "\n")
    os.chmod(path, 0o644)
    return path


ADMIN = secrets.token_hex(16)
ARGS = ("--max-realms-per-ip", "0", "--admin-token-file", _secret_file("admin", ADMIN),
        "--token-key-file", _secret_file("key", secrets.token_hex(32)))


def _admin(st, method, path, body=None, auth=ADMIN):
    return request(st.admin_port, method, path, body=body, auth=auth)


@uses(args=ARGS)
def test_admin_api_create_list_revoke(st):
    name = realm_name("api")
    r = _admin(st, "POST", "/admin/v1/tokens",
               {"scope": "both", "realm": name, "quota": 1, "expires": "1d", "label": "panel user 7"})
    rec = expect_json(r, 201, "create")
    tok, tid = rec["token"], rec["id"]
    check(tok.startswith("hrt_%s_" % tid), "token form: %r" % tok)
    eq((rec["scope"], rec["realm"], rec["quota"], rec["label"], rec["relay"]),
       ("both", name, 1, "panel user 7", True), "the record")
    check(rec["expires"] - rec["created"] == 86400 * 1000, "expires a day after created")
    # the token works on the public port, for its realm only
    user = Api(st.port, tok)
    user.register_ok(name)
    expect_error(user.register(realm_name("other")), 401, "invalid_token", "another name")
    listed = expect_json(_admin(st, "GET", "/admin/v1/tokens"), 200, "list")["tokens"]
    mine = [t for t in listed if t["id"] == tid]
    eq(len(mine), 1, "the token is listed once")
    check("token" not in mine[0] and "mac" not in mine[0], "the listing holds no secret: %r" % mine[0])
    eq(_admin(st, "DELETE", "/admin/v1/tokens/" + tid).status, 204, "revoke")
    expect_error(user.connect(name), 401, "invalid_token", "connect after the revoke")
    expect_error(_admin(st, "DELETE", "/admin/v1/tokens/" + tid), 404, "token_not_found", "revoke again")
    listed = expect_json(_admin(st, "GET", "/admin/v1/tokens"), 200, "list")["tokens"]
    check(all(t["id"] != tid for t in listed), "revoked token still listed")


@uses(args=ARGS)
def test_admin_api_revoke_ends_sessions(st):
    """A revoke ends every realm registered with the token at once: the
    holder's stream closes, a connect waiting on it gets 404, its session
    id 401 (so a Hysteria server registers again, and is refused); realms
    of other tokens are untouched."""
    prefix = realm_name("rv") + "-"
    rec = expect_json(_admin(st, "POST", "/admin/v1/tokens", {"scope": "register", "prefix": prefix}),
                      201, "create")
    owner = Api(st.port, rec["token"])
    a, b, other = prefix + "a", prefix + "b", realm_name("rvo")
    sid_a, sid_b, sid_o = owner.register_ok(a), owner.register_ok(b), st.api().register_ok(other)
    es = st.api().events(a, sid_a)
    waiting = Background(st.api().connect, a, ["198.51.100.9:9"], nonce(), obfs())
    eq(es.next_event(3).event, "punch", "the connect reached the holder")
    before = values(scrape(st)).get(REVOKED, 0)
    eq(_admin(st, "DELETE", "/admin/v1/tokens/" + rec["id"]).status, 204, "revoke")
    eq(values(scrape(st)).get(REVOKED), before + 2, "the two sessions counted in /metrics")
    check(es.wait_closed(3), "the holder's stream did not end")
    expect_error(waiting.wait(5), 404, "realm_not_found", "the connect waiting on the realm")
    for name, sid in ((a, sid_a), (b, sid_b)):
        expect_error(st.api().heartbeat(name, sid), 401, "invalid_token", "heartbeat of " + name)
        expect_error(owner.register(name), 401, "invalid_token", "register again of " + name)
    eq(st.api().heartbeat(other, sid_o).status, 200, "a shared-token realm's heartbeat")
    eq(st.redis("HGET", "hr:realmtok", a), None, "the realm's token mapping")


@uses(args=ARGS)
def test_admin_api_kick(st):
    """DELETE /admin/v1/realms/{name} ends the realm's session as a
    deregister: its stream closes, a waiting connect gets 404, its session
    id 401, the name is free; then 404 realm_not_found."""
    name = realm_name("kick")
    sid = st.api().register_ok(name)
    es = st.api().events(name, sid)
    waiting = Background(st.api().connect, name, ["198.51.100.9:9"], nonce(), obfs())
    eq(es.next_event(3).event, "punch", "the connect reached the holder")
    eq(_admin(st, "DELETE", "/admin/v1/realms/" + name).status, 204, "kick")
    check(es.wait_closed(3), "the holder's stream did not end")
    expect_error(waiting.wait(5), 404, "realm_not_found", "the connect waiting on the realm")
    expect_error(st.api().heartbeat(name, sid), 401, "invalid_token", "the kicked session's heartbeat")
    expect_error(_admin(st, "DELETE", "/admin/v1/realms/" + name), 404, "realm_not_found", "kick again")
    st.api().register_ok(name)                              # the name is free
    for bad in ("a%20b", "-x", "x" * 300):
        expect_error(_admin(st, "DELETE", "/admin/v1/realms/" + bad), 404, "realm_not_found",
                     "a name the pattern refuses: %r" % bad[:20])
    expect_error(_admin(st, "DELETE", "/admin/v1/realms/" + name, auth=ADMIN + "x"), 401,
                 "invalid_token", "a wrong admin token")
    r = _admin(st, "GET", "/admin/v1/realms/" + name)
    expect_error(r, 405, "method_not_allowed", "GET a realm")
    eq(r.header("allow"), "DELETE", "Allow")
    expect_error(_admin(st, "DELETE", "/admin/v1/realms/"), 404, "not_found", "no name")


@uses(args=ARGS)
def test_admin_api_refuses(st):
    expect_error(_admin(st, "GET", "/admin/v1/tokens", auth=None), 401, "invalid_token", "no admin token")
    expect_error(_admin(st, "GET", "/admin/v1/tokens", auth=ADMIN + "x"), 401, "invalid_token",
                 "a wrong admin token")
    expect_error(_admin(st, "GET", "/admin/v1/tokens", auth=st.token), 401, "invalid_token",
                 "the realm token is not the admin token")
    for body, what in ((b"{", "bad JSON"), ({"scope": "all"}, "a bad scope"),
                       ({"scope": "register", "bogus": 1}, "an unknown member"),
                       ({"scope": "connect", "realm": "x"}, "a realm without the register scope"),
                       ({"scope": "both", "expires": "soon"}, "a bad duration")):
        expect_error(_admin(st, "POST", "/admin/v1/tokens", body), 400, "bad_request", what)
    r = _admin(st, "PUT", "/admin/v1/tokens")
    expect_error(r, 405, "method_not_allowed", "PUT")
    eq(r.header("allow"), "GET, POST", "Allow")
    expect_error(_admin(st, "GET", "/admin/v1/nothing"), 404, "not_found", "an unknown admin path")
    # the public port never serves it, whatever the client sends
    expect_error(request(st.port, "GET", "/admin/v1/tokens", auth=ADMIN, headers={"HR-Admin": "1"}),
                 404, "not_found", "the admin API on the public port")


@uses()
def test_admin_api_off_without_admin_token(st):
    expect_error(_admin(st, "GET", "/admin/v1/tokens"), 404, "not_found", "no --admin-token-file")


@uses(args=("--max-realms-per-ip", "0", "--admin-token-file", _secret_file("admin2", ADMIN)))
def test_admin_api_needs_token_key_to_create(st):
    expect_error(_admin(st, "POST", "/admin/v1/tokens", {"scope": "both"}), 503, "no_token_key",
                 "create without --token-key-file")
    eq(expect_json(_admin(st, "GET", "/admin/v1/tokens"), 200, "list")["tokens"], [], "empty list")
