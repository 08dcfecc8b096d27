"""test_admin.py -- hysteria-realm-admin, the operator's tool, against a real
stack: realms (addresses, stream IP, heartbeat IP), --json, realm NAME, kick
NAME (ends the stream, fails waiting connects, voids the session id), stats,
exit codes (1 not found, 2 usage, 3 Redis unreachable), and no session id
in any output.

The binary: $RR_ADMIN, else hysteria-realm-admin beside the worker binary.
It is pointed at the stack's own Redis and at the source tree's sql/.
"""

import json
import os
import subprocess
import time

from client import Background, check, eq, expect_error, expect_json, nonce, obfs, realm_name
from stack import DEFAULT_ARGS, REPO, free_port, uses, wait_until, worker_binary

# A stack that takes the client IP from X-Forwarded-For, so that register,
# stream and heartbeat can come from IPs of their own.
XFF_ARGS = DEFAULT_ARGS + ("--trusted-proxy-header", "X-Forwarded-For")
REG_IP, PEER_IP = "198.51.100.71", "198.51.100.72"
ADDRS = ["203.0.113.44:4433", "[2001:db8::44]:4433"]


def admin_binary():
    path = os.environ.get("RR_ADMIN") or os.path.join(
        os.path.dirname(worker_binary()), "hysteria-realm-admin")
    return os.path.abspath(path)


class Run:
    """One run of the tool: rc, out, err (text)."""

    def __init__(self, p):
        self.rc, self.out, self.err = p.returncode, p.stdout, p.stderr

    def __repr__(self):
        return "<rc %d out %r err %r>" % (self.rc, self.out[-400:], self.err[-400:])


# Every session id seen by these tests: no output of the tool may hold one.
_sids = set()


def admin(st, *args, redis=None, env=None):
    """Run the tool against st's Redis; checks that no known session id
    (nor its first half) is in its output."""
    binary = admin_binary()
    if not os.access(binary, os.X_OK):
        raise AssertionError("admin binary %s is missing (build it, or set RR_ADMIN)" % binary)
    url = redis or "redis://%s:%d/0" % (st.redis_host, st.redis_port)
    e = {k: v for k, v in os.environ.items() if not k.startswith("HYSTERIA_REALM_")}
    e.update(env or {})
    p = subprocess.run([binary, "--redis", url, "--scripts-dir", os.path.join(REPO, "sql")]
                       + list(args), stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=30, env=e)
    r = Run(p)
    for sid in _sids:
        for text in (r.out, r.err):
            check(sid[:16] not in text, "the tool printed a session id: %r" % (r,))
    return r


def register(api, name, ip=None, addrs=None):
    headers = {"X-Forwarded-For": ip} if ip else None
    sid = api.register_ok(name, addrs or ADDRS, headers=headers)
    _sids.add(sid)
    return sid


def heartbeat(api, name, sid, ip=None):
    headers = {"X-Forwarded-For": ip} if ip else None
    return api.req("POST", "/v1/%s/heartbeat" % name, None, auth=sid, headers=headers)


def row(r, name):
    """The realms line of name, split into its columns, or None."""
    for line in r.out.splitlines()[1:]:
        cols = line.split()
        if cols and cols[0] == name:
            return line
    return None


def realms_json(st, name):
    r = admin(st, "realms", "--json")
    eq(r.rc, 0, "realms --json exit status (%r)" % (r,))
    arr = json.loads(r.out)
    check(isinstance(arr, list), "realms --json is not an array: %r" % r.out[:200])
    return next((o for o in arr if o.get("name") == name), None)


# -- realms ---------------------------------------------------------------------

@uses(args=XFF_ARGS)
def test_admin_realms_lists_addresses_stream_and_heartbeat(st):
    api = st.api()
    name = realm_name()
    sid = register(api, name, REG_IP)
    r = admin(st, "realms")
    eq(r.rc, 0, "realms exit status (%r)" % (r,))
    head = r.out.splitlines()[0].split()
    check(head[:2] == ["NAME", "ADDRESSES"], "realms header: %r" % head)
    line = row(r, name)
    check(line is not None, "realm %s not listed: %r" % (name, r.out))
    check(",".join(ADDRS) in line, "addresses not listed: %r" % line)
    check(PEER_IP not in line, "peer IP listed before any stream or heartbeat: %r" % line)
    with api.events(name, sid, headers={"X-Forwarded-For": PEER_IP}) as es:
        eq(es.status, 200, "events status")
        # the stream's hold is set by its first read: poll briefly
        wait_until(lambda: PEER_IP in (row(admin(st, "realms"), name) or ""), 5,
                   "the stream IP in the realms line")
        expect_json(heartbeat(api, name, sid, PEER_IP), 200, "heartbeat")
        line = row(admin(st, "realms"), name)
        check(line is not None and line.count(PEER_IP) == 2,
              "stream and heartbeat IP not both listed: %r" % line)
        o = realms_json(st, name)
        check(o is not None, "realm %s not in realms --json" % name)
        eq(o["addrs"], ADDRS, "json addrs")
        eq(o["ip"], REG_IP, "json ip (register)")
        eq(o["hb_ip"], PEER_IP, "json hb_ip")
        eq(o["stream_ip"], PEER_IP, "json stream_ip")
        for k in ("reg_at", "addrs_at", "hb_at", "stream_at", "hb_age_ms", "stream_age_ms"):
            check(isinstance(o.get(k), int), "json %s is not a number: %r" % (k, o))
        check(0 <= o["hb_age_ms"] < 10000, "hb_age_ms %r" % o["hb_age_ms"])
        for k in ("punches", "answered", "fallback", "answer_at", "multi_address", "heals"):
            check(k in o, "json lacks %s: %r" % (k, o))
        check("sid" not in o and "hold" not in o, "json holds a secret field: %r" % o)
        # realm NAME: the same, plus the session's expiry and counts
        r = admin(st, "realm", name)
        eq(r.rc, 0, "realm NAME exit status (%r)" % (r,))
        kv = dict(l.split(": ", 1) for l in r.out.splitlines() if ": " in l)
        eq(kv.get("hb_ip"), PEER_IP, "realm NAME hb_ip")
        eq(kv.get("stream_ip"), PEER_IP, "realm NAME stream_ip")
        check(kv.get("expires_in_s", "").isdigit() and 0 < int(kv["expires_in_s"]) <= 60,
              "expires_in_s: %r" % kv.get("expires_in_s"))
        check(kv.get("events_buffered", "").isdigit(), "events_buffered: %r" % (kv,))
        eq(kv.get("attempts_in_flight"), "0", "attempts_in_flight")
        r = admin(st, "--json", "realm", name)
        eq(r.rc, 0, "realm --json exit status (%r)" % (r,))
        o = json.loads(r.out)
        eq((o["name"], o["stream_ip"], o["hb_ip"]), (name, PEER_IP, PEER_IP), "realm --json")
        check(isinstance(o.get("expires_in_s"), int), "realm --json expires_in_s: %r" % o)


@uses()
def test_admin_realm_unknown_exits_1(st):
    name = realm_name()
    r = admin(st, "realm", name)
    eq(r.rc, 1, "realm of an unknown name (%r)" % (r,))
    eq(r.err.strip(), "hysteria-realm-admin: realm %s is not registered" % name, "stderr")
    eq(r.out, "", "stdout")
    r = admin(st, "kick", name)
    eq(r.rc, 1, "kick of an unknown name (%r)" % (r,))
    check("not registered" in r.err and r.err.count("\n") == 1, "kick stderr %r" % r.err)


@uses()
def test_admin_usage_errors_exit_2(st):
    for args in ((), ("bogus",), ("realm",), ("realm", "a", "b"), ("--nope", "realms"),
                 ("realms", "extra"), ("--redis",)):
        r = admin(st, *args)
        eq(r.rc, 2, "exit status of %r (%r)" % (args, r))
        eq(r.err.count("\n"), 1, "one error line for %r: %r" % (args, r.err))
    r = admin(st, "--help")
    eq(r.rc, 0, "--help")
    for cmd in ("realms", "realm NAME", "kick NAME", "stats"):
        check(cmd in r.out, "--help lacks %s" % cmd)
    r = admin(st, "--version")
    eq(r.rc, 0, "--version")
    check(r.out.startswith("hysteria-realm-admin "), "--version: %r" % r.out)


# -- kick -----------------------------------------------------------------------

@uses()
def test_admin_kick_ends_session(st):
    api = st.api(worker=0)
    other = st.api(worker=1)
    name = realm_name()
    sid = register(api, name)
    with api.events(name, sid) as es:
        eq(es.status, 200, "events status")
        bg = Background(other.connect, name, ["198.51.100.20:5000"], nonce(), obfs())
        eq(es.next_event(3).event, "punch", "the waiting connect's punch")
        t0 = time.monotonic()
        r = admin(st, "kick", name)
        eq(r.rc, 0, "kick exit status (%r)" % (r,))
        eq(r.out.strip(), "kicked %s" % name, "kick output")
        expect_error(bg.wait(5), 404, "realm_not_found", "waiting connect after kick")
        check(bg.finished - t0 < 2.0, "connect ended %.2f s after kick" % (bg.finished - t0))
        check(es.wait_closed(2.0), "stream still open 2 s after kick")
    expect_error(api.heartbeat(name, sid), 401, "invalid_token", "heartbeat of the kicked session")
    expect_error(api.connect(name), 404, "realm_not_found", "connect after kick")
    check(row(admin(st, "realms"), name) is None, "kicked realm still listed")
    eq(admin(st, "realm", name).rc, 1, "realm NAME after kick")
    r = admin(st, "--json", "kick", name)
    eq(r.rc, 1, "second kick (%r)" % (r,))
    # the name can be registered again at once
    sid2 = register(api, name)
    expect_json(api.heartbeat(name, sid2), 200, "heartbeat of the new session")
    r = admin(st, "kick", name, "--json")
    eq(r.rc, 0, "kick --json (%r)" % (r,))
    eq(json.loads(r.out), {"name": name, "kicked": True}, "kick --json output")


# -- stats ----------------------------------------------------------------------

@uses()
def test_admin_stats_counts_live_realms(st):
    api = st.api()

    def stats():
        r = admin(st, "stats", "--json")
        eq(r.rc, 0, "stats exit status (%r)" % (r,))
        return json.loads(r.out)

    before = stats()
    for k in ("realms", "realms_with_stream", "realms_multi_address", "workers", "redis_role",
              "redis_used_memory", "metrics"):
        check(k in before, "stats lacks %s: %r" % (k, before))
    eq(before["redis_role"], "master", "redis_role")
    names = [realm_name() for _ in range(3)]
    sids = [register(api, n) for n in names]
    with api.events(names[0], sids[0]) as es:
        eq(es.status, 200, "events status")
        wait_until(lambda: stats()["realms_with_stream"] >= before["realms_with_stream"] + 1, 5,
                   "the stream counted")
        now = stats()
        eq(now["realms"], before["realms"] + 3, "live realms after 3 registers")
        eq(st.redis("ZCOUNT", "hr:realms", "(%d" % (int(st.redis("TIME")[0]) * 1000), "+inf"),
           now["realms"], "live realms as Redis counts them")
    eq(api.deregister(names[1], sids[1]).status, 204, "deregister")
    eq(stats()["realms"], before["realms"] + 2, "live realms after a deregister")
    # workers flush their gauges and counters every second
    wait_until(lambda: stats()["workers"] == st.nworkers, 5, "both workers counted")
    key = 'hysteria_realm_registrations_total{result="ok"}'
    wait_until(lambda: stats()["metrics"].get(key, 0) >= 3, 5, "the registrations counter")
    metrics = stats()["metrics"]
    check(all(k.startswith("hysteria_realm_") and k.split("{")[0].endswith("_total")
              for k in metrics), "stats metrics not all *_total: %r" % list(metrics)[:5])
    eq(list(metrics), sorted(metrics), "metrics sorted")
    r = admin(st, "stats")
    eq(r.rc, 0, "stats text exit status")
    kv = dict(l.split(": ", 1) for l in r.out.splitlines() if ": " in l and not l.startswith(" "))
    check(kv.get("realms", "").isdigit(), "stats text realms: %r" % r.out[:300])
    check(any(l.startswith("  hysteria_realm_") for l in r.out.splitlines()),
          "stats text lacks the counters: %r" % r.out[:500])


# -- Redis unreachable ------------------------------------------------------------

@uses()
def test_admin_redis_unreachable_exits_3(st):
    port = free_port()
    for cmd in (("realms",), ("stats",), ("realm", "x"), ("kick", "x")):
        r = admin(st, *cmd, redis="redis://:s3cretpass@127.0.0.1:%d/0" % port)
        eq(r.rc, 3, "%s with Redis unreachable (%r)" % (cmd, r))
        eq(r.out, "", "stdout of %s" % (cmd,))
        eq(r.err.count("\n"), 1, "one error line: %r" % r.err)
        check("s3cretpass" not in r.err, "the password in the error: %r" % r.err)
    # the environment's URL is used without --redis
    binary = admin_binary()
    p = subprocess.run([binary, "stats"], capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, HYSTERIA_REALM_REDIS="redis://127.0.0.1:%d" % port))
    eq(p.returncode, 3, "HYSTERIA_REALM_REDIS honoured (%r)" % p.stderr)
    check(str(port) in p.stderr, "error names the target: %r" % p.stderr)
