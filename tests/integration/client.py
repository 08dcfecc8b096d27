"""client.py -- HTTP helpers for the integration tests (Python 3 stdlib only).

request() makes one HTTP/1.1 request on a fresh connection and returns a
Response (status, headers, body). EventStream reads a Server-Sent-Events
response on a raw socket, decoding chunked transfer encoding itself, so a
read can time out and be retried without breaking the connection.
raw_request() sends arbitrary bytes (garbage tests).
"""

import http.client
import json
import os
import secrets
import select
import socket
import threading
import time
from collections import namedtuple


class Response:
    """One HTTP response: status (int), headers (lowercased name -> value,
    the last one wins; all_headers keeps every pair), body (bytes)."""

    def __init__(self, status, reason, header_pairs, body):
        self.status = status
        self.reason = reason
        self.all_headers = [(k.lower(), v) for k, v in header_pairs]
        self.headers = {k: v for k, v in self.all_headers}
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        """The body parsed as JSON; AssertionError if it is not JSON."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise AssertionError("body is not JSON (%s): %r" % (e, self.body[:200]))

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def __repr__(self):
        return "<%d %r>" % (self.status, self.body[:200])


def request(port, method, path, body=None, headers=None, auth=None,
            timeout=15.0, host="127.0.0.1", source=None):
    """Send one request to host:port. body may be None, bytes, str or a
    JSON-able object (sent as JSON with Content-Type: application/json).
    auth is the bearer secret (token or session id) or None. source: the
    local IP to send from (e.g. "127.0.0.2"), or None."""
    hdrs = {}
    if isinstance(body, (dict, list)):
        body = json.dumps(body, separators=(",", ":")).encode()
        hdrs["Content-Type"] = "application/json"
    elif isinstance(body, str):
        body = body.encode("utf-8")
        hdrs["Content-Type"] = "application/json"
    if auth is not None:
        hdrs["Authorization"] = "Bearer " + auth
    if headers:
        hdrs.update(headers)
    conn = http.client.HTTPConnection(host, port, timeout=timeout,
                                      source_address=(source, 0) if source else None)
    try:
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, resp.reason, resp.getheaders(), data)
    finally:
        conn.close()


def raw_request(port, data, timeout=5.0, host="127.0.0.1", idle=0.3):
    """Send raw bytes, read until the peer closes, or nothing more came for
    idle seconds after some data, or timeout; return the bytes read."""
    s = socket.create_connection((host, port), timeout=timeout)
    out = b""
    try:
        try:
            s.sendall(data)
        except OSError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            left = deadline - time.monotonic()
            s.settimeout(max(0.05, min(left, idle) if out else left))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        s.close()
    return out


class Event(namedtuple("EventBase", "id event data")):
    """One SSE event: (id, event, data) as strings (id None if absent).
    .raw is the block exactly as received, blank line included."""
    raw = ""

    def json(self):
        return json.loads(self.data)


class StreamClosed(Exception):
    """The event stream ended (the server or proxy closed it)."""


class StreamTimeout(Exception):
    """Nothing arrived on the event stream before the deadline."""


class EventStream:
    """GET /v1/{name}/events on a raw socket.

    After construction: status, headers (lowercased), and for a non-200
    answer, body. next_event()/next_item() read with a timeout; a timeout
    leaves the stream usable."""

    def __init__(self, port, name, session, timeout=5.0, headers=None,
                 host="127.0.0.1", path=None, source=None):
        self.port = port
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.sock.setblocking(False)
        self._raw = b""          # bytes from the socket not yet decoded
        self._text = b""         # decoded body bytes not yet parsed
        self._eof = False        # the socket reached EOF
        self._body_done = False  # the transfer encoding says the body ended
        self._chunk_left = None  # chunked: bytes left in the current chunk
        self._chunked = False
        self._length = None
        self.status = None
        self.headers = {}
        self.body = b""
        self.items = []          # every item read, in order
        lines = ["GET %s HTTP/1.1" % (path or "/v1/%s/events" % name),
                 "Host: 127.0.0.1:%d" % port]
        if session is not None:
            lines.append("Authorization: Bearer %s" % session)
        for k, v in (headers or {}).items():
            lines.append("%s: %s" % (k, v))
        req = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.sock.setblocking(True)
        self.sock.settimeout(timeout)
        self.sock.sendall(req)
        self.sock.setblocking(False)
        self._read_head(time.monotonic() + timeout)
        if self.status != 200:
            self._read_whole_body(time.monotonic() + timeout)

    # -- socket and transfer decoding ------------------------------------

    def _fill(self, deadline):
        """Read more bytes into _raw; False on timeout. Sets _eof."""
        if self._eof:
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([self.sock], [], [], left)
        if not r:
            return False
        try:
            chunk = self.sock.recv(65536)
        except BlockingIOError:
            return True
        except OSError:
            chunk = b""
        if not chunk:
            self._eof = True
        else:
            self._raw += chunk
        return True

    def _read_head(self, deadline):
        while b"\r\n\r\n" not in self._raw:
            if self._eof:
                raise StreamClosed("connection closed before the response head")
            if not self._fill(deadline):
                raise StreamTimeout("no response head within the timeout")
        head, self._raw = self._raw.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        self.status = int(parts[1])
        for ln in lines[1:]:
            if ":" in ln:
                k, v = ln.split(":", 1)
                self.headers[k.strip().lower()] = v.strip()
        te = self.headers.get("transfer-encoding", "").lower()
        self._chunked = "chunked" in te
        if not self._chunked and "content-length" in self.headers:
            self._length = int(self.headers["content-length"])
        self._decode()

    def _decode(self):
        """Move what can be decoded from _raw to _text."""
        if self._chunked:
            # _chunk_left: None = a size line is next; n > 0 = n data bytes
            # are next; 0 = the CRLF after a chunk's data is next.
            while not self._body_done:
                if self._chunk_left is None:
                    if b"\r\n" not in self._raw:
                        return
                    line, self._raw = self._raw.split(b"\r\n", 1)
                    size = int(line.split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self._body_done = True
                        return
                    self._chunk_left = size
                elif self._chunk_left > 0:
                    if not self._raw:
                        return
                    take = self._raw[:self._chunk_left]
                    self._text += take
                    self._raw = self._raw[len(take):]
                    self._chunk_left -= len(take)
                else:
                    if len(self._raw) < 2:
                        return
                    self._raw = self._raw[2:]
                    self._chunk_left = None
        elif self._length is not None:
            need = self._length - len(self.body) - len(self._text)
            take = self._raw[:max(need, 0)]
            self._text += take
            self._raw = self._raw[len(take):]
            if len(take) == need:
                self._body_done = True
        else:
            self._text += self._raw
            self._raw = b""

    def _more(self, deadline):
        """Read and decode more; False on timeout."""
        if self._body_done or self._eof:
            return True
        ok = self._fill(deadline)
        self._decode()
        return ok

    @property
    def ended(self):
        return self._body_done or self._eof

    def _read_whole_body(self, deadline):
        while not self.ended:
            if not self._more(deadline):
                break
        self.body = self._text
        self._text = b""

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    # -- SSE parsing -----------------------------------------------------

    def next_item(self, timeout=5.0):
        """The next complete SSE block: an Event, or the string
        "comment:<text>" for a comment-only block (": ka"). Raises
        StreamTimeout or StreamClosed."""
        deadline = time.monotonic() + timeout
        while True:
            if b"\n\n" in self._text:
                block, self._text = self._text.split(b"\n\n", 1)
                item = self._parse_block(block.decode("utf-8", "replace"))
                self.items.append(item)
                return item
            if self.ended:
                raise StreamClosed("stream ended; unparsed rest %r" % self._text[:200])
            if not self._more(deadline):
                raise StreamTimeout("nothing within %.1f s" % timeout)

    @staticmethod
    def _parse_block(block):
        fields = {}
        comments = []
        for line in block.split("\n"):
            if line.startswith(":"):
                comments.append(line[1:].strip())
                continue
            if ":" in line:
                k, v = line.split(":", 1)
                if v.startswith(" "):
                    v = v[1:]
            else:
                k, v = line, ""
            fields[k] = v
        if not fields:
            return "comment:" + "\n".join(comments)
        ev = Event(fields.get("id"), fields.get("event", "message"), fields.get("data"))
        ev.raw = block + "\n\n"
        return ev

    def next_event(self, timeout=5.0):
        """The next event, skipping comments. Raises StreamTimeout/StreamClosed."""
        deadline = time.monotonic() + timeout
        while True:
            item = self.next_item(max(0.0, deadline - time.monotonic()))
            if isinstance(item, Event):
                return item

    def events_for(self, seconds):
        """Every event that arrives within seconds (stops early on close)."""
        out = []
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return out
            try:
                out.append(self.next_event(left))
            except StreamTimeout:
                return out
            except StreamClosed:
                return out

    def wait_closed(self, timeout):
        """True if the stream ends within timeout (events before are read
        and kept in .items), False if it is still open."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.next_item(max(0.0, deadline - time.monotonic()))
            except StreamClosed:
                return True
            except StreamTimeout:
                return False

    def close(self, abort=False):
        """Close the socket; abort=True sends an RST instead of a FIN."""
        try:
            if abort:
                import struct
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                     struct.pack("ii", 1, 0))
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# -- secrets used, for scan_secrets.py ---------------------------------------
# Every realm token a Stack is made with (stack.py) and every session id a
# register returns is appended, one per line, to the file named by
# $RR_SECRETS_FILE (when set); tests/run then searches every log of the
# integration runs for them (tests/integration/scan_secrets.py).

_secrets_lock = threading.Lock()


def record_secret(value):
    """Append a secret to $RR_SECRETS_FILE (if set); thread-safe."""
    path = os.environ.get("RR_SECRETS_FILE")
    if not path or not value:
        return
    with _secrets_lock:
        with open(path, "a") as f:
            f.write(value + "\n")
            f.flush()


def record_session(r):
    """Record the session id of a register answered 200."""
    if r.status == 200 and b'"session_id"' in r.body:
        try:
            record_secret(json.loads(r.body.decode("utf-8"))["session_id"])
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            pass


# -- values ---------------------------------------------------------------

def realm_name(prefix="t"):
    """A fresh realm name that matches the default pattern."""
    return prefix + secrets.token_hex(6)


def nonce(mixed=True):
    return _mix(secrets.token_hex(16)) if mixed else secrets.token_hex(16)


def obfs(mixed=True):
    return _mix(secrets.token_hex(32)) if mixed else secrets.token_hex(32)


def _mix(h):
    """Upper-case every other hex letter, so case must be kept to match."""
    out = []
    up = True
    for c in h:
        if c in "abcdef":
            out.append(c.upper() if up else c)
            up = not up
        else:
            out.append(c)
    s = "".join(out)
    if s == s.lower():  # no letters at all: force one
        s = "A" + s[1:]
    return s


ADDRS = ["203.0.113.10:4433", "[2001:db8::1]:4433"]


class Api:
    """The contract's calls against one port (the pool or a pinned worker)."""

    def __init__(self, port, token, source=None):
        self.port = port
        self.token = token
        self.source = source     # the local IP requests come from, or None

    def req(self, method, path, body=None, auth=None, headers=None, timeout=15.0):
        return request(self.port, method, path, body=body, auth=auth,
                       headers=headers, timeout=timeout, source=self.source)

    def register(self, name, addrs=None, token=None, headers=None, body=None):
        if body is None:
            body = {"addresses": list(addrs or ADDRS)}
        r = self.req("POST", "/v1/" + name, body,
                     auth=self.token if token is None else token, headers=headers)
        record_session(r)
        return r

    def register_ok(self, name, addrs=None, headers=None):
        """Register and return the session id; AssertionError unless 200."""
        r = self.register(name, addrs, headers=headers)
        if r.status != 200:
            raise AssertionError("register %s: expected 200, got %d %r" % (name, r.status, r.body))
        return r.json()["session_id"]

    def heartbeat(self, name, sid, body=None):
        return self.req("POST", "/v1/%s/heartbeat" % name, body, auth=sid)

    def deregister(self, name, sid):
        return self.req("DELETE", "/v1/" + name, None, auth=sid)

    def connect(self, name, addrs=None, n=None, o=None, token=None, body=None, timeout=30.0):
        if body is None:
            body = {"addresses": list(addrs or ["198.51.100.20:5000"]),
                    "nonce": n or nonce(), "obfs": o or obfs()}
        return self.req("POST", "/v1/%s/connect" % name, body,
                        auth=self.token if token is None else token, timeout=timeout)

    def answer(self, name, n, sid, addrs=None, body=None):
        if body is None:
            body = {"addresses": list(addrs or ["192.0.2.50:7000"])}
        return self.req("POST", "/v1/%s/connects/%s" % (name, n), body, auth=sid)

    def events(self, name, sid, timeout=5.0, headers=None):
        return EventStream(self.port, name, sid, timeout=timeout, headers=headers,
                           source=self.source)


class Background:
    """Run fn(*args) in a thread; .wait() returns its result (or raises its
    exception); .elapsed is how long it took from start."""

    def __init__(self, fn, *args, **kwargs):
        self.result = None
        self.error = None
        self.started = time.monotonic()
        self.finished = None
        self._t = threading.Thread(target=self._run, args=(fn, args, kwargs), daemon=True)
        self._t.start()

    def _run(self, fn, args, kwargs):
        try:
            self.result = fn(*args, **kwargs)
        except BaseException as e:  # handed to wait()
            self.error = e
        self.finished = time.monotonic()

    def done(self):
        return not self._t.is_alive()

    @property
    def elapsed(self):
        return (self.finished or time.monotonic()) - self.started

    def wait(self, timeout):
        self._t.join(timeout)
        if self._t.is_alive():
            raise AssertionError("background call still running after %.1f s" % timeout)
        if self.error is not None:
            raise self.error
        return self.result


# -- assertions -----------------------------------------------------------

def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def eq(got, expected, what):
    if got != expected:
        raise AssertionError("%s: expected %r, got %r" % (what, expected, got))


def expect_json(r, status, what):
    """r has this status, a JSON content type and a body ending in a newline;
    returns the parsed body."""
    if r.status != status:
        raise AssertionError("%s: expected %d, got %d %r" % (what, status, r.status, r.body[:300]))
    ctype = r.header("content-type", "")
    check(ctype.split(";")[0].strip() == "application/json",
          "%s: expected Content-Type application/json, got %r" % (what, ctype))
    check(r.body.endswith(b"\n"), "%s: body does not end with a newline: %r" % (what, r.body[:300]))
    return r.json()


def expect_error(r, status, code, what):
    """r is the error status with {"error":code,"message":"..."}."""
    body = expect_json(r, status, what)
    check(isinstance(body, dict), "%s: error body is not an object: %r" % (what, body))
    eq(body.get("error"), code, "%s: error code" % what)
    check(isinstance(body.get("message"), str) and body["message"] != "",
          "%s: error message missing or empty: %r" % (what, body))
    eq(sorted(body.keys()), ["error", "message"], "%s: error body keys" % what)
    return body
