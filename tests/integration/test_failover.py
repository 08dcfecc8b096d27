"""test_failover.py -- Redis that fails over: the workers find the primary
through real redis-sentinel processes (redis_ha.RedisHA: a primary, a
replica, three Sentinels, down-after 1 s) and follow it on their own.

Each test runs a steady load through nginx (heartbeats, registrations,
connects answered by holders reading their event streams), injects the
fault, and measures what clients saw: the seconds in which requests got
503, realms that a 200 said were registered and are gone afterwards, and
connects whose punch never reached the holder. The figures are printed
("FIGURE ...") and written into README's high-availability section.

Run on one host, behind nginx (the ASan worker) and lighttpd (the worker
under valgrind); the two-host mode adds nothing here, the fault being in
Redis.
"""

import os
import shutil
import random
import signal
import tempfile
import threading
import time

import faults_util as fu
from client import (Api, EventStream, StreamClosed, StreamTimeout, check, eq, expect_json,
                    nonce, obfs, realm_name)
from common import redis_command, wait_until
from redis_ha import RedisHA
from test_acl import acl_rules
from stack import DEFAULT_ARGS, REPO, Skip, Stack, default_hosts, default_proxy, uses

DOWN_AFTER_MS = 1000
# The workers answer a register, deregister or connect answer once a
# replica has it (--redis-wait 1), within 200 ms.
DURABLE = ("--redis-wait", "1", "--redis-wait-timeout", "200")


def figure(text):
    print("FIGURE " + text, flush=True)


def ha_setup(name, extra_args=()):
    """A RedisHA and a two-worker nginx stack on its Sentinels."""
    if default_hosts() != 1:
        raise Skip("failover tests run on one host (nginx with ASan, lighttpd with valgrind)")
    st = Stack(workers=2, name=name)
    ha = None
    try:
        ha = RedisHA(tempfile.mkdtemp(prefix="rr-ha-"), down_after_ms=DOWN_AFTER_MS)
        ha.start()
        st.redis_url = ha.url()
        st.worker_args = list(DEFAULT_ARGS) + list(extra_args)
        st.start()
    except BaseException:
        st.stop()
        if ha is not None:
            ha.stop()
        raise
    return ha, st


class Load:
    """Clients of every kind, each in its own thread, recording every
    answer as (monotonic time, kind, status)."""

    def __init__(self, st, holders=3):
        self.api = st.api()
        self.port = st.port
        self.stop_ev = threading.Event()
        self.connects_stop = threading.Event()
        self.lock = threading.Lock()
        self.answers = []            # (t, kind, status, seconds taken)
        self.registered = {}         # name -> sid, every register that got 200
        self.connects = []           # (nonce, status) of finished connects
        self.seen = set()            # nonces the holders read as punches
        self.holders = {}
        for _ in range(holders):
            name = realm_name("ha")
            self.holders[name] = self.api.register_ok(name)
        self.registered.update(self.holders)
        self.threads = [threading.Thread(target=self._holder, args=(n, s), daemon=True)
                        for n, s in self.holders.items()]
        self.threads += [threading.Thread(target=f, daemon=True)
                         for f in (self._heartbeats, self._registrations)]
        self.connecters = [threading.Thread(target=self._connects, daemon=True) for _ in range(2)]

    def start(self):
        for t in self.threads + self.connecters:
            t.start()
        # every holder reads its stream before the fault
        wait_until(lambda: self.count("stream", 200) >= len(self.holders), 15, "streams open")
        return self

    def stop(self):
        """The connects first, while the holders still read and answer."""
        self.connects_stop.set()
        for t in self.connecters:
            t.join(30)
        self.stop_ev.set()
        for t in self.threads:
            t.join(30)

    def note(self, kind, status, t0=None):
        now = time.monotonic()
        with self.lock:
            self.answers.append((now, kind, status, now - t0 if t0 is not None else 0.0))

    def count(self, kind, status):
        with self.lock:
            return sum(1 for _, k, s, _ in self.answers if k == kind and s == status)

    def request_times(self):
        """Seconds taken by each heartbeat and register."""
        with self.lock:
            return [d for _, k, _, d in self.answers if k in ("heartbeat", "register")]

    def _holder(self, name, sid):
        """Read the realm's stream; answer every punch; reopen the stream
        when it ends (a holder whose stream broke comes back)."""
        while not self.stop_ev.is_set():
            es = EventStream(self.port, name, sid, timeout=5)
            self.note("stream", es.status)
            try:
                while es.status == 200 and not self.stop_ev.is_set():
                    try:
                        ev = es.next_event(0.5)
                    except StreamTimeout:
                        continue
                    if ev.event == "punch":
                        n = ev.json()["nonce"]
                        with self.lock:
                            self.seen.add(n)
                        self.note("answer", self.api.answer(name, n, sid).status)
            except StreamClosed:
                pass
            finally:
                es.close()
            if es.status != 200:
                self.stop_ev.wait(0.1)      # pacing between attempts, not a sync

    def _heartbeats(self):
        while not self.stop_ev.wait(0.05):
            for name, sid in self.holders.items():
                t0 = time.monotonic()
                self.note("heartbeat", self.api.heartbeat(name, sid).status, t0)

    def _registrations(self):
        while not self.stop_ev.wait(0.05):
            name = realm_name("hr")
            t0 = time.monotonic()
            r = self.api.register(name)
            self.note("register", r.status, t0)
            if r.status == 200:
                with self.lock:
                    self.registered[name] = r.json()["session_id"]

    def _connects(self):
        names = list(self.holders)
        k = 0
        while not self.connects_stop.is_set():
            n = nonce()
            r = self.api.connect(names[k % len(names)], None, n, obfs(), timeout=20)
            k += 1
            self.note("connect", r.status)
            with self.lock:
                self.connects.append((n, r.status))
            if r.status != 200:
                self.connects_stop.wait(0.05)

    # -- after the load ---------------------------------------------------

    def failures(self, since=0.0):
        with self.lock:
            return [(t, k, s) for t, k, s, _ in self.answers
                    if t >= since and k != "stream" and s >= 300]

    def lost_punches(self):
        """Connects that got 200 whose punch no holder read."""
        with self.lock:
            return [n for n, s in self.connects if s == 200 and n not in self.seen]

    def lost_realms(self, api):
        """Realms a 200 said were registered that are gone now."""
        lost = []
        for name, sid in list(self.registered.items()):
            r = api.heartbeat(name, sid)
            if r.status != 200:
                lost.append((name, r.status))
        return lost


def recovered(load, t_from, what):
    """Wait until heartbeats and registrations succeed again after t_from,
    and a connect made now reaches a holder. (A connect made during the
    outage may be answered only at its 10 s deadline: the holder's answer
    to it got 503, which Hysteria servers do not retry.)"""
    def ok():
        with load.lock:
            kinds = {k for t, k, s, _ in load.answers if t > t_from and s < 300}
        return {"heartbeat", "register"} <= kinds
    wait_until(ok, 30, what)
    name = next(iter(load.holders))

    def connect_ok():
        n = nonce()
        r = load.api.connect(name, None, n, obfs(), timeout=20)
        with load.lock:
            return r.status == 200 and n in load.seen
    wait_until(connect_ok, 30, what + " (a connect)", interval=0.1)


def outage(load, t_fault):
    """(seconds from the first to the last failed request after the fault,
    number of failures, their statuses as "kind:status")."""
    f = load.failures(t_fault)
    if not f:
        return 0.0, 0, set()
    return f[-1][0] - f[0][0], len(f), {"%s:%d" % (k, s) for _, k, s in f}


def teardown(ha, st):
    try:
        st.stop()
    finally:
        ha.stop()
        if not os.environ.get("RR_KEEP_RUNDIR"):
            shutil.rmtree(ha.rundir, ignore_errors=True)


@uses(stack=False, timeout=240)
def test_failover_kill9_under_load():
    """kill -9 of the primary under load: the workers follow the Sentinels'
    promotion without a restart; clients see 503 (never another error) for
    no longer than the failover itself plus a reconnect; no realm a 200
    acknowledged is lost (--redis-wait 1); no punch is lost."""
    ha, st = ha_setup("ha-kill", DURABLE)
    try:
        pids = [st.worker_pid(i) for i in range(st.nworkers)]
        load = Load(st).start()
        wait_until(lambda: load.count("connect", 200) >= 3 and load.count("register", 200) >= 10,
                   20, "connects and registrations before the fault")
        old = ha.primary_port()
        watch = ha.watch_switch()
        t_kill = time.monotonic()
        ha.kill(old, signal.SIGKILL)
        old_port, new_port, t_switch = watch.wait(30)
        eq(old_port, old, "+switch-master from the killed primary")
        recovered(load, t_switch, "every kind of request to succeed after the failover")
        t_ok = time.monotonic()
        # a little more load on the new primary, then stop
        n_before = load.count("connect", 200)
        wait_until(lambda: load.count("connect", 200) >= n_before + 3, 20, "connects after the failover")
        load.stop()
        window, nfail, statuses = outage(load, t_kill)
        lost_realms = load.lost_realms(st.api())
        lost_punches = load.lost_punches()
        figure("kill -9: kill->+switch-master %.2f s; requests failing for %.2f s (%d failed, "
               "statuses %s); back %.2f s after the switch; realms lost %d of %d; punches lost %d "
               "of %d" % (t_switch - t_kill, window, nfail, sorted(statuses) or "-",
                          max(0.0, t_ok - t_switch), len(lost_realms), len(load.registered),
                          len(lost_punches), sum(1 for _, s in load.connects if s == 200)))
        check(all(x.endswith(":503") for x in statuses), "clients saw only 503 during the failover, got %s" % statuses)
        check(window <= (t_switch - t_kill) + 3.0,
              "503s lasted %.2f s, more than the failover (%.2f s) plus 3 s"
              % (window, t_switch - t_kill))
        eq(lost_realms, [], "realms acknowledged and lost")
        eq(lost_punches, [], "connects answered 200 whose punch no holder read")
        eq(ha.primary_port(), new_port, "the Sentinels' primary")
        eq([st.worker_pid(i) for i in range(st.nworkers)], pids, "the same worker processes")
    finally:
        teardown(ha, st)


@uses(stack=False, timeout=240)
def test_old_primary_returns_as_replica():
    """After a failover the old primary comes back: the Sentinels make it a
    replica, the workers stay on the new primary (ROLE), nothing fails."""
    ha, st = ha_setup("ha-return")
    try:
        api = st.api()
        name = realm_name()
        sid = api.register_ok(name)
        old = ha.primary_port()
        watch = ha.watch_switch()
        ha.kill(old, signal.SIGKILL)
        _, new, _ = watch.wait(30)
        wait_until(lambda: api.heartbeat(name, sid).status == 200, 15, "heartbeat after the failover")
        load = Load(st, holders=2).start()
        t_back = time.monotonic()
        ha.restart(old)
        took = ha.wait_role(old, "slave", 60)     # as the manual failover's waits: Sentinel's pace
        wait_until(lambda: load.count("connect", 200) >= 4, 30, "connects with the old primary back")
        load.stop()
        window, nfail, statuses = outage(load, t_back)
        figure("old primary back as a replica after %.1f s: %d requests failed" % (took, nfail))
        eq(nfail, 0, "failed requests while the old primary came back (%s)" % sorted(statuses))
        expect_json(api.heartbeat(name, sid), 200, "a realm from before the failover")
        eq(ha.primary_port(), new, "the primary after the old one came back")
        # the realm registered on the new primary reached the returning one
        wait_until(lambda: ha.redis(old, "EXISTS", "hr:realm:" + name) == 1, 15,
                   "the old primary to replicate the realm")
    finally:
        teardown(ha, st)


@uses(stack=False, timeout=240)
def test_sentinels_restarted_while_primary_lives():
    """All three Sentinels stopped and started again while the primary
    lives: no request fails, and a failover afterwards is still followed."""
    ha, st = ha_setup("ha-sentinels")
    try:
        load = Load(st, holders=2).start()
        wait_until(lambda: load.count("connect", 200) >= 2, 20, "connects before")
        t0 = time.monotonic()
        ha.stop_sentinels()
        wait_until(lambda: load.count("connect", 200) >= 4, 20, "connects without Sentinels")
        ha.start_sentinels()
        wait_until(lambda: load.count("connect", 200) >= 6, 20, "connects after the Sentinels came back")
        window, nfail, statuses = outage(load, t0)
        figure("all Sentinels restarted: %d requests failed" % nfail)
        eq(nfail, 0, "failed requests while the Sentinels restarted (%s)" % sorted(statuses))
        # the workers still follow a failover with the restarted Sentinels
        old = ha.primary_port()
        watch = ha.watch_switch()
        ha.kill(old, signal.SIGKILL)
        _, _, t_switch = watch.wait(30)
        recovered(load, t_switch, "requests after a failover with restarted Sentinels")
        load.stop()
    finally:
        teardown(ha, st)


@uses(stack=False, timeout=240)
def test_primary_frozen():
    """The primary stops answering (SIGSTOP) rather than dying: no request
    hangs past the 1 s Redis deadline, the Sentinels promote the replica,
    the workers follow, and the thawed old primary becomes a replica."""
    ha, st = ha_setup("ha-frozen")
    try:
        load = Load(st, holders=2).start()
        wait_until(lambda: load.count("connect", 200) >= 2, 20, "connects before")
        old = ha.primary_port()
        watch = ha.watch_switch()
        t_freeze = time.monotonic()
        ha.freeze(old)
        try:
            _, new, t_switch = watch.wait(30)
            recovered(load, t_switch, "requests after the frozen primary was replaced")
        finally:
            ha.thaw(old)
        ha.wait_role(old, "slave", 30)
        wait_until(lambda: load.count("connect", 200) >= 5, 20, "connects after the thaw")
        load.stop()
        window, nfail, statuses = outage(load, t_freeze)
        slowest = max(load.request_times(), default=0.0)
        figure("SIGSTOP: freeze->+switch-master %.2f s; requests failing for %.2f s (%d failed, "
               "statuses %s); slowest short request %.2f s" % (
                   t_switch - t_freeze, window, nfail, sorted(statuses) or "-", slowest))
        check(all(x.endswith(":503") for x in statuses), "only 503 while the primary was frozen, got %s" % statuses)
        check(slowest < 2.5, "a heartbeat or register took %.2f s with the primary frozen" % slowest)
        check(window <= (t_switch - t_freeze) + 3.0,
              "503s lasted %.2f s, more than the failover (%.2f s) plus 3 s"
              % (window, t_switch - t_freeze))
        eq(ha.primary_port(), new, "the primary after the thaw")
    finally:
        teardown(ha, st)


def _deploy_ha_port():
    """A port N below the ephemeral range (so that no client connection
    takes one of them meanwhile) with deploy/local's Redis ports (N+1000,
    N+1001), Sentinel ports (N+1010..N+1012) and metrics and admin API ports (N+2000, N+2001)
    free too."""
    for _ in range(50):
        p = random.randrange(20000, 28000)
        if all(fu.port_free(p + d) for d in (0, 1000, 1001, 1010, 1011, 1012, 2000, 2001)):
            return p
    raise RuntimeError("no free ports for deploy/local --redis-ha")


@uses(stack=False, timeout=240)
def test_deploy_local_redis_ha():
    """deploy/local up --redis-ha prints its Sentinels and master name,
    serves through them, follows a kill -9 of its primary, and stops every
    process it started."""
    if default_proxy() != "nginx" or default_hosts() != 1:
        raise Skip("deploy/local is one host with nginx: run in the default mode")
    port, token = _deploy_ha_port(), fu.new_token()
    local = fu.DeployLocal()
    up = local.run("up", "--redis-ha", "--port", str(port), "--token", token)
    if up.returncode != 0 and "already running" in up.stderr:
        raise Skip("deploy/local is already running here (someone else's): not touched")
    try:
        eq(up.returncode, 0, "deploy/local up --redis-ha exit status (%s)" % fu.tail(up))
        sentinels = [l.split(":", 1)[1].strip() for l in up.stdout.splitlines()
                     if l.strip().startswith("sentinels:")]
        masters = [l.split(":", 1)[1].strip() for l in up.stdout.splitlines()
                   if l.strip().startswith("master:")]
        eq(len(sentinels), 1, "one sentinels: line in %r" % up.stdout)
        eq(masters, ["hysteria-realm"], "master: line")
        sports = [int(hp.rsplit(":", 1)[1]) for hp in sentinels[0].split(",")]
        eq(len(sports), 3, "three Sentinels")
        primary = int(redis_command(sports[0], "SENTINEL", "get-master-addr-by-name",
                                    "hysteria-realm")[1])
        api = Api(port, token)
        name = realm_name("dha")
        sid = api.register_ok(name)
        pid = int(open(os.path.join(REPO, "run", "local", "redis.pid")).read())
        eq(primary, port + 1000, "the primary deploy/local started")
        os.kill(pid, signal.SIGKILL)
        t0 = time.monotonic()
        wait_until(lambda: int(redis_command(sports[1], "SENTINEL", "get-master-addr-by-name",
                                             "hysteria-realm")[1]) != primary, 30,
                   "the Sentinels to promote the replica")
        wait_until(lambda: api.heartbeat(name, sid).status == 200, 30,
                   "a heartbeat through the new primary")
        figure("deploy/local --redis-ha: kill -9 of the primary to a served heartbeat %.1f s "
               "(down-after 5 s)" % (time.monotonic() - t0))
    finally:
        down = local.run("down")
        eq(down.returncode, 0, "deploy/local down (%s)" % fu.tail(down))
    for d in (1000, 1001, 1010, 1011, 1012):
        check(fu.port_free(port + d), "port %d still taken after down" % (port + d))


@uses(stack=False, timeout=180)
def test_sentinel_url_password_and_db():
    """sentinel://user:password@.../master?db=N with the workers' minimal
    ACL user (deploy/redis/hysteria-realm.acl: ROLE, WAIT) and
    --redis-wait 1: the user reaches the primary (AUTH) and the state lands
    in database N; a wrong password is 503 store_unavailable, never a 400,
    and the log does not hold it."""
    if default_hosts() != 1:
        raise Skip("failover tests run on one host")
    ha = RedisHA(tempfile.mkdtemp(prefix="rr-ha-"), down_after_ms=DOWN_AFTER_MS,
                 password="ha-pass-7").start()
    eq(ha.redis(ha.primary_port(), "ACL", "SETUSER", "hr-worker", "reset", *acl_rules("acl-ha-1")),
       "OK", "ACL SETUSER on the primary")
    good = Stack(workers=1, name="ha-auth", worker_args=list(DEFAULT_ARGS) + list(DURABLE),
                 redis_url=ha.url(user="hr-worker", password="acl-ha-1", db=3))
    bad = Stack(workers=1, name="ha-badauth", redis_url=ha.url(password="wrong-pass-9"))
    try:
        good.start()
        name = realm_name()
        sid = good.api().register_ok(name)
        expect_json(good.api().heartbeat(name, sid), 200, "heartbeat through the Sentinels")
        check(int(redis_command(ha.primary_port(), "EXISTS", "hr:realm:" + name, password=ha.password, db=3)) == 1, "the realm in database 3")
        check(int(redis_command(ha.primary_port(), "EXISTS", "hr:realm:" + name, password=ha.password)) == 0, "nothing in database 0")
        bad.start()
        r = bad.api().register(realm_name())
        eq((r.status, r.json().get("error")), (503, "store_unavailable"), "register, wrong password")
        log = open(bad.worker_log(0)).read()
        check("wrong-pass-9" not in log and "ha-pass-7" not in log, "a password in the worker log")
        check("redis_wait_short" not in open(good.worker_log(0)).read(),
              "WAIT reached the replica as the ACL user")
        check("redis_handshake_failed" in log, "the failed AUTH is logged")
    finally:
        try:
            good.stop()
            bad.stop()
        finally:
            ha.stop()
            shutil.rmtree(ha.rundir, ignore_errors=True)


@uses(stack=False, timeout=240)
def test_manual_failover_old_primary_demoted():
    """SENTINEL FAILOVER (maintenance): the old primary stays up and becomes
    a replica, so a worker still connected to it gets -READONLY; the
    workers move to the new primary and clients see at most a short run of
    503s. Between the promotion and the demotion both servers take writes
    (Sentinel's window): an attempt begun on the old primary then is
    unknown to the new one (the holder's answer gets 404, the connect the
    stored addresses), and a register there is lost with it. Its WAIT
    comes back short: with --redis-wait-strict it is answered 503, so no
    realm a 200 acknowledged is lost."""
    ha, st = ha_setup("ha-manual", DURABLE + ("--redis-wait-strict", "true"))
    try:
        load = Load(st, holders=2).start()
        wait_until(lambda: load.count("connect", 200) >= 2, 20, "connects before")
        old = ha.primary_port()
        watch = ha.watch_switch()
        t0 = time.monotonic()
        eq(redis_command(ha.sentinel_ports[0], "SENTINEL", "FAILOVER", ha.master_name), "OK",
           "SENTINEL FAILOVER")
        _, new, t_switch = watch.wait(30)
        recovered(load, t_switch, "requests after the manual failover")
        n = load.count("connect", 200)
        wait_until(lambda: load.count("connect", 200) >= n + 3, 20, "connects on the new primary")
        load.stop()
        window, nfail, statuses = outage(load, t0)
        figure("SENTINEL FAILOVER: promotion %.2f s; requests failing for %.2f s (%d failed, "
               "statuses %s)" % (t_switch - t0, window, nfail, sorted(statuses) or "-"))
        check(all(x.endswith(":503") or x == "answer:404" for x in statuses),
              "only 503 (or 404 to an answer) during the manual failover, got %s" % statuses)
        check(new != old and ha.role(old) == "slave", "the old primary is a replica now")
        lost = load.lost_realms(st.api())
        shorts = sum(open(st.worker_log(i)).read().count("msg=redis_wait_short replicas=0")
                     for i in range(st.nworkers))
        figure("SENTINEL FAILOVER: realms lost %d of %d, short WAITs logged %d"
               % (len(lost), len(load.registered), shorts))
        eq(lost, [], "realms acknowledged and lost (--redis-wait-strict)")
        eq(load.lost_punches(), [], "connects answered 200 whose punch no holder read")
    finally:
        teardown(ha, st)
