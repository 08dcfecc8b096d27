"""test_relay.py -- hysteria-realm-relay, the UDP relay (fcgi/relay_main.c,
relay_table.c, relay_feed.c, punch.c), black-box on loopback UDP with a
real redis-server of each test's own.

 1. pair_and_exchange     a client (127.0.0.1, or ::1) and a holder
                          (127.0.0.2) that only send to the relay punch
                          through it, then exchange data both ways; what
                          comes back leaves from the relay address each one
                          talked to; the counters reach Redis hr:metrics
 2. reread_after_outage   an attempt written while the relay was stopped,
                          and one written while its Redis connection was
                          down (Redis restarted under a SIGSTOPped relay),
                          are read from hr:relay:att and relayed
 3. expired_unknown       an unknown attempt and an expired one are never
                          relayed; counted unknown / expired
 4. garbage_replay_spoof  garbage, a valid packet replayed from a third
                          address, a packet under a wrong key: no answer to
                          anyone; counted
 5. limit_per_realm, limit_per_ip, flow_rate, idle_expiry: each limit holds
                          and is counted
 6. port_range            --listen on a range of 4 ports: one holder socket
                          (as a Hysteria server punches all its clients)
                          relays two clients at once on two ports of the
                          range, each getting only its own data; a third
                          attempt on a port already paired with that holder
                          socket is refused and counted busy (its punch
                          packets are not forwarded to the first client)
 7. record_update         a record published again with another holder IP
                          (as connect_answer does): the holder punching from
                          that IP is paired with the client's slot held
                          before
 8. bad_flags             a bad value (a bad range, overlapping ranges, a
                          range over RLIMIT_NOFILE): one line, exit status 2

Peers punch like real ones: a hello to the relay every 50 ms until a valid
packet arrives (waiting on the socket), so no sleep stands in for the relay
having read a record. The binary is $RR_RELAY, by default
hysteria-realm-relay beside the worker binary. One-host mode only.
"""

import json
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from client import check, eq
from common import find_program, redis_command
from punch import ACK, HELLO, decode, encode
from stack import Skip, default_hosts, uses, wait_until, worker_binary
from test_stun import LogWatch, free_udp_port, ipv6_loopback

QUIET = 0.3


def relay_binary():
    path = os.environ.get("RR_RELAY") or os.path.join(os.path.dirname(worker_binary()),
                                                      "hysteria-realm-relay")
    return os.path.abspath(path)


def one_host_only():
    if default_hosts() != 1:
        raise Skip("the relay is tested on this host's loopback (RR_HOSTS=1)")


def free_tcp_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_udp_range(count, v6=False):
    """The first of count consecutive UDP ports free on 127.0.0.1 (and ::1
    if v6) now, below ip_local_port_range when there is room (where
    bind(port 0) never lands, so they stay free), else anywhere."""
    rng = random.SystemRandom()
    low = _ephemeral_low()
    for attempt in range(200):
        if low - count > 12000 and attempt < 150:
            first = rng.randrange(10000, low - count)
        else:
            first = rng.randrange(low, 65536 - count)
        socks = []
        try:
            for port in range(first, first + count):
                for fam, ip in ((socket.AF_INET, "127.0.0.1"),) + (
                        ((socket.AF_INET6, "::1"),) if v6 else ()):
                    s = socket.socket(fam, socket.SOCK_DGRAM)
                    socks.append(s)
                    s.bind((ip, port))
            return first
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no %d consecutive free UDP ports" % count)


def log_dir(workdir):
    d = os.environ.get("RR_LOG_DIR") or workdir
    os.makedirs(d, exist_ok=True)
    return d


class Redis:
    """A redis-server of a test's own on a free loopback port (no persistence)."""

    def __init__(self, workdir):
        self.port = free_tcp_port()
        self.dir = os.path.join(workdir, "redis")
        os.makedirs(self.dir, exist_ok=True)
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [find_program("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", self.dir],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self.cmd("PING") == "PONG", 15, "redis PONG")
        return self

    def stop(self):
        if self.proc is not None:
            p, self.proc = self.proc, None
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)

    def cmd(self, *args):
        return redis_command(self.port, *args)

    @property
    def url(self):
        return "redis://127.0.0.1:%d/0" % self.port


class Relay:
    """A hysteria-realm-relay process of a test's own."""

    def __init__(self, name, args, redis, workdir):
        self.name, self.args, self.redis = name, list(args), redis
        self.workdir = workdir
        self.log_path = os.path.join(log_dir(workdir), "relay-%s.log" % name)
        self.log = LogWatch(self.log_path)
        self.proc = None

    def start(self, wait_redis=True):
        binary = relay_binary()
        if not os.access(binary, os.X_OK):
            raise RuntimeError("relay binary %s is missing (build hysteria-realm-relay, "
                               "or set RR_RELAY)" % binary)
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        self.log = LogWatch(self.log_path)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([binary, "--redis", self.redis.url] + self.args,
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         env=env, cwd=self.workdir)

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError("relay %s exited with %d: %s"
                                   % (self.name, self.proc.returncode, self.log.tail()))
            return self.log.has("msg=redis_ready" if wait_redis else "msg=started")
        wait_until(ready, 15, "hysteria-realm-relay %s to start" % self.name)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=10):
        if self.proc is None:
            return None
        p, self.proc = self.proc, None
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGCONT)
                p.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
                return None
        return p.returncode

    def counters(self):
        import re
        m = re.findall(r"msg=stopped ([^\n]*)", self.log.text())
        check(m, "%s: no msg=stopped line: %s" % (self.name, self.log.tail()))
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m[-1])}


# -- attempts and peers ----------------------------------------------------------

class Attempt:
    def __init__(self, realm="home", client_ips=("127.0.0.1",), holder_ips=("127.0.0.2",),
                 ttl_ms=20000):
        self.nonce = os.urandom(16)
        self.key = os.urandom(32)
        self.realm = realm
        self.client_ips = list(client_ips)
        self.holder_ips = list(holder_ips)
        self.expires = int(time.time() * 1000) + ttl_ms

    def record(self):
        return json.dumps({"nonce": self.nonce.hex(), "obfs": self.key.hex(),
                           "realm": self.realm, "expires": self.expires,
                           "client_ips": self.client_ips, "holder_ips": self.holder_ips},
                          separators=(",", ":"))

    def write(self, redis, publish=True):
        """As connect_begin does: HSET, ZADD, PUBLISH."""
        rec = self.record()
        redis.cmd("HSET", "hr:relay:att", self.nonce.hex(), rec)
        redis.cmd("ZADD", "hr:relay:exp", self.expires, self.nonce.hex())
        if publish:
            redis.cmd("PUBLISH", "hr:relay", rec)

    def hello(self, ptype=HELLO):
        return encode(self.key, self.nonce, ptype)


def peer(ip):
    s = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, 0))
    return s


def recv(sock, timeout):
    """(data, source) or None within timeout."""
    sock.settimeout(timeout)
    try:
        return sock.recvfrom(65536)
    except socket.timeout:
        return None


def punch(att, a, a_to, b, b_to, timeout=5.0):
    """Both peers send hellos to the relay every 50 ms until each has a
    valid packet of att: {"a": (packet, source), "b": ...}. Raises if one
    gets nothing in timeout."""
    got = {}
    deadline = time.monotonic() + timeout
    while len(got) < 2:
        check(time.monotonic() < deadline, "punch through the relay: only %s got a packet"
              % sorted(got))
        for name, s, to in (("a", a, a_to), ("b", b, b_to)):
            s.sendto(att.hello(ACK if name in got else HELLO), to)   # an ack once it has one
        for name, s in (("a", a), ("b", b)):
            while name not in got:
                r = recv(s, 0.05)
                if r is None:
                    break
                if decode(att.key, r[0]) is not None:
                    eq(decode(att.key, r[0])[1], att.nonce, "nonce of the relayed punch")
                    got[name] = r
    return got


def never_answered(socks, timeout=QUIET):
    """None of socks receives anything within timeout."""
    deadline = time.monotonic() + timeout
    for s in socks:
        left = max(0.01, deadline - time.monotonic())
        r = recv(s, left)
        check(r is None, "%s received %d bytes from %s" % (s.getsockname(), len(r[0]) if r else 0,
                                                          r[1] if r else None))


def expect(sock, msg, what, timeout=2.0):
    """Wait for msg on sock, skipping punch packets still in flight (the
    peers' last acks): the datagrams of one flow keep their order."""
    deadline = time.monotonic() + timeout
    while True:
        r = recv(sock, max(0.01, deadline - time.monotonic()))
        check(r is not None, "%s: nothing came" % what)
        if r[0] == msg:
            return r
        check(len(r[0]) <= 1057 and len(r[0]) != len(msg), "%s: another datagram came" % what)


def exchange(a, a_to, b, b_to, n=20, size=1200):
    """n datagrams each way; each arrives whole at the other peer."""
    for k in range(n):
        msg = bytes([k]) * size
        a.sendto(msg, a_to)
        expect(b, msg, "datagram %d a->b through the relay" % k)
        b.sendto(msg[::-1] + b"b", b_to)
        expect(a, msg[::-1] + b"b", "datagram %d b->a through the relay" % k)


class Env:
    """A workdir, a Redis and relays, all stopped by close()."""

    def __init__(self, name):
        one_host_only()
        self.workdir = tempfile.mkdtemp(prefix="rr-relay-%s-" % name)
        self.redis = Redis(self.workdir).start()
        self.relays, self.socks = [], []

    def relay(self, name, args=(), v6=False, ports=1):
        """A relay on a free port of 127.0.0.1 (and ::1 if v6), or a range of
        ports of them: r.port is the first, r.ports their number."""
        port = free_udp_port(v6) if ports == 1 else free_udp_range(ports, v6)
        spec = "%d" % port if ports == 1 else "%d-%d" % (port, port + ports - 1)
        listen = "127.0.0.1:" + spec + (",[::1]:" + spec if v6 else "")
        r = Relay(name, ["--listen", listen] + list(args), self.redis, self.workdir)
        r.port, r.ports = port, ports
        self.relays.append(r)
        return r.start()

    def peer(self, ip):
        s = peer(ip)
        self.socks.append(s)
        return s

    def close(self):
        for s in self.socks:
            s.close()
        for r in self.relays:
            r.stop()
        self.redis.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


# -- the tests ---------------------------------------------------------------------

def metric(redis, series):
    v = redis.cmd("HGET", "hr:metrics", series)
    return int(v) if v is not None else 0


@uses(stack=False, timeout=90)
def test_pair_and_exchange():
    """Client and holder punch through the relay, then 20 datagrams of 1200
    bytes go each way; over IPv6 (client ::1 on [::1]:P, holder on
    127.0.0.1:P) too if there is ::1; answers leave from the address each
    peer sent to; counters at stop and in Redis hr:metrics."""
    env = Env("pair")
    try:
        v6 = ipv6_loopback()
        r = env.relay("pair", v6=v6)
        cases = [("127.0.0.1", ("127.0.0.1", r.port))]
        if v6:
            cases.append(("::1", ("::1", r.port)))
        for cip, cto in cases:
            att = Attempt(client_ips=[cip], holder_ips=["127.0.0.2"])
            att.write(env.redis)
            c, h = env.peer(cip), env.peer("127.0.0.2")
            hto = ("127.0.0.1", r.port)
            got = punch(att, c, cto, h, hto)
            eq(got["a"][1][:2], cto, "source of what the client got")
            eq(got["b"][1][:2], hto, "source of what the holder got")
            exchange(c, cto, h, hto)
        wait_until(lambda: metric(env.redis, 'hysteria_realm_relay_packets_total'
                                  '{result="forwarded"}') >= 40 * len(cases), 10,
                   "forwarded packets in hr:metrics")
        check(metric(env.redis, 'hysteria_realm_relay_flows_total{event="paired"}') == len(cases),
              "flows paired in hr:metrics")
        eq(r.stop(), 0, "exit code after SIGTERM")
        cnt = r.counters()
        check(cnt["forwarded"] >= 42 * len(cases), "forwarded=%d" % cnt["forwarded"])
        eq(cnt["flows_paired"], len(cases), "flows_paired at stop")
        check(cnt["bytes_forwarded"] >= 2 * 20 * 1200 * len(cases), "bytes_forwarded")
        if not v6:
            raise Skip("IPv4 passed; no IPv6 loopback here")
    finally:
        env.close()


@uses(stack=False, timeout=90)
def test_reread_after_outage():
    """An attempt written (HSET, PUBLISH to nobody) while the relay was
    stopped is relayed once it starts; one written while Redis was
    restarted under a SIGSTOPped relay is relayed after it reconnects
    (redis_unreachable, then redis_ready in its log)."""
    env = Env("reread")
    try:
        r = env.relay("reread")
        port = r.port
        eq(r.stop(), 0, "exit code after SIGTERM")
        att = Attempt()
        att.write(env.redis)
        r.start()
        c, h = env.peer("127.0.0.1"), env.peer("127.0.0.2")
        to = ("127.0.0.1", port)
        punch(att, c, to, h, to)
        exchange(c, to, h, to, n=3)
        # Redis restarts while the relay is stopped: it finds its connection lost
        log = LogWatch(r.log_path)
        os.kill(r.proc.pid, signal.SIGSTOP)
        try:
            env.redis.stop()
            env.redis.start()
            att2 = Attempt(realm="other")
            att2.write(env.redis)
        finally:
            os.kill(r.proc.pid, signal.SIGCONT)
        wait_until(lambda: log.has("msg=redis_unreachable") and log.has("msg=redis_ready"), 15,
                   "the relay to reconnect: %s" % log.tail())
        c2, h2 = env.peer("127.0.0.1"), env.peer("127.0.0.2")
        punch(att2, c2, to, h2, to)
        exchange(c2, to, h2, to, n=3)
        eq(log.text().count("msg=redis_unreachable"), 1, "redis_unreachable once per outage")
        eq(r.stop(), 0, "exit code after SIGTERM")
    finally:
        env.close()


@uses(stack=False, timeout=60)
def test_expired_unknown():
    """Hellos of an attempt nobody published, and of one whose expires has
    passed (written, then its time runs out), get no answer; counted."""
    env = Env("expired")
    try:
        r = env.relay("expired")
        to = ("127.0.0.1", r.port)
        unknown = Attempt()
        short = Attempt(ttl_ms=700)
        short.write(env.redis)
        stale = Attempt(ttl_ms=-1000)          # expired when published
        stale.write(env.redis)
        wait_until(lambda: time.time() * 1000 > short.expires, 5, "the attempt to expire")
        c, h = env.peer("127.0.0.1"), env.peer("127.0.0.2")
        for att in (unknown, short, stale):
            for _ in range(3):
                c.sendto(att.hello(), to)
                h.sendto(att.hello(), to)
        never_answered([c, h])
        eq(r.stop(), 0, "exit code after SIGTERM")
        cnt = r.counters()
        eq(cnt["forwarded"], 0, "forwarded at stop")
        eq(cnt["unknown"] + cnt["expired"], 18, "unknown + expired at stop")
        eq(cnt["flows_paired"], 0, "flows_paired at stop")
    finally:
        env.close()


@uses(stack=False, timeout=60)
def test_garbage_replay_spoof():
    """After a flow is paired: garbage from a listed and an unlisted IP, a
    hello captured from the client re-sent from a third address (listed IP,
    another port), a hello with the right nonce under a wrong key: nobody
    gets anything; counted invalid / unknown / replay / garbage."""
    env = Env("garbage")
    try:
        r = env.relay("garbage")
        to = ("127.0.0.1", r.port)
        att = Attempt()
        att.write(env.redis)
        c, h = env.peer("127.0.0.1"), env.peer("127.0.0.2")
        punch(att, c, to, h, to)
        exchange(c, to, h, to, n=1)           # the acks in flight are delivered
        x, y = env.peer("127.0.0.1"), env.peer("127.0.0.3")
        captured = att.hello()
        spoof = encode(os.urandom(32), att.nonce)
        for pkt, src in ((os.urandom(200), x), (os.urandom(200), y), (b"x" * 10, x),
                         (captured, x), (spoof, x), (captured, y)):
            src.sendto(pkt, to)
        never_answered([c, h, x, y])
        eq(r.stop(), 0, "exit code after SIGTERM")
        cnt = r.counters()
        eq(cnt["replay"], 1, "replay at stop")
        eq(cnt["invalid"], 2, "invalid (garbage and spoof from a listed IP) at stop")
        # + the hellos that came before the relay had read the record
        check(cnt["unknown"] >= 2, "unknown (from an unlisted IP) at stop: %d" % cnt["unknown"])
        eq(cnt["garbage"], 1, "garbage (10 bytes) at stop")
        eq(cnt["flows_paired"], 1, "flows_paired at stop")
    finally:
        env.close()


def pair_fails(att, c, h, to, tries=6):
    """Both peers punch att a few times (a slot each, then the pairing
    refused): nobody gets anything."""
    for _ in range(tries):
        c.sendto(att.hello(), to)
        h.sendto(att.hello(), to)
    never_answered([c, h])


@uses(stack=False, timeout=60)
def test_limit_per_realm():
    """--max-flows-per-realm 1: a second flow of the realm is refused
    (limit_realm), one of another realm pairs."""
    env = Env("realm")
    try:
        r = env.relay("realm", ["--max-flows-per-realm", "1"])
        to = ("127.0.0.1", r.port)
        a1, a2, b1 = Attempt("one"), Attempt("one"), Attempt("two")
        for a in (a1, a2, b1):
            a.write(env.redis)
        punch(a1, env.peer("127.0.0.1"), to, env.peer("127.0.0.2"), to)
        c, h = env.peer("127.0.0.1"), env.peer("127.0.0.2")
        pair_fails(a2, c, h, to)
        punch(b1, env.peer("127.0.0.1"), to, env.peer("127.0.0.2"), to)
        eq(r.stop(), 0, "exit code after SIGTERM")
        cnt = r.counters()
        check(cnt["limit_realm"] >= 1, "limit_realm=%d" % cnt["limit_realm"])
        eq(cnt["flows_paired"], 2, "flows_paired at stop")
    finally:
        env.close()


@uses(stack=False, timeout=60)
def test_limit_per_ip():
    """--max-flows-per-ip 1: a second flow from 127.0.0.1 is refused
    (limit_ip) whatever its realm; one between two other IPs pairs."""
    env = Env("perip")
    try:
        r = env.relay("perip", ["--max-flows-per-ip", "1"])
        to = ("127.0.0.1", r.port)
        a1, a2 = Attempt("one"), Attempt("two")
        b1 = Attempt("three", client_ips=["127.0.0.3"], holder_ips=["127.0.0.4"])
        for a in (a1, a2, b1):
            a.write(env.redis)
        punch(a1, env.peer("127.0.0.1"), to, env.peer("127.0.0.2"), to)
        pair_fails(a2, env.peer("127.0.0.1"), env.peer("127.0.0.2"), to)
        punch(b1, env.peer("127.0.0.3"), to, env.peer("127.0.0.4"), to)
        eq(r.stop(), 0, "exit code after SIGTERM")
        cnt = r.counters()
        check(cnt["limit_ip"] >= 1, "limit_ip=%d" % cnt["limit_ip"])
        eq(cnt["flows_paired"], 2, "flows_paired at stop")
    finally:
        env.close()


@uses(stack=False, timeout=60)
def test_flow_rate():
    """--flow-rate 24000: 100 datagrams of 1200 bytes sent at once reach the
    other peer only up to the burst plus the rate for the time taken; the
    rest are counted rate_flow."""
    env = Env("rate")
    try:
        rate = 24000
        r = env.relay("rate", ["--flow-rate", str(rate)])
        to = ("127.0.0.1", r.port)
        att = Attempt()
        att.write(env.redis)
        c, h = env.peer("127.0.0.1"), env.peer("127.0.0.2")
        h.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        punch(att, c, to, h, to)
        t0 = time.monotonic()
        for k in range(100):
            c.sendto(b"r" * 1200, to)
        got = 0
        while True:
            r_ = recv(h, QUIET)
            if r_ is None:
                break
            got += r_[0] == b"r" * 1200       # not the last acks of the punch
        elapsed = time.monotonic() - t0
        allowed = (rate + rate * elapsed) / 1200
        check(got <= allowed, "%d datagrams relayed in %.2f s, at most %d expected"
              % (got, elapsed, allowed))
        check(got >= 10, "only %d datagrams relayed" % got)
        eq(r.stop(), 0, "exit code after SIGTERM")
        cnt = r.counters()
        # the kernel may drop a few more at the relay's socket buffer, uncounted
        check(50 <= cnt["rate_flow"] <= 100 - got, "rate_flow=%d, %d not relayed"
              % (cnt["rate_flow"], 100 - got))
    finally:
        env.close()


@uses(stack=False, timeout=60)
def test_idle_expiry():
    """--idle-timeout 1: a flow without traffic expires (flows_expired in
    hr:metrics); what the client sends afterwards is not relayed."""
    env = Env("idle")
    try:
        r = env.relay("idle", ["--idle-timeout", "1"])
        to = ("127.0.0.1", r.port)
        att = Attempt()
        att.write(env.redis)
        c, h = env.peer("127.0.0.1"), env.peer("127.0.0.2")
        punch(att, c, to, h, to)
        exchange(c, to, h, to, n=2)
        wait_until(lambda: metric(env.redis, 'hysteria_realm_relay_flows_total{event="expired"}')
                   >= 1, 10, "the flow to expire")
        c.sendto(b"late" * 300, to)
        never_answered([h, c])
        eq(r.stop(), 0, "exit code after SIGTERM")
        cnt = r.counters()
        eq(cnt["flows_expired"], 1, "flows_expired at stop")
        eq(cnt["flows"], 0, "flows at stop")
    finally:
        env.close()


@uses(stack=False, timeout=90)
def test_port_range():
    """--listen 127.0.0.1:P-P+3. One holder socket (127.0.0.2), two clients
    (127.0.0.1): attempt 1 punched on port P, attempt 2 on P+2, both pair;
    each client exchanges data with the holder, which gets each client's
    from that client's port, and each client gets only its own answers.
    Attempt 3 on port P (as if its nonce picked the same port as attempt
    1): refused, counted busy, and its hellos from the holder's socket do
    not reach client 1."""
    env = Env("range")
    try:
        r = env.relay("range", ports=4)
        to1, to2 = ("127.0.0.1", r.port), ("127.0.0.1", r.port + 2)
        a1, a2, a3 = Attempt(), Attempt(), Attempt()
        for a in (a3, a1, a2):                # a3 read before a1 and a2 pair
            a.write(env.redis)
        h = env.peer("127.0.0.2")
        c1, c2, c3 = env.peer("127.0.0.1"), env.peer("127.0.0.1"), env.peer("127.0.0.1")
        got = punch(a1, c1, to1, h, to1)
        eq(got["b"][1][:2], to1, "source of what the holder got in attempt 1")
        got = punch(a2, c2, to2, h, to2)
        eq(got["b"][1][:2], to2, "source of what the holder got in attempt 2")
        eq(got["a"][1][:2], to2, "source of what client 2 got")
        exchange(c1, to1, h, to1, n=3)
        exchange(c2, to2, h, to2, n=3)
        # both at once: the holder tells them apart by the relay port
        for k in range(5):
            m1, m2 = b"one %d " % k + b"1" * 1200, b"two %d " % k + b"2" * 1200
            c1.sendto(m1, to1)
            c2.sendto(m2, to2)
            seen = {}
            for _ in range(2):
                data, src = expect_any(h, (m1, m2), "datagram %d to the holder" % k)
                seen[data] = src[:2]
            eq(seen, {m1: to1, m2: to2}, "sources of the clients' datagrams at the holder")
            h.sendto(b"back1 " + m1, to1)
            h.sendto(b"back2 " + m2, to2)
            expect(c1, b"back1 " + m1, "answer %d to client 1" % k)
            expect(c2, b"back2 " + m2, "answer %d to client 2" % k)
        # attempt 3 collides with attempt 1's port
        for _ in range(6):
            c3.sendto(a3.hello(), to1)
            h.sendto(a3.hello(), to1)
        never_answered([c1, c2, c3, h])
        exchange(c1, to1, h, to1, n=2)        # flow 1 goes on
        eq(r.stop(), 0, "exit code after SIGTERM")
        cnt = r.counters()
        eq(cnt["flows_paired"], 2, "flows_paired at stop")
        check(cnt["busy"] >= 6, "busy=%d held=%d: attempt 3's hellos from the holder socket "
              "counted busy" % (cnt["busy"], cnt["held"]))
    finally:
        env.close()


def expect_any(sock, msgs, what, timeout=2.0):
    """The next datagram on sock that is one of msgs (punch packets still
    in flight skipped): (data, source)."""
    deadline = time.monotonic() + timeout
    while True:
        r = recv(sock, max(0.01, deadline - time.monotonic()))
        check(r is not None, "%s: nothing came" % what)
        if r[0] in msgs:
            return r
        check(len(r[0]) <= 1057, "%s: another datagram came (%d bytes)" % (what, len(r[0])))


@uses(stack=False, timeout=60)
def test_record_update():
    """A record published with holder_ips [127.0.0.2], the client's hellos
    held; the same record published again with 127.0.0.3 added (as
    connect_answer does with the holder's answer): the holder punching
    from 127.0.0.3 pairs with the client."""
    env = Env("update")
    try:
        r = env.relay("update")
        to = ("127.0.0.1", r.port)
        att = Attempt()
        att.write(env.redis)
        c, h = env.peer("127.0.0.1"), env.peer("127.0.0.3")
        # the client's slot: punch it through a record-reading barrier (a
        # second attempt published after this one and paired)
        c.sendto(att.hello(), to)
        barrier = Attempt()
        barrier.write(env.redis)
        punch(barrier, env.peer("127.0.0.1"), to, env.peer("127.0.0.2"), to)
        c.sendto(att.hello(), to)
        h.sendto(att.hello(), to)             # not listed yet: unknown
        never_answered([c, h])
        att.holder_ips.append("127.0.0.3")
        att.write(env.redis)
        got = punch(att, c, to, h, to)
        eq(got["a"][1][:2], to, "source of what the client got")
        exchange(c, to, h, to, n=3)
        eq(r.stop(), 0, "exit code after SIGTERM")
        cnt = r.counters()
        eq(cnt["flows_paired"], 2, "flows_paired at stop")
        check(cnt["unknown"] >= 1, "unknown=%d" % cnt["unknown"])
        eq(cnt["attempts"], 2, "attempts at stop (the update is no new one)")
    finally:
        env.close()


@uses(stack=False, timeout=30)
def test_bad_flags():
    """Each bad value: one line on stderr naming the flag, exit status 2;
    a range of more sockets than RLIMIT_NOFILE allows too."""
    one_host_only()
    for args, needle in ((["--max-flows", "0"], "--max-flows"),
                         (["--idle-timeout", "x"], "--idle-timeout"),
                         (["--flow-rate", "-1"], "--flow-rate"),
                         (["--listen", "127.0.0.1"], "--listen"),
                         (["--listen", "127.0.0.1:7001-7000"], "--listen"),
                         (["--listen", "127.0.0.1:7000-"], "--listen"),
                         (["--listen", "127.0.0.1:1000-5096"], "--listen"),     # 4097 ports
                         (["--listen", "[::1]:7000-7003,[::1]:7003"], "overlap"),
                         (["--redis", "http://x"], "Redis URL"),
                         (["--bogus"], "--bogus")):
        p = subprocess.run([relay_binary()] + args, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        err = p.stderr.decode()
        eq(p.returncode, 2, "exit status of %s" % args)
        check(needle in err and err.count("\n") == 1, "stderr of %s: %r" % (args, err))

    def low_nofile():
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    p = subprocess.run([relay_binary(), "--listen", "127.0.0.1:20000-20099",
                        "--redis", "redis://127.0.0.1:1/0"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10,
                       preexec_fn=low_nofile)
    err = p.stderr.decode()
    eq(p.returncode, 2, "exit status with 100 ports and RLIMIT_NOFILE 64")
    check("RLIMIT_NOFILE" in err and "100 sockets" in err and err.count("\n") == 1,
          "stderr with 100 ports and RLIMIT_NOFILE 64: %r" % err)
