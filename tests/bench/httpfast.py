"""httpfast.py -- just enough HTTP/1.1 for the bench drivers (stdlib only).

Responses from nginx here are either Content-Length or chunked (the worker
sends no length; nginx chunks), or 204 with no body. parse_response() finds
one whole response at the start of a buffer without copying more than
needed. pipeline() runs a list of requests over a few keep-alive
connections, several in flight on each (HTTP pipelining), and returns the
answers in order: the drivers use it to register thousands of realms fast.
"""

import selectors
import socket
import time


def req_bytes(method, path, auth=None, body=None):
    h = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n" % (method, path)
    if auth:
        h += "Authorization: Bearer %s\r\n" % auth
    if body is not None:
        b = body if isinstance(body, bytes) else body.encode()
        h += "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(b)
        return h.encode() + b
    return (h + "\r\n").encode()


def parse_response(buf):
    """(status, body, consumed) for the whole response at the start of buf,
    or None if it is not complete yet. Use closes() on buf before
    consuming to learn whether nginx closes the connection after it
    (keepalive_requests: 1000 requests per connection by default)."""
    he = buf.find(b"\r\n\r\n")
    if he < 0:
        return None
    head = buf[:he]
    status = int(head[9:12])
    lower = head.lower()
    pos = he + 4
    if status == 204 or status == 304:
        return status, b"", pos
    i = lower.find(b"content-length:")
    if i >= 0:
        j = lower.find(b"\r\n", i)
        n = int(head[i + 15:j if j >= 0 else len(head)])
        if len(buf) < pos + n:
            return None
        return status, buf[pos:pos + n], pos + n
    if b"transfer-encoding: chunked" in lower:
        body = b""
        while True:
            le = buf.find(b"\r\n", pos)
            if le < 0:
                return None
            n = int(buf[pos:le].split(b";")[0], 16)
            if n == 0:
                if len(buf) < le + 4:
                    return None
                return status, body, le + 4
            if len(buf) < le + 2 + n + 2:
                return None
            body += buf[le + 2:le + 2 + n]
            pos = le + 2 + n + 2
    raise ValueError("response with neither length nor chunks: %r" % head[:200])


def closes(buf):
    """Whether the response at the start of buf says Connection: close."""
    he = buf.find(b"\r\n\r\n")
    return b"\r\nconnection: close" in buf[:he].lower()


def pipeline(port, requests, conns=16, depth=8, timeout=120.0, host="127.0.0.1", source=None):
    """Send requests (bytes each) over `conns` keep-alive connections with up
    to `depth` in flight on each; return [(status, body)] in order."""
    n = len(requests)
    out = [None] * n
    conns = max(1, min(conns, n))
    sel = selectors.DefaultSelector()
    state = []
    def open_sock(st):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if source:
            s.bind((source, 0))
        s.connect((host, port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        st["sock"] = s
        st["buf"] = b""
        sel.register(s, selectors.EVENT_READ, st)

    def reopen(st):
        # nginx closes after keepalive_requests: what was in flight behind
        # the last answer is sent again on a new connection.
        sel.unregister(st["sock"])
        st["sock"].close()
        st["todo"][st["next"]:st["next"]] = st["inflight"]
        st["inflight"] = []
        open_sock(st)
        fill(st)

    for c in range(conns):
        st = {"todo": list(range(c, n, conns)), "next": 0, "inflight": []}
        state.append(st)
        open_sock(st)
    remaining = n

    def fill(st):
        batch = []
        while len(st["inflight"]) < depth and st["next"] < len(st["todo"]):
            k = st["todo"][st["next"]]
            st["next"] += 1
            st["inflight"].append(k)
            batch.append(requests[k])
        if batch:
            st["sock"].setblocking(True)
            st["sock"].sendall(b"".join(batch))
            st["sock"].setblocking(False)

    for st in state:
        fill(st)
    deadline = time.monotonic() + timeout
    try:
        while remaining > 0:
            if time.monotonic() > deadline:
                raise RuntimeError("pipeline: %d of %d requests unanswered after %.0f s"
                                   % (remaining, n, timeout))
            for key, _ in sel.select(1.0):
                st = key.data
                try:
                    chunk = st["sock"].recv(262144)
                except BlockingIOError:
                    continue
                if not chunk:
                    if st["inflight"]:
                        reopen(st)
                        continue
                    raise RuntimeError("pipeline: connection closed unexpectedly")
                st["buf"] += chunk
                again = False
                while st["inflight"]:
                    r = parse_response(st["buf"])
                    if r is None:
                        break
                    status, body, used = r
                    again = closes(st["buf"])
                    st["buf"] = st["buf"][used:]
                    out[st["inflight"].pop(0)] = (status, body)
                    remaining -= 1
                    if again:
                        break
                if again:
                    reopen(st)
                else:
                    fill(st)
    finally:
        for st in state:
            sel.unregister(st["sock"])
            st["sock"].close()
        sel.close()
    return out


def register_many(port, token, names, addrs='["203.0.113.10:4433"]', conns=16, depth=8):
    """Register every name; returns {name: session}. Raises on any failure."""
    body = '{"addresses":%s}' % addrs
    reqs = [req_bytes("POST", "/v1/" + nm, token, body) for nm in names]
    res = pipeline(port, reqs, conns=conns, depth=depth)
    out = {}
    for nm, (st, b) in zip(names, res):
        if st != 200:
            raise RuntimeError("register %s: %d %r" % (nm, st, b[:200]))
        i = b.find(b'"session_id":"')
        out[nm] = b[i + 14:i + 46].decode()
    return out
