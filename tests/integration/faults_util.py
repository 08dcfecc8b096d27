"""faults_util.py -- helpers for test_faults.py only (the shared harness in
stack.py and client.py is left as it is)."""

import http.client
import os
import re
import secrets
import signal
import socket
import subprocess
import threading
import time

from client import (Background, EventStream, Response, StreamClosed, StreamTimeout,
                    nonce, obfs)
from stack import free_port


class ConnectSender:
    """Send one connect per nonce to api, `interval` seconds apart, each in
    its own thread (a connect blocks until answered or the connect wait
    ends). wait() returns [(nonce, Response)] in sending order."""

    def __init__(self, api, name, nonces, interval, addrs=None, timeout=20.0):
        self._calls = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True,
                                   args=(api, name, list(nonces), interval, addrs, timeout))
        self._t.start()

    def _run(self, api, name, nonces, interval, addrs, timeout):
        for k, n in enumerate(nonces):
            if k and self._stop.wait(interval):   # pacing between sends, not a wait for an event
                return
            b = Background(api.connect, name, addrs, n, obfs(), timeout=timeout)
            with self._lock:
                self._calls.append((n, b))

    def sent(self):
        with self._lock:
            return len(self._calls)

    def wait(self, timeout):
        deadline = time.monotonic() + timeout
        self._t.join(timeout)
        if self._t.is_alive():
            raise AssertionError("connect sender still running after %.1f s" % timeout)
        with self._lock:
            calls = list(self._calls)
        return [(n, b.wait(max(0.1, deadline - time.monotonic()))) for n, b in calls]


def read_events(es, count, timeout):
    """Exactly `count` events from es within timeout (AssertionError with
    what came if fewer: a timeout or the stream closing)."""
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < count:
        try:
            out.append(es.next_event(max(0.0, deadline - time.monotonic())))
        except (StreamTimeout, StreamClosed) as e:
            raise AssertionError("%d of %d events within %.1f s (%s); got %r"
                                 % (len(out), count, timeout, type(e).__name__,
                                    [(x.id, x.event) for x in out]))
    return out


def rss_kib(pid):
    """VmRSS of a process in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for pid %d" % pid)


def redis_info(st, section):
    """INFO <section> of the stack's Redis as a dict of strings."""
    out = {}
    for line in st.redis("INFO", section).splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            out[k] = v.strip()
    return out


ALARMING = re.compile(r"level=(error|warn)\b|AddressSanitizer|LeakSanitizer|runtime error:")


def alarming_lines(st, i):
    """Lines of worker i's log that are errors, warnings or sanitizer reports."""
    try:
        with open(st.worker_log(i), "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ["(no log at %s)" % st.worker_log(i)]
    return [ln for ln in text.splitlines() if ALARMING.search(ln)]


HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def aof_bytes(st):
    """Everything in the stack's append-only files (Redis 7 keeps them in
    appendonlydir/; older ones in appendonly.aof)."""
    rdir = os.path.join(st.rundir, "redis")
    paths = [os.path.join(rdir, "appendonly.aof")]
    d = os.path.join(rdir, "appendonlydir")
    if os.path.isdir(d):
        paths += [os.path.join(d, f) for f in sorted(os.listdir(d))]
    data = b""
    for p in paths:
        try:
            with open(p, "rb") as f:
                data += f.read()
        except FileNotFoundError:
            pass
    return data


def connect_accepted(api, name, n, o, retry_for=5.0, timeout=20.0):
    """connect, retried while a worker answers 503 store_unavailable (its
    Redis connections may still be coming back), for up to retry_for s."""
    t0 = time.monotonic()
    while True:
        r = api.connect(name, None, n, o, timeout=timeout)
        if r.status != 503 or time.monotonic() - t0 > retry_for:
            return r
        time.sleep(0.1)      # poll interval of the retry, bounded by retry_for


def punch_arrives(es, api, name, sid, what, timeout=8.0, reopen=None):
    """A connect through api (retried while 503) must put its punch on es.
    If es closes meanwhile and reopen is given, reopen() gives the next
    stream, which must get the punch (from the buffer). The punch is
    answered so the connect returns at once. Returns (1 or 0, the stream)."""
    n, o = nonce(), obfs()
    bg = Background(connect_accepted, api, name, n, o)
    deadline = time.monotonic() + timeout
    arrived = 0
    while time.monotonic() < deadline:
        try:
            ev = es.next_event(deadline - time.monotonic())
        except StreamTimeout:
            break
        except StreamClosed:
            if reopen is None:
                break
            es.close()
            es, reopen = reopen(), None
            if es.status != 200:
                raise AssertionError("%s: reopened stream answered %d %r"
                                     % (what, es.status, es.body))
            continue
        if ev.event == "punch" and ev.json()["nonce"] == n:
            arrived = 1
            break
    if arrived:
        r = api.answer(name, n, sid)
        if r.status != 204:
            raise AssertionError("%s: answer %d %r" % (what, r.status, r.body))
    r = bg.wait(timeout + 10)
    if r.status != 200:
        raise AssertionError("%s: connect %d %r" % (what, r.status, r.body))
    return arrived, es


def as_response(r):
    """An EventStream that answered with an error, as a client.Response (for
    expect_error); a Response as it is."""
    if isinstance(r, EventStream):
        r.close()
        return Response(r.status, "", list(r.headers.items()), r.body)
    return r


# -- a stack with a port for a client that never reads ---------------------------

def stuck_stack(base, **kwargs):
    """A Stack (subclass of base) whose nginx also listens on stuck_port,
    pinned to worker 1, with a small socket send buffer (sndbuf=8k). Without
    it, Linux grows nginx's send buffer toward a client that does not read
    up to net.ipv4.tcp_wmem's maximum (4 MB): the worker would see no back
    pressure until megabytes of events were sent. With it, a stuck client
    fills the path nginx -> worker within some 100 KB, and the worker's own
    queue (64 KiB, fcgi/park.h) decides."""

    class _Stuck(base):
        stuck_port = None

        def _nginx_conf(self):
            path = super()._nginx_conf()
            self.stuck_port = free_port()
            with open(path) as f:
                conf = f.read()
            anchor_map = "default hysteria_realm;"
            anchor_listen = "listen 127.0.0.1:%d;" % self.port
            if anchor_map not in conf or anchor_listen not in conf:
                raise RuntimeError("nginx.conf from stack.py has no %r or %r: update "
                                   "faults_util.stuck_stack" % (anchor_map, anchor_listen))
            conf = conf.replace(anchor_map, "%s\n        %d hr_w1;" % (anchor_map, self.stuck_port))
            conf = conf.replace(anchor_listen, "%s\n        listen 127.0.0.1:%d sndbuf=8k;"
                                % (anchor_listen, self.stuck_port))
            with open(path, "w") as f:
                f.write(conf)
            return path

    return _Stuck(**kwargs)


class StuckClient:
    """GET /v1/{name}/events on a raw socket with a small receive buffer,
    and then not one read until drain()."""

    def __init__(self, port, name, sid, rcvbuf=4096):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(5)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall(("GET /v1/%s/events HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                           "Authorization: Bearer %s\r\n\r\n" % (name, port, sid)).encode())

    def drain(self, timeout):
        """Read everything until the response ends (the last chunk, or the
        connection closing) or timeout. Returns (status, [(id, event, data)],
        ended)."""
        data = b""
        ended = False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                break
            except OSError:
                ended = True
                break
            if not chunk:
                ended = True
                break
            data += chunk
            if data.endswith(b"\r\n0\r\n\r\n"):
                ended = True
                break
        head, _, body = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else None
        if b"chunked" in head.lower():
            body = dechunk(body)
        events = [(int(m.group(1)), m.group(2).decode(), m.group(3).decode())
                  for m in re.finditer(rb"(?m)^id: (\d+)\nevent: (\S+)\ndata: (.*)\n\n", body)]
        return status, events, ended

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def dechunk(body):
    out = b""
    while body:
        line, sep, rest = body.partition(b"\r\n")
        if not sep:
            break
        try:
            size = int(line.split(b";")[0].strip() or b"0", 16)
        except ValueError:
            break
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2:]
    return out


def numsub(st, channel):
    """Subscribers of a Redis channel (each worker holding a stream of the
    realm subscribes once)."""
    r = st.redis("PUBSUB", "NUMSUB", channel)
    return int(r[1])


class Flood:
    """Heartbeats on one realm from `threads` threads, on kept-alive
    connections to port, until stop() or `limit` heartbeats. count() is how
    many were answered 200; errors() the other answers."""

    def __init__(self, port, name, sid, threads, limit):
        self._n = 0
        self._ok = 0
        self._errs = []
        self._limit = limit
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ts = [threading.Thread(target=self._run, args=(port, name, sid), daemon=True)
                    for _ in range(threads)]
        for t in self._ts:
            t.start()

    def _run(self, port, name, sid):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            while not self._stop.is_set():
                with self._lock:
                    if self._n >= self._limit:
                        return
                    self._n += 1
                try:
                    conn.request("POST", "/v1/%s/heartbeat" % name, body=b"",
                                 headers={"Authorization": "Bearer " + sid})
                    r = conn.getresponse()
                    r.read()
                    status = r.status
                except (OSError, http.client.HTTPException) as e:
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                    status = "error %s" % e
                with self._lock:
                    if status == 200:
                        self._ok += 1
                    elif len(self._errs) < 20:
                        self._errs.append(status)
        finally:
            conn.close()

    def count(self):
        with self._lock:
            return self._ok

    def errors(self):
        with self._lock:
            return list(self._errs)

    def running(self):
        return any(t.is_alive() for t in self._ts)

    def stop(self, timeout=15):
        self._stop.set()
        for t in self._ts:
            t.join(timeout)
        if self.running():
            raise AssertionError("flood threads still running %.0f s after stop" % timeout)


# -- deploy/local ---------------------------------------------------------------

def port_free(port):
    """Nothing listens on 127.0.0.1:port."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(1)
    try:
        return s.connect_ex(("127.0.0.1", port)) != 0
    finally:
        s.close()


def dpkg_installed(pkg):
    p = subprocess.run(["dpkg", "-s", pkg], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return p.returncode == 0


def new_token():
    return secrets.token_hex(16)


def tail(p, n=600):
    """The end of a finished command's output, on one line."""
    text = ((p.stdout or "") + (p.stderr or ""))[-n:]
    return " ".join(text.split())


def build_failed(p):
    out = (p.stdout or "") + (p.stderr or "")
    return "make: ***" in out or "configure: error" in out


class DeployLocal:
    """Runs deploy/local in the repository, each call with a time limit;
    a call that overruns is killed (its whole process group) and reported
    as exit status -9."""

    def __init__(self, timeout=120):
        self.script = os.path.join(REPO, "deploy", "local")
        self.timeout = timeout

    def run(self, *args):
        env = dict(os.environ)
        env["PATH"] = env.get("PATH", "") + ":/usr/sbin:/sbin"
        for k in list(env):
            if k.startswith("HYSTERIA_REALM_"):
                del env[k]
        p = subprocess.Popen([self.script] + list(args), cwd=REPO, env=env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            out, err = p.communicate(timeout=self.timeout)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, err = p.communicate()
            rc = -9
            err += "\n(deploy/local %s killed after %d s)" % (" ".join(args), self.timeout)
        return subprocess.CompletedProcess([self.script] + list(args), rc, out, err)
