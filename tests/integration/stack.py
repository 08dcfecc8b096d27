"""stack.py -- a throwaway rendezvous stack for the integration tests.

Stack.start() runs, on free loopback ports under a fresh temporary run dir:
a private redis-server (deploy/redis.conf.in), N workers (the binary from
$RR_WORKER, default build-test/hysteria-realm-fcgi, each on its own unix
socket) and one nginx (deploy/nginx/local.conf.in) with the pool on
Stack.port and one extra port pinned to each worker (Stack.worker_ports[i]).
Readiness is polled with deadlines. Stack.stop() tears everything down; an
atexit hook does it too if a test run dies half way.

Worker stderr goes to $RR_LOG_DIR (default: the run dir) as
<stack>-w<i>.log so that tests/run can scan it for sanitizer reports.
"""

import atexit
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time

from client import Api, request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

_live_stacks = []


def _cleanup_all():
    for st in list(_live_stacks):
        try:
            st.stop()
        except Exception:
            pass


atexit.register(_cleanup_all)


def free_port():
    """A loopback TCP port nobody listens on right now."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def worker_binary():
    path = os.environ.get("RR_WORKER") or os.path.join(REPO, "build-test", "hysteria-realm-fcgi")
    return os.path.abspath(path)


def find_program(name):
    p = shutil.which(name)
    if p:
        return p
    for d in ("/usr/sbin", "/usr/bin", "/sbin", "/usr/local/sbin", "/usr/local/bin"):
        if os.access(os.path.join(d, name), os.X_OK):
            return os.path.join(d, name)
    raise RuntimeError("%s not found (install it: see tests/run)" % name)


def wait_until(pred, timeout, what, interval=0.02):
    """Poll pred() until it returns true; RuntimeError after timeout."""
    deadline = time.monotonic() + timeout
    last_err = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # keep polling; report the last error
            last_err = e
        if time.monotonic() >= deadline:
            raise RuntimeError("timed out after %.1f s waiting for %s%s" % (
                timeout, what, (": %s" % last_err) if last_err else ""))
        time.sleep(interval)


def redis_command(port, *args, timeout=2.0):
    """Send one command to Redis on port, return the decoded reply
    (str, int, list or None); raises on an error reply."""
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(out)
        f = s.makefile("rb")
        return _resp_read(f)
    finally:
        s.close()


def _resp_read(f):
    line = f.readline()
    if not line:
        raise ConnectionError("redis closed the connection")
    t, rest = line[:1], line[1:-2]
    if t == b"+":
        return rest.decode()
    if t == b"-":
        raise RuntimeError("redis error: " + rest.decode())
    if t == b":":
        return int(rest)
    if t == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode("utf-8", "replace")
    if t == b"*":
        n = int(rest)
        if n < 0:
            return None
        return [_resp_read(f) for _ in range(n)]
    raise RuntimeError("bad redis reply %r" % line)


class Stack:
    """Redis + workers + nginx on loopback. See the module comment."""

    _counter = 0

    def __init__(self, workers=2, worker_args=(), token=None, name=None,
                 nginx_extra="", worker_env=None):
        Stack._counter += 1
        self.name = name or "stack%d" % Stack._counter
        self.nworkers = workers
        self.worker_args = list(worker_args)
        self.worker_env = dict(worker_env or {})
        self.token = token or secrets.token_hex(16)
        self.nginx_extra = nginx_extra
        self.rundir = None
        self.port = None
        self.worker_ports = []
        self.redis_port = None
        self.redis_proc = None
        self.nginx_proc = None
        self.workers = []          # subprocess.Popen or None, per worker
        self.expected_dead = set() # workers the tests stopped on purpose
        self.exit_codes = {}       # worker index -> exit code seen at stop/kill
        self.unexpected = []       # "worker i died with rc" found at stop
        self._own_rundir = False

    # -- paths -------------------------------------------------------------

    def sock_path(self, i):
        return os.path.join(self.rundir, "w%d.sock" % (i + 1))

    def worker_log(self, i):
        d = os.environ.get("RR_LOG_DIR") or self.rundir
        return os.path.join(d, "%s-w%d.log" % (self.name, i + 1))

    # -- lifecycle ---------------------------------------------------------

    def start(self, workers=None, worker_args=None, nginx_extra=None):
        """Start the stack; the arguments, if given, override the
        constructor's. Returns self."""
        if workers is not None:
            self.nworkers = workers
        if worker_args is not None:
            self.worker_args = list(worker_args)
        if nginx_extra is not None:
            self.nginx_extra = nginx_extra
        _live_stacks.append(self)
        try:
            self.rundir = tempfile.mkdtemp(prefix="rr-%s-" % self.name)
            self._own_rundir = True
            os.makedirs(os.path.join(self.rundir, "redis"))
            os.makedirs(os.path.join(self.rundir, "nginx-tmp"))
            if os.environ.get("RR_LOG_DIR"):
                os.makedirs(os.environ["RR_LOG_DIR"], exist_ok=True)
            self.redis_port = free_port()
            self.port = free_port()
            self.worker_ports = [free_port() for _ in range(self.nworkers)]
            self.workers = [None] * self.nworkers
            self._write_redis_conf()
            self.redis_start()
            for i in range(self.nworkers):
                self.start_worker(i, wait=False)
            for i in range(self.nworkers):
                self._wait_socket(i)
            self._start_nginx()
            for i in range(self.nworkers):
                self.wait_worker_http(i)
            self.wait_http(self.port, "the pool port")
        except Exception:
            self.stop()
            raise
        return self

    def stop(self):
        """Stop nginx, the workers (SIGTERM, then SIGKILL after 10 s) and
        Redis; remove the run dir. Records exit codes and unexpected deaths."""
        if self.nginx_proc is not None:
            self._terminate(self.nginx_proc, signal.SIGTERM, 5)
            self.nginx_proc = None
        for i, p in enumerate(self.workers):
            if p is None:
                continue
            rc = p.poll()
            if rc is not None:
                if i not in self.expected_dead:
                    self.unexpected.append("worker %d died during the tests (exit %d)" % (i + 1, rc))
            else:
                rc = self._terminate(p, signal.SIGTERM, 10)
            self.exit_codes[i] = rc
            self.workers[i] = None
        self.redis_stop()
        if self._own_rundir and self.rundir and os.path.isdir(self.rundir):
            if os.environ.get("RR_KEEP_RUNDIR"):
                print("kept run dir %s" % self.rundir)
            else:
                shutil.rmtree(self.rundir, ignore_errors=True)
        if self in _live_stacks:
            _live_stacks.remove(self)

    @staticmethod
    def _terminate(p, sig, timeout):
        if p.poll() is None:
            try:
                p.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        return p.returncode

    # -- redis -------------------------------------------------------------

    def _write_redis_conf(self):
        rdir = os.path.join(self.rundir, "redis")
        with open(os.path.join(REPO, "deploy", "redis.conf.in")) as f:
            conf = f.read()
        conf = conf.replace("@PORT@", str(self.redis_port)).replace("@RUNDIR@", rdir)
        with open(os.path.join(rdir, "redis.conf"), "w") as f:
            f.write(conf)

    def redis_start(self):
        """Start redis-server on the stack's port with its data dir (the
        append-only file brings back what was there). Waits for PONG."""
        if self.redis_proc is not None and self.redis_proc.poll() is None:
            return
        rdir = os.path.join(self.rundir, "redis")
        self.redis_proc = subprocess.Popen(
            [find_program("redis-server"), os.path.join(rdir, "redis.conf")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            cwd=rdir)

        def ready():
            if self.redis_proc.poll() is not None:
                raise RuntimeError("redis-server exited with %d; see %s/redis.log"
                                   % (self.redis_proc.returncode, rdir))
            return self.redis("PING") == "PONG"
        wait_until(ready, 15, "redis PONG")

    def redis_stop(self):
        """Stop redis-server (SIGTERM: it flushes the append-only file)."""
        if self.redis_proc is not None:
            self._terminate(self.redis_proc, signal.SIGTERM, 10)
            self.redis_proc = None

    def redis(self, *args):
        return redis_command(self.redis_port, *args)

    # -- workers -----------------------------------------------------------

    def worker_cmd(self, i):
        return [worker_binary(),
                "--listen", self.sock_path(i),
                "--redis", "redis://127.0.0.1:%d/0" % self.redis_port,
                "--token", self.token,
                "--scripts-dir", os.path.join(REPO, "sql")] + self.worker_args

    def worker_environ(self):
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("HYSTERIA_REALM_"):
                del env[k]
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        env.update(self.worker_env)
        return env

    def start_worker(self, i, wait=True):
        """Start worker i (after removing a socket left by a killed one)."""
        binary = worker_binary()
        if not os.access(binary, os.X_OK):
            raise RuntimeError("worker binary %s is missing (build it, or set RR_WORKER)" % binary)
        try:
            os.unlink(self.sock_path(i))
        except FileNotFoundError:
            pass
        log = open(self.worker_log(i), "ab")
        try:
            self.workers[i] = subprocess.Popen(
                self.worker_cmd(i), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                env=self.worker_environ(), cwd=self.rundir)
        finally:
            log.close()
        self.expected_dead.discard(i)
        if wait:
            self._wait_socket(i)
            if self.nginx_proc is not None:
                self.wait_worker_http(i)

    def _wait_socket(self, i):
        path = self.sock_path(i)

        def ready():
            p = self.workers[i]
            if p.poll() is not None:
                raise RuntimeError("worker %d exited with %d at start: %s"
                                   % (i + 1, p.returncode, self.log_tail(i)))
            try:
                return stat.S_ISSOCK(os.stat(path).st_mode)
            except FileNotFoundError:
                return False
        wait_until(ready, 20, "worker %d socket %s" % (i + 1, path))

    def kill_worker(self, i, sig=signal.SIGKILL, timeout=10):
        """Send sig to worker i and wait for it to exit; returns the exit
        code (negative: killed by that signal)."""
        p = self.workers[i]
        self.expected_dead.add(i)
        p.send_signal(sig)
        try:
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
            raise AssertionError("worker %d did not exit within %d s of signal %d"
                                 % (i + 1, timeout, sig))
        self.exit_codes[i] = rc
        return rc

    def worker_alive(self, i):
        p = self.workers[i]
        return p is not None and p.poll() is None

    def worker_pid(self, i):
        return self.workers[i].pid

    def log_tail(self, i, n=2000):
        try:
            with open(self.worker_log(i), "rb") as f:
                data = f.read()
            return data[-n:].decode("utf-8", "replace")
        except OSError:
            return "(no log)"

    # -- nginx -------------------------------------------------------------

    def _nginx_conf(self):
        with open(os.path.join(REPO, "deploy", "nginx", "local.conf.in")) as f:
            conf = f.read()
        user = pwd.getpwuid(os.geteuid()).pw_name
        # max_fails=0: a restarted worker is used again at once (the tests
        # kill and restart workers; nginx would otherwise skip it for 10 s).
        pool = " ".join("server unix:%s max_fails=0;" % self.sock_path(i)
                        for i in range(self.nworkers))
        ups = "\n    ".join("upstream hr_w%d { server unix:%s; }" % (i + 1, self.sock_path(i))
                            for i in range(self.nworkers))
        listen = "\n        ".join("listen 127.0.0.1:%d;" % p for p in self.worker_ports)
        pmap = "\n        ".join("%d hr_w%d;" % (p, i + 1) for i, p in enumerate(self.worker_ports))
        for k, v in (("@USER@", user), ("@RUNDIR@", self.rundir), ("@PORT@", str(self.port)),
                     ("@UPSTREAM_SERVERS@", pool), ("@EXTRA_UPSTREAMS@", ups),
                     ("@EXTRA_LISTEN@", listen + "\n        " + self.nginx_extra),
                     ("@PORT_MAP@", pmap)):
            conf = conf.replace(k, v)
        path = os.path.join(self.rundir, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        return path

    def _start_nginx(self):
        conf = self._nginx_conf()
        nginx = find_program("nginx")
        err = os.path.join(self.rundir, "nginx-error.log")
        t = subprocess.run([nginx, "-t", "-q", "-p", self.rundir, "-c", conf, "-e", err],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if t.returncode != 0:
            raise RuntimeError("nginx -t failed: %s" % (t.stderr.strip() or t.stdout.strip()))
        self.nginx_proc = subprocess.Popen(
            [nginx, "-p", self.rundir, "-c", conf, "-e", err],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def wait_http(self, port, what, timeout=20):
        """Poll port until a worker answers (404 for an unknown path;
        nginx's 503 worker_unavailable means not yet)."""
        def ready():
            if self.nginx_proc is not None and self.nginx_proc.poll() is not None:
                raise RuntimeError("nginx exited with %d; see %s/nginx-error.log"
                                   % (self.nginx_proc.returncode, self.rundir))
            r = request(port, "GET", "/", timeout=2)
            return r.status == 404
        wait_until(ready, timeout, "HTTP on %s (port %d)" % (what, port), interval=0.05)

    def wait_worker_http(self, i, timeout=20):
        self.wait_http(self.worker_ports[i], "worker %d" % (i + 1), timeout)

    # -- clients -----------------------------------------------------------

    def api(self, worker=None):
        """An Api on the pool port, or on the port pinned to one worker."""
        port = self.port if worker is None else self.worker_ports[worker]
        return Api(port, self.token)


# -- how a test says which stack it needs -------------------------------------

# The shared default stack: no per-IP limit, so the many tests that register
# from 127.0.0.1 do not run into it (the limits have stacks of their own).
DEFAULT_ARGS = ("--max-realms-per-ip", "0")


def uses(args=DEFAULT_ARGS, workers=2, fresh=False, stack=True, timeout=90,
         parallel=False):
    """Decorate a test function with the stack it needs.

    args/workers: worker flags and count; tests with equal ones share one
    stack. fresh: a stack of its own (the test stops Redis or kills workers).
    stack=False: the test takes no stack argument. parallel: run beside the
    other tests of its stack (for slow tests that mostly wait). timeout:
    seconds before the runner gives up on it."""
    def deco(f):
        f.rr_stack = dict(args=tuple(args), workers=workers, fresh=fresh,
                          stack=stack, timeout=timeout, parallel=parallel)
        return f
    return deco
