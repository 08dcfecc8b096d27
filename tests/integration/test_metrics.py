"""test_metrics.py -- Prometheus metrics, health checks and the alert rules.

The proxy serves /metrics on a listen of its own (st.metrics_port, as the
shipped configs do on 127.0.0.1:9145); a real Prometheus server (Debian's
`prometheus`) scrapes it, and `promtool` checks the exposition and the rules.
Counts reach Redis once a second per worker, so the tests poll until a
count has moved by what they did.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

from client import (Background, check, eq, expect_json, nonce, obfs, realm_name, request)
from common import find_program, free_port, wait_until
from stack import uses

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
RULES = os.path.join(REPO, "deploy", "prometheus", "hysteria-realm.rules.yml")
RULE_TESTS = os.path.join(REPO, "tests", "metrics", "rules_test.yml")
SERIES_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?) (\S+)$')


def scrape(st):
    """The text of GET /metrics on the metrics listen (200 expected)."""
    r = request(st.metrics_port, "GET", "/metrics")
    eq(r.status, 200, "GET /metrics status (%r)" % r.body[:200])
    ctype = r.header("Content-Type") or ""
    check(ctype.startswith("text/plain"), "metrics content type %r" % ctype)
    return r.body.decode()


def values(text):
    """{series: float} of an exposition."""
    out = {}
    for line in text.splitlines():
        m = SERIES_RE.match(line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def moved(st, before, want, timeout=5):
    """Wait until every series in want (series: increase) has grown by at
    least its increase since before; returns the last values."""
    last = {}

    def ok():
        last.update(values(scrape(st)))
        return all(last.get(k, 0) - before.get(k, 0) >= v for k, v in want.items())
    try:
        wait_until(ok, timeout, "metrics to move")
    except RuntimeError:
        diff = {k: last.get(k, 0) - before.get(k, 0) for k in want}
        raise AssertionError("metrics did not move as expected: want %r, got %r" % (want, diff))
    return last


def promtool():
    return find_program("promtool")


@uses(stack=False)
def test_alert_rules_check_and_unit_tests():
    """The shipped alert rules are valid and fire on what they are for."""
    for args in (["check", "rules", RULES], ["test", "rules", RULE_TESTS]):
        p = subprocess.run([promtool()] + args, capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        eq(p.returncode, 0, "promtool %s: %s" % (" ".join(args[:2]), (p.stdout + p.stderr)[-800:]))


@uses()
def test_metrics_count_what_happened(st):
    """Register, heartbeat, a connect answered by its holder, deregister:
    each moves its counters; the exposition passes `promtool check metrics`."""
    api = st.api()
    before = values(scrape(st))
    name = realm_name("m")
    sid = api.register_ok(name)
    eq(api.register(name, token="wrong").status, 401, "register with a wrong token")
    expect_json(api.heartbeat(name, sid), 200, "heartbeat")
    eq(api.heartbeat(name, "0" * 32).status, 401, "heartbeat with a wrong session")
    n, o = nonce(), obfs()
    with api.events(name, sid) as es:
        bg = Background(api.connect, name, None, n, o)
        ev = es.next_event(5)
        while ev.event != "punch":
            ev = es.next_event(5)
        eq(api.answer(name, n, sid).status, 204, "answer")
        expect_json(bg.wait(10), 200, "connect")
    eq(api.answer(name, nonce(), sid).status, 404, "answer with no connect in flight")
    eq(api.deregister(name, sid).status, 204, "deregister")
    ns = "hysteria_realm_"
    after = moved(st, before, {
        ns + 'registrations_total{result="ok"}': 1,
        ns + 'registrations_total{result="invalid_token"}': 1,
        ns + 'heartbeats_total{result="ok"}': 1,
        ns + 'heartbeats_total{result="invalid_token"}': 1,
        ns + "connect_requests_total": 1,
        ns + 'connect_outcomes_total{outcome="delivered"}': 1,
        ns + 'connect_responses_total{result="delivered"}': 1,
        ns + 'connect_responses_total{result="no_pending"}': 1,
        ns + "deregistrations_total": 1,
        ns + 'http_requests_total{route="/v1/{id}/heartbeat",method="POST",code="200"}': 1,
        ns + 'http_requests_total{route="/v1/{id}/events",method="GET",code="200"}': 1,
        ns + 'http_request_duration_seconds_count{route="/v1/{id}/heartbeat"}': 1,
        ns + "connect_duration_seconds_count": 1,
    })
    # Once no connect is in flight (other tests' may still wait) and every
    # worker has flushed, the requests are the sum of the outcomes.
    sums = []

    def balanced():
        v = values(scrape(st))
        sums[:] = [sum(x for k, x in v.items() if k.startswith(ns + "connect_outcomes_total")),
                   v.get(ns + "connect_requests_total"), v.get(ns + "pending_connects")]
        return sums[0] == sums[1] and sums[2] == 0
    try:
        wait_until(balanced, 20, "connects in flight to end")
    except RuntimeError:
        pass
    eq(sums[0], sums[1], "connect_requests_total is the sum of the outcomes (pending %r)" % sums[2])
    check(after.get(ns + "realms_registered", -1) >= 0, "realms_registered missing")
    check(any(k.startswith(ns + "build_info{") for k in after), "build_info missing")
    check(any(k.startswith(ns + "worker_redis_rtt_seconds{worker=") for k in after),
          "per-worker Redis round trip missing")
    p = subprocess.run([promtool(), "check", "metrics"], input=scrape(st), capture_output=True,
                       text=True, timeout=60)
    eq(p.returncode, 0, "promtool check metrics: %s" % (p.stdout + p.stderr)[-800:])


@uses()
def test_metrics_only_on_the_metrics_listen(st):
    """The public port never serves /metrics; health checks answer on both."""
    r = request(st.port, "GET", "/metrics")
    eq(r.status, 404, "GET /metrics on the public port")
    for port in (st.port, st.metrics_port):
        r = request(port, "GET", "/healthz")
        eq(json.loads(r.body), {"status": "ok"}, "healthz on port %d" % port)
        r = request(port, "GET", "/readyz")
        eq((r.status, json.loads(r.body)), (200, {"status": "ready"}), "readyz on port %d" % port)


@uses(fresh=True)
def test_readyz_follows_redis(st):
    """/readyz is 503 while Redis is away and 200 again once it is back;
    /healthz stays 200 (the loop answers)."""
    st.redis_stop()
    try:
        wait_until(lambda: all(request(st.worker_ports[i], "GET", "/readyz").status == 503
                               for i in range(st.nworkers)), 10, "readyz 503 on every worker")
        eq(request(st.port, "GET", "/healthz").status, 200, "healthz while Redis is away")
    finally:
        st.redis_start()
    wait_until(lambda: all(request(st.worker_ports[i], "GET", "/readyz").status == 200
                           for i in range(st.nworkers)), 15, "readyz 200 again on every worker")


def _prometheus_up(port, proc):
    def ready():
        if proc.poll() is not None:
            return True          # reported below

        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/-/ready" % port, timeout=1) as r:
                return r.status == 200
        except OSError:
            return False
    wait_until(ready, 30, "prometheus ready")
    check(proc.poll() is None, "prometheus exited with %s" % proc.returncode)


def _query(port, expr):
    url = "http://127.0.0.1:%d/api/v1/query?%s" % (port, urllib.parse.urlencode({"query": expr}))
    with urllib.request.urlopen(url, timeout=5) as r:
        body = json.load(r)
    res = body.get("data", {}).get("result", [])
    return float(res[0]["value"][1]) if res else None


@uses(timeout=120)
def test_prometheus_scrapes_the_stack(st):
    """A real Prometheus server scrapes the metrics listen every second;
    heartbeats made now show up in its query API, and the target is up."""
    exe = find_program("prometheus")
    d = tempfile.mkdtemp(prefix="rr-prom-")
    port = free_port()
    with open(os.path.join(d, "prometheus.yml"), "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                "rule_files: [%s]\n"
                "scrape_configs:\n  - job_name: hysteria-realm\n"
                "    static_configs:\n      - targets: ['127.0.0.1:%d']\n" % (RULES, st.metrics_port))
    log = open(os.path.join(d, "prometheus.log"), "wb")
    proc = subprocess.Popen([exe, "--config.file", os.path.join(d, "prometheus.yml"),
                             "--storage.tsdb.path", os.path.join(d, "data"),
                             "--web.listen-address", "127.0.0.1:%d" % port],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        _prometheus_up(port, proc)
        wait_until(lambda: _query(port, 'up{job="hysteria-realm"}') == 1, 30,
                   "prometheus to scrape the stack (up == 1)")
        q = 'sum(hysteria_realm_heartbeats_total{result="ok"})'
        start = _query(port, q) or 0
        api = st.api()
        name = realm_name("p")
        sid = api.register_ok(name)
        for _ in range(5):
            expect_json(api.heartbeat(name, sid), 200, "heartbeat")
        wait_until(lambda: (_query(port, q) or 0) - start >= 5, 30,
                   "5 heartbeats in Prometheus (%s)" % q)
        eq(api.deregister(name, sid).status, 204, "deregister")
        rules = json.load(urllib.request.urlopen("http://127.0.0.1:%d/api/v1/rules" % port, timeout=5))
        names = [r["name"] for g in rules["data"]["groups"] for r in g["rules"]]
        check("HysteriaRealmDown" in names, "alert rules not loaded: %r" % names)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(d, ignore_errors=True)
