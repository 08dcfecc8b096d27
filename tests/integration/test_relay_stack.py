"""test_relay_stack.py -- the UDP relay end to end: a real stack (proxy,
workers, Redis) whose workers have --relay-address, and a real
hysteria-realm-relay process on that address, fed by the stack's Redis.
The peers speak HTTP to the stack and punch UDP like Hysteria does.

 1. relayed            holder (HTTP and UDP from 127.0.0.2) and client
                       (127.0.0.1) give addresses nothing routes to (a
                       loopback socket cannot send there: EINVAL, ignored
                       as Hysteria does): the punch event and the connect
                       answer carry the relay's address after the peers'
                       own; the relay pairs them (by the holder's register
                       IP, the client's HTTP IP); both peers'
                       first valid punch packet comes from the relay, each
                       gets the other's hello through it, then datagrams
                       go both ways through it (source: the relay)
 2. direct_wins        both give their real UDP addresses: the first valid
                       packet each gets comes straight from the other peer
                       (the relay's copy may follow); data flows directly
 3. no relay           the default stack's punch event and connect answer
                       hold no relay address: test_connect.py
                       test_connect_answered asserts both bodies exactly;
                       no_relay_no_record adds that no record is kept for
                       the relays (hr:relay:att) without --relay-address
 4. relay_restart      a connect relayed; the relay stopped; a second
                       connect made while it is down (its record only in
                       hr:relay:att); the relay started again reads it and
                       relays the second connect
 5. two_clients_one_holder
                       one holder socket (as a Hysteria server punches all
                       its clients from its one socket), two connects at
                       once whose nonces pick two different ports of the
                       relay's range: both are relayed, and the holder and
                       each client exchange data, each client getting only
                       its own
 6. relay_redis_frozen a relayed flow; Redis stopped (SIGSTOP) for 4 s:
                       round trips through the relay go on with no stall
                       (the relay's Redis calls are on a thread of their
                       own; before, a round trip waited 2 s); after
                       SIGCONT a new connect is relayed

A peer punches as Hysteria does (Peer below): from one UDP socket, a hello
to every address it was given every 100 ms; every valid hello is answered
with an ack to its source; the first valid punch packet from any source is
the one the peer adopts (Peer.first). A peer stops when it has had both a
hello and an ack. A holder may punch several attempts from its one socket
(Peer.start again). Everything waits on the sockets with deadlines.

The relay listens on a range of RELAY_PORTS ports and the workers'
--relay-address names the same range: each attempt gets the port its
nonce picks (relay_of: first + crc32(lowercase nonce) % count, as
fcgi/relays.c). The range must be in the workers' flags when the stack
starts, and run.py starts the stack from @uses(args=...) before any test
runs: so it is picked at import (RELAY_FIRST), free on 127.0.0.1, below the
kernel's ephemeral range so that no socket bound to port 0 in the meantime
takes a port of it. The relay's stderr goes to
$RR_LOG_DIR/relay-stack-*.log (else the stack's run dir). One-host mode
only (the relay and the peers are on this host's loopback).
"""

import json
import re
import select
import signal
import socket
import time
import types
import zlib

from client import Background, check, eq, nonce, obfs, realm_name, request
from punch import ACK, HELLO, MAX_LEN, decode, encode
from stack import uses, wait_until
from test_relay import Relay, free_udp_range, one_host_only

PUNCH_INTERVAL = 0.1          # Hysteria's: a hello round every 100 ms
PUNCH_TIMEOUT = 5.0
HOLDER_IP, CLIENT_IP = "127.0.0.2", "127.0.0.1"
HOLDER_NOWHERE = ["192.0.2.1:9"]          # addresses nothing routes to (from loopback)
CLIENT_NOWHERE = ["198.51.100.1:9"]


RELAY_PORTS = 8
RELAY_FIRST = free_udp_range(RELAY_PORTS)
RELAY_RANGE = "127.0.0.1:%d-%d" % (RELAY_FIRST, RELAY_FIRST + RELAY_PORTS - 1)
RELAY_ARGS = ("--max-realms-per-ip", "0", "--relay-address", RELAY_RANGE)


def relay_of(n_hex):
    """The relay address ("127.0.0.1", port) the workers give the attempt of
    nonce n_hex (any case): the one instance, the port of the range that
    crc32 of the lowercase nonce picks (fcgi/relays.c relays_for)."""
    crc = zlib.crc32(n_hex.lower().encode())
    instances = 1
    return "127.0.0.1", RELAY_FIRST + (crc // instances) % RELAY_PORTS


def relay_text(n_hex):
    return "%s:%d" % relay_of(n_hex)


def _compact(obj):
    return json.dumps(obj, separators=(",", ":"))


def _hostport(addr):
    """("ip", port) of "ip:port" (IPv4; the tests give no IPv6 address)."""
    host, port = addr.rsplit(":", 1)
    return host, int(port)


# -- the relay and the peers ---------------------------------------------------

def start_relay(st, name):
    """A hysteria-realm-relay on RELAY_RANGE, fed by the stack's Redis; waits for
    msg=redis_ready in its log."""
    one_host_only()
    redis = types.SimpleNamespace(url="redis://127.0.0.1:%d/0" % st.redis_port)
    r = Relay("stack-" + name, ["--listen", RELAY_RANGE], redis, st.rundir)
    try:
        return r.start()
    except Exception:
        r.stop()
        raise


class RelayRun:
    """A test's relay (start_relay) and the Peers it makes with peer(); on
    leaving the with block every peer is closed and the relay stopped."""

    def __init__(self, st, name):
        self.relay, self.peers = start_relay(st, name), []

    def peer(self, name, ip):
        p = Peer(name, ip)
        self.peers.append(p)
        return p

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for p in self.peers:
            p.close()
        self.relay.stop()


class PunchState:
    """One attempt a peer punches: its targets, keys and what came."""

    def __init__(self, addresses, n_hex, o_hex):
        self.targets = [_hostport(a) for a in addresses]
        self.nonce, self.key = bytes.fromhex(n_hex), bytes.fromhex(o_hex)
        self.relay = relay_of(n_hex)   # the relay address the workers gave it
        self.first = None          # (type, source) of the first valid punch packet
        self.hellos = []           # sources of the valid hellos, in order
        self.acks = []             # sources of the valid acks, in order
        self.send_errors = 0       # hellos the kernel refused (unroutable)
        self.next_send = time.monotonic()

    def done(self):
        return bool(self.hellos) and bool(self.acks)


class Peer:
    """One side of connects, punching like Hysteria from one UDP socket: one
    attempt (a client), or several at once (a holder). The attributes of
    the attempt (first, hellos, acks, targets, nonce, key, relay) are the
    latest attempt's."""

    def __init__(self, name, ip):
        self.name = name
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ip, 0))
        self.sock.setblocking(False)
        self.attempts = []

    def __getattr__(self, attr):
        if attr in ("first", "hellos", "acks", "targets", "nonce", "key", "relay",
                    "send_errors"):
            atts = self.__dict__.get("attempts")
            check(atts, "%s has no attempt" % self.__dict__.get("name"))
            return getattr(atts[-1], attr)
        raise AttributeError(attr)

    @property
    def address(self):
        return self.sock.getsockname()[:2]

    @property
    def address_text(self):
        return "%s:%d" % self.address

    def start(self, addresses, n_hex, o_hex):
        """Punch toward addresses (as the rendezvous gave them) with the
        attempt's nonce and obfs (hex, any case), beside the attempts
        started before. The attempt's PunchState."""
        att = PunchState(addresses, n_hex, o_hex)
        self.attempts.append(att)
        return att

    def done(self):
        return all(a.done() for a in self.attempts)

    def next_send(self):
        return min([a.next_send for a in self.attempts if not a.done()] or [float("inf")])

    def send_due(self, now):
        """A hello to every target of each attempt whose round is due."""
        for a in self.attempts:
            if a.done() or now < a.next_send:
                continue
            for t in a.targets:
                try:
                    self.sock.sendto(encode(a.key, a.nonce, HELLO), t)
                except OSError:    # ENETUNREACH, EINVAL from loopback: as Hysteria, go on
                    a.send_errors += 1
            a.next_send = now + PUNCH_INTERVAL

    def punch_of(self, data):
        """(attempt, type) if data is a valid punch packet of one of the
        attempts, else None."""
        for a in self.attempts:
            d = decode(a.key, data)
            if d is not None and d[1] == a.nonce:
                return a, d[0]
        return None

    def readable(self):
        """Take every datagram waiting: punch packets of the attempts are
        recorded and hellos acked; anything else is ignored."""
        while True:
            try:
                data, src = self.sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue           # an ICMP error reported on the socket
            got = self.punch_of(data)
            if got is None:
                continue
            a, ptype = got
            src = src[:2]
            if a.first is None:
                a.first = (ptype, src)
            if ptype == HELLO:
                a.hellos.append(src)
                self.sock.sendto(encode(a.key, a.nonce, ACK), src)
            else:
                a.acks.append(src)

    def describe(self):
        return "; ".join("%s[%s] first=%s hellos=%s acks=%s send_errors=%d"
                         % (self.name, a.nonce.hex()[:8], a.first, a.hellos[:3], a.acks[:3],
                            a.send_errors) for a in self.attempts)

    def close(self):
        self.sock.close()


def punch_all(peers, timeout=PUNCH_TIMEOUT):
    """Run the peers' punch loops until all are done; raises with what
    each got if that takes longer than timeout."""
    deadline = time.monotonic() + timeout
    by_sock = {p.sock: p for p in peers}
    while not all(p.done() for p in peers):
        now = time.monotonic()
        check(now < deadline, "punch: not done in %.0f s: %s"
              % (timeout, "; ".join(p.describe() for p in peers)))
        for p in peers:
            p.send_due(now)
        wake = min([p.next_send() for p in peers if not p.done()] + [deadline])
        ready, _, _ = select.select(list(by_sock), [], [], max(0.0, wake - time.monotonic()))
        for s in ready:
            by_sock[s].readable()


def punch_both(a, b, timeout=PUNCH_TIMEOUT):
    punch_all([a, b], timeout)


def next_data(peer, what, timeout=2.0):
    """The next datagram on peer's socket that is not a punch packet of its
    attempts (a hello or an ack still in flight): (data, source)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        check(left > 0, "%s: nothing came in %.0f s" % (what, timeout))
        ready, _, _ = select.select([peer.sock], [], [], left)
        if not ready:
            continue
        data, src = peer.sock.recvfrom(65536)
        if peer.punch_of(data) is None:
            return data, src[:2]


def expect_data(peer, msg, what, timeout=2.0):
    """The next datagram that is not a punch packet is msg: (data, source)."""
    data, src = next_data(peer, what, timeout)
    eq(data[:40], msg[:40], "%s: what came first" % what)
    eq(data, msg, "%s: whole datagram" % what)
    return data, src


def exchange(a, b, n=10, size=1200):
    """n datagrams of size bytes (longer than any punch packet) each way,
    each peer sending to the address it adopted (Peer.first): each arrives
    whole at the other, from the address that one adopted."""
    assert size > MAX_LEN
    for k in range(n):
        for x, y, pad in ((a, b, b"."), (b, a, b"-")):
            what = "datagram %d %s->%s" % (k, x.name, y.name)
            msg = (b"%s->%s %d " % (x.name.encode(), y.name.encode(), k)).ljust(size, pad)
            x.sock.sendto(msg, x.first[1])
            _, src = expect_data(y, msg, what)
            eq(src, y.first[1], "source of " + what)


def _next_punch(es, timeout=3):
    """The next punch event of es, past any heartbeat_ack."""
    ev = es.next_event(timeout)
    while ev.event == "heartbeat_ack":
        ev = es.next_event(timeout)
    eq(ev.event, "punch", "event")
    return ev


def _once(fn, *args):
    return fn(*args)


def _retried(fn, *args, retry_for=5.0):
    """fn(*args), again while it answers 503 (a worker whose Redis
    connections are still coming back), for up to retry_for s."""
    t0 = time.monotonic()
    while True:
        r = fn(*args)
        if r.status != 503 or time.monotonic() - t0 > retry_for:
            return r
        time.sleep(0.1)      # poll interval of the retry, bounded by retry_for


def rendezvous(st, holder, client, holder_addrs, client_addrs, answer_addrs, name=None,
               sid=None, n=None, after_outage=False):
    """Register (unless sid), connect (with nonce n, else a new one), get
    the punch event, answer: the holder's and client's Peers started with
    what each was given. Asserts the punch event and the connect answer:
    the peers' addresses, then the relay's (the port of n in its range).
    after_outage: Redis was just away, so a worker may still answer 503
    while its connections come back: the connect and the answer are
    retried on 503 (for 5 s, as faults_util.connect_accepted) and the
    punch awaited longer.
    Returns (name, sid)."""
    hapi = st.api(source=holder.address[0])
    capi = st.api(source=client.address[0])
    if sid is None:
        name = realm_name("rs")
        sid = hapi.register_ok(name, holder_addrs)
    n, o = n or nonce(), obfs()
    relay = relay_text(n)
    call = _retried if after_outage else _once
    with hapi.events(name, sid) as es:
        bg = Background(call, capi.connect, name, client_addrs, n, o)
        ev = _next_punch(es, 8 if after_outage else 3)
        eq(ev.data, _compact({"addresses": client_addrs + [relay], "nonce": n, "obfs": o}),
           "punch event: the client's addresses, then the relay's")
        eq(call(hapi.answer, name, n, sid, answer_addrs).status, 204, "answer")
        r = bg.wait(5)
        eq(r.status, 200, "connect status (%r)" % r.body[:200])
        eq(r.json(), {"addresses": answer_addrs + [relay], "nonce": n, "obfs": o},
           "connect answer: the holder's answer, then the relay's address")
    holder.start(ev.json()["addresses"], ev.json()["nonce"], ev.json()["obfs"])
    client.start(r.json()["addresses"], r.json()["nonce"], r.json()["obfs"])
    return name, sid


def unroutable_pair(st, run, tag="", name=None, sid=None, after_outage=False):
    """A holder and a client of run (a RelayRun) whose direct addresses
    nothing routes to, through rendezvous (a new realm, or name's session
    sid): (holder, client, name, sid)."""
    holder, client = run.peer("holder" + tag, HOLDER_IP), run.peer("client" + tag, CLIENT_IP)
    name, sid = rendezvous(st, holder, client, HOLDER_NOWHERE, CLIENT_NOWHERE, HOLDER_NOWHERE,
                           name=name, sid=sid, after_outage=after_outage)
    return holder, client, name, sid


def check_punched_via_relay(name, a):
    """Attempt a (a PunchState) of peer name: everything came from the
    relay port of its nonce."""
    check(a.first is not None and a.first[1] == a.relay,
          "%s: first valid punch packet from %s, not the relay %s"
          % (name, a.first and a.first[1], a.relay))
    check(a.hellos and all(s == a.relay for s in a.hellos),
          "%s: hellos from %s, expected the relay %s only" % (name, a.hellos, a.relay))
    check(all(s == a.relay for s in a.acks), "%s: acks from %s" % (name, a.acks))


def check_relayed(holder, client):
    """After punch_both with unroutable direct addresses: everything came
    from the relay, each got the other's hello through it; then data both
    ways through it."""
    for p in (holder, client):
        check_punched_via_relay(p.name, p.attempts[-1])
    exchange(client, holder)


def stop_relay(relay):
    eq(relay.stop(), 0, "relay exit status after SIGTERM")
    return relay.counters()


# -- the tests -----------------------------------------------------------------

@uses(args=RELAY_ARGS, timeout=60)
def test_relayed(st):
    """Unroutable direct addresses on both sides: punched and relayed."""
    with RelayRun(st, "relayed") as run:
        relay = run.relay
        holder, client = run.peer("holder", HOLDER_IP), run.peer("client", CLIENT_IP)
        rendezvous(st, holder, client, HOLDER_NOWHERE, CLIENT_NOWHERE, HOLDER_NOWHERE)
        eq(holder.targets, [_hostport(CLIENT_NOWHERE[0]), holder.relay], "holder's targets")
        eq(client.targets, [_hostport(HOLDER_NOWHERE[0]), client.relay], "client's targets")
        punch_both(holder, client)
        check_relayed(holder, client)
        wait_until(lambda: _metric(st, 'hysteria_realm_relay_flows_total{event="paired"}') >= 1
                   or None, 10, "the relay's paired flow in the workers' /metrics")
        check(_metric(st, 'hysteria_realm_relay_packets_total{result="forwarded"}') >= 1,
              "forwarded datagrams in /metrics")
        cnt = stop_relay(relay)
        eq(cnt["flows_paired"], 1, "flows_paired at stop")
        check(cnt["forwarded"] >= 2 * 10 + 2, "forwarded=%d" % cnt["forwarded"])


def _metric(st, series):
    """The value of one series in GET /metrics (0 if absent)."""
    r = request(st.metrics_port, "GET", "/metrics")
    eq(r.status, 200, "GET /metrics")
    m = re.search(r"^%s (\d+)$" % re.escape(series), r.body.decode(), re.M)
    return int(m.group(1)) if m else 0


@uses(args=RELAY_ARGS, timeout=60)
def test_direct_wins(st):
    """Real UDP addresses on both sides: each peer's first valid packet
    comes straight from the other, not from the relay."""
    with RelayRun(st, "direct") as run:
        relay = run.relay
        holder, client = run.peer("holder", CLIENT_IP), run.peer("client", CLIENT_IP)
        h, c = holder.address_text, client.address_text
        rendezvous(st, holder, client, [h], [c], [h])
        punch_both(holder, client)
        eq(holder.first, (HELLO, client.address), "holder's first valid punch packet")
        eq(client.first, (HELLO, holder.address), "client's first valid punch packet")
        eq(holder.hellos[0], client.address, "holder's first hello")
        eq(client.hellos[0], holder.address, "client's first hello")
        # what Hysteria adopts is the direct path: data goes straight
        exchange(client, holder, n=3)
        stop_relay(relay)


@uses(timeout=30)
def test_no_relay_no_record(st):
    """Without --relay-address (the default stack): the punch event and the
    connect answer hold only the peers' addresses (as test_connect.py
    test_connect_answered asserts too) and no record is kept for relays."""
    api = st.api()
    name = realm_name("rs")
    sid = api.register_ok(name, HOLDER_NOWHERE)
    n, o = nonce(), obfs()
    with api.events(name, sid) as es:
        bg = Background(api.connect, name, CLIENT_NOWHERE, n, o)
        ev = _next_punch(es)
        eq(ev.json()["addresses"], CLIENT_NOWHERE, "punch event addresses")
        eq(api.answer(name, n, sid, HOLDER_NOWHERE).status, 204, "answer")
        r = bg.wait(5)
        eq(r.json()["addresses"], HOLDER_NOWHERE, "connect answer addresses")
    eq(st.redis("HGET", "hr:relay:att", n.lower()), None, "hr:relay:att record without a relay")
    eq(st.redis("ZSCORE", "hr:relay:exp", n.lower()), None, "hr:relay:exp entry without a relay")


@uses(args=RELAY_ARGS, timeout=90)
def test_relay_restart(st):
    """A connect relayed; the relay stopped; a second connect made while
    it is down; the relay started again relays it (from hr:relay:att)."""
    with RelayRun(st, "restart") as run:
        relay = run.relay
        holder, client, name, sid = unroutable_pair(st, run)
        punch_both(holder, client)
        check_relayed(holder, client)
        cnt = stop_relay(relay)
        eq(cnt["flows_paired"], 1, "flows_paired at the first stop")

        # the second connect, on the same session, while no relay listens
        holder2, client2, _, _ = unroutable_pair(st, run, "2", name, sid)
        check(st.redis("HGET", "hr:relay:att", holder2.nonce.hex()) is not None,
              "the second attempt's record in hr:relay:att")
        relay.start()
        punch_both(holder2, client2)
        check_relayed(holder2, client2)
        cnt = stop_relay(relay)
        eq(cnt["flows_paired"], 1, "flows_paired after the restart")


def nonce_not_at(port):
    """A new nonce (mixed case, as client.nonce) whose relay port is not port."""
    while True:
        n = nonce()
        if relay_of(n)[1] != port:
            return n


def quiet(peers, timeout=0.3):
    """Nothing but punch packets of their own attempts reaches peers within
    timeout."""
    deadline = time.monotonic() + timeout
    socks = {p.sock: p for p in peers}
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        ready, _, _ = select.select(list(socks), [], [], left)
        for sk in ready:
            p = socks[sk]
            try:
                data, src = sk.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                continue
            check(p.punch_of(data) is not None, "%s got %d bytes from %s: %r"
                  % (p.name, len(data), src[:2], data[:40]))


@uses(args=RELAY_ARGS, timeout=90)
def test_two_clients_one_holder(st):
    """One holder socket, two relayed connects at once (their nonces on two
    ports of the relay's range): both punched through the relay, the
    holder's one socket a different endpoint on each port; then each
    client and the holder exchange data, both clients' datagrams in flight
    at once, each client getting only its own."""
    with RelayRun(st, "twoclients") as run:
        relay = run.relay
        holder = run.peer("holder", HOLDER_IP)
        c1, c2 = run.peer("client1", CLIENT_IP), run.peer("client2", CLIENT_IP)
        n1 = nonce()
        n2 = nonce_not_at(relay_of(n1)[1])
        name, sid = rendezvous(st, holder, c1, HOLDER_NOWHERE, CLIENT_NOWHERE, HOLDER_NOWHERE,
                               n=n1)
        h1 = holder.attempts[-1]
        rendezvous(st, holder, c2, HOLDER_NOWHERE, CLIENT_NOWHERE, HOLDER_NOWHERE,
                   name=name, sid=sid, n=n2)
        h2 = holder.attempts[-1]
        check(h1.relay != h2.relay, "the two attempts on two relay ports: %s %s"
              % (h1.relay, h2.relay))
        punch_all([holder, c1, c2], timeout=2 * PUNCH_TIMEOUT)
        for who, a in (("holder/1", h1), ("holder/2", h2), ("client1", c1.attempts[0]),
                       ("client2", c2.attempts[0])):
            check_punched_via_relay(who, a)
        # data: each client to its relay port; the holder answers each from
        # its one socket to the port the client's datagram came from
        size = 1200
        for k in range(10):
            m1 = (b"client1->holder %d " % k).ljust(size, b"1")
            m2 = (b"client2->holder %d " % k).ljust(size, b"2")
            c1.sock.sendto(m1, c1.first[1])
            c2.sock.sendto(m2, c2.first[1])
            got = {}
            for _ in range(2):
                data, src = expect_any_data(holder, (m1, m2), "datagram %d to the holder" % k)
                got[data] = src
            eq(got, {m1: h1.first[1], m2: h2.first[1]},
               "datagram %d: each client's from its own relay port" % k)
            a1 = (b"holder->client1 %d " % k).ljust(size, b"a")
            a2 = (b"holder->client2 %d " % k).ljust(size, b"b")
            holder.sock.sendto(a1, h1.first[1])
            holder.sock.sendto(a2, h2.first[1])
            _, src = expect_data(c1, a1, "answer %d to client1" % k)
            eq(src, c1.first[1], "source of answer %d to client1" % k)
            _, src = expect_data(c2, a2, "answer %d to client2" % k)
            eq(src, c2.first[1], "source of answer %d to client2" % k)
        quiet([holder, c1, c2])
        cnt = stop_relay(relay)
        eq(cnt["flows_paired"], 2, "flows_paired at stop")
        eq(cnt["busy"], 0, "busy at stop")
        check(cnt["forwarded"] >= 4 * 10 + 4, "forwarded=%d" % cnt["forwarded"])


def expect_any_data(peer, msgs, what, timeout=2.0):
    """The next datagram that is not a punch packet is one of msgs:
    (data, source)."""
    data, src = next_data(peer, what, timeout)
    check(data in msgs, "%s: %r" % (what, data[:40]))
    return data, src


def _stopped(proc):
    """True once proc is stopped (state T in /proc/PID/stat)."""
    with open("/proc/%d/stat" % proc.pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "T"


def _ping_pong(a, b, k, size=1200):
    """One datagram a -> b and its reply b -> a through the adopted
    addresses; the seconds the round trip took."""
    t0 = time.monotonic()
    for x, y, pad in ((a, b, b"."), (b, a, b"-")):
        msg = (b"rtt %d %s" % (k, x.name.encode())).ljust(size, pad)
        x.sock.sendto(msg, x.first[1])
        expect_data(y, msg, "round trip %d %s->%s" % (k, x.name, y.name), timeout=5.0)
    return time.monotonic() - t0


@uses(args=RELAY_ARGS, timeout=90)
def test_relay_redis_frozen(st):
    """Redis frozen (SIGSTOP: connections stay open, nothing answers) for
    longer than the relay's Redis timeouts: relayed flows keep flowing
    without a stall, since the relay's loop never waits on Redis; after
    SIGCONT the relay hears new attempts again."""
    with RelayRun(st, "frozen") as run:
        relay = run.relay
        holder, client, name, sid = unroutable_pair(st, run)
        punch_both(holder, client)
        check_relayed(holder, client)
        st.redis_proc.send_signal(signal.SIGSTOP)
        try:
            wait_until(lambda: _stopped(st.redis_proc), 5, "Redis to stop", interval=0.005)
            rtts, k, end = [], 0, time.monotonic() + 4.0
            while time.monotonic() < end:         # past a metrics flush and a reconnect
                rtts.append(_ping_pong(client, holder, k))
                k += 1
                time.sleep(0.01)                  # 240 KB/s: well within --flow-rate
        finally:
            st.redis_proc.send_signal(signal.SIGCONT)
        print("FIGURE relay, Redis frozen 4 s: %d round trips, max %.1f ms, median %.2f ms"
              % (len(rtts), 1000 * max(rtts), 1000 * sorted(rtts)[len(rtts) // 2]))
        check(max(rtts) < 0.5, "a relayed round trip took %.2f s while Redis was frozen"
              % max(rtts))
        hapi = st.api(source=HOLDER_IP)            # the holder's own IP (else: healed)
        wait_until(lambda: hapi.heartbeat(name, sid).status == 200 or None, 10,
                   "the stack to serve again")
        holder2, client2, _, _ = unroutable_pair(st, run, "2", name, sid, after_outage=True)
        punch_both(holder2, client2, timeout=10)
        check_relayed(holder2, client2)
        stop_relay(relay)
