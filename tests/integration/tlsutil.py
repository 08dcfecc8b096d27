"""tlsutil.py -- helpers for test_tls.py: a throwaway CA and server
certificate made with the openssl command, and curl driven as the HTTPS
client (curl picks HTTP/1.1 or HTTP/2 by ALPN, as the Hysteria peers' Go
client does). Nothing here installs anything: openssl and curl come from
tests/run's package list."""

import json
import os
import select
import subprocess
import threading
import time
import uuid

from common import find_program


class Skip(Exception):
    """Raised when the machine cannot run the TLS tests at all (the caller
    turns it into stack.Skip)."""


def _run(argv, what, timeout=30, stdin=None):
    p = subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError("%s failed (exit %d): %s" % (
            what, p.returncode, (p.stderr or p.stdout).decode("utf-8", "replace").strip()[-400:]))
    return p


def make_certs(d, names=("127.0.0.1", "localhost"), days=2):
    """A CA and a server certificate it signed, in directory d: ca.pem (the
    trust anchor for the clients), cert.pem and key.pem (for nginx). The
    server certificate names each of names in its subjectAltName (IP
    addresses as IP:, the others as DNS:). Returns a dict of the paths."""
    openssl = find_program("openssl")
    os.makedirs(d, exist_ok=True)
    p = {k: os.path.join(d, f) for k, f in (
        ("ca", "ca.pem"), ("ca_key", "ca.key"), ("cert", "cert.pem"), ("key", "key.pem"),
        ("csr", "cert.csr"), ("ext", "cert.ext"))}
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _run([openssl, "req", "-x509"] + ec + [
        "-keyout", p["ca_key"], "-out", p["ca"], "-days", str(days),
        "-subj", "/CN=hysteria-realm test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign"], "openssl req (CA)")
    _run([openssl, "req", "-new"] + ec + [
        "-keyout", p["key"], "-out", p["csr"], "-subj", "/CN=%s" % names[0]],
        "openssl req (server key)")
    san = ",".join(("IP:%s" if _is_ip(n) else "DNS:%s") % n for n in names)
    with open(p["ext"], "w") as f:
        f.write("subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n" % san)
    _run([openssl, "x509", "-req", "-in", p["csr"], "-CA", p["ca"], "-CAkey", p["ca_key"],
          "-set_serial", "0x" + uuid.uuid4().hex[:16], "-days", str(days),
          "-extfile", p["ext"], "-out", p["cert"]], "openssl x509 (sign)")
    os.chmod(p["key"], 0o600)
    return p


def _is_ip(n):
    import ipaddress
    try:
        ipaddress.ip_address(n)
        return True
    except ValueError:
        return False


def curl_program():
    """The curl binary; Skip if this curl cannot speak HTTP/2."""
    curl = find_program("curl")
    v = subprocess.run([curl, "-V"], capture_output=True, text=True, timeout=10).stdout
    feats = next((ln.split(":", 1)[1].split() for ln in v.splitlines()
                  if ln.startswith("Features:")), [])
    if "HTTP2" not in feats:
        raise Skip("this curl has no HTTP2 feature (curl -V: %s)" % " ".join(feats))
    return curl


class CurlResult:
    """status (int), version ("1.1" or "2"), headers (lowercased name ->
    value), body (bytes), seconds (the call's wall time)."""

    def __init__(self, status, version, headers, body, seconds):
        self.status = status
        self.version = version
        self.headers = headers
        self.body = body
        self.seconds = seconds

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise AssertionError("body is not JSON (%s): %r" % (e, self.body[:200]))

    def __repr__(self):
        return "<HTTP/%s %d %r>" % (self.version, self.status, self.body[:200])


def _parse_head(text):
    """The headers of the last response head in text (curl -D output)."""
    blocks = [b for b in text.replace("\r\n", "\n").split("\n\n") if b.strip()]
    out = {}
    if not blocks:
        return out
    for ln in blocks[-1].split("\n")[1:]:
        if ":" in ln:
            k, v = ln.split(":", 1)
            out[k.strip().lower()] = v.strip()
    return out


class Curl:
    """Requests with curl over HTTPS, one curl process (one connection) per
    request. proto: "1.1" (--http1.1) or "2" (--http2: h2 by ALPN), or None
    (curl's default for https, which offers h2 like the peers do)."""

    def __init__(self, cacert, tmpdir, proto=None):
        self.curl = curl_program()
        self.cacert = cacert
        self.tmpdir = tmpdir
        self.proto = proto

    def argv(self, extra=()):
        a = [self.curl, "-sS", "--noproxy", "*", "--cacert", self.cacert]
        if self.proto == "1.1":
            a.append("--http1.1")
        elif self.proto == "2":
            a.append("--http2")
        return a + list(extra)

    def request(self, method, url, body=None, auth=None, timeout=20.0, cacert=True):
        """One request; body: None (no body), bytes/str (sent as is) or a
        JSON-able object; both with Content-Type: application/json, as the
        peers send. Returns a CurlResult; RuntimeError if curl fails."""
        tag = uuid.uuid4().hex
        head_f = os.path.join(self.tmpdir, "h-%s" % tag)
        body_f = os.path.join(self.tmpdir, "b-%s" % tag)
        argv = self.argv(["-X", method, "-D", head_f, "-o", body_f,
                          "-w", "%{http_code} %{http_version}",
                          "--max-time", "%g" % timeout])
        if not cacert:
            i = argv.index("--cacert")
            del argv[i:i + 2]
        if auth is not None:
            argv += ["-H", "Authorization: Bearer %s" % auth]
        data = None
        if body is not None:
            if isinstance(body, (dict, list)):
                data = json.dumps(body, separators=(",", ":")).encode()
            else:
                data = body.encode() if isinstance(body, str) else body
            argv += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
        argv.append(url)
        t0 = time.monotonic()
        p = subprocess.run(argv, input=data, capture_output=True, timeout=timeout + 10,
                           stdin=None if data is not None else subprocess.DEVNULL)
        took = time.monotonic() - t0
        try:
            if p.returncode != 0:
                raise CurlError(p.returncode, p.stderr.decode("utf-8", "replace").strip())
            code, version = p.stdout.decode().split()
            with open(head_f, encoding="latin-1") as f:
                headers = _parse_head(f.read())
            with open(body_f, "rb") as f:
                body_out = f.read()
        finally:
            for f in (head_f, body_f):
                try:
                    os.unlink(f)
                except FileNotFoundError:
                    pass
        return CurlResult(int(code), version, headers, body_out, took)


class CurlError(RuntimeError):
    def __init__(self, rc, stderr):
        super().__init__("curl exit %d: %s" % (rc, stderr[-300:]))
        self.rc = rc


class CurlStream:
    """GET an event stream with `curl -N` (no output buffering), the head
    dumped before the body (-D -). A thread reads curl's output as it comes
    and stamps each piece with the time it arrived, so a test can tell when
    an event reached the client."""

    def __init__(self, client, url, auth):
        self.proc = subprocess.Popen(
            client.argv(["-N", "-D", "-", "-H", "Authorization: Bearer %s" % auth, url]),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.started = time.monotonic()
        self._lock = threading.Condition()
        self._data = b""
        self._stamps = []        # (offset where a piece ends, time it arrived)
        self._eof = False
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self):
        try:
            self._read_loop()
        except (OSError, ValueError):      # the pipe was closed under us
            pass
        with self._lock:
            self._eof = True
            self._lock.notify_all()

    def _read_loop(self):
        fd = self.proc.stdout.fileno()
        while True:
            r, _, _ = select.select([fd], [], [], 0.5)
            if not r:
                if self.proc.poll() is not None and not select.select([fd], [], [], 0)[0]:
                    break
                continue
            chunk = os.read(fd, 65536)
            now = time.monotonic()
            with self._lock:
                if not chunk:
                    self._eof = True
                    self._lock.notify_all()
                    return
                self._data += chunk
                self._stamps.append((len(self._data), now))
                self._lock.notify_all()

    def wait_for(self, pred, timeout):
        """Wait until pred(data) returns a true value; return it, or None at
        the timeout or when the stream ended without it."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                v = pred(self._data)
                if v:
                    return v
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    return None
                self._lock.wait(left)

    def arrived(self, offset):
        """When the byte at offset (exclusive end) had arrived."""
        with self._lock:
            for end, t in self._stamps:
                if end >= offset:
                    return t
        return None

    def head(self, timeout):
        """(status line, headers) once the head is in, else None."""
        def got(data):
            text = data.decode("latin-1")
            if "\r\n\r\n" not in text:
                return None
            h = text.split("\r\n\r\n", 1)[0]
            return h.split("\r\n", 1)[0], _parse_head(h + "\r\n\r\n"), len(h) + 4
        return self.wait_for(got, timeout)

    def body(self):
        with self._lock:
            data = self._data
        i = data.find(b"\r\n\r\n")
        return b"" if i < 0 else data[i + 4:]

    def wait_event(self, event, timeout, after=0, contains=None):
        """The first SSE block with `event: <event>` (and the text contains,
        if given) that ends beyond body offset `after`: (block text, end
        offset in the body, time it arrived); None at the timeout."""
        def find(data):
            i = data.find(b"\r\n\r\n")
            if i < 0:
                return None
            body = data[i + 4:]
            pos = 0
            while True:
                j = body.find(b"\n\n", pos)
                if j < 0:
                    return None
                block = body[pos:j].decode("utf-8", "replace")
                end = j + 2
                pos = end
                if end <= after:
                    continue
                if "event: %s" % event in block.split("\n") and (contains is None or
                                                                contains in block):
                    return block, end, i + 4 + end
        r = self.wait_for(find, timeout)
        if r is None:
            return None
        block, end, abs_end = r
        return block, end, self.arrived(abs_end)

    def wait_closed(self, timeout):
        """True if curl exits (the stream ended) within timeout."""
        try:
            self.proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._t.join(2)
        for f in (self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
