"""stack.py -- a throwaway rendezvous stack for the integration tests.

Stack.start() runs, under a fresh temporary run dir: a private redis-server
(deploy/redis.conf.in), N workers (the binary from $RR_WORKER, default
build-test/hysteria-realm-fcgi) and one proxy with the pool on Stack.port and
one extra port pinned to each worker (Stack.worker_ports[i]), all on
127.0.0.1 as far as the tests can tell. Readiness is polled with deadlines.
Stack.stop() tears everything down; an atexit hook (and SIGTERM/SIGHUP,
which unwind to it) does it too if a test run dies half way.

Two choices, each a Stack argument or an environment variable, so that the
same tests run unchanged in every mode:

  proxy  RR_PROXY=nginx|lighttpd (default nginx): deploy/nginx/local.conf.in
         or deploy/lighttpd/local.conf.in.
  hosts  RR_HOSTS=1|2 (default 1). 1: everything in this network namespace,
         each worker on its own unix socket. 2: two network namespaces made
         for this run ("hosts" A and B, see Hosts below) on 10.231.X.0/24;
         Redis and worker 1 (3, 5, ...) in A, worker 2 (4, ...) in B, each
         worker on TCP FastCGI at its host's address; the proxy and the tests
         stay here and reach both hosts over a veth. Needs `ip netns` (root).

TLS (nginx only): Stack(tls=(certfile, keyfile)) adds an HTTPS listen with
HTTP/2 (ALPN) on Stack.tls_port, 127.0.0.1, serving the pool like Stack.port
(tests/integration/tlsutil.py makes the files).

Worker stderr goes to $RR_LOG_DIR (default: the run dir) as
<stack>-w<i>.log so that tests/run can scan it for sanitizer reports; at
stop() the proxy's and Redis's logs are appended there too, as
<stack>-nginx-access.log, <stack>-redis.log, ... (scan_secrets.py).

A test that cannot apply to a mode raises Skip("why"): run.py prints it as
SKIP and counts it apart.
"""

import atexit
import fcntl
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time

from client import Api, record_secret, request
from common import (_resp_read, find_program, free_port, redis_command,  # noqa: F401
                    wait_until)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

PROXIES = ("nginx", "lighttpd")

_live_stacks = []
_hosts = None          # the Hosts of this process, made by the first two-host stack
_hosts_lock = threading.Lock()


def _cleanup_all():
    """Stop every live stack, then remove this run's namespaces (one atexit
    hook, so that the order is right)."""
    for st in list(_live_stacks):
        try:
            st.stop()
        except Exception:
            pass
    h = _hosts
    if h is not None:
        try:
            h.remove()
        except Exception as e:
            print("stack.py: could not remove network namespaces: %s" % e, flush=True)


atexit.register(_cleanup_all)


def _exit_on_signal(signum, frame):
    # Unwind (finally blocks, then the atexit hook above) instead of dying
    # with namespaces, veths and processes left behind.
    raise SystemExit(128 + signum)


def _install_signal_cleanup():
    """SIGTERM and SIGHUP unwind to the atexit hook, unless the program
    already handles them (run.py does SIGTERM). SIGINT already raises
    KeyboardInterrupt, which unwinds too."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            if signal.getsignal(sig) in (signal.SIG_DFL, None):
                signal.signal(sig, _exit_on_signal)
        except (ValueError, OSError):
            pass


def default_proxy():
    p = os.environ.get("RR_PROXY") or "nginx"
    if p not in PROXIES:
        raise RuntimeError("RR_PROXY=%r: expected one of %s" % (p, ", ".join(PROXIES)))
    return p


def default_hosts():
    h = os.environ.get("RR_HOSTS") or "1"
    if h not in ("1", "2"):
        raise RuntimeError("RR_HOSTS=%r: expected 1 or 2" % h)
    return int(h)


def mode_name(proxy=None, hosts=None):
    """A short label of a mode, e.g. "nginx", "lighttpd", "nginx-2hosts"."""
    proxy = proxy or default_proxy()
    hosts = hosts or default_hosts()
    return proxy if hosts == 1 else "%s-%dhosts" % (proxy, hosts)


def worker_binary():
    path = os.environ.get("RR_WORKER") or os.path.join(REPO, "build-test", "hysteria-realm-fcgi")
    return os.path.abspath(path)


def net_ns_inode(pid):
    """The inode of a process's network namespace (/proc/PID/ns/net): two
    processes share a network namespace exactly when these are equal."""
    return os.stat("/proc/%d/ns/net" % pid).st_ino


def tcp_listening(pid, addr, port):
    """True if a socket listens on addr:port (IPv4) in the network namespace
    of process pid (read from /proc/PID/net/tcp: no connection is made)."""
    want = "%s:%04X" % ("".join("%02X" % int(b) for b in reversed(addr.split("."))), port)
    with open("/proc/%d/net/tcp" % pid) as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[1] == want and fields[3] == "0A":   # 0A: LISTEN
                return True
    return False


def tcp_connected(pid, addr, port):
    """True if a TCP connection to addr:port (IPv4) is established in the
    network namespace of process pid (/proc/PID/net/tcp)."""
    want = "%s:%04X" % ("".join("%02X" % int(b) for b in reversed(addr.split("."))), port)
    with open("/proc/%d/net/tcp" % pid) as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[2] == want and fields[3] == "01":   # 01: ESTABLISHED
                return True
    return False


def _pid_alive(pid):
    """pid is a process that has not exited (a zombie has)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def metrics_server(port, admin_port):
    """deploy/nginx/metrics.conf.in for the ports: the /metrics and the
    admin API listens."""
    with open(os.path.join(REPO, "deploy", "nginx", "metrics.conf.in")) as f:
        return f.read().replace("@METRICS_PORT@", str(port)).replace("@ADMIN_PORT@", str(admin_port))


class Skip(Exception):
    """Raised by a test that does not apply to the stack's mode (the reason
    is printed as "SKIP name: reason")."""


# -- two hosts: network namespaces ----------------------------------------------

class Hosts:
    """Two "hosts" for a run: network namespaces rr-<pid>-a and rr-<pid>-b,
    joined by a bridge in a third, rr-<pid>-br, into which this namespace
    also has a veth (rr<pid>h). One subnet, 10.231.X.0/24, X picked free
    under a lock: .1 here (the proxy and the tests), .2 host A, .3 host B.
    Nothing else in this namespace is touched: its only change is the one
    veth end and its address (whose connected route comes with it).

    Made once per process by the first two-host Stack and removed at exit
    (atexit, or SIGTERM/SIGHUP/SIGINT unwinding to it). Namespaces left by a
    run that was killed outright (its pid gone) are removed by the next."""

    LOCK = "/tmp/rr-netns.lock"
    NS_RE = re.compile(r"^rr-(\d+)-(a|b|br)$")

    def __init__(self):
        pid = os.getpid()
        self.pid = pid
        self.ns = {"a": "rr-%d-a" % pid, "b": "rr-%d-b" % pid}
        self.bridge_ns = "rr-%d-br" % pid
        self.veth = "rr%dh" % pid             # at most 15 characters
        self.subnet = None
        self.addr = {}
        self.ip = find_program("ip")
        self._made = []                       # namespaces made, for remove()

    def names(self):
        return [self.ns["a"], self.ns["b"], self.bridge_ns]

    def _ip(self, *args, check=True):
        p = subprocess.run([self.ip] + list(args), stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=20)
        if check and p.returncode != 0:
            raise RuntimeError("`ip %s` failed (exit %d): %s" % (
                " ".join(args), p.returncode, (p.stderr or p.stdout).strip()))
        return p

    def exec_prefix(self, host):
        """argv prefix that runs a program on host "a" or "b"."""
        return [self.ip, "netns", "exec", self.ns[host]]

    # -- make and remove -------------------------------------------------

    def create(self):
        self._sweep_stale()
        try:
            first = self._ip("netns", "add", self.ns["a"], check=False)
            why = (first.stderr or first.stdout).strip()
            if first.returncode != 0 and ("not permitted" in why or "denied" in why):
                raise RuntimeError(
                    "two-host mode (RR_HOSTS=2) needs `ip netns`, which is not permitted "
                    "here (`ip netns add %s`: %s). Run the tests as root (CAP_SYS_ADMIN "
                    "and CAP_NET_ADMIN), or without RR_HOSTS=2."
                    % (self.ns["a"], why))
            if first.returncode != 0:
                raise RuntimeError("`ip netns add %s` failed: %s" % (self.ns["a"], why))
            self._made.append(self.ns["a"])
            for ns in (self.ns["b"], self.bridge_ns):
                self._ip("netns", "add", ns)
                self._made.append(ns)
            br = self.bridge_ns
            self._ip("-n", br, "link", "add", "br0", "type", "bridge")
            self._ip("-n", br, "link", "set", "br0", "up")
            for h in ("a", "b"):
                self._ip("-n", self.ns[h], "link", "add", "eth0", "type", "veth",
                         "peer", "name", "p" + h, "netns", br)
                self._ip("-n", br, "link", "set", "p" + h, "master", "br0", "up")
            with open(self.LOCK, "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                x = self._free_subnet()
                self.subnet = "10.231.%d.0/24" % x
                self.addr = {"root": "10.231.%d.1" % x, "a": "10.231.%d.2" % x,
                             "b": "10.231.%d.3" % x}
                self._ip("link", "add", self.veth, "type", "veth", "peer", "name", "ph",
                         "netns", br)
                self._ip("addr", "add", self.addr["root"] + "/24", "dev", self.veth)
            self._ip("-n", br, "link", "set", "ph", "master", "br0", "up")
            self._ip("link", "set", self.veth, "up")
            for h in ("a", "b"):
                ns = self.ns[h]
                self._ip("-n", ns, "link", "set", "lo", "up")
                self._ip("-n", ns, "addr", "add", self.addr[h] + "/24", "dev", "eth0")
                self._ip("-n", ns, "link", "set", "eth0", "up")
        except Exception as e:
            self.remove()
            if "not permitted here" in str(e):
                raise
            raise RuntimeError("two-host mode (RR_HOSTS=2): could not set up the network "
                               "namespaces: %s" % e) from e
        except BaseException:
            self.remove()
            raise
        return self

    def _free_subnet(self):
        """An X with no 10.231.X.* address or route in this namespace."""
        used = set()
        for args in (("-4", "-o", "addr", "show"), ("-4", "route", "show", "table", "all")):
            used.update(int(m) for m in re.findall(r"\b10\.231\.(\d+)\.", self._ip(*args).stdout))
        for k in range(254):
            x = 1 + (self.pid + k) % 254
            if x not in used:
                return x
        raise RuntimeError("no free 10.231.X.0/24 subnet for two-host mode")

    def _kill_in(self, ns):
        """SIGKILL what still runs in one of our namespaces (only processes
        this harness started can be there)."""
        p = self._ip("netns", "pids", ns, check=False)
        for tok in p.stdout.split():
            try:
                os.kill(int(tok), signal.SIGKILL)
            except (ValueError, ProcessLookupError):
                pass

    def remove(self):
        """Kill leftovers in the namespaces, delete them (the veths go with
        them) and the veth end here if it is still there."""
        for ns in list(self._made):
            self._kill_in(ns)
        for ns in list(self._made):
            self._ip("netns", "del", ns, check=False)
            self._made.remove(ns)
        if os.path.exists("/sys/class/net/" + self.veth):
            self._ip("link", "del", self.veth, check=False)

    def _sweep_stale(self):
        """Remove rr-<pid>-* namespaces of runs whose process is gone (or
        whose pid this process now has: it makes its own only once, after
        this)."""
        p = self._ip("netns", "list", check=False)
        for line in p.stdout.splitlines():
            name = line.split()[0] if line.split() else ""
            m = self.NS_RE.match(name)
            if not m:
                continue
            if int(m.group(1)) != self.pid and _pid_alive(int(m.group(1))):
                continue                      # its run is still going
            self._kill_in(name)
            self._ip("netns", "del", name, check=False)
            veth = "rr%sh" % m.group(1)
            if os.path.exists("/sys/class/net/" + veth):
                self._ip("link", "del", veth, check=False)


_hosts_error = None    # why making them failed: not tried again in this run


def shared_hosts():
    """This process's Hosts, made on first use."""
    global _hosts, _hosts_error
    with _hosts_lock:
        if _hosts_error is not None:
            raise RuntimeError(_hosts_error)
        if _hosts is None:
            _install_signal_cleanup()
            h = Hosts()
            _hosts = h          # set first: remove() at exit covers a half-made one
            try:
                h.create()
            except BaseException as e:
                _hosts = None
                _hosts_error = str(e)
                raise
        return _hosts


# -- the stack ------------------------------------------------------------------

WORKER_TCP_PORT = 9000       # worker i listens on its host's address, port 9001 + i


class Stack:
    """Redis + workers + a proxy. See the module comment."""

    _counter = 0

    def __init__(self, workers=2, worker_args=(), token=None, name=None,
                 nginx_extra="", worker_env=None, proxy=None, hosts=None, tls=None,
                 redis_url=None):
        Stack._counter += 1
        self.name = name or "stack%d" % Stack._counter
        self.nworkers = workers
        self.worker_args = list(worker_args)
        self.worker_env = dict(worker_env or {})
        self.token = token or secrets.token_hex(16)
        record_secret(self.token)     # for scan_secrets.py (see client.py)
        self.nginx_extra = nginx_extra
        self.proxy = proxy or default_proxy()
        if self.proxy not in PROXIES:
            raise RuntimeError("proxy %r: expected one of %s" % (self.proxy, ", ".join(PROXIES)))
        self.hosts = hosts or default_hosts()
        if self.hosts not in (1, 2):
            raise RuntimeError("hosts %r: expected 1 or 2" % (self.hosts,))
        self.tls = tuple(tls) if tls else None   # (certfile, keyfile) or None
        self.redis_url = redis_url # the workers' --redis (default: the stack's own Redis)
        self.tls_port = None       # the HTTPS port, with tls
        self.net = None            # Hosts, in two-host mode
        self.rundir = None
        self.port = None
        self.worker_ports = []
        self.redis_port = None
        self.redis_host = "127.0.0.1"
        self.redis_proc = None
        self.proxy_proc = None
        self.workers = []          # subprocess.Popen or None, per worker
        self.expected_dead = set() # workers the tests stopped on purpose
        self.exit_codes = {}       # worker index -> exit code seen at stop/kill
        self.unexpected = []       # "worker i died with rc" found at stop
        self._own_rundir = False

    @property
    def mode(self):
        return mode_name(self.proxy, self.hosts)

    @property
    def nginx_proc(self):
        """The proxy's process (named for nginx, the first proxy)."""
        return self.proxy_proc

    # -- where things are ----------------------------------------------------

    def sock_path(self, i):
        return os.path.join(self.rundir, "w%d.sock" % (i + 1))

    def worker_host(self, i):
        """The host worker i runs on: None (one host), "a" or "b"."""
        if self.hosts == 1:
            return None
        return "a" if i % 2 == 0 else "b"

    def worker_addr(self, i):
        """(address, port) of worker i's TCP FastCGI socket, or None on one
        host (unix sockets)."""
        h = self.worker_host(i)
        return None if h is None else (self.net.addr[h], WORKER_TCP_PORT + 1 + i)

    def worker_listen(self, i):
        a = self.worker_addr(i)
        return self.sock_path(i) if a is None else "%s:%d" % a

    def worker_netns(self, i):
        """Inode of worker i's network namespace (see net_ns_inode)."""
        return net_ns_inode(self.worker_pid(i))

    def worker_log(self, i):
        d = os.environ.get("RR_LOG_DIR") or self.rundir
        return os.path.join(d, "%s-w%d.log" % (self.name, i + 1))

    def _on_host(self, host, argv):
        """argv run on host "a"/"b" (ip netns exec execs it: same pid), or
        here."""
        return argv if host is None else self.net.exec_prefix(host) + argv

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
        if self.tls and self.proxy != "nginx":
            raise Skip("TLS is set up for nginx only (deploy/nginx/local.conf.in); "
                       "not for %s" % self.proxy)
        _install_signal_cleanup()
        _live_stacks.append(self)
        try:
            if self.hosts == 2:
                self.net = shared_hosts()
                self.redis_host = self.net.addr["a"]
            self.rundir = tempfile.mkdtemp(prefix="rr-%s-" % self.name)
            self._own_rundir = True
            os.makedirs(os.path.join(self.rundir, "redis"))
            if self.proxy == "nginx":
                os.makedirs(os.path.join(self.rundir, "nginx-tmp"))
            if os.environ.get("RR_LOG_DIR"):
                os.makedirs(os.environ["RR_LOG_DIR"], exist_ok=True)
            self.redis_port = free_port()
            self.port = free_port()
            self.worker_ports = [free_port() for _ in range(self.nworkers)]
            self.tls_port = free_port() if self.tls else None
            self.metrics_port = free_port()
            self.admin_port = free_port()
            self.workers = [None] * self.nworkers
            self._write_redis_conf()
            self.redis_start()
            if self.hosts == 2:
                self._check_b_reaches_a()
            for i in range(self.nworkers):
                self.start_worker(i, wait=False)
            for i in range(self.nworkers):
                self._wait_listening(i)
            self._start_proxy()
            for i in range(self.nworkers):
                self.wait_worker_http(i)
            self.wait_http(self.port, "the pool port")
        except Exception:
            self.stop()
            raise
        return self

    def stop(self):
        """Stop the proxy, the workers (SIGTERM, then SIGKILL after 10 s) and
        Redis; remove the run dir. Records exit codes and unexpected deaths.
        (The namespaces of two-host mode stay for the next stack of the run;
        they go at exit.)"""
        if self.proxy_proc is not None:
            self._terminate(self.proxy_proc, signal.SIGTERM, 5)
            self.proxy_proc = None
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
        self._keep_logs()
        if self._own_rundir and self.rundir and os.path.isdir(self.rundir):
            if os.environ.get("RR_KEEP_RUNDIR"):
                print("kept run dir %s" % self.rundir)
            else:
                shutil.rmtree(self.rundir, ignore_errors=True)
        if self in _live_stacks:
            _live_stacks.remove(self)

    # The proxy's and Redis's logs, kept (appended) in $RR_LOG_DIR as
    # <stack>-<file> when the run dir goes, for scan_secrets.py.
    KEPT_LOGS = ("nginx-access.log", "nginx-error.log", "lighttpd-access.log",
                 "lighttpd-error.log", "lighttpd-stderr.log", "redis/redis.log")

    def _keep_logs(self):
        d = os.environ.get("RR_LOG_DIR")
        if not d or not self.rundir or getattr(self, "_logs_kept", None) == self.rundir:
            return
        self._logs_kept = self.rundir          # once per run dir (stop() may run twice)
        for rel in self.KEPT_LOGS:
            src = os.path.join(self.rundir, rel)
            if not os.path.isfile(src):
                continue
            try:
                with open(src, "rb") as f, open(os.path.join(
                        d, "%s-%s" % (self.name, os.path.basename(rel))), "ab") as out:
                    shutil.copyfileobj(f, out)
            except OSError as e:
                print("stack.py: could not keep %s: %s" % (src, e), flush=True)

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
        append-only file brings back what was there). Waits for PONG. On two
        hosts it runs on host A, listening on A's address (the workers on B
        and the tests reach it there) and A's loopback."""
        if self.redis_proc is not None and self.redis_proc.poll() is None:
            return
        rdir = os.path.join(self.rundir, "redis")
        argv = [find_program("redis-server"), os.path.join(rdir, "redis.conf")]
        host = None
        if self.hosts == 2:
            host = "a"
            # command-line options override the file: listen on A's address
            # too; the namespace is private, so no protected mode.
            argv += ["--bind", self.redis_host, "127.0.0.1", "--protected-mode", "no"]
        self.redis_proc = subprocess.Popen(
            self._on_host(host, argv),
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
        return redis_command(self.redis_port, *args, host=self.redis_host)

    def _check_b_reaches_a(self):
        """Host B reaches Redis on host A across the bridge (what worker 2
        will need), before any worker starts."""
        cli = find_program("redis-cli")
        p = subprocess.run(self._on_host("b", [cli, "-h", self.redis_host, "-p",
                                               str(self.redis_port), "PING"]),
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=10)
        if p.stdout.strip() != "PONG":
            raise RuntimeError("host B (%s) cannot reach Redis on host A (%s:%d): %s" % (
                self.net.ns["b"], self.redis_host, self.redis_port,
                (p.stderr or p.stdout).strip()))

    # -- workers -----------------------------------------------------------

    def worker_cmd(self, i):
        """Worker i's command line (without the ip netns exec prefix)."""
        # Over TCP from the proxy's address on the test network (the
        # worker's default admits loopback peers only).
        allow = ["--fcgi-allow", self.net.addr["root"]] if self.hosts == 2 else []
        return [worker_binary(),
                "--listen", self.worker_listen(i),
                "--redis", self.redis_url or "redis://%s:%d/0" % (self.redis_host, self.redis_port),
                "--token", self.token,
                "--scripts-dir", os.path.join(REPO, "sql")] + allow + self.worker_args

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
        if self.hosts == 1:
            try:
                os.unlink(self.sock_path(i))
            except FileNotFoundError:
                pass
        log = open(self.worker_log(i), "ab")
        try:
            self.workers[i] = subprocess.Popen(
                self._on_host(self.worker_host(i), self.worker_cmd(i)),
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                env=self.worker_environ(), cwd=self.rundir)
        finally:
            log.close()
        self.expected_dead.discard(i)
        if wait:
            self._wait_listening(i)
            if self.proxy_proc is not None:
                self.wait_worker_http(i)

    def _wait_listening(self, i):
        """Wait until worker i listens: its unix socket exists, or its TCP
        socket is in LISTEN state in its namespace."""
        addr = self.worker_addr(i)
        what = self.worker_listen(i)

        def ready():
            p = self.workers[i]
            if p.poll() is not None:
                raise RuntimeError("worker %d exited with %d at start: %s"
                                   % (i + 1, p.returncode, self.log_tail(i)))
            if addr is not None:
                return tcp_listening(p.pid, addr[0], addr[1])
            try:
                return stat.S_ISSOCK(os.stat(what).st_mode)
            except FileNotFoundError:
                return False
        wait_until(ready, 20, "worker %d socket %s" % (i + 1, what))

    _wait_socket = _wait_listening      # the old name

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

    # -- the proxy -----------------------------------------------------------

    def _nginx_conf(self):
        with open(os.path.join(REPO, "deploy", "nginx", "local.conf.in")) as f:
            conf = f.read()
        user = pwd.getpwuid(os.geteuid()).pw_name

        def target(i):
            a = self.worker_addr(i)
            return "unix:%s" % self.sock_path(i) if a is None else "%s:%d" % a
        # max_fails=0: a restarted worker is used again at once (the tests
        # kill and restart workers; nginx would otherwise skip it for 10 s).
        pool = " ".join("server %s max_fails=0;" % target(i) for i in range(self.nworkers))
        ups = "\n    ".join("upstream hr_w%d { server %s; keepalive 8; }" % (i + 1, target(i))
                            for i in range(self.nworkers))
        listen = "\n        ".join("listen 127.0.0.1:%d;" % p for p in self.worker_ports)
        pmap = "\n        ".join("%d hr_w%d;" % (p, i + 1) for i, p in enumerate(self.worker_ports))
        tls = ""
        if self.tls:
            # begins with a newline: the placeholder ends a comment line
            tls = "".join("\n        " + d for d in (
                "listen 127.0.0.1:%d ssl http2;" % self.tls_port,
                "ssl_certificate %s;" % self.tls[0],
                "ssl_certificate_key %s;" % self.tls[1],
                "ssl_session_cache shared:hr_tls:1m;"))
        for k, v in (("@USER@", user), ("@RUNDIR@", self.rundir), ("@PORT@", str(self.port)),
                     ("@UPSTREAM_SERVERS@", pool), ("@EXTRA_UPSTREAMS@", ups),
                     ("@EXTRA_LISTEN@", listen + "\n        " + self.nginx_extra),
                     ("@PORT_MAP@", pmap), ("@TLS_LISTEN@", tls),
                     ("@METRICS_SERVER@", "\n" + metrics_server(self.metrics_port, self.admin_port))):
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
        self.proxy_proc = subprocess.Popen(
            [nginx, "-p", self.rundir, "-c", conf, "-e", err],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _lighttpd_conf(self):
        with open(os.path.join(REPO, "deploy", "lighttpd", "local.conf.in")) as f:
            conf = f.read()

        def backend(i):
            a = self.worker_addr(i)
            where = ('"socket" => "%s"' % self.sock_path(i) if a is None
                     else '"host" => "%s", "port" => %d' % a)
            return '"w%d" => ( %s ) + var.hr_backend,' % (i + 1, where)
        pool = "\n    ".join(backend(i) for i in range(self.nworkers))
        pinned = "\n".join(
            '$SERVER["socket"] == "127.0.0.1:%d" {\n'
            '    fastcgi.server = ( "/" => ( %s ) )\n'
            '}' % (p, backend(i)) for i, p in enumerate(self.worker_ports))
        errors = os.path.join(REPO, "deploy", "lighttpd", "errors") + "/"
        for k, v in (("@RUNDIR@", self.rundir), ("@PORT@", str(self.port)),
                     ("@ERRORS@", errors), ("@BACKENDS@", pool), ("@PINNED@", pinned),
                     ("@METRICS_PORT@", str(self.metrics_port)),
                     ("@ADMIN_PORT@", str(self.admin_port))):
            conf = conf.replace(k, v)
        path = os.path.join(self.rundir, "lighttpd.conf")
        with open(path, "w") as f:
            f.write(conf)
        return path

    def _start_lighttpd(self):
        conf = self._lighttpd_conf()
        lighttpd = find_program("lighttpd")
        t = subprocess.run([lighttpd, "-tt", "-f", conf], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True)
        if t.returncode != 0:
            raise RuntimeError("lighttpd -tt failed: %s" % (t.stderr.strip() or t.stdout.strip()))
        out = open(os.path.join(self.rundir, "lighttpd-stderr.log"), "ab")
        try:
            self.proxy_proc = subprocess.Popen(
                [lighttpd, "-D", "-f", conf],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        finally:
            out.close()

    def _start_proxy(self):
        if self.proxy == "lighttpd":
            self._start_lighttpd()
        else:
            self._start_nginx()

    def proxy_log(self):
        """Path of the proxy's error log."""
        return os.path.join(self.rundir, "%s-error.log" % self.proxy)

    def wait_http(self, port, what, timeout=20):
        """Poll port until a worker answers (404 for an unknown path; the
        proxy's 503 worker_unavailable means not yet)."""
        def ready():
            if self.proxy_proc is not None and self.proxy_proc.poll() is not None:
                raise RuntimeError("%s exited with %d; see %s" % (
                    self.proxy, self.proxy_proc.returncode, self.proxy_log()))
            r = request(port, "GET", "/", timeout=2)
            return r.status == 404
        wait_until(ready, timeout, "HTTP on %s (port %d)" % (what, port), interval=0.05)

    def wait_worker_http(self, i, timeout=20):
        self.wait_http(self.worker_ports[i], "worker %d" % (i + 1), timeout)

    # -- clients -----------------------------------------------------------

    def api(self, worker=None, source=None):
        """An Api on the pool port, or on the port pinned to one worker;
        its requests come from the local IP source (default: the kernel's
        choice, 127.0.0.1)."""
        port = self.port if worker is None else self.worker_ports[worker]
        return Api(port, self.token, source=source)


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
