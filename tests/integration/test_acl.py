"""test_acl.py -- the workers under the minimal Redis ACL user of
deploy/redis/hysteria-realm.acl (redis://user:password@host)."""

import json
import os
import subprocess

from client import eq
from common import wait_until
from fcgi_client import FcgiConn, http_params
from stack import REPO, uses, worker_binary

ACL = os.path.join(REPO, "deploy", "redis", "hysteria-realm.acl")


def acl_rules(password):
    """The rules of the shipped user line, with password."""
    with open(ACL) as f:
        line = next(l for l in f if l.startswith("user "))
    words = line.split()[2:]                      # after "user hr-worker"
    return [">" + password if w.startswith(">") else w for w in words]


def start_worker(st, url, name):
    sock = os.path.join(st.rundir, name + ".sock")
    log = open(os.path.join(st.rundir, name + ".log"), "wb")
    p = subprocess.Popen([worker_binary(), "--listen", sock, "--redis", url, "--token", st.token,
                          "--scripts-dir", os.path.join(REPO, "sql")],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    log.close()
    wait_until(lambda: os.path.exists(sock), 10, "worker %s socket" % name)
    return p, sock


def call(sock, method, uri, auth=None, body=b"", extra=None):
    c = FcgiConn.unix(sock)
    try:
        p = http_params(method, uri, headers={"Authorization": "Bearer " + auth} if auth else {},
                        body=body)
        p.update(extra or {})
        return c.request(p, body=body)
    finally:
        c.close()


@uses()
def test_minimal_acl_user_serves_everything(st):
    """register, heartbeat, connect (subscriber), /metrics, readyz and
    deregister all work as the ACL user; without FCALL the same user gets
    503 store_unavailable, never a 400."""
    eq(st.redis("ACL", "SETUSER", "hr-worker", "reset", *acl_rules("acl-pass-1")), "OK", "ACL SETUSER")
    eq(st.redis("ACL", "SETUSER", "hr-nofcall", "reset",
                *[w for w in acl_rules("acl-pass-2") if w != "+fcall"]), "OK", "ACL SETUSER")
    url = "redis://hr-worker:acl-pass-1@%s:%d/0" % (st.redis_host, st.redis_port)
    p, sock = start_worker(st, url, "acl")
    q, sock2 = start_worker(st, "redis://hr-nofcall:acl-pass-2@%s:%d/0" % (st.redis_host, st.redis_port),
                            "acl-nofcall")
    try:
        wait_until(lambda: call(sock, "GET", "/readyz").status == 200, 10, "readyz as the ACL user")
        r = call(sock, "POST", "/v1/acl-realm", st.token, b'{"addresses":["192.0.2.1:443"]}')
        eq(r.status, 200, "register as the ACL user (%r)" % r.body)
        sid = json.loads(r.body)["session_id"]
        eq(call(sock, "POST", "/v1/acl-realm/heartbeat", sid, b"{}").status, 200, "heartbeat")
        body = json.dumps({"addresses": ["192.0.2.2:443"], "nonce": "a" * 32, "obfs": "b" * 64}).encode()
        eq(call(sock, "POST", "/v1/acl-none/connect", st.token, body).status, 404,
           "connect to no realm (subscribe + connect_begin)")
        m = call(sock, "GET", "/metrics", extra={"HR_METRICS": "1"})
        eq(m.status, 200, "metrics as the ACL user")
        eq(call(sock, "DELETE", "/v1/acl-realm", sid).status, 204, "deregister")
        wait_until(lambda: call(sock2, "GET", "/healthz").status == 200, 10, "second worker up")
        r = call(sock2, "POST", "/v1/acl-realm2", st.token, b'{"addresses":["192.0.2.1:443"]}')
        eq(r.status, 503, "register without FCALL rights (%r)" % r.body)
        eq(json.loads(r.body)["error"], "store_unavailable", "error code without FCALL rights")
    finally:
        for proc in (p, q):
            proc.terminate()
            eq(proc.wait(10), 0, "worker exit status")
        st.redis("ACL", "DELUSER", "hr-worker", "hr-nofcall")
