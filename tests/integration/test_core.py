"""test_core.py -- the worker as one event loop per process: what it must do
that a libfcgi thread-per-request worker cannot.

 1. out_of_fds_pauses_accept   out of descriptors: accept pauses (logged),
                               the worker lives on and serves again
 2. max_held_cap               --max-held / HYSTERIA_REALM_MAX_HELD: 503
                               worker_busy past the cap
 3. idle_fcgi_connections_closed   --fcgi-timeout: silent or half-sent
                               FastCGI connections are closed and block
                               nobody meanwhile
 4. fcgi_allow_list            --fcgi-allow: TCP peers outside the list are
                               closed unanswered
 5. shared_listen_socket_survives_stop   a listening socket on fd 0 shared
                               with another worker is not shut down at stop
 6. redis_stopped_answers_503_fast   a Redis that stops answering: 503 within
                               a deadline, for many requests at once; back by
                               itself
 7. readonly_after_failover_reconnects   -READONLY from a demoted primary:
                               reconnect (through a stable address)
 8. no_secrets_in_logs         token, Redis password, session ids never logged
 9. name_match_limit_is_503    a name pattern PCRE2 gives up on: 503, not 400
10. fcgi_keep_conn             FCGI_KEEP_CONN honoured without pinning
                               anything to a connection; FCGI_GET_VALUES

Where a test sets one of the new settings and the old worker could still
show its behaviour, the setting is given by its environment variable
(which an older worker ignores) and the flag is checked after that, so that
the failure names the behaviour rather than "unknown flag". Tests that need
Redis servers or workers of their own start them on free loopback ports and
stop them in a finally; their logs go to $RR_LOG_DIR when set (tests/run
scans those for sanitizer reports).
"""

import os
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time

from client import (Background, Response, StreamClosed, StreamTimeout, check, eq,
                    expect_error, expect_json, nonce, obfs, realm_name)
from common import redis_command
from fcgi_client import FcgiClosed, FcgiConn, FcgiTimeout, begin_bytes, http_params, record_bytes
import fcgi_client as fc
from stack import (DEFAULT_ARGS, REPO, Stack, find_program, free_port, tcp_listening, uses,
                   wait_until, worker_binary)


# -- helpers ---------------------------------------------------------------------

class LogWatch:
    """The part of a log file written after this object was made (a log
    may be appended to by earlier runs with the same $RR_LOG_DIR)."""

    def __init__(self, path):
        self.path = path
        try:
            self.start = os.path.getsize(path)
        except OSError:
            self.start = 0

    def text(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.start)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def has(self, needle):
        return needle in self.text()

    def tail(self, n=1500):
        return " ".join(self.text()[-n:].split())


class RedisServer:
    """A private redis-server on a free loopback port and a unix socket in a
    temporary directory (no persistence)."""

    def __init__(self, name, password=None):
        self.name = name
        self.password = password
        self.dir = tempfile.mkdtemp(prefix="rr-core-%s-" % name)
        self.port = free_port()
        self.unix = os.path.join(self.dir, "redis.sock")
        self.proc = None

    def start(self):
        argv = [find_program("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", self.dir, "--unixsocket", self.unix, "--unixsocketperm", "700",
                "--save", "", "--appendonly", "no", "--daemonize", "no",
                "--logfile", os.path.join(self.dir, "redis.log")]
        if self.password:
            argv += ["--requirepass", self.password]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, cwd=self.dir)

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited with %d" % self.proc.returncode)
            return self.cmd("PING") == "PONG"
        wait_until(ready, 15, "redis %s PONG" % self.name)
        return self

    def cmd(self, *args):
        return redis_command(self.port, *args, password=self.password)

    def url(self):
        auth = ":%s@" % self.password if self.password else ""
        return "redis://%s127.0.0.1:%d/0" % (auth, self.port)

    def stop(self):
        if self.proc is not None:
            try:
                os.kill(self.proc.pid, signal.SIGCONT)
            except OSError:
                pass
            Stack._terminate(self.proc, signal.SIGTERM, 10)
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


class Worker:
    """A worker process of a test's own, with no proxy in front."""

    def __init__(self, name, args, env=None, stdin=subprocess.DEVNULL, workdir=None):
        self.name = name
        self.args = list(args)
        self.env = dict(env or {})
        self.stdin = stdin
        self.workdir = workdir or tempfile.gettempdir()
        d = os.environ.get("RR_LOG_DIR") or self.workdir
        os.makedirs(d, exist_ok=True)
        self.log_path = os.path.join(d, "core-%s.log" % name)
        self.log = LogWatch(self.log_path)
        self.proc = None
        self.rc = None

    def start(self):
        binary = worker_binary()
        if not os.access(binary, os.X_OK):
            raise RuntimeError("worker binary %s is missing (build it, or set RR_WORKER)" % binary)
        env = {k: v for k, v in os.environ.items() if not k.startswith("HYSTERIA_REALM_")}
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        env.update(self.env)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([binary] + self.args, stdin=self.stdin, stdout=log,
                                         stderr=log, env=env, cwd=self.workdir)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def _check_alive(self):
        if not self.alive():
            raise RuntimeError("worker %s exited with %s: %s"
                               % (self.name, self.proc.returncode, self.log.tail(600)))

    def wait_unix(self, path):
        def ready():
            self._check_alive()
            try:
                return stat.S_ISSOCK(os.stat(path).st_mode)
            except FileNotFoundError:
                return False
        wait_until(ready, 20, "worker %s socket %s" % (self.name, path))

    def wait_tcp(self, host, port):
        def ready():
            self._check_alive()
            return tcp_listening(self.proc.pid, host, port)
        wait_until(ready, 20, "worker %s listening on %s:%d" % (self.name, host, port))

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Signal the worker and wait for it; its exit code (None if it had
        to be killed after timeout)."""
        if self.proc is None:
            return self.rc
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                self.rc = None
                self.proc = None
                return None
        self.rc = self.proc.returncode
        self.proc = None
        return self.rc


def worker_base_args(token=None):
    return ["--token", token or secrets.token_hex(16),
            "--scripts-dir", os.path.join(REPO, "sql"), "--max-realms-per-ip", "0"]


class CoreStack(Stack):
    """A Stack with per-worker command prefixes and extra flags, and
    optionally a Redis that requires a password."""

    def __init__(self, cmd_prefix=None, extra_args=None, redis_password=None, **kwargs):
        super().__init__(**kwargs)
        self.cmd_prefix = dict(cmd_prefix or {})
        self.extra_args = dict(extra_args or {})
        self.redis_password = redis_password

    def start(self, *args, **kwargs):
        # where each worker's log ends now, if $RR_LOG_DIR keeps earlier runs
        d = os.environ.get("RR_LOG_DIR")
        self.log_start = {}
        for i in range(self.nworkers):
            p = os.path.join(d, "%s-w%d.log" % (self.name, i + 1)) if d else None
            self.log_start[i] = os.path.getsize(p) if p and os.path.exists(p) else 0
        return super().start(*args, **kwargs)

    def log_watch(self, i):
        """A LogWatch of worker i's log from the start of this stack."""
        lw = LogWatch(self.worker_log(i))
        lw.start = self.log_start.get(i, 0)
        return lw

    def worker_cmd(self, i):
        cmd = super().worker_cmd(i)
        if self.redis_password:
            k = cmd.index("--redis") + 1
            cmd[k] = "redis://:%s@%s:%d/0" % (self.redis_password, self.redis_host,
                                              self.redis_port)
        return list(self.cmd_prefix.get(i, [])) + cmd + list(self.extra_args.get(i, []))

    def _write_redis_conf(self):
        super()._write_redis_conf()
        if self.redis_password:
            with open(os.path.join(self.rundir, "redis", "redis.conf"), "a") as f:
                f.write("\nrequirepass %s\n" % self.redis_password)

    def redis(self, *args):
        return redis_command(self.redis_port, *args, host=self.redis_host, password=self.redis_password)

    def _check_b_reaches_a(self):
        """Stack's check (two hosts), with the password."""
        if not self.redis_password:
            return super()._check_b_reaches_a()
        cli = find_program("redis-cli")
        argv = [cli, "--no-auth-warning", "-a", self.redis_password, "-h", self.redis_host,
                "-p", str(self.redis_port), "PING"]
        p = subprocess.run(self._on_host("b", argv),
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=10)
        if p.stdout.strip() != "PONG":
            raise RuntimeError("host B cannot reach Redis on host A (%s:%d): %s" % (
                self.redis_host, self.redis_port, (p.stderr or p.stdout).strip()))


def fcgi_where(st, i):
    """Worker i's FastCGI socket as FcgiConn.to() takes it."""
    a = st.worker_addr(i)
    return st.sock_path(i) if a is None else a


def fcgi_http(where, method, uri, body=b"", auth=None, keep_conn=False, timeout=5.0,
              source=None):
    """One HTTP request as FastCGI on a new connection; a client.Response."""
    headers = {}
    if auth is not None:
        headers["Authorization"] = "Bearer " + auth
    if body:
        headers["Content-Type"] = "application/json"
    with FcgiConn.to(where, source=source, timeout=timeout) as c:
        return c.request(http_params(method, uri, headers, body), body, keep_conn=keep_conn,
                         timeout=timeout)


def stream_response(es):
    """An EventStream that answered with an error, as a client.Response."""
    es.close()
    return Response(es.status, "", list(es.headers.items()), es.body)


def timed(fn, *args, **kwargs):
    """(result or the exception raised, seconds taken)."""
    t0 = time.monotonic()
    try:
        r = fn(*args, **kwargs)
    except Exception as e:
        r = e
    return r, time.monotonic() - t0


def describe(r):
    if isinstance(r, Response):
        return "%d %r" % (r.status, r.body[:160])
    return "%s: %s" % (type(r).__name__, r)


# -- 1. out of file descriptors ---------------------------------------------------

NOFILE = 64


@uses(stack=False, timeout=180)
def test_out_of_fds_pauses_accept():
    """Worker 1 runs with RLIMIT_NOFILE 64 (hard and soft). Event streams
    pinned to it are opened until it cannot accept more: it must log
    msg=accept_paused, stay up, and serve again as soon as streams close."""
    st = CoreStack(workers=2, worker_args=DEFAULT_ARGS, name="core-nofile",
                   cmd_prefix={0: [find_program("prlimit"), "--nofile=%d:%d" % (NOFILE, NOFILE),
                                   "--"]})
    streams = []
    try:
        st.start()
        log = st.log_watch(0)
        w1, w2 = st.api(worker=0), st.api(worker=1)
        # the realms are registered through worker 2, whose descriptors are not limited
        realms = [(n, w2.register_ok(n)) for n in (realm_name("fd") for _ in range(NOFILE + 16))]
        opened = refused = 0
        stuck = None
        for name, sid in realms:
            if log.has("msg=accept_paused"):
                break
            try:
                es = w1.events(name, sid, timeout=3)
            except (StreamTimeout, StreamClosed, OSError) as e:
                stuck = "stream %d not answered: %s" % (opened + refused + 1, e)
                break
            if es.status == 200:
                streams.append(es)
                opened += 1
            else:
                refused += 1
                es.close()
        check(stuck is not None or log.has("msg=accept_paused"),
              "opened %d streams (%d refused) on a worker with %d descriptors and it never "
              "ran out" % (opened, refused, NOFILE))
        paused = True
        try:
            wait_until(lambda: log.has("msg=accept_paused"), 5, "msg=accept_paused in the log")
        except RuntimeError:
            paused = False
        check(st.worker_alive(0), "worker 1 died when out of descriptors: %s" % log.tail())
        # close 10 of its streams: the worker must serve again
        for es in streams[-10:]:
            es.close()
        del streams[-10:]
        name0, sid0 = realms[0]
        last = []

        def heartbeat_ok():
            r, _ = timed(w1.req, "POST", "/v1/%s/heartbeat" % name0, None, auth=sid0, timeout=3)
            last[:] = [r]
            return isinstance(r, Response) and r.status == 200
        served = True
        try:
            wait_until(heartbeat_ok, 20, "a heartbeat on worker 1", interval=0.1)
        except RuntimeError:
            served = False
        problems = []
        if not served:
            problems.append("worker 1 served nothing within 20 s after 10 of its %d streams "
                            "closed (last heartbeat: %s)" % (opened, describe(last[0])))
        if not paused:
            problems.append("no msg=accept_paused in its log (%s)" % (stuck or "no stuck stream"))
        check(not problems, "; ".join(problems))
        check(st.worker_alive(0), "worker 1 died: %s" % log.tail())
        # and a new stream opens again
        name, sid = realms[-1]
        es = w1.events(name, sid, timeout=5)
        streams.append(es)
        eq(es.status, 200, "a new stream on worker 1 after streams closed")
    finally:
        for es in streams:
            es.close()
        st.stop()
    check(not st.unexpected, "; ".join(st.unexpected))


# -- 2. the held-request cap ----------------------------------------------------

@uses(stack=False, timeout=90)
def test_max_held_cap():
    """HYSTERIA_REALM_MAX_HELD=2: two streams on a worker, the third request
    to be held (a stream, a connect) gets 503 worker_busy while short
    requests are still served; a stream closed makes room. Then the flag:
    --max-held 1 wins over the variable."""
    st = CoreStack(workers=2, worker_args=DEFAULT_ARGS, name="core-maxheld",
                   worker_env={"HYSTERIA_REALM_MAX_HELD": "2"})
    held = []
    try:
        st.start()
        pool, w1 = st.api(), st.api(worker=0)
        realms = [(n, pool.register_ok(n)) for n in (realm_name("mh") for _ in range(5))]
        for name, sid in realms[:2]:
            es = w1.events(name, sid)
            held.append(es)
            eq(es.status, 200, "stream %d of 2 on worker 1" % len(held))
        es = w1.events(realms[2][0], realms[2][1])
        if es.status == 200:
            held.append(es)
            raise AssertionError("a third stream on a worker with HYSTERIA_REALM_MAX_HELD=2 "
                                 "was opened (200), expected 503 worker_busy")
        expect_error(stream_response(es), 503, "worker_busy", "third stream on worker 1")
        r = w1.connect(realms[0][0], timeout=15)
        expect_error(r, 503, "worker_busy", "a connect on worker 1 with 2 streams held")
        expect_json(w1.heartbeat(realms[0][0], realms[0][1]), 200,
                    "a heartbeat (not held) on worker 1 at the cap")
        held.pop(0).close()
        last = []

        def third_opens():
            es = w1.events(realms[2][0], realms[2][1])
            last[:] = [es.status]
            if es.status == 200:
                held.append(es)
                return True
            es.close()
            return False
        try:
            wait_until(third_opens, 5, "a stream to open", interval=0.05)
        except RuntimeError:
            raise AssertionError("no stream opened on worker 1 within 5 s of closing one of "
                                 "its 2 (last status %s)" % last)
        # the flag wins over the environment
        st.kill_worker(1, signal.SIGTERM)
        st.extra_args[1] = ["--max-held", "1"]
        st.start_worker(1)
        w2 = st.api(worker=1)
        es = w2.events(realms[3][0], realms[3][1])
        held.append(es)
        eq(es.status, 200, "first stream on worker 2 (--max-held 1)")
        es = w2.events(realms[4][0], realms[4][1])
        if es.status == 200:
            held.append(es)
        expect_error(stream_response(es), 503, "worker_busy",
                     "second stream on worker 2 with --max-held 1 (HYSTERIA_REALM_MAX_HELD=2)")
    finally:
        for es in held:
            es.close()
        st.stop()
    check(not st.unexpected, "; ".join(st.unexpected))


# -- 3. silent and half-sent FastCGI connections ---------------------------------

def _attack(where, idle=6, half_header=2, half_params=2):
    """Connections to a worker's FastCGI socket that send nothing, half a
    record header, or a BEGIN_REQUEST and half a PARAMS record."""
    conns = []
    for _ in range(idle):
        conns.append(("idle", FcgiConn.to(where)))
    for _ in range(half_header):
        c = FcgiConn.to(where)
        c.send(begin_bytes(1)[:4])
        conns.append(("half a header", c))
    for _ in range(half_params):
        c = FcgiConn.to(where)
        params = fc.encode_pairs(http_params("GET", "/v1/x/nope").items())
        c.send(begin_bytes(1) + record_bytes(fc.PARAMS, 1, params)[:8 + len(params) // 2])
        conns.append(("half a params record", c))
    return conns


def _closed_in_time(conns, deadline):
    """The kinds of the connections still open at deadline."""
    still = []
    for kind, c in conns:
        if not c.wait_eof(max(0.0, deadline - time.monotonic())):
            still.append(kind)
    return still


@uses(stack=False, timeout=90)
def test_idle_fcgi_connections_closed():
    """With HYSTERIA_REALM_FCGI_TIMEOUT=2, ten connections straight to worker
    1's FastCGI socket that send nothing or half a record (more than a
    thread-per-connection worker has threads) must not delay requests
    through the proxy (answered within 2 s), and the worker closes them
    within 2 + 3 s. Then the flag: --fcgi-timeout 2 wins over a variable of
    60."""
    st = CoreStack(workers=1, worker_args=DEFAULT_ARGS, name="core-fcgitimeout",
                   worker_env={"HYSTERIA_REALM_FCGI_TIMEOUT": "2"})
    conns = []
    try:
        st.start()
        w1 = st.api(worker=0)
        name = realm_name("it")
        sid = w1.register_ok(name)
        t_open = time.monotonic()
        conns = _attack(fcgi_where(st, 0))
        for what, call in [
                ("heartbeat", lambda: w1.req("POST", "/v1/%s/heartbeat" % name, None, auth=sid,
                                             timeout=4)),
                ("register", lambda: w1.req("POST", "/v1/" + realm_name("it"),
                                            {"addresses": ["203.0.113.1:1"]}, auth=st.token,
                                            timeout=4)),
                ("second heartbeat", lambda: w1.req("POST", "/v1/%s/heartbeat" % name, None,
                                                    auth=sid, timeout=4))]:
            r, took = timed(call)
            check(isinstance(r, Response) and r.status == 200 and took < 2.0,
                  "%s through the proxy while %d FastCGI connections sat idle or half-sent: "
                  "%s after %.1f s (expected 200 within 2 s)" % (what, len(conns), describe(r),
                                                                 took))
        still = _closed_in_time(conns, t_open + 2 + 3)
        check(not still, "%d of %d FastCGI connections still open %.0f s after they were "
              "opened (fcgi timeout 2 s): %s" % (len(still), len(conns), 5, ", ".join(still)))
        for _, c in conns:
            c.close()
        conns = []
        # the flag wins over the variable
        st.worker_env["HYSTERIA_REALM_FCGI_TIMEOUT"] = "60"
        st.extra_args[0] = ["--fcgi-timeout", "2"]
        st.kill_worker(0, signal.SIGTERM)
        st.start_worker(0)
        t_open = time.monotonic()
        conns = _attack(fcgi_where(st, 0), idle=1, half_header=0, half_params=1)
        still = _closed_in_time(conns, t_open + 2 + 3)
        check(not still, "with --fcgi-timeout 2 (HYSTERIA_REALM_FCGI_TIMEOUT=60), connections "
              "still open after 5 s: %s" % ", ".join(still))
        expect_json(w1.heartbeat(name, sid), 200, "heartbeat after the restart")
    finally:
        for _, c in conns:
            c.close()
        st.stop()
    check(not st.unexpected, "; ".join(st.unexpected))


# -- 4. who may connect over TCP -------------------------------------------------------

def _allow_check(w, port, what):
    """From 127.0.0.1 the worker closes the connection unanswered and logs
    fcgi_peer_refused; from 127.0.0.2 it answers."""
    params = http_params("GET", "/v1/x/nope")
    c = FcgiConn.tcp("127.0.0.1", port, source="127.0.0.1")
    try:
        try:
            c.send(begin_bytes(1) + record_bytes(fc.PARAMS, 1, fc.encode_pairs(params.items()))
                   + record_bytes(fc.PARAMS, 1) + record_bytes(fc.STDIN, 1))
        except OSError:
            pass      # closed already
        closed = c.wait_eof(5)
        status = re.search(rb"Status: [^\r\n]*", c.extra)
        check(c.extra == b"", "%s: a peer at 127.0.0.1 (not listed) got %d bytes back (%s)"
              % (what, len(c.extra), status.group(0).decode() if status else repr(c.extra[:80])))
        check(closed, "%s: the connection from 127.0.0.1 (not listed) is still open after 5 s"
              % what)
    finally:
        c.close()
    wait_until(lambda: w.log.has("msg=fcgi_peer_refused"), 5,
               "%s: msg=fcgi_peer_refused in the log" % what)
    r = fcgi_http(("127.0.0.1", port), "GET", "/v1/x/nope", source="127.0.0.2")
    expect_error(r, 404, "not_found", "%s: request from 127.0.0.2 (listed)" % what)
    check(w.alive(), "%s: worker died: %s" % (what, w.log.tail()))


@uses(stack=False, timeout=90)
def test_fcgi_allow_list():
    """A worker on TCP 127.0.0.1:<port> with HYSTERIA_REALM_FCGI_ALLOW=
    192.0.2.0/24,127.0.0.2 refuses 127.0.0.1 and serves 127.0.0.2; then the
    flag --fcgi-allow 127.0.0.2/32 wins over HYSTERIA_REALM_FCGI_ALLOW=
    127.0.0.1."""
    rs = RedisServer("allow")
    workdir = tempfile.mkdtemp(prefix="rr-core-allow-")
    w = None
    try:
        rs.start()
        for what, args, env in [
                ("HYSTERIA_REALM_FCGI_ALLOW=192.0.2.0/24,127.0.0.2", [],
                 {"HYSTERIA_REALM_FCGI_ALLOW": "192.0.2.0/24,127.0.0.2"}),
                ("--fcgi-allow 127.0.0.2/32", ["--fcgi-allow", "127.0.0.2/32"],
                 {"HYSTERIA_REALM_FCGI_ALLOW": "127.0.0.1"})]:
            port = free_port()
            w = Worker("allow", ["--listen", "127.0.0.1:%d" % port, "--redis", rs.url()]
                       + worker_base_args() + args, env=env, workdir=workdir).start()
            w.wait_tcp("127.0.0.1", port)
            _allow_check(w, port, what)
            rc = w.stop()
            w = None
            eq(rc, 0, "%s: exit code after SIGTERM" % what)
    finally:
        if w is not None:
            w.stop()
        rs.stop()
        shutil.rmtree(workdir, ignore_errors=True)


# -- 5. a listening socket shared by several workers -------------------------------

@uses(stack=False, timeout=90)
def test_shared_listen_socket_survives_stop():
    """Two workers share one unix listening socket on fd 0 (as spawn-fcgi
    hands it over, no --listen). One stops (SIGTERM, exit 0): the other must
    still answer on the socket."""
    rs = RedisServer("shared")
    workdir = tempfile.mkdtemp(prefix="rr-core-shared-")
    path = os.path.join(workdir, "shared.sock")
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    workers = []
    try:
        rs.start()
        lsock.bind(path)
        lsock.listen(128)
        args = ["--redis", rs.url()] + worker_base_args()
        for k in (1, 2):
            workers.append(Worker("shared-w%d" % k, args, stdin=lsock.fileno(),
                                  workdir=workdir).start())
        lsock.close()      # the workers hold it now
        for w in workers:
            # both up (the socket answers whichever it is)
            try:
                wait_until(lambda: w.log.has("msg=started"), 10, "%s to start" % w.name)
            except RuntimeError:
                check(w.alive(), "worker %s exited: %s" % (w.name, w.log.tail()))
        for _ in range(4):
            expect_error(fcgi_http(path, "GET", "/v1/x/nope"), 404, "not_found",
                         "request on the shared socket, both workers up")
        rc = workers[0].stop(signal.SIGTERM)
        eq(rc, 0, "exit code of the first worker after SIGTERM")
        check(workers[1].alive(), "the second worker exited when the first stopped: %s"
              % workers[1].log.tail())
        for k in range(4):
            r, took = timed(fcgi_http, path, "GET", "/v1/x/nope", timeout=5)
            check(isinstance(r, Response),
                  "request %d on the shared socket after the first worker stopped: %s "
                  "(the socket was shut down for every process?)" % (k + 1, describe(r)))
            expect_error(r, 404, "not_found", "request %d after the first worker stopped"
                         % (k + 1))
        eq(workers[1].stop(signal.SIGTERM), 0, "exit code of the second worker after SIGTERM")
    finally:
        lsock.close()
        for w in workers:
            w.stop()
        rs.stop()
        shutil.rmtree(workdir, ignore_errors=True)


# -- 6. a Redis that stops answering ---------------------------------------------

@uses(fresh=True, timeout=90)
def test_redis_stopped_answers_503_fast(st):
    """Redis is SIGSTOPped (connections stay open, nothing is answered):
    16 heartbeats at once on one worker each get 503 store_unavailable
    within 3 s (a ~1 s deadline per Redis command, not one request after
    another); after SIGCONT the worker serves again by itself."""
    name = realm_name("ss")
    sid = st.api().register_ok(name)
    w1 = st.api(worker=0)
    expect_json(w1.heartbeat(name, sid), 200, "heartbeat before Redis stops")
    pid = st.redis_proc.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        calls = [Background(timed, w1.req, "POST", "/v1/%s/heartbeat" % name, None, auth=sid,
                            timeout=15) for _ in range(16)]
        results = [b.wait(20) for b in calls]
        bad = [(took, describe(r)) for r, took in results
               if not (isinstance(r, Response) and r.status == 503 and took < 3.0)]
        bad.sort(reverse=True)
        check(not bad, "%d of 16 heartbeats at once with Redis stopped were not a 503 within "
              "3 s; the slowest: %s" % (len(bad), "; ".join("%s after %.1f s" % (d, t)
                                                           for t, d in bad[:3])))
        for r, _ in results:
            expect_error(r, 503, "store_unavailable", "heartbeat with Redis stopped")
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_until(lambda: w1.req("POST", "/v1/%s/heartbeat" % name, None, auth=sid,
                              timeout=3).status == 200,
               10, "a heartbeat on worker 1 after SIGCONT", interval=0.1)
    expect_json(st.api().heartbeat(name, sid), 200, "heartbeat through the pool after SIGCONT")


# -- 7. -READONLY after a failover behind a stable address ----------------------------

def _replication(rs):
    out = {}
    for line in rs.cmd("INFO", "replication").splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k] = v.strip()
    return out


@uses(stack=False, timeout=90)
def test_readonly_after_failover_reconnects():
    """The worker reaches Redis through a symlink to primary A's socket; B
    replicates A. Failover: B becomes the primary, A a replica of B, the
    symlink moves to B. A's open connections answer writes with -READONLY:
    the worker must drop them and reconnect (to B), without a restart."""
    a, b = RedisServer("ro-a"), RedisServer("ro-b")
    workdir = tempfile.mkdtemp(prefix="rr-core-ro-")
    link = os.path.join(workdir, "redis.sock")
    sock = os.path.join(workdir, "w.sock")
    w = None
    try:
        a.start()
        b.start()
        b.cmd("REPLICAOF", "127.0.0.1", a.port)
        wait_until(lambda: _replication(b).get("master_link_status") == "up", 15,
                   "B to replicate A")
        os.symlink(a.unix, link)
        token = secrets.token_hex(16)
        # one request thread for a threaded worker, so that it has exactly
        # one command connection, to A (an event-loop worker ignores it)
        w = Worker("readonly", ["--listen", sock, "--redis", "unix://" + link]
                   + worker_base_args(token), env={"HYSTERIA_REALM_THREADS": "1"},
                   workdir=workdir).start()
        w.wait_unix(sock)
        name = realm_name("ro")
        body = b'{"addresses":["203.0.113.9:9"]}'
        r = fcgi_http(sock, "POST", "/v1/" + name, body, auth=token)
        sid = expect_json(r, 200, "register before the failover")["session_id"]
        for _ in range(3):
            expect_json(fcgi_http(sock, "POST", "/v1/%s/heartbeat" % name, auth=sid), 200,
                        "heartbeat before the failover")
        wait_until(lambda: b.cmd("EXISTS", "hr:realm:" + name) == 1, 10,
                   "the realm replicated to B")
        # fail over
        b.cmd("REPLICAOF", "NO", "ONE")
        a.cmd("REPLICAOF", "127.0.0.1", b.port)
        tmp = link + ".new"
        os.symlink(b.unix, tmp)
        os.replace(tmp, link)

        def a_readonly():
            try:
                a.cmd("SET", "hr:probe", "1")
            except RuntimeError as e:
                return "READONLY" in str(e)
            return False
        wait_until(a_readonly, 10, "A to refuse writes (READONLY)")
        last = []
        names = []

        def register_ok():
            n = realm_name("ro")
            r = fcgi_http(sock, "POST", "/v1/" + n, body, auth=token)
            last[:] = [r]
            if r.status == 200:
                names.append(n)
            return r.status == 200
        try:
            wait_until(register_ok, 10, "a register after the failover", interval=0.1)
        except RuntimeError:
            raise AssertionError("a register still failed 10 s after the failover (last: %s): "
                                 "the worker kept its connection to the demoted primary"
                                 % describe(last[0]))
        eq(b.cmd("EXISTS", "hr:realm:" + names[0]), 1, "the new realm is on B")
        expect_json(fcgi_http(sock, "POST", "/v1/%s/heartbeat" % name, auth=sid), 200,
                    "heartbeat of the realm from before the failover")
        check(w.alive(), "worker died: %s" % w.log.tail())
    finally:
        if w is not None:
            w.stop()
        a.stop()
        b.stop()
        shutil.rmtree(workdir, ignore_errors=True)


# -- 8. no secret in any log line -----------------------------------------------

def _read_punch(es, n, timeout):
    deadline = time.monotonic() + timeout
    while True:
        ev = es.next_event(max(0.0, deadline - time.monotonic()))
        if ev.event == "punch" and ev.json().get("nonce") == n:
            return ev


@uses(stack=False, timeout=90)
def test_no_secrets_in_logs():
    """Workers with --debug and a Redis password run every call of the API
    (and a wrong token and a wrong session); their logs must hold neither
    the token, nor the password, nor any whole session id."""
    password = "pw" + secrets.token_hex(12)
    st = CoreStack(workers=2, worker_args=DEFAULT_ARGS + ("--debug",), name="core-secrets",
                   redis_password=password)
    es = None
    try:
        st.start()
        logs = [st.log_watch(i) for i in range(2)]     # start-up lines included
        pool, w1, w2 = st.api(), st.api(worker=0), st.api(worker=1)
        name = realm_name("sec")
        wrong_token = secrets.token_hex(16)
        expect_error(pool.register(name, token=wrong_token), 401, "invalid_token",
                     "register with a wrong token")
        sid = w1.register_ok(name)
        expect_json(w2.heartbeat(name, sid, {"addresses": ["203.0.113.8:8"]}), 200, "heartbeat")
        es = w1.events(name, sid)
        eq(es.status, 200, "events")
        n, o = nonce(), obfs()
        bg = Background(w2.connect, name, None, n, o)
        _read_punch(es, n, 5)
        eq(w1.answer(name, n, sid).status, 204, "answer")
        expect_json(bg.wait(10), 200, "connect")
        wrong_sid = secrets.token_hex(16)
        expect_error(w2.heartbeat(name, wrong_sid), 401, "invalid_token",
                     "heartbeat with a wrong session")
        eq(w2.deregister(name, sid).status, 204, "deregister")
        check(es.wait_closed(5), "stream still open 5 s after deregister")
        # stop the proxy, then the workers, so that their last lines are in too
        Stack._terminate(st.proxy_proc, signal.SIGTERM, 5)
        st.proxy_proc = None
        rcs = []
        for i in range(2):
            try:
                rcs.append(st.kill_worker(i, signal.SIGTERM))
            except AssertionError as e:
                rcs.append(str(e))
        text = "\n".join(lw.text() for lw in logs)
        check("level=debug" in text, "no level=debug line with --debug: %r" % text[-300:])
        found = []
        for what, secret in [("the token", st.token), ("the Redis password", password),
                             ("the session id", sid), ("the wrong token", wrong_token),
                             ("the wrong session id", wrong_sid)]:
            lines = [ln for ln in text.splitlines() if secret.lower() in ln.lower()]
            if lines:
                shown = lines[0].replace(secret, "<%s>" % what)
                found.append("%s in %d line(s), e.g. %s" % (what, len(lines), shown[:300]))
        check(not found, "secrets in the worker logs: " + "; ".join(found))
        eq(rcs, [0, 0], "the workers' exit codes after SIGTERM")
    finally:
        if es is not None:
            es.close()
        st.stop()
    check(not st.unexpected, "; ".join(st.unexpected))


# -- 9. a name pattern PCRE2 gives up on -------------------------------------------

@uses(args=("--max-realms-per-ip", "0", "--realm-name-pattern", "^(a+)+$"), workers=1,
      timeout=90)
def test_name_match_limit_is_503(st):
    """With --realm-name-pattern '^(a+)+$', the name 'a'*40+'b' makes PCRE2
    give up (match limit): that is a fault of the server, 503, never the 400
    that makes a Hysteria server stop re-registering forever."""
    api = st.api()
    expect_json(api.register("a" * 12), 200, "register of a name that matches")
    expect_error(api.register("aaab"), 400, "bad_request", "a short name that does not match")
    r, took = timed(api.register, "a" * 40 + "b")
    check(isinstance(r, Response), "register of 'a'*40+'b': %s" % describe(r))
    check(r.status != 400, "register of 'a'*40+'b' (PCRE2 match limit) got 400 %r after "
          "%.1f s: expected a 503" % (r.body[:200], took))
    body = expect_json(r, 503, "register of 'a'*40+'b' (PCRE2 match limit)")
    check(isinstance(body.get("error"), str) and body["error"] not in ("", "bad_request"),
          "error code of the 503: %r" % body)
    check(isinstance(body.get("message"), str) and body["message"],
          "message of the 503: %r" % body)


# -- 10. kept FastCGI connections --------------------------------------------------------

@uses(timeout=60)
def test_fcgi_keep_conn(st):
    """On one connection with FCGI_KEEP_CONN: a 404 then a 401, both
    answered, the connection kept; then a request without it: answered,
    then closed by the worker. Eight kept connections at once (more than a
    thread-per-connection worker has threads) are all served, twice each.
    FCGI_GET_VALUES says FCGI_MPXS_CONNS 0."""
    where = fcgi_where(st, 0)
    conns = []
    try:
        c = FcgiConn.to(where)
        conns.append(c)
        r = c.request(http_params("GET", "/v1/x/nope"), keep_conn=True)
        expect_error(r, 404, "not_found", "first request (keep-conn)")
        eq(c.last_end[1], fc.REQUEST_COMPLETE, "protocol status in END_REQUEST")
        r = c.request(http_params("POST", "/v1/x/heartbeat",
                                  {"Authorization": "Bearer " + secrets.token_hex(16)}),
                      keep_conn=True)
        expect_error(r, 401, "invalid_token", "second request on the kept connection")
        r = c.request(http_params("GET", "/v1/x/nope"), keep_conn=False)
        expect_error(r, 404, "not_found", "third request, without keep-conn")
        check(c.wait_eof(3), "the connection is still open 3 s after a request without "
              "FCGI_KEEP_CONN ended")
        eq(c.extra, b"", "bytes after END_REQUEST")
        c.close()
        conns.remove(c)

        # eight kept connections, served in turn, twice
        for k in range(8):
            conns.append(FcgiConn.to(where))
        for rnd in (1, 2):
            for k, c in enumerate(conns):
                try:
                    r = c.request(http_params("GET", "/v1/x/nope"), req_id=1, keep_conn=True,
                                  timeout=3)
                except (FcgiTimeout, FcgiClosed) as e:
                    raise AssertionError(
                        "round %d: request on kept connection %d of %d not answered (%s): "
                        "kept connections must not each hold the worker"
                        % (rnd, k + 1, len(conns), e))
                expect_error(r, 404, "not_found", "round %d, kept connection %d" % (rnd, k + 1))
        for c in conns:
            c.close()
        conns = []

        c = FcgiConn.to(where)
        conns.append(c)
        try:
            values = c.get_values(["FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS"],
                                  timeout=3)
        except (FcgiTimeout, FcgiClosed) as e:
            raise AssertionError("FCGI_GET_VALUES not answered: %s" % e)
        eq(values.get("FCGI_MPXS_CONNS"), "0", "FCGI_MPXS_CONNS in GET_VALUES_RESULT %r" % values)
    finally:
        for c in conns:
            c.close()
