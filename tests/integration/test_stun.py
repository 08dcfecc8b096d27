"""test_stun.py -- hysteria-realm-stun, the STUN Binding responder
(fcgi/stun_main.c, fcgi/stun_msg.c), black-box on loopback UDP.

 1. turnutils_stunclient   Debian's STUN client (package coturn, installed if
                           missing) prints our mapped address: 127.0.0.1 and
                           [::1] with the client's own port
 2. binding_v4_v6          a Binding request built here: XOR-MAPPED-ADDRESS
                           and MAPPED-ADDRESS are the socket's own address,
                           the FINGERPRINT is right (zlib.crc32)
 3. malformed_ignored      truncated, wrong cookie, a response, random bytes,
                           oversized: no answer; a valid request after them
                           still is answered; the counters at stop say so
 4. rate_limit             200 requests at once from one socket: at most
                           rate + burst answered; later, answered again
 5. reuseport              a second process on the same port starts
                           (SO_REUSEPORT); both answer; one stops, the other
                           goes on

The binary is $RR_STUN, by default hysteria-realm-stun beside the worker
binary (stack.worker_binary(), i.e. $RR_WORKER or build-test/). Each test
runs its own servers on a free loopback UDP port (127.0.0.1 and ::1) and
stops them in a finally; their stderr goes to $RR_LOG_DIR (tests/run scans
it for sanitizer reports) or a temporary directory, as stun-<name>.log.
One-host mode only (RR_HOSTS=1): the responder needs no stack.
"""

import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import zlib

from client import check, eq
from stack import Skip, default_hosts, uses, wait_until, worker_binary

COOKIE = 0x2112A442
FP_XOR = 0x5354554E
BINDING_REQUEST = 0x0001
BINDING_SUCCESS = 0x0101
ATTR_MAPPED = 0x0001
ATTR_XOR_MAPPED = 0x0020
ATTR_SOFTWARE = 0x8022
ATTR_FINGERPRINT = 0x8028
QUIET = 0.3            # seconds to wait for an answer that must not come


# -- helpers -----------------------------------------------------------------------

def stun_binary():
    path = os.environ.get("RR_STUN") or os.path.join(os.path.dirname(worker_binary()),
                                                     "hysteria-realm-stun")
    return os.path.abspath(path)


def one_host_only():
    if default_hosts() != 1:
        raise Skip("the STUN responder is tested on this host's loopback (RR_HOSTS=1)")


def ipv6_loopback():
    """True if a UDP socket can bind [::1]."""
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    except OSError:
        return False
    try:
        s.bind(("::1", 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_udp_port(v6):
    """A UDP port free on 127.0.0.1 (and on ::1 if v6) right now."""
    for _ in range(50):
        a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        b = None
        try:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            if v6:
                b = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
                b.bind(("::1", port))
            return port
        except OSError:
            continue
        finally:
            a.close()
            if b is not None:
                b.close()
    raise RuntimeError("no UDP port free on both 127.0.0.1 and ::1")


def attr(atype, value):
    pad = (4 - len(value) % 4) % 4
    return struct.pack("!HH", atype, len(value)) + value + b"\0" * pad


def request(txid=None, attrs=b"", fingerprint=True, mtype=BINDING_REQUEST, cookie=COOKIE):
    """A Binding request (or another type) with attrs and a FINGERPRINT."""
    txid = txid if txid is not None else os.urandom(12)
    body = attrs
    if fingerprint:
        head = struct.pack("!HHI", mtype, len(body) + 8, cookie) + txid
        crc = zlib.crc32(head + body) ^ FP_XOR
        body += struct.pack("!HHI", ATTR_FINGERPRINT, 4, crc)
    return struct.pack("!HHI", mtype, len(body), cookie) + txid + body


def parse(msg):
    """(type, txid, [(attr type, value)], fingerprint ok) of a STUN message;
    AssertionError if it is not well formed."""
    check(len(msg) >= 20, "answer of %d bytes" % len(msg))
    mtype, mlen, cookie = struct.unpack("!HHI", msg[:8])
    eq(mlen, len(msg) - 20, "answer length field")
    eq(cookie, COOKIE, "answer magic cookie")
    attrs, at, fp_ok = [], 20, None
    while at < len(msg):
        check(at + 4 <= len(msg), "attribute header past the end at %d" % at)
        atype, alen = struct.unpack("!HH", msg[at:at + 4])
        check(at + 4 + alen <= len(msg), "attribute 0x%04x past the end" % atype)
        value = msg[at + 4:at + 4 + alen]
        if atype == ATTR_FINGERPRINT:
            eq(at + 8, len(msg), "FINGERPRINT is the last attribute")
            fp_ok = struct.unpack("!I", value)[0] == (zlib.crc32(msg[:at]) ^ FP_XOR)
        attrs.append((atype, value))
        at += 4 + alen + (4 - alen % 4) % 4
    return mtype, msg[8:20], attrs, fp_ok


def decode_address(value, txid, xor):
    """(ip text, port) of a (XOR-)MAPPED-ADDRESS value."""
    family, port = value[1], struct.unpack("!H", value[2:4])[0]
    raw = value[4:]
    if xor:
        port ^= COOKIE >> 16
        key = struct.pack("!I", COOKIE) + txid
        raw = bytes(b ^ key[k] for k, b in enumerate(raw))
    if family == 1:
        eq(len(raw), 4, "IPv4 address length")
        return socket.inet_ntop(socket.AF_INET, raw), port
    eq(family, 2, "address family")
    eq(len(raw), 16, "IPv6 address length")
    return socket.inet_ntop(socket.AF_INET6, raw), port


def udp_client(v6=False):
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("::1" if v6 else "127.0.0.1", 0))
    return s


def exchange(sock, where, msg, timeout=2.0):
    """Send msg to where, return the answer (bytes) or None if none came
    within timeout."""
    sock.settimeout(timeout)
    sock.sendto(msg, where)
    try:
        return sock.recvfrom(4096)[0]
    except socket.timeout:
        return None


def check_answer(ans, req, sock, what):
    """ans answers req: a Binding success with its transaction id, both
    address attributes equal to sock's address, a right FINGERPRINT."""
    check(ans is not None, "%s: no answer" % what)
    mtype, txid, attrs, fp_ok = parse(ans)
    eq(mtype, BINDING_SUCCESS, "%s: answer type" % what)
    eq(txid, req[8:20], "%s: transaction id" % what)
    check(fp_ok is True, "%s: FINGERPRINT missing or wrong" % what)
    types = [t for t, _ in attrs]
    eq(types, [ATTR_XOR_MAPPED, ATTR_MAPPED, ATTR_FINGERPRINT], "%s: attributes" % what)
    own = sock.getsockname()[:2]
    eq(decode_address(attrs[0][1], txid, True), own, "%s: XOR-MAPPED-ADDRESS" % what)
    eq(decode_address(attrs[1][1], txid, False), own, "%s: MAPPED-ADDRESS" % what)


class LogWatch:
    """The part of a log file written after this object was made."""

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

    def tail(self, n=800):
        return " ".join(self.text()[-n:].split())


class StunServer:
    """A hysteria-realm-stun process of a test's own."""

    def __init__(self, name, args, workdir):
        self.name = name
        self.args = list(args)
        self.workdir = workdir
        d = os.environ.get("RR_LOG_DIR") or workdir
        os.makedirs(d, exist_ok=True)
        self.log_path = os.path.join(d, "stun-%s.log" % name)
        self.log = LogWatch(self.log_path)
        self.proc = None

    def start(self):
        binary = stun_binary()
        if not os.access(binary, os.X_OK):
            raise RuntimeError("STUN binary %s is missing (build hysteria-realm-stun, "
                               "or set RR_STUN)" % binary)
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([binary] + self.args, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, env=env, cwd=self.workdir)

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError("hysteria-realm-stun %s exited with %d: %s"
                                   % (self.name, self.proc.returncode, self.log.tail()))
            return self.log.has("msg=started")
        wait_until(ready, 10, "hysteria-realm-stun %s to start" % self.name)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=10):
        """SIGTERM and wait: the exit code (None if it had to be killed)."""
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
        """The totals of the "msg=stopped" line, as a dict of ints."""
        m = re.search(r"msg=stopped ([^\n]*)", self.log.text())
        check(m is not None, "%s: no msg=stopped line: %s" % (self.name, self.log.tail()))
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}


def listen_args(port, v6):
    where = "127.0.0.1:%d" % port + (",[::1]:%d" % port if v6 else "")
    return ["--listen", where]


# -- turnutils_stunclient ----------------------------------------------------------

def stunclient():
    """The path of turnutils_stunclient, installing coturn if missing (no
    service started: a policy-rc.d forbids it, as tests/run does); Skip if
    that cannot be done."""
    path = shutil.which("turnutils_stunclient")
    if path:
        return path
    if os.geteuid() != 0:
        raise Skip("turnutils_stunclient missing (apt-get install coturn) and not root")
    policy, made = "/usr/sbin/policy-rc.d", False
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=600"]
    install = apt + ["install", "-y", "-q", "--no-install-recommends", "coturn"]
    out = ""

    def run(cmd):
        nonlocal out
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=env, timeout=170)
        out = r.stdout.decode("utf-8", "replace")
        return r.returncode == 0

    try:
        if not os.path.exists(policy):
            with open(policy, "w") as f:
                f.write("#!/bin/sh\nexit 101\n")
            os.chmod(policy, 0o755)
            made = True
        # the package lists are usually there already: update only if needed
        if not run(install) and run(apt + ["update", "-q"]):
            run(install)
    except (OSError, subprocess.TimeoutExpired) as e:
        out = str(e)
    finally:
        if made:
            os.unlink(policy)
    path = shutil.which("turnutils_stunclient")
    if not path:
        raise Skip("turnutils_stunclient missing and apt-get install coturn failed: %s"
                   % " ".join(out.split()[-30:]))
    return path


def udp_ports_of(pid):
    """The local ports of the UDP sockets process pid holds (0: not bound yet)."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    ports = set()
    for table in ("udp", "udp6"):
        try:
            with open("/proc/%d/net/%s" % (pid, table)) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[9] in inodes:
                        ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        except OSError:
            pass
    return ports


def run_stunclient(client, server, host, port):
    """Run turnutils_stunclient against host:port while the server is
    stopped (SIGSTOP), learn its UDP port from /proc, let the server go on:
    (the client's ports, its output)."""
    os.kill(server.proc.pid, signal.SIGSTOP)
    p = None
    try:
        p = subprocess.Popen([client, "-p", str(port), host], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        ports = wait_until(lambda: {x for x in udp_ports_of(p.pid) if x != 0}, 10,
                           "turnutils_stunclient to send from a bound UDP port")
        os.kill(server.proc.pid, signal.SIGCONT)
        out, _ = p.communicate(timeout=10)
        return ports, out.decode("utf-8", "replace")
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)
        if p is not None and p.poll() is None:
            p.kill()
            p.wait(5)


@uses(stack=False, timeout=240)
def test_turnutils_stunclient():
    """turnutils_stunclient -p PORT 127.0.0.1 prints "UDP reflexive addr:
    127.0.0.1:<its port>" (and ::1:<its port> for ::1). Its port is read
    from /proc while the server is held with SIGSTOP (its request waits in
    the socket buffer). The timeout covers installing coturn."""
    one_host_only()
    client = stunclient()
    v6 = ipv6_loopback()
    workdir = tempfile.mkdtemp(prefix="rr-stun-client-")
    port = free_udp_port(v6)
    srv = StunServer("client", listen_args(port, v6), workdir)
    try:
        srv.start()
        for host in ["127.0.0.1"] + (["::1"] if v6 else []):
            ports, out = run_stunclient(client, srv, host, port)
            found = re.findall(r"UDP reflexive addr: (\S+):(\d+)", out)
            check(found, "turnutils_stunclient against %s:%d printed no reflexive address: %r"
                  % (host, port, out[-500:]))
            addr, mapped = found[0][0], int(found[0][1])
            eq(addr, host, "mapped address printed by turnutils_stunclient")
            check(mapped in ports, "turnutils_stunclient printed port %d, its socket has %s"
                  % (mapped, sorted(ports)))
        eq(srv.stop(), 0, "exit code after SIGTERM")
    finally:
        srv.stop()
        shutil.rmtree(workdir, ignore_errors=True)


# -- our own requests ----------------------------------------------------------------

@uses(stack=False, timeout=60)
def test_binding_v4_v6():
    """A Binding request with SOFTWARE and FINGERPRINT over 127.0.0.1 and
    ::1: XOR-MAPPED-ADDRESS and MAPPED-ADDRESS equal the socket's address,
    the FINGERPRINT is right; one without FINGERPRINT is answered too."""
    one_host_only()
    v6 = ipv6_loopback()
    workdir = tempfile.mkdtemp(prefix="rr-stun-binding-")
    port = free_udp_port(v6)
    srv = StunServer("binding", listen_args(port, v6), workdir)
    try:
        srv.start()
        for fam in [False] + ([True] if v6 else []):
            host = "::1" if fam else "127.0.0.1"
            with udp_client(fam) as s:
                for what, req in [
                        ("SOFTWARE, FINGERPRINT", request(attrs=attr(ATTR_SOFTWARE, b"rr-test"))),
                        ("bare", request(fingerprint=False))]:
                    ans = exchange(s, (host, port), req)
                    check_answer(ans, req, s, "%s request over %s" % (what, host))
                    check(len(ans) <= len(req) + 64, "answer %d bytes for a request of %d"
                          % (len(ans), len(req)))
        eq(srv.stop(), 0, "exit code after SIGTERM")
        if not v6:
            raise Skip("IPv4 passed; no IPv6 loopback here to test [::1]")
    finally:
        srv.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def malformed():
    """(what, bytes) of packets that must not be answered."""
    good = request(attrs=attr(ATTR_SOFTWARE, b"rr-test"))
    resp = bytearray(good)
    resp[0:2] = struct.pack("!H", BINDING_SUCCESS)
    noise = bytearray(os.urandom(96))
    noise[0] |= 0x80                       # never a request by chance
    bad_fp = bytearray(good)
    bad_fp[-1] ^= 1
    overrun = bytearray(request(attrs=attr(0x8055, b"abcd"), fingerprint=False))
    overrun[22:24] = struct.pack("!H", 200)
    return [
        ("empty", b""),
        ("19 bytes", good[:19]),
        ("truncated", good[:-4]),
        ("wrong cookie", request(cookie=0x2112A443)),
        ("RFC 3489 request", request(cookie=0x12345678, fingerprint=False)),
        ("a Binding response", bytes(resp)),
        ("a Binding indication", request(mtype=0x0011)),
        ("bad fingerprint", bytes(bad_fp)),
        ("attribute overrun", bytes(overrun)),
        ("CHANGE-REQUEST", request(attrs=attr(0x0003, b"\0\0\0\x06"))),
        ("random bytes", bytes(noise)),
        ("oversized (1600 bytes)", request(attrs=attr(0x8055, b"x" * 1556))),
        ("oversized (8000 bytes)", request(attrs=attr(0x8055, b"x" * 7956))),
    ]


@uses(stack=False, timeout=60)
def test_malformed_ignored():
    """Each malformed packet gets no answer within 0.3 s; a valid request
    after them all (and a 1400-byte one) is still answered, over IPv4 and
    IPv6; the counters logged at stop count them."""
    one_host_only()
    v6 = ipv6_loopback()
    workdir = tempfile.mkdtemp(prefix="rr-stun-malformed-")
    port = free_udp_port(v6)
    srv = StunServer("malformed", listen_args(port, v6) + ["--rate", "1000"], workdir)
    sent_bad = answered = 0
    try:
        srv.start()
        for fam in [False] + ([True] if v6 else []):
            host = "::1" if fam else "127.0.0.1"
            with udp_client(fam) as s:
                for what, pkt in malformed():
                    ans = exchange(s, (host, port), pkt, timeout=QUIET)
                    check(ans is None, "%s over %s was answered: %s" % (what, host,
                                                                        ans and ans.hex()))
                    sent_bad += 1
                for what, req in [("valid", request()),
                                  ("1400 bytes", request(attrs=attr(0x8055, b"y" * 1356)))]:
                    ans = exchange(s, (host, port), req)
                    check_answer(ans, req, s, "%s request over %s after the malformed ones"
                                 % (what, host))
                    answered += 1
        check(srv.alive(), "the server exited: %s" % srv.log.tail())
        eq(srv.stop(), 0, "exit code after SIGTERM")
        c = srv.counters()
        eq(c.get("answered"), answered, "answered= at stop")
        eq(c.get("ignored"), sent_bad, "ignored= at stop")
    finally:
        srv.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@uses(stack=False, timeout=60)
def test_rate_limit():
    """--rate 10 (burst 10): 200 requests sent at once from one socket get
    at most burst + rate per second elapsed answers (and at least the
    burst); a second later the source is answered again; rate_limited= at
    stop counts the rest."""
    one_host_only()
    rate = 10
    workdir = tempfile.mkdtemp(prefix="rr-stun-rate-")
    port = free_udp_port(False)
    srv = StunServer("rate", listen_args(port, False) + ["--rate", str(rate)], workdir)
    try:
        srv.start()
        with udp_client() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            t0 = time.monotonic()
            for _ in range(200):
                s.sendto(request(), ("127.0.0.1", port))
            got = 0
            s.settimeout(0.5)
            try:
                while True:
                    s.recvfrom(4096)
                    got += 1
            except socket.timeout:
                pass
            elapsed = time.monotonic() - t0 - 0.5
            allowed = rate + int(rate * max(1.0, elapsed))
            check(got <= allowed, "%d of 200 requests answered in %.2f s with --rate %d "
                  "(at most %d expected)" % (got, elapsed, rate, allowed))
            check(got >= rate, "only %d of 200 requests answered, expected the burst of %d"
                  % (got, rate))
            time.sleep(1.1)
            req = request()
            check_answer(exchange(s, ("127.0.0.1", port), req), req, s,
                         "a request 1 s after the burst")
        eq(srv.stop(), 0, "exit code after SIGTERM")
        c = srv.counters()
        check(c.get("rate_limited", 0) >= 200 - allowed - 1,
              "rate_limited=%s at stop, expected about %d" % (c.get("rate_limited"), 200 - got))
    finally:
        srv.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@uses(stack=False, timeout=60)
def test_reuseport():
    """A second process on the same 127.0.0.1 port starts (SO_REUSEPORT);
    requests from 16 sockets are all answered (by either: the kernel picks
    by source); the first stops (exit 0) and the second answers them all."""
    one_host_only()
    workdir = tempfile.mkdtemp(prefix="rr-stun-reuse-")
    port = free_udp_port(False)
    args = listen_args(port, False) + ["--rate", "1000"]   # 32 answers to 127.0.0.1
    a = StunServer("reuse-a", args, workdir)
    b = StunServer("reuse-b", args, workdir)
    socks = []
    try:
        a.start()
        b.start()
        check(a.alive() and b.alive(), "both servers up")
        socks = [udp_client() for _ in range(16)]
        for k, s in enumerate(socks):
            req = request()
            check_answer(exchange(s, ("127.0.0.1", port), req), req, s,
                         "socket %d with two servers on the port" % (k + 1))
        eq(a.stop(), 0, "exit code of the first server after SIGTERM")
        for k, s in enumerate(socks):
            req = request()
            check_answer(exchange(s, ("127.0.0.1", port), req), req, s,
                         "socket %d after the first server stopped" % (k + 1))
        eq(b.stop(), 0, "exit code of the second server after SIGTERM")
        ca, cb = a.counters(), b.counters()
        eq(ca.get("answered", 0) + cb.get("answered", 0), 32, "answered= of both at stop")
        check(cb.get("answered", 0) >= 16, "the second server answered %s (>= 16 expected)"
              % cb.get("answered"))
    finally:
        for s in socks:
            s.close()
        a.stop()
        b.stop()
        shutil.rmtree(workdir, ignore_errors=True)
