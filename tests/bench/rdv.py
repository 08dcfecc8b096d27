"""rdv.py -- rendezvous round-trip driver (one process; bench.py runs a few).

Reads one JSON object on stdin: port, token, realms ([[name, session]...],
registered beforehand), slots (round trips in flight at once), duration and
warmup (seconds), max_trips, start_at (time.monotonic() value to start at,
so that several drivers start together), source (local IP to bind).

It plays both sides. The realm holder: one event stream per realm, held for
the whole run, and a keep-alive connection per slot for the answers. The
connecting client: a keep-alive connection per slot. One round trip:

    t0  POST /v1/{name}/connect  (client)
        punch event arrives on the realm's stream       -> t_punch
        POST /v1/{name}/connects/{nonce}  (holder, at once)
    t1  the connect's 200 arrives, carrying the holder's answer

Latency = t1 - t0 measured here, per round trip. Each slot takes the next
realm not in flight, so no realm ever has more than `slots / realms`
connects waiting (far below the cap of 16). One selectors loop, no
threads: the driver's own cost per round trip is a few tens of
microseconds. Prints one JSON object: latencies (us) of the round trips
that started after the warm-up, punch delays, errors.
"""

import json
import os
import selectors
import socket
import sys
import time

from httpfast import closes, parse_response, req_bytes

ANSWER_ADDR = "192.0.2.50:7000"


def connect_sock(port, source):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if source:
        s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def main():
    cfg = json.load(sys.stdin)
    port, token = cfg["port"], cfg["token"]
    realms = cfg["realms"]
    slots = cfg["slots"]
    source = cfg.get("source")
    sel = selectors.DefaultSelector()

    # The holder's event streams.
    streams = {}
    for name, sid in realms:
        s = connect_sock(port, source)
        s.sendall(req_bytes("GET", "/v1/%s/events" % name, sid))
        streams[name] = {"sock": s, "sid": sid, "buf": b"", "nonce": None, "slot": None}
    for name, st in streams.items():
        s = st["sock"]
        s.settimeout(10)
        buf = b""
        while b"\r\n\r\n" not in buf:
            c = s.recv(65536)
            if not c:
                raise SystemExit("stream %s closed before its head" % name)
            buf += c
        if not buf.startswith(b"HTTP/1.1 200"):
            raise SystemExit("stream %s: %r" % (name, buf[:200]))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, ("stream", name))

    class Slot:
        pass

    sl = []
    for k in range(slots):
        x = Slot()
        x.k = k
        x.c = connect_sock(port, source)
        x.a = connect_sock(port, source)
        x.c.setblocking(False)
        x.a.setblocking(False)
        x.cbuf = b""
        x.abuf = b""
        x.busy = False
        sel.register(x.c, selectors.EVENT_READ, ("client", x))
        sel.register(x.a, selectors.EVENT_READ, ("answer", x))
        sl.append(x)

    def reopen(sock, data):
        # nginx closes a connection after keepalive_requests (1000) answers
        sel.unregister(sock)
        sock.close()
        s = connect_sock(port, source)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, data)
        return s

    free_realms = [nm for nm, _ in realms]
    lat, punch, errors = [], [], {}
    trips = 0
    max_trips = cfg.get("max_trips", 10 ** 9)

    def err(kind):
        errors[kind] = errors.get(kind, 0) + 1

    def start(x):
        nonlocal trips
        if not free_realms or trips >= max_trips or time.monotonic() >= t_end:
            x.busy = False
            return
        trips += 1
        name = free_realms.pop(0)
        nonce = os.urandom(16).hex()
        x.name, x.nonce = name, nonce
        x.got_resp = x.got_ans = False
        x.t_punch = None
        st = streams[name]
        st["nonce"], st["slot"] = nonce, x
        body = '{"addresses":["198.51.100.20:5000"],"nonce":"%s","obfs":"%s"}' % (
            nonce, os.urandom(32).hex())
        x.busy = True
        x.t0 = time.monotonic()
        x.c.send(req_bytes("POST", "/v1/%s/connect" % name, token, body))

    def finish(x):
        if x.got_resp and x.got_ans:
            if x.t0 >= t_measure:
                lat.append((x.t1 - x.t0) * 1e6)
                if x.t_punch is not None:
                    punch.append((x.t_punch - x.t0) * 1e6)
            free_realms.append(x.name)
            start(x)

    now = time.monotonic()
    start_at = cfg.get("start_at", now)
    if start_at > now:
        time.sleep(start_at - now)
    t_begin = time.monotonic()
    t_measure = t_begin + cfg.get("warmup", 0.5)
    t_end = t_measure + cfg["duration"]
    hard_end = t_end + 15
    for x in sl:
        start(x)
    while any(x.busy for x in sl) and time.monotonic() < hard_end:
        for key, _ in sel.select(1.0):
            kind, obj = key.data
            if kind == "stream":
                st = streams[obj]
                try:
                    chunk = st["sock"].recv(65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    err("stream_closed")
                    sel.unregister(st["sock"])
                    continue
                st["buf"] = (st["buf"] + chunk)[-4096:]
                n = st["nonce"]
                if n is not None and n.encode() in st["buf"]:
                    x = st["slot"]
                    x.t_punch = time.monotonic()
                    st["nonce"] = None
                    st["buf"] = b""
                    x.a.send(req_bytes("POST", "/v1/%s/connects/%s" % (obj, n), st["sid"],
                                       '{"addresses":["%s"]}' % ANSWER_ADDR))
            elif kind == "client":
                x = obj
                try:
                    chunk = x.c.recv(65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    raise SystemExit("client connection closed; buf %r" % x.cbuf[:300])
                x.cbuf += chunk
                r = parse_response(x.cbuf)
                if r is None:
                    continue
                x.t1 = time.monotonic()
                status, body, used = r
                if closes(x.cbuf):
                    x.c = reopen(x.c, ("client", x))
                x.cbuf = x.cbuf[used:]
                if status != 200:
                    err("connect_%d" % status)
                elif ANSWER_ADDR.encode() not in body:
                    err("connect_without_answer")
                x.got_resp = True
                if x.t_punch is None:
                    # answered (or failed) before the punch was seen: no answer
                    # will be posted for it
                    x.got_ans = True
                    streams[x.name]["nonce"] = None
                finish(x)
            else:
                x = obj
                try:
                    chunk = x.a.recv(65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    raise SystemExit("answer connection closed")
                x.abuf += chunk
                r = parse_response(x.abuf)
                if r is None:
                    continue
                status, body, used = r
                if closes(x.abuf):
                    x.a = reopen(x.a, ("answer", x))
                x.abuf = x.abuf[used:]
                if status != 204:
                    err("answer_%d" % status)
                x.got_ans = True
                finish(x)
    if any(x.busy for x in sl):
        err("unfinished")
    elapsed = time.monotonic() - t_measure
    json.dump({"all_trips": trips, "lat_us": [round(v) for v in lat], "punch_us": [round(v) for v in punch],
               "elapsed": min(elapsed, cfg["duration"] + 15), "errors": errors}, sys.stdout)
    sys.stdout.flush()
    for st in streams.values():
        st["sock"].close()
    for x in sl:
        x.c.close()
        x.a.close()


if __name__ == "__main__":
    main()
