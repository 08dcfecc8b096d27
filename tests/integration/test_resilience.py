"""test_resilience.py -- Redis outages, killed and stopped workers, garbage
requests, bad configuration."""

import os
import signal
import subprocess
import tempfile
import time

from client import (Background, StreamClosed, StreamTimeout, check, eq, expect_error,
                    expect_json, nonce, obfs, raw_request, realm_name)
from stack import REPO, uses, wait_until, worker_binary


def _read_until_punch(es, n, timeout):
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            ev = es.next_event(max(0.05, deadline - time.monotonic()))
        except StreamTimeout:
            break
        seen.append(ev.event)
        if ev.event == "punch" and ev.json().get("nonce") == n:
            return seen
    raise AssertionError("no punch for the nonce within %.0f s (saw %r)" % (timeout, seen))


@uses(fresh=True, timeout=120)
def test_redis_outage_and_recovery(st):
    api = st.api()
    name = realm_name()
    sid = api.register_ok(name)
    es = st.api(worker=0).events(name, sid)
    try:
        eq(es.status, 200, "stream before the outage")
        st.redis_stop()
        # (what, call, longest wait): short requests must not hang; a
        # connect may use up its 10 s wait, but must end in the same 503.
        for what, call, limit in [
                ("register", lambda: api.register(realm_name()), 4.0),
                ("heartbeat", lambda: api.heartbeat(name, sid), 4.0),
                ("deregister", lambda: api.deregister(name, sid), 4.0),
                ("answer", lambda: api.answer(name, nonce(), sid), 4.0),
                ("register on worker 2", lambda: st.api(worker=1).register(realm_name()), 4.0),
                ("connect", lambda: api.connect(name, timeout=20), 12.0)]:
            t0 = time.monotonic()
            r = call()
            took = time.monotonic() - t0
            expect_error(r, 503, "store_unavailable", "%s with Redis down" % what)
            check(took < limit, "%s with Redis down took %.1f s" % (what, took))
        st.redis_start()
        # the same workers serve again, each of them
        for i in range(st.nworkers):
            w = st.api(worker=i)
            wait_until(lambda: w.register(realm_name()).status == 200, 15,
                       "worker %d to serve after Redis came back" % (i + 1))
        # the realm registered before the outage survived it (append-only file)
        expect_json(api.heartbeat(name, sid), 200, "heartbeat of a realm from before the outage")
        # The stream opened before the outage gets punches again. A worker's
        # event loop reconnects to Redis on its own schedule: until it has,
        # a connect is refused with 503, so retry for a few seconds.
        n, o = nonce(), obfs()
        w2 = st.api(worker=1)
        t0 = time.monotonic()

        def connect_until_accepted():
            while True:
                r = w2.connect(name, None, n, o, timeout=20)
                if r.status != 503 or time.monotonic() - t0 > 5.0:
                    return r
                time.sleep(0.1)
        bg = Background(connect_until_accepted)
        try:
            _read_until_punch(es, n, 10)
        except StreamClosed:
            raise AssertionError("the stream opened before the outage was closed")
        eq(api.answer(name, n, sid).status, 204, "answer after the outage")
        expect_json(bg.wait(5), 200, "connect on worker 2 after the outage (retried for 5 s)")
    finally:
        es.close()


@uses(fresh=True)
def test_redis_restart_while_idle(st):
    """A quick restart with nothing in flight: requests work right after."""
    api = st.api()
    name = realm_name()
    sid = api.register_ok(name)
    st.redis_stop()
    st.redis_start()
    wait_until(lambda: api.heartbeat(name, sid).status == 200, 10,
               "heartbeat after a Redis restart")
    for i in range(st.nworkers):
        expect_json(st.api(worker=i).heartbeat(name, sid), 200,
                    "heartbeat on worker %d after a Redis restart" % (i + 1))


@uses(fresh=True)
def test_all_workers_killed_state_kept(st):
    api = st.api()
    name = realm_name()
    sid = api.register_ok(name, ["203.0.113.77:7777"])
    for i in range(st.nworkers):
        st.kill_worker(i, signal.SIGKILL)
    for i in range(st.nworkers):
        st.start_worker(i)
    expect_json(api.heartbeat(name, sid), 200, "heartbeat with the session from before")
    expect_error(api.register(name), 409, "realm_taken", "the realm is still registered")
    n, o = nonce(), obfs()
    with st.api(worker=0).events(name, sid) as es:
        bg = Background(st.api(worker=1).connect, name, None, n, o)
        _read_until_punch(es, n, 5)
        eq(api.answer(name, n, sid).status, 204, "answer")
        expect_json(bg.wait(5), 200, "connect")


@uses(fresh=True)
def test_sigterm_closes_streams_and_exits_0(st):
    w1 = st.api(worker=0)
    name = realm_name()
    sid = w1.register_ok(name)
    es = w1.events(name, sid)
    try:
        eq(es.status, 200, "stream on worker 1")
        t0 = time.monotonic()
        st.workers[0].send_signal(signal.SIGTERM)
        st.expected_dead.add(0)
        check(es.wait_closed(5), "stream still open 5 s after SIGTERM")
        rc = st.workers[0].wait(10)
        eq(rc, 0, "worker exit code after SIGTERM")
        check(time.monotonic() - t0 < 10, "worker took %.1f s to stop" % (time.monotonic() - t0))
    finally:
        es.close()
    # the pool still serves through worker 2; the realm is intact
    expect_json(st.api().heartbeat(name, sid), 200, "heartbeat through the pool")
    st.start_worker(0)
    expect_json(w1.heartbeat(name, sid), 200, "heartbeat on the restarted worker")


@uses(fresh=True)
def test_killed_worker_events_wait_for_reconnect(st):
    """The worker holding the stream dies; events published meanwhile wait
    in the buffer and reach the stream the holder opens on another worker."""
    w1, w2 = st.api(worker=0), st.api(worker=1)
    name = realm_name()
    sid = w2.register_ok(name)
    es = w1.events(name, sid)
    try:
        eq(es.status, 200, "stream on worker 1")
        st.kill_worker(0, signal.SIGKILL)
        check(es.wait_closed(3), "stream still open after its worker was killed")
    finally:
        es.close()
    expect_json(w2.heartbeat(name, sid), 200, "heartbeat while no stream is open")
    n, o = nonce(), obfs()
    bg = Background(w2.connect, name, None, n, o)
    # the stream opens after the punch was recorded, on purpose
    wait_until(lambda: any(n.lower() in r.lower()
                           for r in st.redis("LRANGE", "hr:ev:" + name, 0, -1)),
               5, "the punch in the realm's event buffer")
    with w2.events(name, sid) as es2:
        got = es2.events_for(1.5)
    names = [e.event for e in got]
    check("heartbeat_ack" in names and "punch" in names,
          "buffered events not delivered to the new stream: %r" % names)
    eq(w2.answer(name, n, sid).status, 204, "answer")
    expect_json(bg.wait(5), 200, "connect")


GARBAGE = [
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Junk: " + b"a" * 7000 + b"\r\n\r\n",
    b"POST /v1/abc HTTP/1.1\r\nHost: x\r\n" + b"".join(
        b"X-H%d: %s\r\n" % (i, b"v" * 150) for i in range(40)) + b"Content-Length: 2\r\n\r\n{}",
    b"GET /v1/abc/events HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 30000 + b"\r\n\r\n",
    b"PATCH /v1/abc HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
    b"OPTIONS /v1/abc HTTP/1.1\r\nHost: x\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    b"PROPFIND / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"BREW /v1/abc/connect HTTP/1.1\r\nHost: x\r\n\r\n",
    b"HEAD /v1/abc/events HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /v1/abc/events HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /v1/abc HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer TOKEN\r\n"
    b"Content-Length: 4000\r\n\r\n" + bytes((i * 7 + 3) % 256 for i in range(4000)),
    b"POST /v1/abc HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer TOKEN\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n5\r\n{\"add\r\n0\r\n\r\n",
    b"POST /v1/abc HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nshort",
    b"POST /v1/abc/heartbeat HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\x00\r\n"
    b"Content-Length: 2\r\n\r\n{}",
    b"GET /v1/%00 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /v1/%zz/events HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /v1/%2F%2F/events HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /v1/" + b"a" * 3000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /v1/" + b"%41" * 600 + b"/connect HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST //v1//abc HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /v1/abc/connects/" + b"z" * 500 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /v1/abc/connects/" + b"%4" * 40 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /v1/abc/../abc/events HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /%ff%fe%fd HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /v1/abc?" + b"q" * 4000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"DELETE /v1/abc HTTP/1.0\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /v1 HTTP/1.1\r\nHost: x\r\n\r\n"
    b"POST /v1/abc/heartbeat HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    b"\r\n\r\n\r\n",
    b"GET /v1/abc/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + b"f" * 5000 + b"\r\n\r\n",
]


@uses()
def test_garbage_requests_do_not_crash_workers(st):
    pids = [st.worker_pid(i) for i in range(st.nworkers)]
    jobs = [(k, raw.replace(b"TOKEN", st.token.encode()), port)
            for k, raw in enumerate(GARBAGE) for port in [st.port] + st.worker_ports]
    outs = {}

    def send(job):
        k, raw, port = job
        outs[(k, port)] = raw_request(port, raw, timeout=3)
    running = []
    for job in jobs:  # eight at a time
        running.append(Background(send, job))
        if len(running) == 8:
            for b in running:
                b.wait(10)
            running = []
    for b in running:
        b.wait(10)
    for (k, port), out in sorted(outs.items()):
        check(b"<html" not in out.lower(),
              "garbage request %d on port %d got an HTML page: %r" % (k, port, out[:300]))
    for i in range(st.nworkers):
        check(st.worker_alive(i), "worker %d died after garbage requests: %s"
              % (i + 1, st.log_tail(i, 600)))
        eq(st.worker_pid(i), pids[i], "worker %d pid" % (i + 1))
        expect_json(st.api(worker=i).register(realm_name()), 200,
                    "worker %d serves after garbage" % (i + 1))


CONFIG_ERRORS = [
    ("--max-realms abc", ["--max-realms", "abc"]),
    ("--max-realms-per-ip 1x", ["--max-realms-per-ip", "1x"]),
    ("--threads 0", ["--threads", "0"]),
    ("--session-ttl none", ["--session-ttl", "none"]),
    ("--keepalive 0", ["--keepalive", "0"]),
    ("--connect-wait 1000", ["--connect-wait", "1000"]),
    ("invalid regex", ["--realm-name-pattern", "([a-z"]),
    ("bad redis URL", ["--redis", "ftp://127.0.0.1:1/0"]),
    ("unknown flag", ["--no-such-flag", "1"]),
]


def _run_worker(args, env_extra=None, token=True):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYSTERIA_REALM_")}
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    env.update(env_extra or {})
    d = tempfile.mkdtemp(prefix="rr-cfg-")
    base = ["--listen", os.path.join(d, "w.sock"), "--redis", "redis://127.0.0.1:1/0",
            "--scripts-dir", os.path.join(REPO, "sql")]
    if token:
        base += ["--token", "t" * 32]
    try:
        p = subprocess.run([worker_binary()] + base + args, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=10, env=env)
    except subprocess.TimeoutExpired:
        raise AssertionError("worker with %r did not exit within 10 s" % (args,))
    finally:
        try:
            os.unlink(os.path.join(d, "w.sock"))
        except OSError:
            pass
        os.rmdir(d)
    return p


@uses(stack=False)
def test_bad_configuration_exits():
    cases = [(what, args, None, True) for what, args in CONFIG_ERRORS]
    cases.append(("missing token", [], None, False))
    cases.append(("HYSTERIA_REALM_MAX_REALMS=abc", [], {"HYSTERIA_REALM_MAX_REALMS": "abc"}, True))
    cases.append(("HYSTERIA_REALM_NAME_PATTERN=(", [], {"HYSTERIA_REALM_NAME_PATTERN": "("}, True))
    for what, args, env, token in cases:
        p = _run_worker(args, env, token)
        check(p.returncode != 0, "%s: exit code 0" % what)
        lines = [ln for ln in p.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
        eq(len(lines), 1, "%s: stderr lines (%r)" % (what, lines))


@uses(fresh=True)
def test_answer_while_subscriber_away(st):
    """An answer published while the waiting connect's worker had lost its
    subscriber (pub/sub drops it) still returns at once: on resubscribing,
    the waiter asks Redis for an answer stored meanwhile, instead of waiting
    for the 10 s fallback."""
    api = st.api()
    name = realm_name()
    sid = api.register_ok(name, ["203.0.113.5:1"])
    n, o = nonce(), obfs()
    w2 = st.api(worker=1)
    bg = Background(w2.connect, name, None, n, o)
    wait_until(lambda: st.redis("ZSCORE", "hr:att:" + name, n.lower()) is not None, 5,
               "the attempt recorded")
    t0 = time.monotonic()
    killed = st.redis("CLIENT", "KILL", "TYPE", "pubsub")
    check(int(killed) >= 1, "no subscriber connection was killed")
    eq(api.answer(name, n, sid, ["198.51.100.9:9"]).status, 204, "answer")
    r = bg.wait(12)
    took = time.monotonic() - t0
    body = expect_json(r, 200, "connect")
    eq(body["addresses"], ["198.51.100.9:9"], "the holder's answer, not the stored addresses")
    check(took < 3, "connect took %.1f s after the subscriber was killed" % took)
