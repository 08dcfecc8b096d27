"""redis_ha.py -- a private Redis HA set for the tests of `--redis sentinel://`.

RedisHA(rundir).start() runs, all on 127.0.0.1 under rundir: a Redis primary
(redis0/, deploy/redis.conf.in with its append-only file), one replica of it
(redis1/, the same template plus `replicaof`) and three Sentinels
(sentinel0..2/, deploy/redis/sentinel.conf.in, quorum 2), and returns once a
failover can really happen: the replica is in sync and every Sentinel knows
the primary, the replica and the other two Sentinels. Tests then inject
faults (kill, freeze, restart a Redis; restart the Sentinels), await the
failover with watch_switch() (the `+switch-master` event, not a sleep) and
point the workers at url().

    ha = RedisHA(rundir).start()
    w = ha.watch_switch()              # subscribe before the fault
    ha.kill(ha.primary_port())
    old, new, t = w.wait(30)           # Sentinel promoted the replica
    ha.restart(old)                    # comes back; Sentinel demotes it
    ha.wait_role(old, "slave")

Every process is tracked by its port (procs: port -> subprocess.Popen) and
stopped by stop(), also at exit or on SIGTERM/SIGHUP (the same hook as the
stacks of stack.py). Sentinels run as `redis-server <conf> --sentinel`, the
binary of the redis-server package (the same as redis-sentinel).

`python3 tests/integration/redis_ha.py selftest` checks the whole thing and
prints how long each failover took.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from common import _resp_read, find_program, free_port, redis_command, resp_encode, wait_until
import stack as _stack

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

REDIS_CONF = os.path.join(REPO, "deploy", "redis.conf.in")
SENTINEL_CONF = os.path.join(REPO, "deploy", "redis", "sentinel.conf.in")

# Redis's full-sync delay (repl-diskless-sync-delay, 5 s by default) would
# make every (re)sync of a replica wait for nothing.
REDIS_HA_EXTRA = "repl-diskless-sync-delay 0\n"

_FATAL = (signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


def _pairs(reply):
    """A flat [k1, v1, k2, v2, ...] reply as a dict."""
    return dict(zip(reply[0::2], reply[1::2]))


def _fill(template, values):
    with open(template) as f:
        text = f.read()
    for k, v in values.items():
        text = text.replace("@%s@" % k, str(v))
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise RuntimeError("%s: placeholders left unfilled: %s" % (template, " ".join(left)))
    return text


class SwitchWatch:
    """Subscribed to `+switch-master` on every Sentinel that answered when
    it was made (each on its own connection, read by its own thread, which
    notes the monotonic time a message arrives). wait() returns the first
    switch of the master name not returned yet, as reported by whichever
    Sentinel said it first. A Sentinel that is restarted drops its
    connection: the watch then listens to the others only, and fails once
    all are gone (make a new watch after start_sentinels())."""

    def __init__(self, ports, master_name, timeout=2.0):
        self.master_name = master_name
        self._cond = threading.Condition()
        self._events = []          # (old_port, new_port, t), first report of each switch
        self._returned = 0
        self._open = 0
        self._socks = []
        try:
            for port in ports:
                s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
                self._socks.append(s)
                s.sendall(resp_encode(("SUBSCRIBE", "+switch-master")))
                f = s.makefile("rb")
                ack = _resp_read(f)              # subscribed from here on
                if not (isinstance(ack, list) and ack[0] == "subscribe"):
                    raise RuntimeError("sentinel %d: SUBSCRIBE answered %r" % (port, ack))
                s.settimeout(None)
                self._open += 1
                threading.Thread(target=self._read, args=(port, f), daemon=True,
                                 name="switch-watch-%d" % port).start()
        except BaseException:
            self.close()
            raise
        if not self._open:
            raise RuntimeError("no sentinel to watch")

    def _read(self, port, f):
        try:
            while True:
                msg = _resp_read(f)
                t = time.monotonic()
                if not (isinstance(msg, list) and len(msg) == 3 and msg[0] == "message"):
                    continue
                # "<name> <old ip> <old port> <new ip> <new port>"
                parts = msg[2].split()
                if len(parts) != 5 or parts[0] != self.master_name:
                    continue
                ev = (int(parts[2]), int(parts[4]))
                with self._cond:
                    if all(e[:2] != ev for e in self._events[self._returned:]):
                        self._events.append(ev + (t,))
                        self._cond.notify_all()
        except (OSError, ValueError, RuntimeError, ConnectionError):
            pass
        finally:
            with self._cond:
                self._open -= 1
                self._cond.notify_all()

    def wait(self, timeout=30):
        """(old_port, new_port, monotonic time received) of the next
        failover; RuntimeError after timeout seconds, or when every watched
        Sentinel has closed its connection."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._returned >= len(self._events):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError("no +switch-master for %s within %.1f s"
                                       % (self.master_name, timeout))
                if self._open == 0:
                    raise RuntimeError("no +switch-master for %s: every watched sentinel "
                                       "closed its connection" % self.master_name)
                self._cond.wait(left)
            ev = self._events[self._returned]
            self._returned += 1
            return ev

    def close(self):
        """Close the connections (the threads end). Safe to call twice."""
        for s in self._socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        self._socks = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class RedisHA:
    """A primary, a replica and three Sentinels on loopback ports. See the
    module comment. password: requirepass of both Redis (and masterauth, and
    the Sentinels' auth-pass); the Sentinels themselves take none."""

    def __init__(self, rundir, master_name="hr-main", down_after_ms=1000,
                 failover_timeout_ms=3000, password=None):
        self.rundir = os.path.abspath(rundir)
        self.master_name = master_name
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.password = password
        self.redis_ports = []      # [first primary, first replica]
        self.sentinel_ports = []   # three
        self.procs = {}            # port -> subprocess.Popen (the latest on that port)
        self._argv = {}            # port -> (argv, dir)
        self._frozen = set()
        self._watches = []
        self._server = find_program("redis-server")

    # -- where things are ----------------------------------------------------

    def url(self, password=None, db=0, user=None):
        """The worker's --redis: sentinel://[[user]:password@]127.0.0.1:S1,
        127.0.0.1:S2,127.0.0.1:S3/<master name>[?db=N]. The password (and
        user) are put in as given, not percent-encoded; pass self.password
        for a set made with one."""
        auth = ""
        if password is not None or user is not None:
            auth = "%s:%s@" % (user or "", password or "")
        hosts = ",".join("127.0.0.1:%d" % p for p in self.sentinel_ports)
        return "sentinel://%s%s/%s%s" % (auth, hosts, self.master_name,
                                         "?db=%d" % db if db else "")

    def dir(self, port):
        """The directory (config, data, log) of the process on port."""
        return self._argv[port][1]

    def is_sentinel(self, port):
        return port in self.sentinel_ports

    # -- lifecycle -----------------------------------------------------------

    def start(self, timeout=60):
        """Start the primary and the replica, wait until the replica is in
        sync, start the Sentinels and wait until each knows the primary, the
        replica and the other two. Returns self."""
        _stack._install_signal_cleanup()
        if self not in _stack._live_stacks:
            _stack._live_stacks.append(self)
        try:
            os.makedirs(self.rundir, exist_ok=True)
            ports = []
            while len(ports) < 5:
                p = free_port()
                if p not in ports:
                    ports.append(p)
            self.redis_ports = ports[:2]
            self.sentinel_ports = ports[2:]
            primary, replica = self.redis_ports
            self._write_redis(0, primary, None)
            self._write_redis(1, replica, primary)
            for port in self.redis_ports:
                self._spawn(port)
            for port in self.redis_ports:
                self._wait_pong(port, timeout)

            def in_sync():
                info = self.redis(replica, "INFO", "replication")
                return "master_link_status:up" in info
            wait_until(in_sync, timeout, "replica %d in sync with primary %d"
                       % (replica, primary), interval=0.05)
            for i, port in enumerate(self.sentinel_ports):
                self._write_sentinel(i, port, primary)
                self._spawn(port)
            for port in self.sentinel_ports:
                self._wait_pong(port, timeout)
            self.wait_sentinels(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        """Stop every process (Sentinels first; SIGCONT to a frozen one,
        SIGTERM, SIGKILL after 5 s) and close the watches. Safe to call
        twice; the run dir stays (it is the caller's)."""
        for w in self._watches:
            w.close()
        self._watches = []
        order = [p for p in self.sentinel_ports if p in self.procs] + \
                [p for p in self.redis_ports if p in self.procs]
        for port in order:
            p = self.procs[port]
            if p.poll() is None:
                if port in self._frozen:
                    self._signal(p, signal.SIGCONT)
                self._signal(p, signal.SIGTERM)
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    self._signal(p, signal.SIGKILL)
                    p.wait(5)
        self._frozen.clear()
        if self in _stack._live_stacks:
            _stack._live_stacks.remove(self)

    def __enter__(self):
        return self.start() if not self.procs else self

    def __exit__(self, *exc):
        self.stop()

    # -- processes -------------------------------------------------------------

    def _write_redis(self, i, port, replica_of):
        d = os.path.join(self.rundir, "redis%d" % i)
        os.makedirs(d, exist_ok=True)
        conf = _fill(REDIS_CONF, {"PORT": port, "RUNDIR": d}) + REDIS_HA_EXTRA
        if self.password:
            conf += "requirepass %s\nmasterauth %s\n" % (self.password, self.password)
        if replica_of:
            # In the file, not on the command line: Sentinel rewrites the file
            # (CONFIG REWRITE) when it changes a role, so that a restart comes
            # back as what Sentinel last made it.
            conf += "replicaof 127.0.0.1 %d\n" % replica_of
        path = os.path.join(d, "redis.conf")
        with open(path, "w") as f:
            f.write(conf)
        self._argv[port] = ([self._server, path], d)

    def _write_sentinel(self, i, port, primary):
        d = os.path.join(self.rundir, "sentinel%d" % i)
        os.makedirs(d, exist_ok=True)
        conf = _fill(SENTINEL_CONF, {
            "PORT": port, "RUNDIR": d, "MASTER_NAME": self.master_name,
            "PRIMARY_PORT": primary, "DOWN_AFTER_MS": self.down_after_ms,
            "FAILOVER_TIMEOUT_MS": self.failover_timeout_ms})
        if self.password:
            conf += "sentinel auth-pass %s %s\n" % (self.master_name, self.password)
        path = os.path.join(d, "sentinel.conf")
        with open(path, "w") as f:
            f.write(conf)
        self._argv[port] = ([self._server, path, "--sentinel"], d)

    def _spawn(self, port):
        argv, d = self._argv[port]
        self.procs[port] = subprocess.Popen(
            argv, cwd=d, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        self._frozen.discard(port)

    def _wait_pong(self, port, timeout):
        log = os.path.join(self.dir(port), "sentinel.log" if self.is_sentinel(port)
                           else "redis.log")

        def ready():
            p = self.procs[port]
            if p.poll() is not None:
                raise RuntimeError("redis-server on port %d exited with %d; see %s"
                                   % (port, p.returncode, log))
            return self.redis(port, "PING") == "PONG"
        wait_until(ready, timeout, "PONG on port %d" % port, interval=0.05)

    @staticmethod
    def _signal(p, sig):
        try:
            p.send_signal(sig)
        except ProcessLookupError:
            pass

    def alive(self, port):
        """The process on port runs (frozen or not)."""
        p = self.procs.get(port)
        return p is not None and p.poll() is None

    def kill(self, port, sig=signal.SIGKILL, timeout=10):
        """Send sig to the process on port (a Redis or a Sentinel). For
        SIGKILL, SIGTERM, SIGINT and SIGQUIT, wait until it exits (a frozen
        one is thawed for it) and return its exit status; else None."""
        p = self.procs[port]
        self._signal(p, sig)
        if sig not in _FATAL:
            return None
        if port in self._frozen:
            self._signal(p, signal.SIGCONT)
            self._frozen.discard(port)
        try:
            return p.wait(timeout)
        except subprocess.TimeoutExpired:
            self._signal(p, signal.SIGKILL)
            p.wait(5)
            raise RuntimeError("port %d: no exit within %d s of signal %d"
                               % (port, timeout, sig))

    def restart(self, port, timeout=30):
        """Start the process on port again, with the same config file and
        data dir, and wait for PONG. A Redis comes back as what its config
        file says (Sentinel rewrites it when it changes a role); an old
        primary comes back as a primary and Sentinel turns it into a replica
        of the new one some seconds later (wait_role(port, "slave"))."""
        if self.alive(port):
            raise RuntimeError("port %d: still running" % port)
        self._spawn(port)
        self._wait_pong(port, timeout)

    def _state(self, port):
        """The process state letter of /proc/PID/stat ("T": stopped)."""
        with open("/proc/%d/stat" % self.procs[port].pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]

    def freeze(self, port):
        """SIGSTOP, and wait until it has stopped: the process keeps its
        sockets and answers nothing."""
        self._signal(self.procs[port], signal.SIGSTOP)
        self._frozen.add(port)
        wait_until(lambda: self._state(port) == "T", 5, "port %d to stop" % port, interval=0.005)

    def thaw(self, port):
        """SIGCONT after freeze(), and wait until it runs again."""
        self._signal(self.procs[port], signal.SIGCONT)
        self._frozen.discard(port)
        wait_until(lambda: self._state(port) != "T", 5, "port %d to run" % port, interval=0.005)

    # -- Redis -----------------------------------------------------------------

    def redis(self, port, *args, timeout=2.0):
        """One command to the Redis (or Sentinel) on port, after AUTH when
        the set has a password (Sentinels take none); the decoded reply."""
        pw = None if self.is_sentinel(port) else self.password
        return redis_command(port, *args, password=pw, timeout=timeout)

    def role(self, port, timeout=1.0):
        """"master", "slave" (or "sentinel") as the process on port says
        (ROLE), or None if it does not answer (dead, frozen)."""
        try:
            return self.redis(port, "ROLE", timeout=timeout)[0]
        except (OSError, RuntimeError, ConnectionError, IndexError, TypeError):
            return None

    def primary_port(self):
        """The port of the master as the first Sentinel that answers reports
        it now (SENTINEL get-master-addr-by-name)."""
        errs = []
        for port in self.sentinel_ports:
            if port in self._frozen or not self.alive(port):
                continue
            try:
                r = self.redis(port, "SENTINEL", "get-master-addr-by-name",
                               self.master_name, timeout=1.0)
                if r:
                    return int(r[1])
                errs.append("%d: unknown master" % port)
            except (OSError, RuntimeError, ConnectionError) as e:
                errs.append("%d: %s" % (port, e))
        raise RuntimeError("no sentinel reports a master for %s (%s)"
                           % (self.master_name, "; ".join(errs) or "none running"))

    def wait_role(self, port, role, timeout=30):
        """Wait until the Redis on port has role ("master" or "slave"). For
        "slave": a replica of the primary the Sentinels report, with its
        link up (ROLE: connected). Returns the seconds it took."""
        t0 = time.monotonic()

        def ok():
            r = self.redis(port, "ROLE", timeout=1.0)
            if r[0] != role:
                return False
            if role == "slave":
                return int(r[2]) == self.primary_port() and r[3] == "connected"
            return True
        wait_until(ok, timeout, "port %d to be %s" % (port, role), interval=0.05)
        return time.monotonic() - t0

    # -- Sentinels ---------------------------------------------------------------

    def sentinel_view(self, port):
        """What the Sentinel on port knows: (master dict, [replica dicts],
        [other sentinel dicts]), from SENTINEL master/replicas/sentinels."""
        m = _pairs(self.redis(port, "SENTINEL", "master", self.master_name))
        reps = [_pairs(r) for r in self.redis(port, "SENTINEL", "replicas", self.master_name)]
        sens = [_pairs(r) for r in self.redis(port, "SENTINEL", "sentinels", self.master_name)]
        return m, reps, sens

    def _sentinel_ready(self, port, need_replica):
        m, reps, sens = self.sentinel_view(port)
        if m.get("flags") != "master" or int(m.get("num-other-sentinels", 0)) != 2:
            return False
        if any(s.get("flags") != "sentinel" for s in sens):
            return False
        if need_replica and not any(r.get("flags") == "slave" and
                                    r.get("master-link-status") == "ok" for r in reps):
            return False
        return True

    def wait_sentinels(self, timeout=30):
        """Wait until every Sentinel sees the master up, is linked to the
        other two and (when a second Redis runs, not frozen) knows a replica
        in sync: a failover can happen. Returns the seconds it took."""
        t0 = time.monotonic()
        running = [p for p in self.redis_ports if self.alive(p) and p not in self._frozen]
        need_replica = len(running) >= 2

        def ready():
            return all(self._sentinel_ready(p, need_replica) for p in self.sentinel_ports)
        wait_until(ready, timeout, "sentinels to know %s, its replica and each other"
                   % self.master_name, interval=0.05)
        return time.monotonic() - t0

    def stop_sentinels(self, timeout=10):
        """SIGTERM the three Sentinels and wait until they have exited (a
        SwitchWatch on them stops hearing anything)."""
        for port in self.sentinel_ports:
            if self.alive(port):
                self.kill(port, signal.SIGTERM, timeout)

    def start_sentinels(self, timeout=30):
        """Start the three Sentinels again, on the same ports with the config
        files they rewrote, and wait until they know the master again
        (wait_sentinels). Returns the seconds that took."""
        t0 = time.monotonic()
        for port in self.sentinel_ports:
            if not self.alive(port):
                self._spawn(port)
        for port in self.sentinel_ports:
            self._wait_pong(port, timeout)
        self.wait_sentinels(max(1.0, timeout - (time.monotonic() - t0)))
        return time.monotonic() - t0

    def watch_switch(self):
        """A SwitchWatch on the Sentinels running now: make it before the
        fault, then .wait(timeout) -> (old_port, new_port, t)."""
        ports = [p for p in self.sentinel_ports if self.alive(p) and p not in self._frozen]
        w = SwitchWatch(ports, self.master_name)
        self._watches.append(w)
        return w


# -- self-check ---------------------------------------------------------------------

def selftest():
    tmp = tempfile.mkdtemp(prefix="rr-redis-ha-")
    ha = RedisHA(tmp)
    ok = False
    try:
        t0 = time.monotonic()
        ha.start()
        print("started in %.1f s: redis %s, sentinels %s" % (
            time.monotonic() - t0, ha.redis_ports, ha.sentinel_ports), flush=True)
        print("url:", ha.url(), flush=True)
        first, second = ha.redis_ports
        assert ha.primary_port() == first, ha.primary_port()
        assert ha.role(first) == "master" and ha.role(second) == "slave"
        ha.redis(first, "SET", "hr-ha-selftest", "1")

        # 1. kill -9 the primary: the replica is promoted
        w = ha.watch_switch()
        t_kill = time.monotonic()
        ha.kill(first)
        old, new, t = w.wait(30)
        kill_s = t - t_kill
        print("kill -9 primary %d -> +switch-master %d -> %d after %.2f s"
              % (first, old, new, kill_s), flush=True)
        assert (old, new) == (first, second), (old, new)
        assert ha.role(second) == "master", ha.role(second)
        assert ha.primary_port() == second
        assert ha.redis(second, "GET", "hr-ha-selftest") == "1"

        # 2. the old primary comes back as a replica of the new one
        ha.restart(first)
        took = ha.wait_role(first, "slave", 60)
        print("restarted %d: a replica of %d after %.1f s" % (first, second, took), flush=True)
        took = ha.wait_sentinels(30)
        print("sentinels ready again after %.1f s more" % took, flush=True)

        # 3. freeze the new primary: failover back; thawed, it is demoted
        w = ha.watch_switch()
        t_freeze = time.monotonic()
        ha.freeze(second)
        assert ha.role(second, timeout=0.3) is None
        old, new, t = w.wait(30)
        freeze_s = t - t_freeze
        print("SIGSTOP primary %d -> +switch-master %d -> %d after %.2f s"
              % (second, old, new, freeze_s), flush=True)
        assert (old, new) == (second, first), (old, new)
        ha.thaw(second)
        took = ha.wait_role(second, "slave", 60)
        print("thawed %d: a replica of %d after %.1f s" % (second, first, took), flush=True)
        ha.wait_sentinels(30)

        # 4. restart all Sentinels: they come back knowing the same master
        ha.stop_sentinels()
        took = ha.start_sentinels()
        assert ha.primary_port() == first
        print("sentinels restarted, ready after %.1f s; master %d" % (took, first), flush=True)

        # 5. and a failover still works after that
        w = ha.watch_switch()
        t_kill = time.monotonic()
        ha.kill(first)
        old, new, t = w.wait(30)
        print("kill -9 primary %d -> +switch-master %d -> %d after %.2f s"
              % (first, old, new, t - t_kill), flush=True)
        assert (old, new) == (first, second), (old, new)
        ha.stop()
        ha.stop()
        assert not any(ha.alive(p) for p in ha.procs)
        print("selftest: ok (kill -> +switch-master %.2f s; freeze -> +switch-master %.2f s)"
              % (kill_s, freeze_s), flush=True)
        ok = True
    finally:
        ha.stop()
        if ok or not os.environ.get("RR_KEEP_RUNDIR"):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept run dir %s" % tmp)
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1:] != ["selftest"]:
        print("usage: %s selftest" % sys.argv[0], file=sys.stderr)
        sys.exit(2)
    sys.exit(selftest())
