"""test_admin_tokens.py -- hysteria-realm-admin token add|list|revoke against a
real stack: the token is printed once with realm:// URLs (text and --json),
Redis keeps only its keyed hash (HMAC-SHA256 under the token key), token list
shows the live ones (never a token or a mac) with their live realms, token
revoke removes one and ends the realms registered with it (a second revoke
exits 1), bad options and a missing or
short key file exit 2, and no key or value in Redis holds a token's secret.

With a worker that takes --token-key-file (the worker side of scoped
tokens), also end to end: a register token bound to a realm registers it
and nothing else, a connect token connects but cannot register, and a
revoked token is refused at once and its realm's session ended.
"""

import atexit
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time

from client import Background, check, eq, expect_json, nonce, obfs, realm_name, record_secret
from stack import DEFAULT_ARGS, Skip, uses, worker_binary
from test_admin import admin

TOKEN_RE = re.compile(r"hrt_([0-9a-f]{12})_([0-9a-f]{32})")

# The token key, shared by the tool and (end to end) the workers.
_KEY_DIR = tempfile.mkdtemp(prefix="rr-tokkey-")
atexit.register(shutil.rmtree, _KEY_DIR, True)
KEY = secrets.token_hex(24)
KEY_FILE = os.path.join(_KEY_DIR, "token.key")
with open(KEY_FILE, "w") as _f:
    _f.write(KEY + "\n")
os.chmod(KEY_FILE, 0o600)
SHORT_KEY_FILE = os.path.join(_KEY_DIR, "short.key")
with open(SHORT_KEY_FILE, "w") as _f:
    _f.write("0123456789abcdef0123456789abcde\n")        # 31 characters
record_secret(KEY)


def _worker_has_token_keys():
    try:
        p = subprocess.run([worker_binary(), "--help"], capture_output=True, text=True,
                           timeout=10, stdin=subprocess.DEVNULL)
    except OSError:
        return False
    return "--token-key-file" in p.stdout + p.stderr


E2E = _worker_has_token_keys()
# The workers know the key (when they can): the same stack serves every test.
TOKEN_ARGS = DEFAULT_ARGS + (("--token-key-file", KEY_FILE) if E2E else ())

_made = []        # every token made here: no output but token add's may hold one


def kv(out):
    """The "key: value" lines of text output (nested lines keep their indent)."""
    d = {}
    for line in out.splitlines():
        if ": " in line:
            k, v = line.split(": ", 1)
            d[k] = v
    return d


def tadmin(st, *args, **kw):
    """admin(), also checking that no token made so far (nor its secret) is
    printed, unless the run is a token add."""
    r = admin(st, *args, **kw)
    if "add" not in args:
        for tok in _made:
            for text in (r.out, r.err):
                check(tok[-32:] not in text, "a token's secret printed by %r: %r" % (args, r))
    return r


def add(st, *args, json_out=False, key=True):
    """token add with args (and the key file); returns (run, token, fields)."""
    extra = ("--token-key-file", KEY_FILE) if key else ()
    r = tadmin(st, "token", "add", *(args + extra + (("--json",) if json_out else ())))
    eq(r.rc, 0, "token add %r exit status (%r)" % (args, r))
    if json_out:
        o = json.loads(r.out)
        tok = o["token"]
    else:
        o = kv(r.out)
        tok = o.get("token", "")
    check(TOKEN_RE.fullmatch(tok), "token add printed no token: %r" % r.out)
    _made.append(tok)
    record_secret(tok)
    return r, tok, o


def mac_of(secret):
    return hmac.new(KEY.encode(), secret.encode(), hashlib.sha256).hexdigest()


def listed(st):
    r = tadmin(st, "token", "list", "--json")
    eq(r.rc, 0, "token list --json (%r)" % (r,))
    arr = json.loads(r.out)
    check(isinstance(arr, list), "token list --json is not an array: %r" % r.out[:200])
    return {o["id"]: o for o in arr}


# -- token add ----------------------------------------------------------------------

@uses(args=TOKEN_ARGS)
def test_token_add_prints_token_and_urls(st):
    name = realm_name()
    r, tok, o = add(st, "--scope", "both", "--realm", name, "--label", "alice laptop",
                    "--expires", "30d", "--url", "https://realm.example.com:8443/")
    tid, secret = TOKEN_RE.fullmatch(tok).groups()
    eq(o.get("id"), tid, "id line")
    eq(o.get("scope"), "both", "scope line")
    eq(o.get("realm"), name, "realm line")
    eq(o.get("label"), "alice laptop", "label line")
    eq(o.get("relay"), "yes", "relay line")
    url = "realm://%s@realm.example.com:8443/%s" % (tok, name)
    eq(o.get("  register"), url, "the owner's URL")
    eq(o.get("  connect"), url, "the clients' URL")
    eq(r.out.count(tok), 3, "the token printed once, and in the two URLs: %r" % r.out)
    check("mac" not in o and mac_of(secret) not in r.out, "token add printed the mac: %r" % r.out)

    # what Redis holds: the keyed hash of the secret, never the secret
    now_ms = int(st.redis("TIME")[0]) * 1000
    h = st.redis("HGETALL", "hr:tok:" + tid)
    rec = dict(zip(h[0::2], h[1::2]))
    eq(rec.get("mac"), mac_of(secret), "stored mac = HMAC-SHA256(key, secret)")
    eq((rec["scope"], rec["realm"], rec["prefix"], rec["connect_realm"], rec["connect_prefix"],
        rec["quota"], rec["relay"], rec["label"]),
       ("both", name, "", "", "", "0", "1", "alice laptop"), "stored fields")
    created, expires = int(rec["created"]), int(rec["expires"])
    check(abs(created - now_ms) < 10000, "created %d, now %d" % (created, now_ms))
    eq(expires - created, 30 * 86400 * 1000, "expires = created + 30d")
    eq(int(float(st.redis("ZSCORE", "hr:toks", tid))), expires, "hr:toks score")
    pttl = st.redis("PTTL", "hr:tok:" + tid)
    check(29 * 86400 * 1000 < pttl <= 30 * 86400 * 1000, "the record expires with it: %r" % pttl)

    # --json: token, id, every field but the mac, urls
    r, tok2, o = add(st, "--scope", "register", "--prefix", "team-", "--quota", "2", "--no-relay",
                     json_out=True)
    tid2 = TOKEN_RE.fullmatch(tok2).group(1)
    eq(o["id"], tid2, "json id")
    for k in ("scope", "realm", "prefix", "connect_realm", "connect_prefix", "quota", "expires",
              "created", "relay", "label", "urls"):
        check(k in o, "token add --json lacks %s: %r" % (k, o))
    check("mac" not in o, "token add --json has the mac: %r" % o)
    eq((o["scope"], o["prefix"], o["quota"], o["relay"], o["expires"]),
       ("register", "team-", 2, False, None), "json fields")
    eq(o["urls"], {"register": "realm://%s@<host>/team-<name>" % tok2},
       "json urls without --url (a placeholder host and name)")
    eq(st.redis("ZSCORE", "hr:toks", tid2), "inf", "a token that never expires: +inf")
    eq(st.redis("PTTL", "hr:tok:" + tid2), -1, "its record has no expiry")

    # a connect token: the clients' URL only; http:// gives realm+http://
    r, tok3, o = add(st, "--scope", "connect", "--connect-realm", name,
                     "--url", "http://127.0.0.1:8080", json_out=True)
    eq(o["urls"], {"connect": "realm+http://%s@127.0.0.1:8080/%s" % (tok3, name)}, "connect urls")
    # the URL from the environment
    r, tok4, o = add(st, "--scope", "both", json_out=True)
    eq(o["urls"]["register"], "realm://%s@<host>/<realm>" % tok4, "unbound: placeholders")
    r = tadmin(st, "token", "add", "--scope", "register", "--realm", name, "--json",
               env={"HYSTERIA_REALM_TOKEN_KEY_FILE": KEY_FILE,
                    "HYSTERIA_REALM_PUBLIC_URL": "https://[2001:db8::5]/"})
    eq(r.rc, 0, "token add from the environment (%r)" % (r,))
    o = json.loads(r.out)
    _made.append(o["token"])
    record_secret(o["token"])
    eq(o["urls"], {"register": "realm://%s@[2001:db8::5]/%s" % (o["token"], name)},
       "HYSTERIA_REALM_PUBLIC_URL")
    for tid_ in (tid, tid2, TOKEN_RE.fullmatch(tok3).group(1), TOKEN_RE.fullmatch(tok4).group(1),
                 o["id"]):
        eq(tadmin(st, "token", "revoke", tid_).rc, 0, "cleanup revoke")


# -- token list ---------------------------------------------------------------------

@uses(args=TOKEN_ARGS)
def test_token_list_shows_tokens_never_secrets(st):
    name = realm_name()
    _, tok1, _ = add(st, "--scope", "register", "--prefix", name + "-", "--quota", "3",
                     "--label", "team laptops")
    _, tok2, _ = add(st, "--scope", "connect", "--connect-realm", name, "--expires", "2h",
                     "--no-relay")
    id1, secret1 = TOKEN_RE.fullmatch(tok1).groups()
    id2, secret2 = TOKEN_RE.fullmatch(tok2).groups()
    macs = [mac_of(secret1), mac_of(secret2)]

    # live realms counted: members of hr:tokrealms:<id> live in hr:realms and
    # still the token's in hr:realmtok (written here as register.lua would)
    now_ms = int(st.redis("TIME")[0]) * 1000
    live, dead, other = name + "-a", name + "-b", name + "-c"
    st.redis("ZADD", "hr:realms", now_ms + 60000, live, now_ms - 1000, dead, now_ms + 60000, other)
    st.redis("HSET", "hr:realmtok", live, id1, dead, id1, other, "0123456789ab")
    st.redis("SADD", "hr:tokrealms:" + id1, live, dead, other)
    try:
        r = tadmin(st, "token", "list")
        eq(r.rc, 0, "token list (%r)" % (r,))
        lines = r.out.splitlines()
        head = lines[0].split()
        eq(head[:5], ["ID", "SCOPE", "REGISTER", "CONNECT", "USED/QUOTA"], "header")
        rows = {l.split()[0]: l.split(None, len(head) - 1) for l in lines[1:]}
        check(id1 in rows and id2 in rows, "tokens not listed: %r" % r.out)
        c = dict(zip(head, rows[id1]))
        eq((c["SCOPE"], c["REGISTER"], c["CONNECT"], c["USED/QUOTA"], c["EXPIRES"], c["RELAY"],
            c["LABEL"]), ("register", name + "-*", "-", "1/3", "never", "yes", "team laptops"),
           "the register token's row")
        c = dict(zip(head, rows[id2]))
        eq((c["SCOPE"], c["REGISTER"], c["CONNECT"], c["USED/QUOTA"], c["RELAY"], c["LABEL"]),
           ("connect", "-", name, "0/-", "no", "-"), "the connect token's row")
        check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", c["EXPIRES"]), "EXPIRES %r" % c)
        check(c["LEFT"] in ("1h", "2h", "119m", "120m"), "LEFT %r" % c["LEFT"])
        for secret in (tok1, tok2, secret1, secret2) + tuple(macs):
            check(secret not in r.out, "token list printed a secret: %r" % r.out)

        r = tadmin(st, "--json", "token", "list")
        eq(r.rc, 0, "token list --json")
        by_id = {o["id"]: o for o in json.loads(r.out)}
        o = by_id[id1]
        eq((o["scope"], o["prefix"], o["quota"], o["used"], o["expires"], o["relay"], o["label"]),
           ("register", name + "-", 3, 1, None, True, "team laptops"), "json of the register token")
        o = by_id[id2]
        eq((o["connect_realm"], o["used"], o["relay"]), (name, 0, False), "json of the connect token")
        check(0 < o["expires_in_ms"] <= 2 * 3600 * 1000, "expires_in_ms %r" % o["expires_in_ms"])
        check(all("mac" not in o and "token" not in o for o in by_id.values()),
              "token list --json holds a mac or token field")
        for secret in (tok1, tok2, secret1, secret2) + tuple(macs):
            check(secret not in r.out, "token list --json printed a secret")
    finally:
        st.redis("ZREM", "hr:realms", live, dead, other)
        st.redis("HDEL", "hr:realmtok", live, dead, other)

    # an expired token is no longer listed (nor its record kept)
    _, tok3, _ = add(st, "--scope", "both", "--expires", "1s")
    id3 = TOKEN_RE.fullmatch(tok3).group(1)
    check(id3 in listed(st), "a fresh 1s token not listed")
    time.sleep(1.3)
    check(id3 not in listed(st), "an expired token still listed")
    eq(st.redis("EXISTS", "hr:tok:" + id3), 0, "the expired token's record")
    for tid in (id1, id2):
        eq(tadmin(st, "token", "revoke", tid).rc, 0, "cleanup revoke")


# -- token revoke -------------------------------------------------------------------

@uses(args=TOKEN_ARGS)
def test_token_revoke(st):
    _, tok, _ = add(st, "--scope", "both")
    tid = TOKEN_RE.fullmatch(tok).group(1)
    st.redis("SADD", "hr:tokrealms:" + tid, "somewhere")
    r = tadmin(st, "token", "revoke", tid)
    eq(r.rc, 0, "revoke (%r)" % (r,))
    eq(r.out, "revoked %s, sessions ended: 0\n" % tid, "revoke output")
    eq(st.redis("EXISTS", "hr:tok:" + tid, "hr:tokrealms:" + tid), 0, "record and realm set gone")
    eq(st.redis("ZSCORE", "hr:toks", tid), None, "gone from hr:toks")
    check(tid not in listed(st), "a revoked token listed")
    r = tadmin(st, "token", "revoke", tid)
    eq(r.rc, 1, "second revoke (%r)" % (r,))
    eq(r.err, "hysteria-realm-admin: no token %s\n" % tid, "second revoke stderr")
    eq(r.out, "", "second revoke stdout")
    _, tok, _ = add(st, "--scope", "connect")
    tid = TOKEN_RE.fullmatch(tok).group(1)
    r = tadmin(st, "--json", "token", "revoke", tid)
    eq(r.rc, 0, "revoke --json (%r)" % (r,))
    eq(json.loads(r.out), {"id": tid, "revoked": True, "sessions_ended": 0}, "revoke --json output")
    for bad in ("ABCDEF012345", "0123456789a", "0123456789abc", "xyz", tok, ""):
        r = tadmin(st, "token", "revoke", bad)
        eq(r.rc, 2, "revoke %r (%r)" % (bad, r))
        check(tok[-32:] not in r.err, "the error echoes a token's secret: %r" % r.err)


# -- usage errors ---------------------------------------------------------------------

@uses(args=TOKEN_ARGS)
def test_token_bad_options_exit_2(st):
    k = ("--token-key-file", KEY_FILE)
    before = st.redis("ZCARD", "hr:toks")
    for args in (
            ("token",), ("token", "bogus"), ("token", "add") + k,
            ("token", "add", "--scope", "all") + k, ("token", "add", "--scope") ,
            ("token", "add", "--scope", "connect", "--realm", "x") + k,
            ("token", "add", "--scope", "connect", "--quota", "2") + k,
            ("token", "add", "--scope", "register", "--connect-realm", "x") + k,
            ("token", "add", "--scope", "both", "--realm", "x", "--prefix", "y") + k,
            ("token", "add", "--scope", "both", "--connect-realm", "x", "--connect-prefix", "y") + k,
            ("token", "add", "--scope", "both", "--realm", "a b") + k,
            ("token", "add", "--scope", "both", "--realm", "a|b") + k,
            ("token", "add", "--scope", "both", "--realm", "r" * 256) + k,
            ("token", "add", "--scope", "register", "--quota", "-1") + k,
            ("token", "add", "--scope", "register", "--quota", "many") + k,
            ("token", "add", "--scope", "both", "--expires", "1x") + k,
            ("token", "add", "--scope", "both", "--expires", "0") + k,
            ("token", "add", "--scope", "both", "--expires", "-1d") + k,
            ("token", "add", "--scope", "both", "--expires", "36501d") + k,
            ("token", "add", "--scope", "both", "--label", "x" * 129) + k,
            ("token", "add", "--scope", "both", "--label", "a\nb") + k,
            ("token", "add", "--scope", "both", "--url", "ftp://h") + k,
            ("token", "add", "--scope", "both", "--url", "https://") + k,
            ("token", "add", "--scope", "both", "--url", "https://h/path") + k,
            ("token", "add", "--scope", "both", "--url", "https://u@h") + k,
            ("token", "add", "--scope", "both", "--url", "https://h:0") + k,
            ("token", "add", "--scope", "both", "--url", "https://h:65536") + k,
            ("token", "add", "--scope", "both", "--no-relay=1") + k,
            ("token", "add", "--scope", "both", "extra") + k,
            ("token", "list", "--scope", "both"), ("token", "list", "extra"),
            ("token", "revoke"), ("token", "revoke", "0123456789ab", "0123456789ac"),
            ("realms", "--scope", "both"), ("token", "add", "--bogus") + k):
        r = tadmin(st, *args)
        eq(r.rc, 2, "exit status of %r (%r)" % (args, r))
        eq(r.err.count("\n"), 1, "one error line for %r: %r" % (args, r.err))
        eq(r.out, "", "stdout of %r" % (args,))
    eq(st.redis("ZCARD", "hr:toks"), before, "no token stored by a refused add")
    r = tadmin(st, "--help")
    eq(r.rc, 0, "--help")
    for s in ("token add", "token list", "token revoke ID", "--token-key-file", "--scope",
              "--connect-prefix", "--no-relay", "HYSTERIA_REALM_TOKEN_KEY_FILE",
              "HYSTERIA_REALM_PUBLIC_URL"):
        check(s in r.out, "--help lacks %s" % s)
    # the token options may stand before the command, too
    r = tadmin(st, "--scope", "connect", "--token-key-file", KEY_FILE, "token", "add", "--json")
    eq(r.rc, 0, "options before the command (%r)" % (r,))
    o = json.loads(r.out)
    _made.append(o["token"])
    record_secret(o["token"])
    eq(tadmin(st, "token", "revoke", o["id"]).rc, 0, "cleanup revoke")


@uses(args=TOKEN_ARGS)
def test_token_key_file_required_exit_2(st):
    before = st.redis("ZCARD", "hr:toks")
    missing = os.path.join(_KEY_DIR, "nonexistent.key")
    for args, env in (((), None),
                      (("--token-key-file", missing), None),
                      (("--token-key-file", SHORT_KEY_FILE), None),
                      ((), {"HYSTERIA_REALM_TOKEN_KEY_FILE": missing}),
                      ((), {"HYSTERIA_REALM_TOKEN_KEY_FILE": ""})):
        r = tadmin(st, "token", "add", "--scope", "both", *args, env=env)
        eq(r.rc, 2, "token add with key %r env %r (%r)" % (args, env, r))
        eq(r.err.count("\n"), 1, "one error line: %r" % r.err)
        check("token-key-file" in r.err or "TOKEN_KEY_FILE" in r.err, "error names the option: %r"
              % r.err)
        eq(r.out, "", "stdout")
        check("0123456789abcdef" not in r.err, "the error holds the key: %r" % r.err)
    eq(st.redis("ZCARD", "hr:toks"), before, "nothing stored without a key")
    # list and revoke need no key
    eq(tadmin(st, "token", "list").rc, 0, "token list without a key")


# -- nothing in Redis authenticates -----------------------------------------------------

def redis_dump(st):
    """Every key of the stack's Redis and everything it holds, as text."""
    out, cursor = [], "0"
    while True:
        cursor, keys = st.redis("SCAN", cursor, "COUNT", "1000")
        for k in keys:
            out.append(k)
            t = st.redis("TYPE", k)
            if t == "string":
                out.append(st.redis("GET", k) or "")
            elif t == "hash":
                out.extend(st.redis("HGETALL", k) or [])
            elif t == "set":
                out.extend(st.redis("SMEMBERS", k) or [])
            elif t == "zset":
                out.extend(st.redis("ZRANGE", k, "0", "-1", "WITHSCORES") or [])
            elif t == "list":
                out.extend(st.redis("LRANGE", k, "0", "-1") or [])
            elif t == "stream":
                out.append(repr(st.redis("XRANGE", k, "-", "+")))
            d = st.redis("DUMP", k)
            if d is not None:
                out.append(d)
        if cursor == "0":
            break
    return out


@uses(args=TOKEN_ARGS)
def test_token_secret_not_in_redis(st):
    name = realm_name()
    made = [add(st, "--scope", "both", "--realm", name, "--label", "dump check")[1],
            add(st, "--scope", "connect", json_out=True)[1],
            add(st, "--scope", "register", "--prefix", "p-", "--quota", "1", "--expires", "1h")[1]]
    dump = redis_dump(st)
    check(any(k.startswith("hr:tok:") for k in dump), "no hr:tok:* key in the dump")
    text = "\n".join(dump)
    for tok in made:
        tid, secret = TOKEN_RE.fullmatch(tok).groups()
        check(mac_of(secret) in text, "the record of %s is not in the dump" % tid)
        for part in (tok, secret, secret[:16], secret[16:]):
            check(part not in text, "Redis holds a token's secret (%s...)" % part[:6])
        check(secret.upper() not in text.upper().replace(mac_of(secret).upper(), ""),
              "Redis holds the secret in another case")
    check(KEY not in text, "Redis holds the token key")
    for tok in made:
        eq(tadmin(st, "token", "revoke", TOKEN_RE.fullmatch(tok).group(1)).rc, 0, "cleanup revoke")


# -- end to end: the workers honour scoped tokens --------------------------------------

def _need_e2e():
    if not E2E:
        raise Skip("the worker has no --token-key-file yet")


@uses(args=TOKEN_ARGS)
def test_token_register_scope_end_to_end(st):
    _need_e2e()
    api = st.api()
    r_name, s_name = realm_name(), realm_name()
    _, tok, _ = add(st, "--scope", "register", "--realm", r_name, "--quota", "1")
    tid = TOKEN_RE.fullmatch(tok).group(1)
    r = api.register(r_name, token=tok)
    expect_json(r, 200, "register the token's realm")
    sid = r.json()["session_id"]
    eq(api.register(s_name, token=tok).status, 401, "register another realm with it")
    eq(api.connect(r_name, token=tok).status, 401, "connect with a register-only token")
    o = listed(st)[tid]
    eq(o["used"], 1, "token list counts the live realm")
    # revoked: refused from the next request on, and the realm ended
    r = tadmin(st, "token", "revoke", tid)
    eq((r.rc, r.out), (0, "revoked %s, sessions ended: 1\n" % tid), "revoke")
    eq(api.heartbeat(r_name, sid).status, 401, "the session ended with the revoke")
    eq(api.register(r_name, token=tok).status, 401, "register with a revoked token")
    eq(st.redis("EXISTS", "hr:realm:" + r_name), 0, "the realm is gone")


@uses(args=TOKEN_ARGS)
def test_token_connect_scope_end_to_end(st):
    _need_e2e()
    api = st.api()
    name = realm_name()
    _, tok, _ = add(st, "--scope", "connect", "--connect-realm", name)
    tid = TOKEN_RE.fullmatch(tok).group(1)
    eq(api.register(name, token=tok).status, 401, "register with a connect token")
    eq(api.connect(realm_name(), token=tok).status, 401, "connect to a realm not its own")
    sid = api.register_ok(name)                       # the shared token
    n, o = nonce(), obfs()
    with api.events(name, sid) as es:
        bg = Background(api.connect, name, ["198.51.100.20:5000"], n, o, token=tok)
        eq(es.next_event(3).event, "punch", "the connect's punch")
        eq(api.answer(name, n, sid, ["192.0.2.50:7000"]).status, 204, "answer")
        r = bg.wait(5)
        expect_json(r, 200, "connect with the connect token")
        eq(r.json()["addresses"], ["192.0.2.50:7000"], "the answered addresses")
    eq(tadmin(st, "token", "revoke", tid).rc, 0, "revoke")
    eq(api.connect(name, token=tok).status, 401, "connect with a revoked token")
    eq(api.deregister(name, sid).status, 204, "deregister")
