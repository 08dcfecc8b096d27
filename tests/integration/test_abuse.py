"""test_abuse.py -- hostile clients against a real stack, through the proxy.

Each test runs one abuse while a well-behaved client (GoodClient: register,
event stream, heartbeat, connect answered by the holder, deregister, in a
loop) uses the same stack, and asserts that every one of the good client's
calls was answered as usual (200/204) within LATENCY_BOUND, that the abuse
got the answers it must get, and that the workers survive (alive, /healthz
200 on every worker, and run.py's worker-died check of the stack).

 1. slow_request_heads       heads sent a byte a second: cut off by the
                             proxy's header timeout (nginx), or held and
                             answered normally once whole (lighttpd); FastCGI
                             requests sent a byte a second straight to a
                             worker: closed by its --fcgi-timeout
 2. huge_bodies              1 MB bodies (Content-Length and chunked) to
                             register, heartbeat, connect, answer: 413, never
                             5xx or a hang; 5 KB bodies: 413 from the worker
 3. silent_connections       hundreds of connections that send nothing, to
                             the proxy and straight to a worker's socket
 4. connect_flood_one_realm  10,000 connects to one realm: 16 wait, the rest
                             503 rate_limited at once; no slot leaks
    connect_flood_same_nonce 64 connects at once with one nonce: still at
                             most 16 wait, at most 16 punches
 5. register_flood_*         10,000 registrations from one IP: 429
                             ip_limit_reached past 4; with --max-realms-per-ip
                             0 and --max-realms 20: 429 realm_limit_reached
 6. many_streams_one_session 200 event streams for one session: 200 or 503
                             worker_busy each; the newest takes over, the
                             others end; --max-held slots all given back;
                             RSS bounded
 7. stuck_readers_punched    streams whose clients never read, flooded with
                             punches: the worker drops them (behind nginx),
                             RSS bounded
 8. wrong_secret_flood       thousands of wrong tokens and session ids: 401
                             each, fast, nothing written to Redis

Under valgrind (tests/run's lighttpd suite runs the workers through
tests/valgrind-worker, some 20-50 times slower) the counts are divided by
SCALE and the latency bound is raised; see SLOW below.
"""

import http.client
import json
import os
import secrets
import socket
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from client import (Api, Background, StreamTimeout, check, eq, expect_json, nonce, obfs,
                    realm_name, record_secret, request)
import faults_util as fu
from fcgi_client import FcgiConn, begin_bytes, encode_pairs, http_params, record_bytes
import fcgi_client as fc
import stack as stackmod
from stack import Stack, uses, wait_until, worker_binary
from test_core import LogWatch

# -- the mode -------------------------------------------------------------------

# The workers run under valgrind when tests/run points RR_WORKER at
# tests/valgrind-worker (its lighttpd suite) and sets RR_VALGRIND_WORKER.
SLOW = bool(os.environ.get("RR_VALGRIND_WORKER")) or "valgrind" in os.path.basename(
    worker_binary())
# Under valgrind every count below is divided by SCALE (10,000 connects
# become 2,500): a request costs some 20-50 times more CPU there, and the
# whole file must stay within minutes.
SCALE = 4 if SLOW else 1

# The good client's bound on each call. Unloaded, a call takes a few ms
# (a connect with its answer some 10 ms). This machine has 2 CPUs shared by
# the abuse threads of the test itself, nginx, two sanitizer-built workers,
# Redis and other suites: test_faults saw ~700 ms outliers under load. A
# worker whose event loop were held up by the abuse would stall the good
# client for as long as the abuse lasts (many seconds), so 2.5 s tells the
# two apart. Valgrind makes each call some 30 times slower: 8 s there.
LATENCY_BOUND = 8.0 if SLOW else 2.5

BASE = ("--max-realms-per-ip", "0")


def log(what, **kv):
    """One "abuse: ..." line per test with the numbers seen."""
    print("abuse: %s: %s" % (what, ", ".join("%s %s" % (k, v) for k, v in kv.items())),
          flush=True)


def small_quarantine():
    """ASan keeps up to 256 MB of freed memory in quarantine: RSS under churn
    means nothing then. 1 MB keeps it meaningful (as test_faults does)."""
    base = os.environ.get("ASAN_OPTIONS") or "detect_leaks=1:abort_on_error=0"
    return {"ASAN_OPTIONS": base + ":quarantine_size_mb=1"}


def rss_all(st):
    return [fu.rss_kib(st.worker_pid(i)) for i in range(st.nworkers)]


# -- the well-behaved client ---------------------------------------------------

class GoodClient:
    """Rounds of the whole protocol in a thread until stop(): register (or
    use a realm registered beforehand), open the event stream, heartbeat,
    connect (in a thread) whose punch is read off the stream and answered,
    deregister. Every call's status and latency is kept; check() asserts."""

    OK = {"register": 200, "events": 200, "heartbeat": 200, "connect": 200,
          "answer": 204, "deregister": 204}

    def __init__(self, st, source="127.0.0.2", register=True):
        self.api = Api(st.port, st.token, source=source)
        self.register = register
        self.name = None
        self.sid = None
        if not register:
            self.name = realm_name("good")
            self.sid = self.api.register_ok(self.name)
        self.calls = []           # (what, status, seconds)
        self.errors = []
        self.rounds = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._round_done = threading.Condition(self._lock)
        self._t = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._t.start()
        return self

    def _timed(self, what, fn, *args, **kw):
        t0 = time.monotonic()
        r = fn(*args, **kw)
        took = time.monotonic() - t0
        with self._lock:
            self.calls.append((what, r.status, took))
        if r.status != self.OK[what]:
            raise AssertionError("%s: %d %r" % (what, r.status, r.body[:200]))
        return r

    def _round(self):
        api = self.api
        if self.register:
            name = realm_name("good")
            sid = self._timed("register", api.register, name).json()["session_id"]
        else:
            name, sid = self.name, self.sid
        try:
            self._stream_round(api, name, sid)
        finally:
            if self.register:
                self._timed("deregister", api.deregister, name, sid)

    def _stream_round(self, api, name, sid):
        es = self._timed("events", api.events, name, sid, timeout=LATENCY_BOUND * 2)
        try:
            self._timed("heartbeat", api.heartbeat, name, sid)
            n = nonce()
            t0 = time.monotonic()
            bg = Background(api.connect, name, None, n, obfs(), timeout=30)
            deadline = time.monotonic() + 10
            while True:
                try:
                    ev = es.next_event(min(0.5, max(0.0, deadline - time.monotonic())))
                except StreamTimeout:
                    # a connect refused at once puts no punch on the stream
                    if bg.done() and bg.result is not None and bg.result.status != 200:
                        with self._lock:
                            self.calls.append(("connect", bg.result.status, bg.elapsed))
                        raise AssertionError("connect: %d %r" % (bg.result.status,
                                                                  bg.result.body[:200]))
                    if time.monotonic() >= deadline:
                        raise
                    continue
                if ev.event == "punch" and ev.json()["nonce"] == n:
                    break
            self._timed("answer", api.answer, name, n, sid, ["192.0.2.77:7777"])
            r = bg.wait(30)
            with self._lock:
                self.calls.append(("connect", r.status, time.monotonic() - t0))
            if r.status != 200 or r.json().get("addresses") != ["192.0.2.77:7777"]:
                raise AssertionError("connect: %d %r" % (r.status, r.body[:200]))
        finally:
            es.close()

    def _run(self):
        while not self._stop.is_set():
            try:
                self._round()
                with self._round_done:
                    self.rounds += 1
                    self._round_done.notify_all()
            except Exception as e:    # kept for check(); the loop goes on
                with self._round_done:
                    self.errors.append("%s: %s" % (type(e).__name__, e))
                    self._round_done.notify_all()
                    if len(self.errors) > 20:
                        return
                self._stop.wait(0.2)  # no busy loop against a broken stack

    def stop(self, min_rounds=2):
        """Stop, then assert: no error, every status as expected, no call
        slower than LATENCY_BOUND, at least min_rounds whole rounds done
        (waiting for them first, for as long as a slow round may take: an
        abuse that the stack ends at once leaves the client little time)."""
        with self._round_done:
            self._round_done.wait_for(lambda: self.rounds >= min_rounds or self.errors,
                                      LATENCY_BOUND * 4 * min_rounds)
        self._stop.set()
        self._t.join(60)
        check(not self._t.is_alive(), "the good client is stuck in a call")
        with self._lock:
            calls = list(self.calls)
            errors = list(self.errors)
        eq(errors, [], "the good client's errors during the abuse")
        bad = [(w, s) for w, s, _ in calls if s != self.OK[w]]
        eq(bad, [], "the good client's unexpected statuses")
        times = sorted(t for _, _, t in calls)
        slow = ["%s %.2fs" % (w, t) for w, _, t in calls if t > LATENCY_BOUND]
        eq(slow, [], "the good client's calls slower than %.1f s" % LATENCY_BOUND)
        check(self.rounds >= min_rounds, "the good client did only %d rounds during the "
              "abuse (%d calls)" % (self.rounds, len(calls)))
        return dict(good_rounds=self.rounds, good_calls=len(calls),
                    good_median_ms=int(1000 * statistics.median(times)) if times else None,
                    good_max_ms=int(1000 * times[-1]) if times else None)


def survived(st):
    """Every worker alive and answering /healthz 200, on its pinned port and
    through the pool."""
    for i in range(st.nworkers):
        check(st.worker_alive(i), "worker %d died: %s" % (i + 1, st.log_tail(i, 800)))
        r = request(st.worker_ports[i], "GET", "/healthz", timeout=10)
        eq(r.status, 200, "/healthz of worker %d after the abuse (%r)" % (i + 1, r.body[:200]))
    eq(request(st.port, "GET", "/healthz", timeout=10).status, 200, "/healthz through the pool")


class KeepAlive:
    """One kept-alive HTTP/1.1 connection; request() reconnects once if
    the server closed it in between."""

    def __init__(self, port, source=None, timeout=20):
        self.port = port
        self.source = source
        self.timeout = timeout
        self.conn = None

    def request(self, method, path, body=b"", auth=None):
        hdrs = {"Content-Type": "application/json"} if body else {}
        if auth is not None:
            hdrs["Authorization"] = "Bearer " + auth
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=self.timeout,
                    source_address=(self.source, 0) if self.source else None)
            try:
                self.conn.request(method, path, body=body, headers=hdrs)
                r = self.conn.getresponse()
                data = r.read()
                if r.will_close:
                    self.close()
                return r.status, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt:
                    raise

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def flood(port, jobs, threads, source=None):
    """Run jobs (method, path, body, auth) over `threads` kept-alive
    connections; returns [(status, body, seconds)] in job order."""
    out = [None] * len(jobs)
    idx = iter(range(len(jobs)))
    lock = threading.Lock()

    def worker():
        ka = KeepAlive(port, source)
        try:
            while True:
                with lock:
                    k = next(idx, None)
                if k is None:
                    return
                t0 = time.monotonic()
                status, data = ka.request(*jobs[k])
                out[k] = (status, data, time.monotonic() - t0)
        finally:
            ka.close()
    ts = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    missing = sum(1 for o in out if o is None)
    check(missing == 0, "%d flood requests got no answer (a thread failed)" % missing)
    return out


def error_code(body):
    try:
        return json.loads(body.decode()).get("error")
    except Exception:
        return None


def tally(results):
    """{(status, error code): count}."""
    t = {}
    for status, body, _ in results:
        k = (status, error_code(body) if status >= 400 else None)
        t[k] = t.get(k, 0) + 1
    return t


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p))] if v else 0.0


# -- 1. request heads a byte a second -----------------------------------------

class Trickle:
    """A connection that sends `data` one byte every `interval` seconds in
    a thread, then reads the answer. .closed_at: seconds after the start
    when the peer closed (or reset) before the whole head was sent;
    .answer: the bytes answered."""

    def __init__(self, port, data, interval=1.0, sock_family=socket.AF_INET, where=None,
                 first=b""):
        self.data = data
        self.interval = interval
        self.closed_at = None
        self.answer = b""
        self.sent = 0
        self.t0 = time.monotonic()
        self.s = socket.socket(sock_family, socket.SOCK_STREAM)
        self.s.connect(where if where is not None else ("127.0.0.1", port))
        if first:
            self.s.sendall(first)
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _peer_closed(self):
        """Non-blocking: True if the peer closed or reset (what it sent is
        kept in .answer)."""
        self.s.setblocking(False)
        try:
            while True:
                chunk = self.s.recv(65536)
                if not chunk:
                    return True
                self.answer += chunk
        except BlockingIOError:
            return False
        except OSError:
            return True
        finally:
            self.s.setblocking(True)

    def _run(self):
        for b in self.data:
            if self._peer_closed():
                self.closed_at = time.monotonic() - self.t0
                return
            try:
                self.s.sendall(bytes([b]))
            except OSError:
                self.closed_at = time.monotonic() - self.t0
                return
            self.sent += 1
            # pacing of the abuse itself (a byte a second), not a wait for an event
            if self._stop.wait(self.interval):
                return
        self.s.settimeout(30)
        try:
            while True:
                chunk = self.s.recv(65536)
                if not chunk:
                    break
                self.answer += chunk
                if b"\r\n\r\n" in self.answer and (b"Content-Length: 0" in self.answer
                                                    or self.answer.endswith(b"}\n")):
                    break
        except OSError:
            pass

    def join(self, timeout):
        self._t.join(timeout)
        return not self._t.is_alive()

    def close(self):
        self._stop.set()
        try:
            self.s.close()
        except OSError:
            pass


HEADER_TIMEOUT = 3       # nginx's client_header_timeout in test 1 (default 60 s)


@uses(stack=False, timeout=150)
def test_slow_request_heads():
    """Heads a byte a second on several connections, longer than the
    proxy's header timeout, beside a good client; and FastCGI requests a
    byte a second straight to a worker, longer than its --fcgi-timeout."""
    # nginx's default client_header_timeout (60 s) is too long for a test:
    # this stack sets 3 s, as a deployment that fears slow heads would.
    # lighttpd has no whole-head timeout (server.max-read-idle, 60 s, is per
    # read), so there the trickling heads are held until they are whole and
    # must then be answered normally.
    extra = "client_header_timeout %ds;" % HEADER_TIMEOUT
    st = Stack(workers=2, worker_args=BASE + ("--fcgi-timeout", "2"), name="abuse-slowhead",
               nginx_extra=extra if stackmod.default_proxy() == "nginx" else "")
    st.start()
    trickles, fcgis = [], []
    try:
        good = GoodClient(st).start()
        # the request line at once, then the rest of the head a byte a
        # second (19 bytes: 19 s, over 6 times nginx's header timeout here)
        line = b"GET /healthz HTTP/1.1\r\n"
        head = b"Host: 127.0.0.1\r\n\r\n"
        n_http = 8
        trickles = [Trickle(st.port, head, first=line) for _ in range(n_http)]
        # FastCGI straight to worker 1: BEGIN_REQUEST, then the params record
        # a byte a second (the worker's --fcgi-timeout is 2 s).
        params = encode_pairs(http_params("GET", "/healthz").items())
        rec = begin_bytes(1) + record_bytes(fc.PARAMS, 1, params) + record_bytes(fc.PARAMS, 1)
        where = st.worker_listen(0)
        for _ in range(4):
            if st.worker_addr(0) is None:
                fcgis.append(Trickle(None, rec, sock_family=socket.AF_UNIX, where=where))
            else:
                fcgis.append(Trickle(None, rec, where=st.worker_addr(0)))
        # The worker closes each FastCGI trickle within --fcgi-timeout (2 s)
        # plus its timer's slack.
        fcgi_bound = 2 + (6 if SLOW else 2)
        for t in fcgis:
            check(t.join(fcgi_bound + 1), "a FastCGI trickle still open after %d s"
                  % (fcgi_bound + 1))
            check(t.closed_at is not None and t.closed_at <= fcgi_bound,
                  "the worker did not close a FastCGI request sent a byte a second within "
                  "%d s (closed after %s, %d of %d bytes sent)"
                  % (fcgi_bound, t.closed_at, t.sent, len(rec)))
        if st.proxy == "nginx":
            for t in trickles:
                check(t.join(HEADER_TIMEOUT + 5), "a trickling head still open %d s after "
                      "nginx's header timeout" % (HEADER_TIMEOUT + 5))
                check(t.closed_at is not None and t.closed_at <= HEADER_TIMEOUT + 3,
                      "nginx did not cut a head sent a byte a second within %d s "
                      "(closed after %s, %d bytes sent)" % (HEADER_TIMEOUT + 3, t.closed_at,
                                                           t.sent))
                check(not t.answer.startswith(b"HTTP/1.1 5"),
                      "a 5xx for a slow head: %r" % t.answer[:200])
            cut = [t.closed_at for t in trickles]
        else:
            # held as long as the head trickles in (19 s), then answered
            for t in trickles:
                check(t.join(len(head) + 20), "a trickling head not answered %d s after "
                      "it was whole" % 20)
                check(t.answer.startswith(b"HTTP/1.1 200") or t.closed_at is not None,
                      "a head sent a byte a second was neither answered 200 nor closed: "
                      "%r" % t.answer[:200])
                check(not t.answer.startswith(b"HTTP/1.1 5"),
                      "a 5xx for a slow head: %r" % t.answer[:200])
            cut = ["answered" if t.answer.startswith(b"HTTP/1.1 200") else t.closed_at
                   for t in trickles]
        stats = good.stop(min_rounds=2)
        survived(st)
        log("slow heads", proxy=st.proxy,
            http_trickles="%d, ended after %s s" % (n_http, ["%.1f" % c if isinstance(c, float)
                                                          else c for c in cut]),
            fcgi_trickles_closed_after=["%.1f" % t.closed_at for t in fcgis], **stats)
    finally:
        for t in trickles + fcgis:
            t.close()
        st.stop()
    check(not st.unexpected, "; ".join(st.unexpected))


# -- 2. 1 MB bodies ---------------------------------------------------------------

def send_body(port, method, path, auth, body, chunked=False, timeout=20):
    """Send a request with this body on a raw socket (ignoring a send that
    the server cut short); return (status or None, answer bytes, seconds)."""
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    answer = b""
    try:
        head = ("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                "Content-Type: application/json\r\nConnection: close\r\n" % (method, path, auth))
        if chunked:
            head += "Transfer-Encoding: chunked\r\n\r\n"
            data = b""
            for k in range(0, len(body), 16384):
                part = body[k:k + 16384]
                data += b"%x\r\n%s\r\n" % (len(part), part)
            data += b"0\r\n\r\n"
        else:
            head += "Content-Length: %d\r\n\r\n" % len(body)
            data = body
        try:
            s.sendall(head.encode() + data)
        except OSError:
            pass                  # the proxy answered and closed early: read what it said
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                answer += chunk
        except OSError:
            pass
    finally:
        s.close()
    status = None
    if answer.startswith(b"HTTP/1."):
        status = int(answer.split(b" ", 2)[1])
    return status, answer, time.monotonic() - t0


@uses(args=BASE, timeout=120)
def test_huge_bodies(st):
    """1 MB bodies (Content-Length and chunked) to register, heartbeat,
    connect and answer, 8 at a time: each answered 413 bad_request (by the
    proxy), none 5xx, none hangs; 5 KB bodies (under the proxy's 8 KB
    limit, over the worker's 4 KiB): 413 bad_request from the worker."""
    pool = st.api()
    name = realm_name("big")
    sid = pool.register_ok(name)
    good = GoodClient(st).start()
    big = b'{"addresses":["' + b"1" * (1 << 20) + b'"]}'
    mid = b'{"addresses":["' + b"2" * 5000 + b'"]}'
    targets = [("POST", "/v1/" + realm_name("big"), st.token),
               ("POST", "/v1/%s/heartbeat" % name, sid),
               ("POST", "/v1/%s/connect" % name, st.token),
               ("POST", "/v1/%s/connects/%s" % (name, nonce()), sid)]
    jobs = []
    for rounds in range(max(1, 16 // SCALE)):
        for m, p, a in targets:
            jobs += [(m, p, a, big, False), (m, p, a, big, True), (m, p, a, mid, False)]
    t0 = time.monotonic()
    with ThreadPoolExecutor(8) as ex:
        results = list(ex.map(lambda j: (j, send_body(st.port, j[0], j[1], j[2], j[3], j[4])),
                              jobs))
    took = time.monotonic() - t0
    bad = []
    for (m, p, a, body, chunked), (status, answer, secs) in results:
        what = "%s %s %d bytes%s" % (m, p, len(body), " chunked" if chunked else "")
        if status != 413:
            bad.append("%s: %s %r after %.1f s" % (what, status, answer[:120], secs))
        elif secs > 15:
            bad.append("%s: 413 only after %.1f s" % (what, secs))
        else:
            # the proxy's 413 (body over 8 KB) and the worker's (over 4 KiB)
            # are both the contract's JSON error
            rhead, _, rbody = answer.partition(b"\r\n\r\n")
            if b"chunked" in rhead.lower():
                rbody = fu.dechunk(rbody)
            if error_code(rbody) != "bad_request":
                bad.append("%s: 413 without bad_request: %r" % (what, answer[-200:]))
    eq(bad, [], "answers to oversized bodies")
    # the realm is untouched and its session works
    expect_json(pool.heartbeat(name, sid), 200, "heartbeat after the big bodies")
    stats = good.stop(min_rounds=1)
    survived(st)
    log("huge bodies", requests=len(jobs), took="%.1fs" % took,
        slowest_413="%.2fs" % max(r[1][2] for r in results), **stats)


# -- 3. connections that send nothing ---------------------------------------------

@uses(args=BASE + ("--fcgi-timeout", "2"), fresh=True, timeout=120)
def test_silent_connections(st):
    """Hundreds of connections that never send a byte, to the proxy's pool
    port and straight to worker 1's FastCGI socket, while a good client is
    served; the worker closes its silent ones after --fcgi-timeout."""
    n_proxy = 400 // max(1, SCALE // 2)
    n_fcgi = 200 // max(1, SCALE // 2)
    good = GoodClient(st).start()
    proxy_socks, fcgi_conns = [], []
    try:
        for _ in range(n_proxy):
            proxy_socks.append(socket.create_connection(("127.0.0.1", st.port), timeout=5))
        t_open = time.monotonic()
        where = st.worker_listen(0) if st.worker_addr(0) is None else st.worker_addr(0)
        for _ in range(n_fcgi):
            fcgi_conns.append(FcgiConn.to(where, timeout=5))
        t_fcgi = time.monotonic()
        # The good client keeps going with all of them open; worker 1 (the
        # pinned port) in particular.
        w1 = st.api(worker=0)
        for _ in range(5):
            n = realm_name("s")
            t0 = time.monotonic()
            sid = w1.register_ok(n)
            eq(w1.deregister(n, sid).status, 204, "deregister on worker 1")
            check(time.monotonic() - t0 < LATENCY_BOUND, "worker 1 slow with silent "
                  "connections open: %.2f s" % (time.monotonic() - t0))
        # Every silent FastCGI connection is closed by the worker within its
        # --fcgi-timeout (2 s) and the timer's slack.
        bound = 2 + (8 if SLOW else 3)
        open_left = [c for c in fcgi_conns
                     if not c.wait_eof(max(0.0, t_fcgi + bound - time.monotonic()))]
        eq(len(open_left), 0, "silent FastCGI connections still open %d s after they were "
           "made (--fcgi-timeout 2)" % bound)
        closed_in = time.monotonic() - t_fcgi
        # The proxy holds its silent connections quietly (its header timeout
        # is 60 s): none answered anything, least of all a 5xx.
        answered = []
        for s in proxy_socks:
            s.setblocking(False)
            try:
                data = s.recv(1024)
                if data:
                    answered.append(data[:80])
            except BlockingIOError:
                pass
            except OSError:
                pass
        eq(answered, [], "answers on silent proxy connections")
        held_for = time.monotonic() - t_open
        stats = good.stop(min_rounds=2)
    finally:
        for s in proxy_socks:
            s.close()
        for c in fcgi_conns:
            c.close()
    survived(st)
    log("silent connections", to_proxy=n_proxy, to_worker=n_fcgi,
        worker_closed_all_within="%.1fs" % closed_in, proxy_held="%.1fs" % held_for, **stats)


# -- 4. 10,000 connects to one realm ----------------------------------------------

CONNECT_WAIT = 2


@uses(args=BASE + ("--connect-wait", str(CONNECT_WAIT)), fresh=True, timeout=180)
def test_connect_flood_one_realm(st):
    """10,000 connects to one realm over 32 kept-alive connections: at most
    16 wait (answered 200 with the stored addresses after the connect
    wait), every other one 503 rate_limited at once. Afterwards no waiting
    slot is left taken: a connect gets its punch and its answer."""
    pool = st.api()
    name = realm_name("cf")
    sid = pool.register_ok(name)
    good = GoodClient(st).start()
    total = 10000 // SCALE
    # a fresh nonce each: a repeated nonce is the same attempt (see
    # test_connect_flood_same_nonce)
    jobs = [("POST", "/v1/%s/connect" % name,
             ('{"addresses":["198.51.100.20:5000"],"nonce":"%s","obfs":"%s"}'
              % (nonce(), obfs())).encode(), st.token) for _ in range(total)]
    t0 = time.monotonic()
    results = flood(st.port, jobs, threads=32)
    took = time.monotonic() - t0
    t = tally(results)
    ok = t.get((200, None), 0)
    limited = t.get((503, "rate_limited"), 0)
    eq(sorted(k for k in t if k not in ((200, None), (503, "rate_limited"))), [],
       "statuses other than 200 and 503 rate_limited (%r)" % t)
    # At most 16 wait at once, each CONNECT_WAIT s: 16 per CONNECT_WAIT s of
    # the flood, one batch more for the edges.
    most = 16 * (int(took / CONNECT_WAIT) + 2)
    check(16 <= ok <= most, "%d connects accepted in %.1f s: expected 16..%d" % (ok, took, most))
    fast = [s for status, _, s in results if status == 503]
    p99 = pct(fast, 0.99)
    check(p99 < LATENCY_BOUND, "rate_limited answers not at once: p99 %.2f s" % p99)
    check(took < (150 if SLOW else 90), "10,000 connects took %.0f s" % took)
    # No slot leaked: a connect now is taken, its punch reaches the holder
    # and its answer comes back.
    with pool.events(name, sid) as es:
        eq(es.status, 200, "the holder's stream after the flood")
        n = nonce()
        deadline = time.monotonic() + 10
        while True:
            bg = Background(pool.connect, name, None, n, obfs())
            r = None
            # the flood's last waiting connects end within CONNECT_WAIT s
            try:
                while True:
                    ev = es.next_event(max(0.1, deadline - time.monotonic()))
                    if ev.event == "punch" and ev.json()["nonce"] == n:
                        break
            except StreamTimeout:
                r = bg.wait(15)
                if r.status == 503 and time.monotonic() < deadline:
                    continue
                raise AssertionError("connect after the flood: no punch; %d %r"
                                     % (r.status, r.body[:200]))
            break
        eq(pool.answer(name, n, sid, ["192.0.2.9:9"]).status, 204, "answer after the flood")
        r = bg.wait(10)
        eq(expect_json(r, 200, "connect after the flood")["addresses"], ["192.0.2.9:9"],
           "answered addresses")
    stats = good.stop(min_rounds=2)
    survived(st)
    log("connect flood", connects=total, took="%.1fs" % took, accepted=ok,
        rate_limited=limited, p50_503_ms=int(1000 * pct(fast, 0.5)),
        p99_503_ms=int(1000 * p99), **stats)


@uses(args=BASE + ("--connect-wait", str(CONNECT_WAIT)), fresh=True, timeout=60)
def test_connect_flood_same_nonce(st):
    """64 connects at once to one realm, all with the same nonce, nobody
    answering: at most 16 may wait (SPEC: more than 16 attempts in flight
    for one realm get 503 rate_limited at once), and the holder's stream
    gets at most 16 punches (each is a punch a real holder answers)."""
    pool = st.api()
    name = realm_name("sn")
    sid = pool.register_ok(name)
    n, o = nonce(), obfs()
    good = GoodClient(st).start()
    with pool.events(name, sid) as es:
        eq(es.status, 200, "the holder's stream")
        go = threading.Event()

        def one(_):
            go.wait(10)
            t0 = time.monotonic()
            r = pool.connect(name, None, n, o, timeout=30)
            return r.status, error_code(r.body) if r.status != 200 else None, \
                time.monotonic() - t0
        with ThreadPoolExecutor(64) as ex:
            futs = [ex.submit(one, k) for k in range(64)]
            go.set()
            results = [f.result(60) for f in futs]
        punches = [e for e in es.events_for(1.0) if e.event == "punch"]
    stats = good.stop(min_rounds=1)
    survived(st)
    t = {}
    for status, code, _ in results:
        t[(status, code)] = t.get((status, code), 0) + 1
    waited = [s for status, _, s in results if status == 200 and s >= CONNECT_WAIT * 0.8]
    log("connect flood, one nonce", connects=64, answers=t, waited_the_connect_wait=len(waited),
        punches_on_stream=len(punches), **stats)
    eq(sorted(k for k in t if k not in ((200, None), (503, "rate_limited"))), [],
       "statuses other than 200 and 503 rate_limited (%r)" % t)
    check(len(waited) <= 16 and len(punches) <= 16,
          "one realm held %d connects waiting at once (and put %d punches on its stream) "
          "when they all carried the same nonce: the 16-in-flight limit counts distinct "
          "nonces only" % (len(waited), len(punches)))


# -- 5. 10,000 registrations from one IP -------------------------------------------

def _register_flood(st, n, threads=8):
    jobs = [("POST", "/v1/" + realm_name("rf"),
             b'{"addresses":["203.0.113.10:4433"]}', st.token) for _ in range(n)]
    t0 = time.monotonic()
    results = flood(st.port, jobs, threads=threads)
    took = time.monotonic() - t0
    for status, body, _ in results:
        if status == 200:
            record_secret(json.loads(body.decode())["session_id"])   # for scan_secrets.py
    return results, took


@uses(args=(), fresh=True, timeout=180)
def test_register_flood_ip_limit(st):
    """10,000 registrations from 127.0.0.1 with the default per-IP limit
    (4): exactly 4 taken, every other one 429 ip_limit_reached, fast; a
    good client from 127.0.0.2 registers meanwhile."""
    good = GoodClient(st, source="127.0.0.2").start()
    total = 10000 // SCALE
    results, took = _register_flood(st, total)
    t = tally(results)
    eq(t, {(200, None): 4, (429, "ip_limit_reached"): total - 4}, "answers to the registrations")
    stats = good.stop(min_rounds=2)
    # Redis: the 4 realms of 127.0.0.1 and nothing else of the flood
    names = [n for n in st.redis("ZRANGE", "hr:realms", 0, -1) if n.startswith("rf")]
    eq(len(names), 4, "flood realms in hr:realms")
    lat = [s for status, _, s in results if status == 429]
    check(pct(lat, 0.99) < LATENCY_BOUND, "429 p99 %.2f s" % pct(lat, 0.99))
    check(took < (150 if SLOW else 60), "%d registrations took %.0f s" % (total, took))
    survived(st)
    log("register flood, per-IP limit", registrations=total, took="%.1fs" % took,
        per_s=int(total / took), p99_429_ms=int(1000 * pct(lat, 0.99)), **stats)


MAX_REALMS = 20


@uses(args=("--max-realms-per-ip", "0", "--max-realms", str(MAX_REALMS)), fresh=True,
      timeout=180)
def test_register_flood_realm_limit(st):
    """10,000 registrations with no per-IP limit and --max-realms 20: the
    realms fill up to 20 (one of them the good client's, registered
    first), every other registration 429 realm_limit_reached; the good
    client keeps heartbeating and connecting."""
    good = GoodClient(st, register=False)
    good.start()
    total = 10000 // SCALE
    results, took = _register_flood(st, total)
    t = tally(results)
    eq(t, {(200, None): MAX_REALMS - 1, (429, "realm_limit_reached"): total - MAX_REALMS + 1},
       "answers to the registrations")
    stats = good.stop(min_rounds=2)
    eq(int(st.redis("ZCARD", "hr:realms")), MAX_REALMS, "realms in hr:realms")
    lat = [s for status, _, s in results if status == 429]
    check(pct(lat, 0.99) < LATENCY_BOUND, "429 p99 %.2f s" % pct(lat, 0.99))
    check(took < (150 if SLOW else 60), "%d registrations took %.0f s" % (total, took))
    survived(st)
    log("register flood, realm limit", registrations=total, took="%.1fs" % took,
        per_s=int(total / took), p99_429_ms=int(1000 * pct(lat, 0.99)), **stats)


# -- 6. many event streams for one session -------------------------------------------

MAX_HELD = 30


def _held_fresh_streams(st, i, count):
    """Open `count` streams of fresh realms on worker i: all must be 200
    (the worker has that many --max-held slots free). Closed on return."""
    api = st.api(worker=i)
    streams = []
    try:
        for k in range(count):
            n = realm_name("h")
            sid = api.register_ok(n)
            es = api.events(n, sid, timeout=LATENCY_BOUND * 2)
            streams.append(es)
            if es.status != 200:
                raise AssertionError("stream %d of %d on worker %d after the abuse: %d %r "
                                     "(--max-held slots not given back?)"
                                     % (k + 1, count, i + 1, es.status, es.body[:200]))
    finally:
        for es in streams:
            es.close()


@uses(stack=False, timeout=180)
def test_many_streams_one_session():
    """200 event streams opened for one session, 20 at a time and never
    closed by the client: each answered 200 or 503 worker_busy; every one
    but the newest ends (the newest takes over); the newest gets the
    punch; afterwards each worker has its --max-held slots back; the
    workers' RSS grows by less than 8 MiB."""
    st = Stack(workers=2, worker_args=BASE + ("--max-held", str(MAX_HELD)), name="abuse-streams",
               worker_env=small_quarantine())
    st.start()
    try:
        _many_streams(st)
    finally:
        st.stop()
    check(not st.unexpected, "; ".join(st.unexpected))


def _many_streams(st):
    pool = st.api()
    name = realm_name("ms")
    sid = pool.register_ok(name)
    good = GoodClient(st).start()
    # warm-up (allocator, ASan), then the baseline
    for _ in range(10):
        pool.events(name, sid).close()
    rss0 = rss_all(st)
    total = 200 // SCALE
    batch = 20
    streams = []
    statuses = {}
    newest = None
    problems = []
    t0 = time.monotonic()
    try:
        with ThreadPoolExecutor(batch) as ex:
            for k in range(0, total, batch):
                opened = list(ex.map(lambda _: pool.events(name, sid, timeout=15),
                                     range(min(batch, total - k))))
                streams += opened
        took = time.monotonic() - t0
        for es in streams:
            key = (es.status, es.json().get("error") if es.status != 200 else None)
            statuses[key] = statuses.get(key, 0) + 1
        eq(sorted(k for k in statuses if k not in ((200, None), (503, "worker_busy"))), [],
           "stream answers other than 200 and 503 worker_busy (%r)" % statuses)
        rss_held = rss_all(st)
        # The newest, opened alone after all of them, should take over: the
        # older streams of the session end.
        newest = pool.events(name, sid)
        newest_status = newest.status
        live = [es for es in streams if es.status == 200]
        deadline = time.monotonic() + (20 if SLOW else 5)
        still = [es for es in live if not es.wait_closed(max(0.0, deadline - time.monotonic()))]
        # What the stack does once the client gives up: every stream ends
        # and every --max-held slot comes back.
        for es in streams:
            es.close()
        streams = []
        if newest_status != 200:
            newest.close()
            wait_until(lambda: pool.events(name, sid).status == 200 or None, 10,
                       "a stream of the session once the abuser closed the others")
            newest = pool.events(name, sid)
        eq(newest.status, 200, "the newest stream")
        n = nonce()
        bg = Background(pool.connect, name, None, n, obfs())
        while True:
            ev = newest.next_event(5)
            if ev.event == "punch" and ev.json()["nonce"] == n:
                break
        eq(pool.answer(name, n, sid).status, 204, "answer on the newest stream")
        expect_json(bg.wait(10), 200, "connect to the session's realm")
        newest.close()
        try:
            stats = good.stop(min_rounds=2)
        except AssertionError as e:
            stats = dict(good_client_failed=len(good.errors))
            problems.append("the good client was not served while one session's streams "
                            "were held: %s" % " ".join(str(e).split())[:600])
        rss1 = rss_all(st)
        # every --max-held slot is back (less 2: the good client's stream and
        # the newest one, whose ends may still be on their way)
        for i in range(st.nworkers):
            wait_until(lambda: _held_fresh_streams(st, i, MAX_HELD - 2) or True, 10,
                       "worker %d's --max-held slots back" % (i + 1))
    finally:
        for es in streams:
            es.close()
        if newest is not None:
            newest.close()
    survived(st)
    grown = max(b - a for a, b in zip(rss0, rss1))
    log("many streams, one session", streams=total, took="%.1fs" % took,
        answers=statuses, newest_first_try=newest_status,
        older_still_open="%d of %d" % (len(still), len(live)),
        rss_kib="%s -> %s held -> %s" % (rss0, rss_held, rss1), **stats)
    # 200 streams' worth of state is well under 1 MiB; 8 MiB leaves room
    # for the allocator and ASan's 1 MB quarantine, and not for a leak of
    # a stream's 64 KiB queue each (12.5 MiB).
    if not SLOW:
        check(grown < 8 * 1024, "a worker's RSS grew by %d KiB (%s -> %s)" % (grown, rss0, rss1))
    # One session must not hold more than one stream: else a single
    # session holder fills every worker's --max-held (worker_busy for every
    # other realm) or, with no cap, its file descriptors.
    if still:
        problems.append("%d older streams of one session still open %d s after a newer one "
                        "opened (of %d held)" % (len(still), 20 if SLOW else 5, len(live)))
    if newest_status != 200:
        problems.append("the newest stream of the session, opened after %d others, got %d"
                        % (total, newest_status))
    eq(problems, [], "one session holding many streams")


# -- 7. streams that never read, flooded with punches -------------------------------

# --debug: the worker logs "stream_closed realm=NAME" when it drops a stream
STUCK_ARGS = BASE + ("--connect-wait", "2", "--debug")
BIG_ADDRS = ["[2001:db8:aaaa:bbbb:cccc:dddd:eeee:%04x]:65535" % k for k in range(8)]


@uses(stack=False, timeout=180)
def test_stuck_readers_punched():
    """Streams of 6 realms on worker 1 whose clients never read (4 KB
    receive buffers), while punches (~650 bytes each) flood them: behind
    nginx the worker drops each stuck stream instead of buffering (64 KiB
    queue; the clients then get a clean end after consecutive events);
    behind lighttpd (which takes all and buffers it itself) the worker's
    RSS stays bounded; the good client is served meanwhile. Two rounds: the first warms the worker up
    (allocator size classes, ASan), the RSS of worker 1 is compared across
    the second."""
    if stackmod.default_proxy() == "nginx":
        # nginx with a small send buffer toward the stuck clients, so that
        # the worker sees back pressure within ~100 KB (see faults_util)
        st = fu.stuck_stack(Stack, workers=2, worker_args=STUCK_ARGS,
                            name="abuse-stuck", worker_env=small_quarantine())
    else:
        st = Stack(workers=2, worker_args=STUCK_ARGS, name="abuse-stuck",
                   worker_env=small_quarantine())
    st.start()
    # Only nginx (with its small send buffer toward the stuck clients) lets
    # the back pressure reach the worker: lighttpd reads whatever the worker
    # sends and keeps it itself (see the "proxy_rss_kib" it reaches). There
    # the worker has nothing to drop; its RSS must still stay bounded.
    drop = st.proxy == "nginx"
    try:
        proxy_rss0 = fu.rss_kib(st.proxy_proc.pid)
        good = GoodClient(st).start()
        first = _stuck_round(st, drop)
        rss_base = fu.rss_kib(st.worker_pid(0))
        second = _stuck_round(st, drop)
        rss_after = fu.rss_kib(st.worker_pid(0))
        proxy_rss1 = fu.rss_kib(st.proxy_proc.pid)
        stats = good.stop(min_rounds=2)
        survived(st)
        grown = max(second["rss_peak"], rss_after) - rss_base
        log("stuck readers", stuck_streams="6 + 6", punches="%d + %d" % (first["sent"],
                                                                         second["sent"]),
            took="%.1fs + %.1fs" % (first["took"], second["took"]),
            dropped_after_punches="%s, %s" % (first["dropped"], second["dropped"]),
            stuck_clients_got_events="%s, %s" % (first["got"], second["got"]),
            rss_kib="%d (peak %d) -> %d (peak %d) -> %d" % (
                first["rss0"], first["rss_peak"], rss_base, second["rss_peak"], rss_after),
            proxy_rss_kib="%d -> %d" % (proxy_rss0, proxy_rss1), **stats)
        # The second round's six queues of at most 64 KiB are 384 KiB; 4 MiB
        # leaves room for the allocator and ASan's 1 MB quarantine, not for
        # buffering the second round's punches (~650 bytes each, more than
        # 1000 of them per stream).
        if not SLOW:
            check(grown < 4 * 1024, "worker 1 RSS grew by %d KiB in the second round "
                  "(%d -> peak %d)" % (grown, rss_base, second["rss_peak"]))
    finally:
        st.stop()
    check(not st.unexpected, "; ".join(st.unexpected))


def _stuck_round(st, drop, nrealms=6):
    """Six stuck streams on worker 1, punched from worker 2 until worker 1
    drops them all (drop) or for 3,000 punches (not drop); asserts the
    drops and what the clients get."""
    port = getattr(st, "stuck_port", None) or st.worker_ports[0]
    w1, w2 = st.api(worker=0), st.api(worker=1)
    realms = [realm_name("st") for _ in range(nrealms)]
    sids = [w1.register_ok(n) for n in realms]
    logw = LogWatch(st.worker_log(0))
    stuck = []
    try:
        for n, s in zip(realms, sids):
            stuck.append(fu.StuckClient(port, n, s))
            wait_until(lambda: (" msg=stream_opened realm=%s " % n) in logw.text(), 10,
                       "worker 1 to hold the stuck stream of %s" % n)
        rss0 = fu.rss_kib(st.worker_pid(0))
        sent = [0]
        errors = []
        lock = threading.Lock()
        stop = threading.Event()
        limit = (20000 if drop else 3000) // SCALE

        def puncher(name, sid):
            # connect (its punch goes to the stuck stream), then answer it
            # so that it returns at once. The answer is posted again while it
            # is 404 attempt_not_found: the stuck client cannot tell us when
            # the attempt exists (it does not read), so this polls.
            while not stop.is_set():
                with lock:
                    if sent[0] >= limit:
                        return
                    sent[0] += 1
                n = nonce()
                bg = Background(w2.connect, name, BIG_ADDRS, n, obfs(), timeout=20)
                while not bg.done():
                    r = w2.answer(name, n, sid)
                    if r.status == 204:
                        break
                    if r.status != 404:
                        with lock:
                            errors.append("answer %d %r" % (r.status, r.body[:100]))
                        break
                r = bg.wait(20)
                if r.status != 200:
                    with lock:
                        errors.append("connect %d %r" % (r.status, r.body[:100]))
        t0 = time.monotonic()
        threads = [threading.Thread(target=puncher, args=(n, s), daemon=True)
                   for n, s in zip(realms, sids) for _ in range(3)]
        for t in threads:
            t.start()
        dropped = {}
        rss_peak = rss0
        deadline = time.monotonic() + (150 if SLOW else 60)
        try:
            while (len(dropped) < len(realms) or not drop) and time.monotonic() < deadline \
                    and any(t.is_alive() for t in threads):
                rss_peak = max(rss_peak, fu.rss_kib(st.worker_pid(0)))
                text = logw.text()
                for n in realms:
                    if n not in dropped and (" msg=stream_closed realm=%s " % n) in text:
                        with lock:
                            dropped[n] = sent[0]
                time.sleep(0.2)   # sampling interval of RSS and of the log
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        took = time.monotonic() - t0
        eq(errors[:5], [], "connects and answers of the punch flood")
        if not drop:
            return dict(sent=sent[0], took=took, dropped=sorted(dropped.values()), got="-",
                        rss0=rss0, rss_peak=rss_peak)
        eq(sorted(set(realms) - set(dropped)), [],
           "stuck streams not dropped by worker 1 after %d punches" % sent[0])
        # what the stuck clients get when they read at last: a clean end
        # after consecutive events (dropped whole, never a gap)
        got = []
        for n, c in zip(realms, stuck):
            status, evs, ended = c.drain(30)
            eq(status, 200, "stuck stream of %s" % n)
            check(ended, "the stuck stream of %s did not end" % n)
            ids = [e[0] for e in evs]
            check(not ids or ids == list(range(ids[0], ids[0] + len(ids))),
                  "events on the stuck stream of %s not consecutive" % n)
            got.append(len(ids))
        return dict(sent=sent[0], took=took, dropped=sorted(dropped.values()), got=got,
                    rss0=rss0, rss_peak=rss_peak)
    finally:
        for c in stuck:
            c.close()


# -- 8. wrong tokens and wrong session ids -------------------------------------------

# written once a second by every worker whatever the requests (metrics)
METRICS_KEYS = ("hr:metrics", "hr:mworkers", "hr:workers")


def _keys(st, exclude):
    return sorted(k for k in st.redis("KEYS", "*")
                  if k not in METRICS_KEYS and not any(x in k for x in exclude))


@uses(args=BASE, fresh=True, timeout=180)
def test_wrong_secret_flood(st):
    """Thousands of requests with a wrong token (register, connect) or a
    wrong session id (heartbeat, answer, deregister, events; and the
    session of another realm): each 401 invalid_token, fast; no key of
    Redis appears or disappears, the attacked realm's hash is unchanged."""
    pool = st.api()
    victim, other = realm_name("v"), realm_name("o")
    vsid = pool.register_ok(victim)
    osid = pool.register_ok(other)
    good = GoodClient(st, register=False)
    good.start()
    before_keys = _keys(st, [good.name])
    before_victim = st.redis("HGETALL", "hr:realm:" + victim)
    before_ev = st.redis("LRANGE", "hr:ev:" + victim, 0, -1)
    n_each = 1500 // SCALE
    addr = b'{"addresses":["203.0.113.10:4433"]}'
    cbody = ('{"addresses":["198.51.100.20:5000"],"nonce":"%s","obfs":"%s"}'
             % (nonce(), obfs())).encode()
    jobs = []
    for _ in range(n_each):
        wrong = secrets.token_hex(16)
        jobs += [("POST", "/v1/" + realm_name("w"), addr, wrong),
                 ("POST", "/v1/%s/connect" % victim, cbody, wrong),
                 ("POST", "/v1/%s/heartbeat" % victim, addr, wrong),
                 ("POST", "/v1/%s/heartbeat" % victim, b"", osid),      # another realm's
                 ("POST", "/v1/%s/connects/%s" % (victim, nonce()), addr, wrong),
                 ("DELETE", "/v1/" + victim, b"", wrong)]
    t0 = time.monotonic()
    results = flood(st.port, jobs, threads=8)
    took = time.monotonic() - t0
    eq(tally(results), {(401, "invalid_token"): len(jobs)}, "answers to wrong secrets")
    # event streams with wrong sessions, 40 at a time
    n_ev = 400 // SCALE
    with ThreadPoolExecutor(40) as ex:
        evs = list(ex.map(lambda _: pool.events(victim, secrets.token_hex(16)), range(n_ev)))
    ev_status = {}
    for es in evs:
        es.close()
        ev_status[es.status] = ev_status.get(es.status, 0) + 1
    eq(ev_status, {401: n_ev}, "event streams with wrong sessions")
    lat = [s for _, _, s in results]
    check(pct(lat, 0.99) < LATENCY_BOUND, "401 p99 %.2f s" % pct(lat, 0.99))
    check(took < (150 if SLOW else 60), "%d wrong requests took %.0f s" % (len(jobs), took))
    stats = good.stop(min_rounds=2)
    eq(_keys(st, [good.name]), before_keys, "Redis keys after the flood")
    eq(st.redis("HGETALL", "hr:realm:" + victim), before_victim, "the victim realm's hash")
    eq(st.redis("LRANGE", "hr:ev:" + victim, 0, -1), before_ev, "the victim's event buffer")
    expect_json(pool.heartbeat(victim, vsid), 200, "the victim's own heartbeat")
    survived(st)
    log("wrong secrets", requests=len(jobs) + n_ev, took="%.1fs" % took,
        per_s=int(len(jobs) / took), p50_ms=int(1000 * pct(lat, 0.5)),
        p99_ms=int(1000 * pct(lat, 0.99)), redis_keys=len(before_keys), **stats)
