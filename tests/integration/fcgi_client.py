"""fcgi_client.py -- a small FastCGI client (Python 3 stdlib only) that
speaks records straight to a worker's socket, as nginx or lighttpd would.

FcgiConn wraps one connection (unix path or TCP, optionally from a chosen
source address): send_begin / send_params / send_stdin write the records of
a request, read_record reads one record with a timeout, request() does a
whole responder request and returns a client.Response parsed from the CGI
head ("Status: 404 Not Found\\r\\n..."), get_values() asks FCGI_GET_VALUES,
and wait_eof() tells whether the worker closed the connection.
http_params() builds the params nginx's fastcgi_params would send.
"""

import socket
import struct
import time

from client import Response

VERSION = 1
BEGIN_REQUEST = 1
ABORT_REQUEST = 2
END_REQUEST = 3
PARAMS = 4
STDIN = 5
STDOUT = 6
STDERR = 7
DATA = 8
GET_VALUES = 9
GET_VALUES_RESULT = 10
UNKNOWN_TYPE = 11

RESPONDER = 1
KEEP_CONN = 1

REQUEST_COMPLETE = 0

_HEAD = struct.Struct(">BBHHBx")


class FcgiClosed(Exception):
    """The worker closed the connection (EOF or reset) before what was
    expected arrived."""


class FcgiTimeout(Exception):
    """Nothing (or not enough) arrived before the deadline."""


class Record:
    def __init__(self, rtype, req_id, content):
        self.type = rtype
        self.req_id = req_id
        self.content = content

    def __repr__(self):
        return "<record type %d id %d %d bytes>" % (self.type, self.req_id, len(self.content))


def encode_pairs(pairs):
    """FastCGI name-value pairs: each length in 1 byte (< 128) or 4 bytes
    with the high bit set."""
    out = b""
    for k, v in pairs:
        k = k if isinstance(k, bytes) else str(k).encode("latin-1")
        v = v if isinstance(v, bytes) else str(v).encode("latin-1")
        for n in (len(k), len(v)):
            out += bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)
        out += k + v
    return out


def decode_pairs(data):
    out = {}
    i = 0

    def length():
        nonlocal i
        if data[i] < 128:
            i += 1
            return data[i - 1]
        n = struct.unpack(">I", data[i:i + 4])[0] & 0x7FFFFFFF
        i += 4
        return n
    while i < len(data):
        kn = length()
        vn = length()
        k = data[i:i + kn].decode("latin-1")
        i += kn
        out[k] = data[i:i + vn].decode("latin-1")
        i += vn
    return out


def record_bytes(rtype, req_id, content=b"", padding=None):
    """One record; padding to a multiple of 8 unless given."""
    if padding is None:
        padding = (8 - len(content) % 8) % 8
    return _HEAD.pack(VERSION, rtype, req_id, len(content), padding) + content + b"\0" * padding


def begin_bytes(req_id=1, keep_conn=False, role=RESPONDER):
    return record_bytes(BEGIN_REQUEST, req_id,
                        struct.pack(">HB5x", role, KEEP_CONN if keep_conn else 0))


def http_params(method, uri, headers=None, body=b"", remote_addr="127.0.0.1",
                remote_port=40000):
    """The params nginx (deploy/nginx, /etc/nginx/fastcgi_params) sends for
    one HTTP request. headers: {name: value}, sent as HTTP_NAME."""
    path, _, query = uri.partition("?")
    p = {
        "QUERY_STRING": query,
        "REQUEST_METHOD": method,
        "CONTENT_TYPE": "",
        "CONTENT_LENGTH": str(len(body)) if body else "",
        "SCRIPT_NAME": path,
        "REQUEST_URI": uri,
        "DOCUMENT_URI": path,
        "DOCUMENT_ROOT": "/nonexistent",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REQUEST_SCHEME": "http",
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_SOFTWARE": "fcgi_client.py",
        "REMOTE_ADDR": remote_addr,
        "REMOTE_PORT": str(remote_port),
        "SERVER_ADDR": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_NAME": "_",
        "REDIRECT_STATUS": "200",
        "HTTP_HOST": "127.0.0.1",
    }
    for k, v in (headers or {}).items():
        if k.lower() == "content-type":
            p["CONTENT_TYPE"] = v
        else:
            p["HTTP_" + k.upper().replace("-", "_")] = v
    return p


def parse_cgi(stdout):
    """A client.Response from a responder's stdout (CGI head, blank line,
    body); no Status header means 200."""
    sep = stdout.find(b"\r\n\r\n")
    if sep < 0:
        sep2 = stdout.find(b"\n\n")
        if sep2 < 0:
            raise AssertionError("FastCGI stdout has no end of head: %r" % stdout[:300])
        head, body = stdout[:sep2], stdout[sep2 + 2:]
    else:
        head, body = stdout[:sep], stdout[sep + 4:]
    status, reason, pairs = 200, "OK", []
    for line in head.decode("latin-1").replace("\r\n", "\n").split("\n"):
        if ":" not in line:
            continue
        k, v = line.split(":", 1)
        k, v = k.strip(), v.strip()
        if k.lower() == "status":
            code, _, reason = v.partition(" ")
            status = int(code)
        else:
            pairs.append((k, v))
    return Response(status, reason, pairs, body)


class FcgiConn:
    """One FastCGI connection to a worker."""

    def __init__(self, sock):
        self.sock = sock
        self._buf = b""
        self.eof = False

    @classmethod
    def unix(cls, path, timeout=5.0):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(path)
        except BaseException:
            s.close()
            raise
        return cls(s)

    @classmethod
    def tcp(cls, host, port, source=None, timeout=5.0):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            if source is not None:
                s.bind((source, 0))
            s.connect((host, port))
        except BaseException:
            s.close()
            raise
        return cls(s)

    @classmethod
    def to(cls, where, source=None, timeout=5.0):
        """where: a unix socket path (str) or (host, port)."""
        if isinstance(where, str):
            return cls.unix(where, timeout)
        return cls.tcp(where[0], where[1], source=source, timeout=timeout)

    # -- writing -----------------------------------------------------------

    def send(self, data):
        self.sock.sendall(data)

    def send_begin(self, req_id=1, keep_conn=False, role=RESPONDER):
        self.send(begin_bytes(req_id, keep_conn, role))

    def send_params(self, req_id, params):
        data = encode_pairs(params.items() if isinstance(params, dict) else params)
        out = b""
        for k in range(0, len(data), 65535):
            out += record_bytes(PARAMS, req_id, data[k:k + 65535])
        self.send(out + record_bytes(PARAMS, req_id))

    def send_stdin(self, req_id, body=b""):
        out = b""
        for k in range(0, len(body), 65535):
            out += record_bytes(STDIN, req_id, body[k:k + 65535])
        self.send(out + record_bytes(STDIN, req_id))

    # -- reading -----------------------------------------------------------

    def _fill(self, deadline):
        """Read more into the buffer. False on timeout; sets eof."""
        if self.eof:
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            self.eof = True
        else:
            self._buf += chunk
        return True

    def _take(self, n, deadline):
        while len(self._buf) < n:
            if self.eof:
                raise FcgiClosed("connection closed by the worker (%d bytes of a %d-byte "
                                 "read had arrived)" % (len(self._buf), n))
            if not self._fill(deadline):
                raise FcgiTimeout("nothing more from the worker within the timeout "
                                  "(%d of %d bytes)" % (len(self._buf), n))
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def read_record(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        head = self._take(8, deadline)
        version, rtype, req_id, clen, plen = _HEAD.unpack(head)
        if version != VERSION:
            raise AssertionError("FastCGI record with version %d: %r" % (version, head))
        content = self._take(clen, deadline)
        self._take(plen, deadline)
        return Record(rtype, req_id, content)

    def read_response(self, req_id=1, timeout=5.0):
        """Records of req_id up to its END_REQUEST. Returns (Response,
        stderr bytes, app_status, protocol_status)."""
        deadline = time.monotonic() + timeout
        out, err = b"", b""
        while True:
            rec = self.read_record(max(0.0, deadline - time.monotonic()))
            if rec.req_id != req_id:
                raise AssertionError("record %r for another request id than %d" % (rec, req_id))
            if rec.type == STDOUT:
                out += rec.content
            elif rec.type == STDERR:
                err += rec.content
            elif rec.type == END_REQUEST:
                app_status, proto = struct.unpack(">IB3x", rec.content[:8])
                return parse_cgi(out), err, app_status, proto
            else:
                raise AssertionError("unexpected record %r during a response" % rec)

    def request(self, params, body=b"", req_id=1, keep_conn=False, timeout=5.0):
        """One whole responder request; returns the Response (also sets
        last_end = (app_status, protocol_status))."""
        self.send(begin_bytes(req_id, keep_conn))
        self.send_params(req_id, params)
        self.send_stdin(req_id, body)
        resp, _, app, proto = self.read_response(req_id, timeout)
        self.last_end = (app, proto)
        return resp

    def get_values(self, names, timeout=5.0):
        """FCGI_GET_VALUES for names; the GET_VALUES_RESULT pairs as a dict."""
        self.send(record_bytes(GET_VALUES, 0, encode_pairs((n, "") for n in names)))
        rec = self.read_record(timeout)
        if rec.type != GET_VALUES_RESULT or rec.req_id != 0:
            raise AssertionError("expected FCGI_GET_VALUES_RESULT (type 10, id 0), got %r" % rec)
        return decode_pairs(rec.content)

    def wait_eof(self, timeout):
        """Read (and keep in .extra) whatever comes until the worker closes
        the connection. True if it closed within timeout, False if still open."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            if not self._fill(deadline):
                return False
        return True

    @property
    def extra(self):
        return self._buf

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
