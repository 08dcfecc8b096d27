"""test_tls.py -- the API over HTTPS, as real Hysteria peers reach it
(realm://: https, HTTP/2 when offered): nginx with the TLS listen of
deploy/nginx/local.conf.in and a certificate made on the fly by a throwaway
CA (tlsutil.py), the API driven with curl once over HTTP/1.1 and once over
HTTP/2: register, heartbeat, an event stream held open (curl -N) whose
events arrive at once, a waiting connect answered by the holder, deregister,
and the errors (401, 404, nginx's own 413). nginx only: under lighttpd the
tests print SKIP."""

import os
import re
import shutil
import socket
import ssl
import tempfile
import time
from contextlib import contextmanager

import tlsutil
from client import Background, check, eq, nonce, obfs, realm_name, request
from stack import DEFAULT_ARGS, Skip, Stack, default_proxy, uses

# An event is "prompt" well under this (measured: a few milliseconds); the
# bound only has to stay clear of scheduling noise on a loaded machine and
# far below what buffering would cost (a keepalive interval, 20 s).
PROMPT = 1.0


@contextmanager
def tls_stack(label):
    """A two-worker stack whose nginx also listens with TLS (HTTP/2 by
    ALPN) on st.tls_port; yields (st, certs, tmpdir)."""
    if default_proxy() != "nginx":
        raise Skip("TLS is set up in deploy/nginx/local.conf.in only (lighttpd would "
                   "need mod_openssl)")
    try:
        tlsutil.curl_program()
    except tlsutil.Skip as e:
        raise Skip(str(e))
    tmp = tempfile.mkdtemp(prefix="rr-tls-")
    st = None
    try:
        certs = tlsutil.make_certs(os.path.join(tmp, "pki"))
        st = Stack(workers=2, worker_args=DEFAULT_ARGS, name=label,
                   tls=(certs["cert"], certs["key"]))
        st.start()
        yield st, certs, tmp
    finally:
        if st is not None:
            st.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if st.unexpected:
        raise AssertionError("; ".join(st.unexpected))


def expect(r, status, version, what, code=None):
    """r is HTTP/<version> <status>; with code, a JSON error body of that
    code; returns the parsed JSON body (None for an empty one)."""
    if r.status != status:
        raise AssertionError("%s: expected %d, got %r" % (what, status, r))
    eq(r.version, version, "%s: HTTP version" % what)
    if not r.body:
        return None
    ctype = r.headers.get("content-type", "")
    eq(ctype.split(";")[0].strip(), "application/json", "%s: Content-Type" % what)
    body = r.json()
    if code is not None:
        eq(body.get("error"), code, "%s: error code" % what)
        check(isinstance(body.get("message"), str) and body["message"],
              "%s: no message in %r" % (what, body))
    return body


def exercise(st, certs, tmp, proto):
    """The whole API over HTTPS with curl --http<proto>; prints the
    latencies measured."""
    c = tlsutil.Curl(certs["ca"], tmp, proto=proto)
    base = "https://127.0.0.1:%d" % st.tls_port
    name = realm_name("tls")
    v = proto
    t = {}

    # register
    reg = expect(c.request("POST", "%s/v1/%s" % (base, name),
                           {"addresses": ["203.0.113.10:4433", "[2001:db8::1]:4433"]},
                           auth=st.token), 200, v, "register")
    sid = reg.get("session_id")
    check(isinstance(sid, str) and re.fullmatch(r"[0-9a-f]{32}", sid),
          "register: session_id %r" % sid)
    eq(reg.get("ttl"), 60, "register: ttl")

    # the event stream: its head must come at once, with no event to push it
    with tlsutil.CurlStream(c, "%s/v1/%s/events" % (base, name), sid) as es:
        head = es.head(5)
        check(head is not None, "events: no response head within 5 s (curl: %r)"
              % es.body()[:200])
        status_line, hdrs, _ = head
        t["head"] = time.monotonic() - es.started
        want_line = "HTTP/2 200" if v == "2" else "HTTP/1.1 200"
        check(status_line.startswith(want_line),
              "events: status line %r, expected %r" % (status_line, want_line))
        eq(hdrs.get("content-type", "").split(";")[0].strip(), "text/event-stream",
           "events: Content-Type")
        check("no-cache" in hdrs.get("cache-control", ""),
              "events: Cache-Control %r" % hdrs.get("cache-control"))
        check("content-encoding" not in hdrs, "events: encoded %r" % hdrs.get("content-encoding"))
        check(t["head"] < 2.0, "events: head took %.2f s" % t["head"])

        # heartbeat -> 200 {"ttl":60}, and heartbeat_ack on the stream at once
        hb_start = time.monotonic()
        hb = c.request("POST", "%s/v1/%s/heartbeat" % (base, name), {}, auth=sid)
        eq(expect(hb, 200, v, "heartbeat"), {"ttl": 60}, "heartbeat body")
        ack = es.wait_event("heartbeat_ack", 5)
        check(ack is not None, "no heartbeat_ack on the stream within 5 s; got %r"
              % es.body()[:300])
        check('data: {"ttl":60}' in ack[0].split("\n"), "heartbeat_ack block %r" % ack[0])
        t["ack"] = ack[2] - hb_start
        check(t["ack"] < PROMPT, "heartbeat_ack reached the client %.2f s after the "
              "heartbeat was sent" % t["ack"])

        # a waiting connect: punch on the stream, answered by the holder
        n, o = nonce(), obfs()
        client_addrs = ["198.51.100.20:5000"]
        t_conn = time.monotonic()
        bg = Background(c.request, "POST", "%s/v1/%s/connect" % (base, name),
                        {"addresses": client_addrs, "nonce": n, "obfs": o},
                        auth=st.token, timeout=30)
        punch = es.wait_event("punch", 5, after=ack[1], contains=n)
        check(punch is not None, "no punch with nonce %s on the stream within 5 s; got %r"
              % (n, es.body()[-400:]))
        t["punch"] = punch[2] - t_conn
        check(t["punch"] < PROMPT + 0.5, "punch reached the client %.2f s after the "
              "connect was sent" % t["punch"])
        eq(punch[0].split("\n")[-1],
           'data: {"addresses":%s,"nonce":"%s","obfs":"%s"}' % (
               '["198.51.100.20:5000"]', n, o), "punch data")
        check(not bg.done(), "connect returned before the holder answered: %r" % (bg.result,))
        answer_addrs = ["192.0.2.50:7000", "[2001:db8::50]:7000"]
        ans_start = time.monotonic()
        ans = c.request("POST", "%s/v1/%s/connects/%s" % (base, name, n),
                        {"addresses": answer_addrs}, auth=sid)
        eq(expect(ans, 204, v, "connects/{nonce}"), None, "connects/{nonce} body")
        conn = bg.wait(15)
        body = expect(conn, 200, v, "connect")
        eq(body, {"addresses": answer_addrs, "nonce": n, "obfs": o}, "connect body")
        t["answer"] = bg.finished - ans_start
        check(t["answer"] < PROMPT, "connect returned %.2f s after the answer was sent"
              % t["answer"])

        # errors: the worker's 401 and 404, nginx's own 413, all JSON
        expect(c.request("POST", "%s/v1/%s/heartbeat" % (base, name), {}, auth="0" * 32),
               401, v, "heartbeat with a wrong session", code="invalid_token")
        bad = c.request("GET", "%s/v1/%s/events" % (base, name), auth="0" * 32)
        expect(bad, 401, v, "events with a wrong session", code="invalid_token")
        expect(c.request("GET", "%s/v1/%s/nope" % (base, name)), 404, v, "unknown path",
               code="not_found")
        expect(c.request("POST", "%s/v1/%s" % (base, realm_name("tls")), "x" * 9000,
                         auth=st.token), 413, v, "9000-byte body", code="bad_request")

        # deregister: 204, the stream ends, connect then 404 realm_not_found
        dr = c.request("DELETE", "%s/v1/%s" % (base, name), auth=sid)
        eq(expect(dr, 204, v, "deregister"), None, "deregister body")
        t0 = time.monotonic()
        check(es.wait_closed(5), "the event stream was still open 5 s after deregister")
        t["closed"] = time.monotonic() - t0
        eq(es.proc.returncode, 0, "curl's exit status at the stream's end (stderr %r)"
           % es.proc.stderr.read()[-300:])
    expect(c.request("POST", "%s/v1/%s/connect" % (base, name),
                     {"addresses": client_addrs, "nonce": nonce(), "obfs": obfs()},
                     auth=st.token), 404, v, "connect after deregister", code="realm_not_found")
    print("tls: HTTP/%s (each a new curl and TLS handshake): events head %.3f s, "
          "heartbeat_ack %.3f s after the heartbeat was sent, punch %.3f s after the "
          "connect, connect answered %.3f s after the answer, stream closed %.2f s after "
          "deregister" % (v, t["head"], t["ack"], t["punch"], t["answer"], t["closed"]),
          flush=True)


@uses(stack=False, timeout=120)
def test_tls_http2_api():
    with tls_stack("tls-h2") as (st, certs, tmp):
        exercise(st, certs, tmp, "2")


@uses(stack=False, timeout=120)
def test_tls_http1_api():
    with tls_stack("tls-h1") as (st, certs, tmp):
        exercise(st, certs, tmp, "1.1")


@uses(stack=False, timeout=90)
def test_tls_offers_h2_and_checks_certificates():
    """What a peer meets at the handshake: ALPN picks h2 when the client
    offers h2 and http/1.1 (Go's client does), http/1.1 for one that offers
    only that; curl with no protocol flag ends up on HTTP/2; the certificate
    verifies for 127.0.0.1 and localhost against the CA and not without it;
    TLS below 1.2 is refused; a second connection resumes the session; the
    plain port still speaks plain HTTP, and plain HTTP on the TLS port gets
    a JSON 400."""
    with tls_stack("tls-alpn") as (st, certs, tmp):
        def alpn(offer, host="127.0.0.1", **kw):
            ctx = ssl.create_default_context(cafile=certs["ca"])
            if "_ciphers" in kw:
                ctx.set_ciphers(kw.pop("_ciphers"))
            for k, val in kw.items():
                setattr(ctx, k, val)
            ctx.set_alpn_protocols(offer)
            with socket.create_connection(("127.0.0.1", st.tls_port), timeout=5) as s:
                with ctx.wrap_socket(s, server_hostname=host) as ts:
                    return ts.selected_alpn_protocol(), ts.version()
        proto, ver = alpn(["h2", "http/1.1"])
        eq(proto, "h2", "ALPN for a client offering h2 and http/1.1")
        check(ver in ("TLSv1.2", "TLSv1.3"), "TLS version %r" % ver)
        eq(alpn(["http/1.1"])[0], "http/1.1", "ALPN for a client offering http/1.1 only")
        eq(alpn(["h2", "http/1.1"], host="localhost")[0], "h2", "ALPN with SNI localhost")
        eq(alpn(["h2"], maximum_version=ssl.TLSVersion.TLSv1_2)[1], "TLSv1.2",
           "a TLS 1.2-only client")
        # a client that offers TLS 1.1 at most (its own security level lowered
        # so that it does offer it): nginx answers with a protocol_version alert
        try:
            alpn(["h2"], minimum_version=ssl.TLSVersion.TLSv1,
                 maximum_version=ssl.TLSVersion.TLSv1_1, _ciphers="DEFAULT:@SECLEVEL=0")
            raise AssertionError("a TLS 1.1 handshake succeeded")
        except ssl.SSLError as e:
            check("PROTOCOL_VERSION" in str(e).upper(),
                  "TLS 1.1 refused, but not by a protocol_version alert: %s" % e)

        # a reconnecting client resumes its TLS session (the shared session
        # cache; no tickets), over TLS 1.3 and 1.2
        for maxv in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            ctx = ssl.create_default_context(cafile=certs["ca"])
            ctx.maximum_version = maxv
            ctx.set_alpn_protocols(["http/1.1"])
            session = None
            reused = []
            for _ in range(2):
                with socket.create_connection(("127.0.0.1", st.tls_port), timeout=5) as s:
                    with ctx.wrap_socket(s, server_hostname="127.0.0.1", session=session) as ts:
                        # a whole request first: TLS 1.3 sends the session after
                        # the handshake
                        ts.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                   b"Connection: close\r\n\r\n")
                        while ts.recv(4096):
                            pass
                        reused.append(ts.session_reused)
                        session = ts.session
            eq(reused, [False, True], "TLS session reused on the second connection (%s)"
               % maxv.name)

        c = tlsutil.Curl(certs["ca"], tmp, proto=None)
        base = "https://127.0.0.1:%d" % st.tls_port
        expect(c.request("GET", base + "/"), 404, "2", "curl's default protocol",
               code="not_found")
        expect(c.request("GET", "https://localhost:%d/" % st.tls_port), 404, "2",
               "by the name localhost", code="not_found")
        try:
            r = c.request("GET", base + "/", cacert=False)
            raise AssertionError("curl accepted the certificate without the CA: %r" % (r,))
        except tlsutil.CurlError as e:
            eq(e.rc, 60, "curl's exit status without the CA (60: peer certificate "
               "cannot be authenticated)")
        r = st.api().req("GET", "/")
        eq(r.status, 404, "plain HTTP on the pool port")
        # plain HTTP sent to the TLS port (a peer given realm+http:// for it):
        # a JSON 400 that says so, not nginx's HTML page
        r = request(st.tls_port, "POST", "/v1/" + realm_name("tls"),
                    {"addresses": ["203.0.113.10:4433"]}, auth=st.token)
        eq(r.status, 400, "plain HTTP on the TLS port: status")
        eq(r.header("content-type", "").split(";")[0].strip(), "application/json",
           "plain HTTP on the TLS port: Content-Type")
        eq(r.json().get("error"), "bad_request", "plain HTTP on the TLS port: error code")
        check("HTTPS" in r.json().get("message", ""),
              "plain HTTP on the TLS port: message %r" % r.json())
