"""test_rolling.py -- restart every worker, one after the other, under load.

Heartbeats, registrations and connects to held streams run through the
proxy the whole time, while each worker in turn gets SIGTERM (it stops
accepting, serves what was already sent, ends its streams, answers its
waiting connects with the stored addresses, exits 0) and is started again.
Nothing may fail: every request gets its success status, every connect's
punch reaches its holder, and the streams that ended are opened again by
their holders, as real Hysteria servers do.
"""

import signal
import threading
import time

from client import (Api, StreamClosed, StreamTimeout, check, eq, nonce, obfs, realm_name)
from common import wait_until
from stack import Skip, default_proxy, uses

LOAD = ("--max-realms-per-ip", "0", "--max-realms", "0", "--connect-wait", "3")


class Load:
    """Threads of requests; failures and counts gathered under one lock.
    stop ends the requests; holders_stop, set later, ends the holders, so
    that they still read the punches of the last connects."""

    def __init__(self):
        self.stop = threading.Event()
        self.holders_stop = threading.Event()
        self.lock = threading.Lock()
        self.failures = []
        self.count = {}
        self.threads = []

    def ok(self, what):
        with self.lock:
            self.count[what] = self.count.get(what, 0) + 1

    def fail(self, what):
        with self.lock:
            self.failures.append(what)

    def run(self, fn, *args):
        t = threading.Thread(target=self._guard, args=(fn,) + args, daemon=True)
        t.start()
        self.threads.append(t)
        return t

    def _guard(self, fn, *args):
        try:
            fn(*args)
        except Exception as e:          # a crash of the driver is a failure too
            self.fail("%s crashed: %r" % (fn.__name__, e))

    def join(self):
        self.stop.set()
        self.holders_stop.set()
        for t in self.threads:
            t.join(30)


def heartbeats(load, api, name, sid):
    while not load.stop.is_set():
        r = api.heartbeat(name, sid)
        if r.status == 200:
            load.ok("heartbeat")
        else:
            load.fail("heartbeat %d %r" % (r.status, r.body[:100]))


def registrations(load, api):
    while not load.stop.is_set():
        name = realm_name("r")
        r = api.register(name)
        if r.status != 200:
            load.fail("register %d %r" % (r.status, r.body[:100]))
            continue
        d = api.deregister(name, r.json()["session_id"])
        if d.status == 204:
            load.ok("register+deregister")
        else:
            load.fail("deregister %d %r" % (d.status, d.body[:100]))


class Holder:
    """A realm holder as a Hysteria server behaves: hold the stream, answer
    each punch at once, open a new stream as soon as one ends."""

    def __init__(self, api, load):
        self.api = api
        self.load = load
        self.name = realm_name("h")
        self.sid = api.register_ok(self.name)
        self.seen = set()
        self.streams = 0

    def run(self):
        while not self.load.holders_stop.is_set():
            es = self.api.events(self.name, self.sid, timeout=10)
            if es.status != 200:
                self.load.fail("events %d %r" % (es.status, es.body[:100]))
                es.close()
                continue
            self.streams += 1
            try:
                while not self.load.holders_stop.is_set():
                    try:
                        ev = es.next_event(0.5)
                    except StreamTimeout:
                        continue
                    if ev.event == "punch":
                        n = ev.json()["nonce"]
                        with self.load.lock:
                            self.seen.add(n.lower())
                        self.api.answer(self.name, n, self.sid)
                    elif ev.event == "heartbeat_ack":
                        pass
            except StreamClosed:
                pass                    # ended by its worker: open the next one
            finally:
                es.close()


def connects(load, api, holders, sent):
    k = 0
    while not load.stop.is_set():
        h = holders[k % len(holders)]
        k += 1
        n = nonce()
        r = api.connect(h.name, None, n, obfs())
        if r.status == 200:
            with load.lock:
                sent.append((h, n.lower()))
            load.ok("connect")
        else:
            load.fail("connect %d %r" % (r.status, r.body[:100]))


@uses(args=LOAD, fresh=True, timeout=240)
def test_rolling_restart_loses_nothing(st):
    if default_proxy() != "nginx":
        raise Skip("the retry of a request refused by a stopping worker is nginx's "
                   "fastcgi_next_upstream (deploy/nginx)")
    api = Api(st.port, st.token)
    load = Load()
    beaters = [(realm_name("b"), None) for _ in range(3)]
    beaters = [(n, api.register_ok(n)) for n, _ in beaters]
    holders = [Holder(api, load) for _ in range(3)]
    sent = []
    holder_threads = [load.run(h.run) for h in holders]
    wait_until(lambda: all(h.streams >= 1 for h in holders), 10, "every holder's stream")
    for n, s in beaters:
        load.run(heartbeats, load, api, n, s)
    load.run(registrations, load, api)
    load.run(connects, load, api, holders, sent)
    load.run(connects, load, api, holders, sent)
    try:
        wait_until(lambda: load.count.get("connect", 0) >= 20, 20, "load to run")
        streams_before = sum(h.streams for h in holders)
        for i in range(st.nworkers):
            before = dict(load.count)
            rc = st.kill_worker(i, signal.SIGTERM, timeout=20)
            eq(rc, 0, "worker %d exit status after SIGTERM" % (i + 1))
            st.start_worker(i)
            wait_until(lambda: all(load.count.get(k, 0) > before.get(k, 0) + 10
                                   for k in ("heartbeat", "connect", "register+deregister")),
                       30, "load to go on after restarting worker %d" % (i + 1))
    finally:
        load.stop.set()             # requests end; holders keep reading
        for t in load.threads:
            if t not in holder_threads:
                t.join(30)
    # every punch of a connect that succeeded reached its holder
    missing = []

    def all_seen():
        with load.lock:
            missing[:] = [n for h, n in sent if n not in h.seen]
        return not missing
    try:
        wait_until(all_seen, 10, "every punch at its holder")
    except RuntimeError:
        pass
    finally:
        load.join()
    streams_after = sum(h.streams for h in holders)
    print("rolling restart: %s, streams opened again %d, failures %d, punches lost %d"
          % (load.count, streams_after - streams_before, len(load.failures), len(missing)))
    eq(load.failures[:10], [], "failed requests during the restarts (%d)" % len(load.failures))
    eq(missing[:10], [], "punches lost (%d of %d)" % (len(missing), len(sent)))
    check(streams_after > streams_before, "no stream ended and was opened again")
