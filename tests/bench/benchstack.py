"""benchstack.py -- a minimal launcher for the benchmark (stdlib only).

Redis (deploy/redis.conf.in), N workers from build-bench/ (each on its own
unix socket) and nginx (a whole nginx.conf derived from
deploy/nginx/local.conf.in, see nginx_conf()) on free loopback ports under a
temporary run dir. A stack may run another build of the worker (worker=)
with another source tree's deploy/ files and sql/ scripts (tree=): the A/B
runs the old build with the old tree's nginx template and Lua scripts.
Everything started here is stopped by pid: Stack.stop(), an atexit hook and
the SIGTERM/SIGINT handler installed by bench.py.

It is independent of tests/integration/stack.py on purpose (that file is
edited by others; the bench must not break when it changes).
"""

import atexit
import os
import pwd
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from common import find_program, free_port, redis_command, wait_until  # noqa: E402,F401
WORKER = os.environ.get("BENCH_WORKER") or os.path.join(REPO, "build-bench", "hysteria-realm-fcgi")

_live = []


def _cleanup():
    for st in list(_live):
        try:
            st.stop()
        except Exception:
            pass


atexit.register(_cleanup)


def cleanup_all():
    _cleanup()


def raise_nofile():
    """Raise this process's soft RLIMIT_NOFILE to its hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# -- tiny HTTP and Redis clients ---------------------------------------------

def http(port, method, path, body=None, auth=None, timeout=10.0):
    """One request on a fresh connection; returns (status, body bytes)."""
    hdr = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1", "Connection: close"]
    if auth:
        hdr.append("Authorization: Bearer " + auth)
    data = b""
    if body is not None:
        data = body if isinstance(body, bytes) else body.encode()
        hdr.append("Content-Type: application/json")
        hdr.append("Content-Length: %d" % len(data))
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(("\r\n".join(hdr) + "\r\n\r\n").encode() + data)
        buf = b""
        while True:
            c = s.recv(65536)
            if not c:
                break
            buf += c
    finally:
        s.close()
    head, _, rest = buf.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head.lower():
        out = b""
        while rest:
            line, _, rest = rest.partition(b"\r\n")
            n = int(line.split(b";")[0] or b"0", 16)
            if n == 0:
                break
            out += rest[:n]
            rest = rest[n + 2:]
        rest = out
    return status, rest


# -- /proc ---------------------------------------------------------------------

def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_ticks(pid):
    """utime + stime of a process (all threads), in clock ticks."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
        fields = s[s.rindex(")") + 2:].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError):
        return 0


def children(pid):
    out = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return 0


# -- nginx.conf ----------------------------------------------------------------

FIXED_LOCATION = """
        # bench: the ceiling, nginx answering by itself
        location = /fixed {
            default_type application/json;
            return 200 '{"ttl":60}\\n';
        }
"""


def nginx_conf(template, rundir, port, sockets, user, opts):
    """The bench's nginx.conf: deploy/nginx/local.conf.in with these changes
    (each one listed in RESULTS.md):
      worker_processes   opts['worker_processes'] (2)
      worker_connections opts['worker_connections'], when set
      listen             '... reuseport' (the kernel spreads connections
                         evenly over the nginx workers; without it one
                         worker may take most of them and hit its fd limit)
      location = /fixed  added (the ceiling)
      fastcgi_buffer_size, client_header_buffer_size, request_pool_size,
      connection_pool_size: opts, when set (every line of the template
                         that sets one, or a line added to the server)
      access_log         'off' when opts['access_log'] is False
      fastcgi_pass       'hysteria_realm' instead of '$hr_upstream' (as in
                         deploy/nginx/hysteria-realm.conf) unless
                         opts['direct_pass'] is False
    Raises if the template no longer has a line this relies on."""
    conf = template
    pool = " ".join("server unix:%s;" % s for s in sockets)
    for k, v in (("@USER@", user), ("@RUNDIR@", rundir), ("@PORT@", str(port)),
                 ("@UPSTREAM_SERVERS@", pool), ("@EXTRA_UPSTREAMS@", ""),
                 ("@EXTRA_LISTEN@", ""), ("@PORT_MAP@", ""),
                 # newer templates: no metrics listen, no TLS
                 ("@METRICS_SERVER@", ""), ("@TLS_LISTEN@", "")):
        conf = conf.replace(k, v)

    def sub(pattern, repl, what):
        nonlocal conf
        conf, n = re.subn(pattern, repl, conf, count=1, flags=re.M)
        if n != 1:
            raise RuntimeError("deploy/nginx/local.conf.in changed: no %s line" % what)

    sub(r"^(\s*)worker_processes\s+\S+;", r"\g<1>worker_processes %d;" % opts.get("worker_processes", 2),
        "worker_processes")
    if opts.get("worker_connections"):
        sub(r"^(\s*)worker_connections\s+\d+;", r"\g<1>worker_connections %d;" % opts["worker_connections"],
            "worker_connections")
    sub(r"^(\s*)listen\s+127\.0\.0\.1:%d;" % port, r"\g<1>listen 127.0.0.1:%d reuseport backlog=4096;" % port,
        "listen")
    extra = []
    # a size set in opts replaces every line of the template that sets it
    # (fastcgi_buffer_size is set for the server and again for the events
    # location), or is added to the server block when the template has none
    for key in ("fastcgi_buffer_size", "client_header_buffer_size", "request_pool_size",
                "connection_pool_size"):
        if not opts.get(key):
            continue
        conf, n = re.subn(r"^(\s*)%s\s+\S+;" % key, r"\g<1>%s %s;" % (key, opts[key]), conf, flags=re.M)
        if n == 0:
            extra.append("%s %s;" % (key, opts[key]))
    if opts.get("direct_pass", True):
        # as in deploy/nginx/hysteria-realm.conf: the pool by name (the map
        # variable in local.conf.in exists for the tests' pinned ports)
        conf, n = re.subn(r"fastcgi_pass\s+\$hr_upstream;", "fastcgi_pass hysteria_realm;", conf)
        if n == 0:
            raise RuntimeError("deploy/nginx/local.conf.in changed: no fastcgi_pass $hr_upstream")
    if opts.get("access_log") is False:
        sub(r"^(\s*)access_log\s+[^;]+;", r"\g<1>access_log off;", "access_log")
    sub(r"^(\s*)server_name\s+_;",
        lambda m: m.group(0) + "".join("\n%s%s" % (m.group(1), e) for e in extra) + FIXED_LOCATION,
        "server_name")
    return conf


# -- the stack -----------------------------------------------------------------

class Stack:
    def __init__(self, workers=1, worker_args=(), nginx_opts=None, token="benchtoken0123456789abcdef",
                 redis_port=None, rundir=None, worker=None, tree=None):
        # worker: the binary (default WORKER, read at start); tree: the
        # source tree whose deploy/ templates and sql/ go with it
        self.worker = worker
        self.tree = tree or REPO
        self.nworkers = workers
        self.worker_args = list(worker_args)
        self.nginx_opts = dict(nginx_opts or {})
        self.token = token
        self.rundir = rundir
        self.own_rundir = rundir is None
        self.port = None
        self.redis_port = redis_port
        self.redis_proc = None
        self.workers = []
        self.nginx_proc = None

    # paths
    def sock(self, i):
        return os.path.join(self.rundir, "w%d.sock" % (i + 1))

    def start(self):
        _live.append(self)
        try:
            if self.rundir is None:
                self.rundir = tempfile.mkdtemp(prefix="rr-bench-")
            os.makedirs(os.path.join(self.rundir, "redis"), exist_ok=True)
            os.makedirs(os.path.join(self.rundir, "nginx-tmp"), exist_ok=True)
            self.start_redis()
            self.start_workers()
            self.start_nginx()
        except Exception:
            self.stop()
            raise
        return self

    def stop(self):
        self.stop_nginx()
        self.stop_workers()
        self.stop_redis()
        if self.own_rundir and self.rundir and os.path.isdir(self.rundir) \
                and not os.environ.get("BENCH_KEEP_RUNDIR"):
            shutil.rmtree(self.rundir, ignore_errors=True)
        if self in _live:
            _live.remove(self)

    @staticmethod
    def _term(p, timeout=10):
        if p is None or p.poll() is not None:
            return
        try:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
        except ProcessLookupError:
            pass

    # redis
    def start_redis(self):
        if self.redis_proc is not None:
            return
        rdir = os.path.join(self.rundir, "redis")
        if self.redis_port is None:
            self.redis_port = free_port()
        with open(os.path.join(self.tree, "deploy", "redis.conf.in")) as f:
            conf = f.read().replace("@PORT@", str(self.redis_port)).replace("@RUNDIR@", rdir)
        conf += "\nmaxclients 20000\n"
        with open(os.path.join(rdir, "redis.conf"), "w") as f:
            f.write(conf)
        self.redis_proc = subprocess.Popen(
            [find_program("redis-server"), os.path.join(rdir, "redis.conf")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            cwd=rdir, preexec_fn=raise_nofile)

        def ready():
            if self.redis_proc.poll() is not None:
                raise RuntimeError("redis-server exited; see %s/redis.log" % rdir)
            return redis_command(self.redis_port, "PING") == "PONG"
        wait_until(ready, 15, "redis")

    def stop_redis(self):
        self._term(self.redis_proc)
        self.redis_proc = None

    def redis(self, *args):
        return redis_command(self.redis_port, *args)

    # workers
    def start_workers(self, n=None, args=None):
        if n is not None:
            self.nworkers = n
        if args is not None:
            self.worker_args = list(args)
        binary = self.worker or WORKER
        if not os.access(binary, os.X_OK):
            raise RuntimeError("%s missing: build build-bench first" % binary)
        env = {k: v for k, v in os.environ.items() if not k.startswith("HYSTERIA_REALM_")}
        self.workers = []
        for i in range(self.nworkers):
            try:
                os.unlink(self.sock(i))
            except FileNotFoundError:
                pass
            log = open(os.path.join(self.rundir, "w%d.log" % (i + 1)), "ab")
            try:
                cmd = [binary, "--listen", self.sock(i),
                       "--redis", "redis://127.0.0.1:%d/0" % self.redis_port,
                       "--token", self.token,
                       "--scripts-dir", os.path.join(self.tree, "sql")] + self.worker_args
                self.workers.append(subprocess.Popen(
                    cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                    cwd=self.rundir, preexec_fn=raise_nofile))
            finally:
                log.close()
        for i in range(self.nworkers):
            def ready(i=i):
                if self.workers[i].poll() is not None:
                    raise RuntimeError("worker %d exited: %s" % (i + 1, self.worker_log(i)[-500:]))
                return os.path.exists(self.sock(i))
            wait_until(ready, 20, "worker %d socket" % (i + 1))

    def stop_workers(self):
        for p in self.workers:
            self._term(p)
        self.workers = []

    def worker_log(self, i):
        try:
            with open(os.path.join(self.rundir, "w%d.log" % (i + 1)), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def worker_pids(self):
        return [p.pid for p in self.workers]

    # nginx
    def start_nginx(self, opts=None):
        if opts is not None:
            self.nginx_opts = dict(opts)
        if self.port is None:
            self.port = free_port()
        with open(os.path.join(self.tree, "deploy", "nginx", "local.conf.in")) as f:
            template = f.read()
        conf = nginx_conf(template, self.rundir, self.port,
                          [self.sock(i) for i in range(self.nworkers)],
                          pwd.getpwuid(os.geteuid()).pw_name, self.nginx_opts)
        path = os.path.join(self.rundir, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        self.nginx_conf_text = conf
        nginx = find_program("nginx")
        err = os.path.join(self.rundir, "nginx-error.log")
        t = subprocess.run([nginx, "-t", "-q", "-p", self.rundir, "-c", path, "-e", err],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if t.returncode != 0:
            raise RuntimeError("nginx -t: %s" % (t.stderr.strip() or t.stdout.strip()))
        self.nginx_proc = subprocess.Popen(
            [nginx, "-p", self.rundir, "-c", path, "-e", err],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=raise_nofile)
        want = self.nginx_opts.get("worker_processes", 2)

        def ready():
            if self.nginx_proc.poll() is not None:
                raise RuntimeError("nginx exited; see %s" % err)
            if len(children(self.nginx_proc.pid)) < want:
                return False
            return http(self.port, "GET", "/", timeout=2)[0] == 404
        wait_until(ready, 20, "nginx and the workers answering", interval=0.05)

    def stop_nginx(self):
        self._term(self.nginx_proc)
        self.nginx_proc = None

    def nginx_pids(self):
        if self.nginx_proc is None:
            return []
        return [self.nginx_proc.pid] + children(self.nginx_proc.pid)

    def nginx_worker_pids(self):
        return children(self.nginx_proc.pid) if self.nginx_proc else []

    def redis_pid(self):
        return self.redis_proc.pid if self.redis_proc else None

    # API helpers
    def register(self, name, addrs=("203.0.113.10:4433",)):
        body = '{"addresses":[%s]}' % ",".join('"%s"' % a for a in addrs)
        st, b = http(self.port, "POST", "/v1/" + name, body, auth=self.token)
        if st != 200:
            raise RuntimeError("register %s: %d %r" % (name, st, b[:200]))
        m = re.search(rb'"session_id":"([0-9a-f]{32})"', b)
        return m.group(1).decode()
