"""bench.py -- the benchmark of the rendezvous (run it through tests/bench/run).

Phases, each on a stack of its own (Redis + workers + nginx, benchstack.py):
  throughput   wrk: nginx's fixed answer (the ceiling), a 404 answered by a
               worker (nginx + FastCGI, no Redis), heartbeat with 1, 2, 4
               workers and a few --threads values; CPU time per request of
               each component from /proc.
  churn        wrk: register + deregister pairs per second.
  rendezvous   rdv.py: connect -> punch -> answer -> connect returns, per
               round trip, at 1 in flight and under load.
  streams      holder.py: idle event streams; RSS per stream of the worker(s)
               and of the whole stack, nginx buffer variants, a few punches
               timed while every stream is open.
  profile      perf stat (syscalls, context switches per request), perf
               record (where the CPU goes) and callgrind (the worker's own
               code) under heartbeat load.
  ab           the worker's close fix of ca2f70b: heartbeat with the tree as
               it is and with ab/close-handshake.patch reversed.
Prints a table and writes tests/bench/RESULTS.md. Every load is bounded in
count and time; everything started is stopped by pid.
"""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import benchstack as bs
import httpfast as hf

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = bs.REPO
LUA = os.path.join(HERE, "lua")
os.environ["BENCH_LUA_DIR"] = LUA

# nginx for the throughput phases: the template's sizes (deploy defaults).
NGINX_BASE = {"worker_processes": 2}
# nginx variants for the streams phase, cumulative, at 9,000 streams.
# A-C undo the template's tuning step by step (each size set in opts
# replaces every line of the template that sets it), D is the template as
# it is, E goes further than the template.
VARIANTS = [
    ("A", "before the tuning: fastcgi_buffer_size 4k, client_header_buffer_size 1k, request_pool_size 4k "
          "(nginx defaults)",
     {"fastcgi_buffer_size": "4k", "client_header_buffer_size": "1k", "request_pool_size": "4k"}),
    ("B", "A with fastcgi_buffer_size 1k",
     {"fastcgi_buffer_size": "1k", "client_header_buffer_size": "1k", "request_pool_size": "4k"}),
    ("C", "B + client_header_buffer_size 512", {"fastcgi_buffer_size": "1k", "client_header_buffer_size": "512",
                                                "request_pool_size": "4k"}),
    ("D", "C + request_pool_size 1k: the template as it is (fastcgi_buffer_size 1k on the events/connect "
          "location, 4k elsewhere; client_header_buffer_size 512; request_pool_size 1k)", {}),
    ("E", "D with fastcgi_buffer_size 512 everywhere", {"fastcgi_buffer_size": "512"}),
]
TEMPLATE = "D"
BEST = "E"

T_START = time.monotonic()


def log(msg):
    print("[%6.1fs] %s" % (time.monotonic() - T_START, msg), flush=True)


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception:
        return ""


def pct(sorted_vals, p):
    if not sorted_vals:
        return None
    k = min(len(sorted_vals) - 1, max(0, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


# -- machine facts -------------------------------------------------------------

def machine_facts():
    f = {}
    f["nproc"] = sh("nproc")
    f["cpu"] = sh("lscpu | sed -n 's/^Model name: *//p' | head -1") or platform.processor()
    hv = sh("lscpu | sed -n 's/^Hypervisor vendor: *//p'")
    flags = sh("grep -m1 -o -w hypervisor /proc/cpuinfo")
    f["virtualised"] = hv or ("yes (cpuinfo flag 'hypervisor')" if flags else "no")
    mt = sh("sed -n 's/^MemTotal: *//p' /proc/meminfo")
    try:
        f["memory"] = "%.1f GiB" % (int(mt.split()[0]) / 1048576.0)
    except (ValueError, IndexError):
        f["memory"] = mt
    f["kernel"] = platform.release()
    f["os"] = sh(". /etc/os-release && echo $PRETTY_NAME")
    f["nginx"] = sh("(nginx -v 2>&1 || /usr/sbin/nginx -v 2>&1) | sed 's/^nginx version: //'")
    f["redis"] = sh("redis-server --version | sed -n 's/.* v=\\([^ ]*\\).*/\\1/p'")
    f["libfcgi"] = sh("dpkg-query -W -f='${Version}' libfcgi0ldbl 2>/dev/null || pkg-config --modversion fcgi")
    f["hiredis"] = sh("dpkg-query -W -f='${Version}' libhiredis0.14 2>/dev/null || pkg-config --modversion hiredis")
    f["wrk"] = sh("wrk -v 2>&1 | head -1 | awk '{print $2}'")
    f["python"] = platform.python_version()
    f["worker"] = sh("%s --version" % bs.WORKER)
    rev = sh("cd %s && git rev-parse --short HEAD" % REPO)
    dirty = sh("cd %s && git status --porcelain -- fcgi sql | head -1" % REPO)
    f["revision"] = rev + (" (fcgi/ or sql/ modified)" if dirty else "")
    f["cflags"] = sh("sed -n \"s/^CFLAGS = //p\" %s/build-bench/Makefile" % REPO)
    f["nofile"] = sh("ulimit -Hn")
    return f


# -- CPU accounting ------------------------------------------------------------

def proc_stat_busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal
    return v[0] + v[1] + v[2] + v[5] + v[6] + v[7], v[7]


class CpuMeter:
    """CPU seconds used by each group of processes over an interval, the
    waited-for children of this process (wrk, drivers) and everything else
    on the machine (other users of the 2 cores)."""

    def __init__(self, stack):
        self.st = stack
        self.hz = os.sysconf("SC_CLK_TCK")

    def _groups(self):
        return {"nginx": self.st.nginx_pids(), "workers": self.st.worker_pids(),
                "redis": [self.st.redis_pid()]}

    def _snap(self):
        g = {k: sum(bs.cpu_ticks(p) for p in v) for k, v in self._groups().items()}
        t = os.times()
        busy, steal = proc_stat_busy()
        return g, t.children_user + t.children_system, busy, steal, time.monotonic()

    def start(self):
        self.s0 = self._snap()
        self.self0 = sum(os.times()[:2])

    def stop(self):
        g1, ch1, busy1, steal1, t1 = self._snap()
        g0, ch0, busy0, steal0, t0 = self.s0
        out = {k: (g1[k] - g0[k]) / self.hz for k in g1}
        out["client"] = ch1 - ch0 + (sum(os.times()[:2]) - self.self0)
        total = (busy1 - busy0) / self.hz
        out["other"] = max(0.0, total - sum(out.values()))
        out["steal"] = (steal1 - steal0) / self.hz
        out["wall"] = t1 - t0
        return out


# -- wrk -------------------------------------------------------------------------

def wrk(url, script, args=(), threads=2, conns=32, seconds=6, timeout_s=5):
    cmd = ["wrk", "-t", str(threads), "-c", str(conns), "-d", "%ds" % seconds,
           "--timeout", "%ds" % timeout_s, "-s", os.path.join(LUA, script), url]
    if args:
        cmd += ["--"] + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30)
    for line in r.stdout.splitlines():
        if line.startswith("BENCH "):
            d = json.loads(line[6:])
            d["rps"] = d["requests"] / (d["duration_us"] / 1e6)
            return d
    raise RuntimeError("wrk gave no summary: %s %s" % (r.stdout[-500:], r.stderr[-500:]))


def disturbance(cpu):
    """Share of the CPU used during a measurement that was not ours."""
    ours = sum(cpu[k] for k in ("nginx", "workers", "redis", "client"))
    return cpu["other"] / max(1e-9, ours + cpu["other"])


DISTURBED = 0.2


def measured_wrk(stack, path, script, args=(), retry=True, **kw):
    """wrk with CPU accounting. A measurement during which other users of
    the machine took more than DISTURBED of the CPU is taken once more (after
    a pause) and the less disturbed of the two kept."""
    m = CpuMeter(stack)
    m.start()
    d = wrk("http://127.0.0.1:%d%s" % (stack.port, path), script, args, **kw)
    d["cpu"] = m.stop()
    n = max(1, d["requests"])
    d["cpu_us"] = {k: d["cpu"][k] * 1e6 / n for k in ("nginx", "workers", "redis", "client", "other")}
    d["disturbed"] = disturbance(d["cpu"])
    if retry and d["disturbed"] > DISTURBED:
        log("  (other processes took %.0f%% of the CPU during that measurement: once more)" % (d["disturbed"] * 100))
        time.sleep(3)
        d2 = measured_wrk(stack, path, script, args, retry=False, **kw)
        d2["retried"] = True
        return d2 if d2["disturbed"] < d["disturbed"] else dict(d, retried=True)
    return d


def write_sessions(stack, n, prefix):
    names = ["%s%d" % (prefix, i) for i in range(n)]
    sess = hf.register_many(stack.port, stack.token, names)
    path = os.path.join(stack.rundir, "sessions-%s.txt" % prefix)
    with open(path, "w") as f:
        for nm in names:
            f.write("%s %s\n" % (nm, sess[nm]))
    return path


# -- phase 1: throughput -------------------------------------------------------

def phase_throughput(R, cfg):
    """Each heartbeat measurement has its own ceiling, measured just before
    it on the same stack: other users of the machine come and go, and a
    ratio of two numbers taken a minute apart would measure them."""
    out = R.setdefault("throughput", {"runs": []})
    runs = out["runs"]
    secs = cfg.seconds
    plan = [(1, 4)] + [(1, t) for t in cfg.threads_1w if t != 4] + [(2, 4), (4, 4)] + list(cfg.extra_hb)
    first = True
    for nw, thr in plan:
        st = bs.Stack(workers=nw, worker_args=["--max-realms-per-ip", "0", "--threads", str(thr)],
                      nginx_opts=NGINX_BASE).start()
        try:
            sess = write_sessions(st, 256, "hb")
            d = measured_wrk(st, "/fixed", "fixed.lua", seconds=secs)
            ceiling = d["rps"]
            runs.append(dict(kind="fixed", workers=nw, threads=thr, ceiling=ceiling, **d))
            log("ceiling (nginx /fixed): %.0f req/s p50 %.2f ms p99 %.2f ms"
                % (d["rps"], d["p50_us"] / 1e3, d["p99_us"] / 1e3))
            if first:
                d = measured_wrk(st, "/v1/x/nope", "fixed.lua", seconds=secs)
                runs.append(dict(kind="404", workers=nw, threads=thr, ceiling=ceiling, **d))
                log("404 from the worker (no Redis): %.0f req/s p50 %.2f ms (%d answers, %d of them non-2xx)"
                    % (d["rps"], d["p50_us"] / 1e3, d["requests"], d["err_status"]))
                first = False
            d = measured_wrk(st, "/", "heartbeat.lua", [sess], seconds=secs)
            runs.append(dict(kind="heartbeat", workers=nw, threads=thr, ceiling=ceiling, **d))
            log("heartbeat, %d worker(s) x %d threads: %.0f req/s (%.2f of the ceiling) p50 %.2f ms "
                "p99 %.2f ms errors %d" % (nw, thr, d["rps"], d["rps"] / ceiling, d["p50_us"] / 1e3,
                                           d["p99_us"] / 1e3, wrk_errors(d)))
        finally:
            st.stop()


def wrk_errors(d):
    return d["err_connect"] + d["err_read"] + d["err_write"] + d["err_status"] + d["err_timeout"]


# -- phase 2: churn ------------------------------------------------------------

def phase_churn(R, cfg):
    out = R.setdefault("churn", [])
    for nw in (1, 2):
        st = bs.Stack(workers=nw, worker_args=["--max-realms-per-ip", "0", "--max-realms", "0"],
                      nginx_opts=NGINX_BASE).start()
        try:
            d = measured_wrk(st, "/", "churn.lua", [st.token, "c%d" % nw], threads=8, conns=8,
                             seconds=cfg.seconds)
            d["pairs_s"] = d["pairs"] / (d["duration_us"] / 1e6)
            d["workers"] = nw
            live = st.redis("ZCARD", "hr:realms")
            d["left_registered"] = live
            out.append(d)
            log("churn, %d worker(s): %.0f register+deregister pairs/s (p50 %.2f ms per request), failed %d %s"
                % (nw, d["pairs_s"], d["p50_us"] / 1e3, d["bad"], d.get("bad_codes", "").strip()))
        finally:
            st.stop()


# -- phase 3: rendezvous -------------------------------------------------------

def run_rdv(st, sessions, procs, slots, seconds):
    names = list(sessions)
    start_at = time.monotonic() + 1.5 + 0.002 * len(names)
    ps = []
    m = CpuMeter(st)
    for p in range(procs):
        c = {"port": st.port, "token": st.token,
             "realms": [[n, sessions[n]] for n in names[p::procs]],
             "slots": slots, "duration": seconds, "warmup": 0.5, "start_at": start_at,
             "source": "127.9.0.%d" % (2 + p), "max_trips": 200000}
        pr = subprocess.Popen([sys.executable, os.path.join(HERE, "rdv.py")], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=HERE)
        pr.stdin.write(json.dumps(c))
        pr.stdin.close()
        ps.append(pr)
    time.sleep(max(0, start_at - time.monotonic()))
    m.start()
    lat, punch, errors = [], [], {}
    all_trips = 0
    for pr in ps:
        txt = pr.stdout.read()          # the driver stops itself (duration + 15 s at most)
        pr.wait(30)
        if pr.returncode != 0 or not txt:
            raise RuntimeError("rdv.py exited with %s" % pr.returncode)
        r = json.loads(txt)
        all_trips += r["all_trips"]
        lat += r["lat_us"]
        punch += r["punch_us"]
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    cpu = m.stop()
    lat.sort()
    punch.sort()
    n = max(1, all_trips)
    return {"procs": procs, "slots": slots, "in_flight": procs * slots, "trips": len(lat),
            "trips_s": len(lat) / seconds, "p50_us": pct(lat, 50), "p90_us": pct(lat, 90),
            "p99_us": pct(lat, 99), "max_us": lat[-1] if lat else None,
            "punch_p50_us": pct(punch, 50), "punch_p99_us": pct(punch, 99), "errors": errors,
            "disturbed": disturbance(cpu),
            "cpu_us": {k: cpu[k] * 1e6 / n for k in ("nginx", "workers", "redis", "client", "other")}}


def measured_rdv(st, sessions, procs, slots, seconds):
    d = run_rdv(st, sessions, procs, slots, seconds)
    if d["disturbed"] > DISTURBED:
        log("  (other processes took %.0f%% of the CPU during that measurement: once more)" % (d["disturbed"] * 100))
        time.sleep(3)
        d2 = run_rdv(st, sessions, procs, slots, seconds)
        d2["retried"] = d["retried"] = True
        return d2 if d2["disturbed"] < d["disturbed"] else d
    return d


def phase_rendezvous(R, cfg):
    out = R.setdefault("rendezvous", [])
    for nw, loads in ((1, [(1, 1), (2, 4)]), (2, [(1, 1), (2, 4), (2, 16)])):
        st = bs.Stack(workers=nw, worker_args=["--max-realms-per-ip", "0"], nginx_opts=NGINX_BASE).start()
        try:
            names = ["rv%d" % i for i in range(256)]
            sessions = hf.register_many(st.port, st.token, names)
            for procs, slots in loads:
                d = measured_rdv(st, sessions, procs, slots, cfg.seconds)
                d["workers"] = nw
                out.append(d)
                log("rendezvous, %d worker(s), %d in flight: %.0f round trips/s p50 %.2f ms p99 %.2f ms "
                    "(punch seen after p50 %.2f ms) errors %s"
                    % (nw, d["in_flight"], d["trips_s"], d["p50_us"] / 1e3, d["p99_us"] / 1e3,
                       d["punch_p50_us"] / 1e3, d["errors"] or "none"))
        finally:
            st.stop()


# -- phase 4: idle streams -----------------------------------------------------

def mem_snapshot(st):
    nginx = {p: bs.rss_kib(p) for p in st.nginx_pids()}
    workers = {p: bs.rss_kib(p) for p in st.worker_pids()}
    redis = bs.rss_kib(st.redis_pid())
    slab = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("Slab:"):
                slab = int(line.split()[1])
    return {"nginx": sum(nginx.values()), "workers": sum(workers.values()), "redis": redis,
            "nginx_each": nginx, "workers_each": workers, "slab": slab}


class Probe:
    """A realm whose stream the bench holds itself, to time punches."""

    def __init__(self, st, name, sid):
        self.st, self.name, self.sid = st, name, sid
        self.sock = socket.create_connection(("127.0.0.1", st.port), timeout=10)
        self.sock.sendall(hf.req_bytes("GET", "/v1/%s/events" % name, sid))
        buf = b""
        while b"\r\n\r\n" not in buf:
            c = self.sock.recv(4096)
            if not c:
                raise RuntimeError("probe stream closed")
            buf += c
        if not buf.startswith(b"HTTP/1.1 200"):
            raise RuntimeError("probe stream: %r" % buf[:100])

    def punch(self):
        """Connect, time the punch on the stream, answer, time the return."""
        nonce = os.urandom(16).hex()
        body = '{"addresses":["198.51.100.20:5000"],"nonce":"%s","obfs":"%s"}' % (nonce, os.urandom(32).hex())
        c = socket.create_connection(("127.0.0.1", self.st.port), timeout=15)
        a = socket.create_connection(("127.0.0.1", self.st.port), timeout=15)
        try:
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            a.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            t0 = time.monotonic()
            c.sendall(hf.req_bytes("POST", "/v1/%s/connect" % self.name, self.st.token, body))
            buf = b""
            self.sock.settimeout(5)
            while nonce.encode() not in buf:
                d = self.sock.recv(65536)
                if not d:
                    raise RuntimeError("probe stream closed")
                buf = (buf + d)[-4096:]
            t_punch = time.monotonic()
            a.sendall(hf.req_bytes("POST", "/v1/%s/connects/%s" % (self.name, nonce), self.sid,
                                   '{"addresses":["192.0.2.50:7000"]}'))
            rb = b""
            while hf.parse_response(rb) is None:
                d = c.recv(65536)
                if not d:
                    break
                rb += d
            t1 = time.monotonic()
            r = hf.parse_response(rb)
            ok = r is not None and r[0] == 200 and b"192.0.2.50:7000" in r[1]
            return (t_punch - t0) * 1e3, (t1 - t0) * 1e3, ok
        finally:
            c.close()
            a.close()

    def close(self):
        self.sock.close()


_SRC = [0]


def source_ips():
    """Two loopback source addresses not used before in this run: ports of
    the previous runs' client sockets linger in TIME_WAIT for a minute, and
    bind() crawls through a nearly full ephemeral range."""
    _SRC[0] += 1
    return ["127.%d.%d.2" % (10 + _SRC[0], k) for k in range(2)]


def streams_run(label, nworkers, n, opts, nprobes=5):
    wopts = dict(opts)
    wopts.setdefault("worker_processes", 2)
    st = bs.Stack(workers=nworkers,
                  worker_args=["--max-realms-per-ip", "0", "--max-realms", "0", "--session-ttl", "3600"],
                  nginx_opts=wopts).start()
    holders = []
    probes = []
    res = {"label": label, "workers": nworkers, "target": n}
    try:
        names = ["s%d" % i for i in range(n)]
        t = time.monotonic()
        sess = hf.register_many(st.port, st.token, names + ["probe%d" % i for i in range(nprobes)],
                                conns=8, depth=16)
        res["register_s"] = time.monotonic() - t
        probes = [Probe(st, "probe%d" % i, sess["probe%d" % i]) for i in range(nprobes)]
        time.sleep(1.0)
        base = mem_snapshot(st)
        t = time.monotonic()
        srcs = source_ips()
        for p in range(2):
            c = {"port": st.port, "realms": [[nm, sess[nm]] for nm in names[p::2]],
                 "source": srcs[p], "opening": 256, "hold_max": 180, "open_timeout": 90}
            pr = subprocess.Popen([sys.executable, os.path.join(HERE, "holder.py")], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, bufsize=1, cwd=HERE)
            pr.stdin.write(json.dumps(c) + "\n")
            pr.stdin.flush()
            holders.append(pr)
        ok = failed = 0
        why = {}
        for pr in holders:
            line = pr.stdout.readline().strip()
            m = re.match(r"OPEN ok=(\d+) failed=(\d+) seconds=([\d.]+) why=(.*)", line)
            if not m:
                raise RuntimeError("holder said %r" % line)
            ok += int(m.group(1))
            failed += int(m.group(2))
            for k, v in json.loads(m.group(4)).items():
                why[k] = why.get(k, 0) + v
        res["open_s"] = time.monotonic() - t
        res["opened"], res["failed"], res["fail_why"] = ok, failed, why
        time.sleep(2.0)
        after = mem_snapshot(st)
        res["base"], res["after"] = base, after
        res["fds_nginx"] = [bs.fd_count(p) for p in st.nginx_worker_pids()]
        res["fds_workers"] = [bs.fd_count(p) for p in st.worker_pids()]
        try:
            info = st.redis("INFO", "clients") + st.redis("INFO", "memory") + st.redis("INFO", "stats")
            res["redis_pubsub_channels"] = int(re.search(r"pubsub_channels:(\d+)", info).group(1))
        except Exception:
            res["redis_pubsub_channels"] = None
        # punches while every stream is open
        res["probes"] = []
        for p in probes:
            res["probes"].append(p.punch())
        for pr in holders:
            pr.stdin.write("check\n")
            pr.stdin.flush()
        alive = 0
        for pr in holders:
            m = re.match(r"ALIVE (\d+)", pr.stdout.readline().strip())
            alive += int(m.group(1)) if m else 0
        res["alive_at_end"] = alive
        for pr in holders:
            pr.stdin.write("stop\n")
            pr.stdin.flush()
        for pr in holders:
            pr.stdout.readline()
            pr.wait(30)
        time.sleep(1.0)
        res["closed"] = mem_snapshot(st)
        k = max(1, ok)
        res["per_stream"] = {g: (after[g] - base[g]) * 1024.0 / k for g in ("nginx", "workers", "redis", "slab")}
        res["per_stream"]["stack"] = res["per_stream"]["nginx"] + res["per_stream"]["workers"] + \
            res["per_stream"]["redis"]
        res["nginx_conf_lines"] = [l.strip() for l in st.nginx_conf_text.splitlines()
                                   if re.match(r"\s*(fastcgi_buffer_size|client_header_buffer_size|"
                                               r"request_pool_size|worker_connections|worker_processes|"
                                               r"worker_rlimit_nofile|listen)\b", l)]
    finally:
        for pr in holders:
            if pr.poll() is None:
                try:
                    pr.stdin.close()
                except OSError:
                    pass
                try:
                    pr.wait(10)
                except subprocess.TimeoutExpired:
                    pr.kill()
                    pr.wait()
        for p in probes:
            p.close()
        st.stop()
    ps = res["per_stream"]
    pr_ms = [x[0] for x in res["probes"]]
    log("streams %s: %d workers, %d open (%d failed) in %.1f s; per stream: worker %.0f B, nginx %.0f B, "
        "redis %.0f B, stack %.0f B; punch %s ms"
        % (label, nworkers, res["opened"], res["failed"], res["open_s"], ps["workers"], ps["nginx"],
           ps["redis"], ps["stack"], "/".join("%.1f" % x for x in pr_ms)))
    return res


def phase_streams(R, cfg):
    out = R.setdefault("streams", {"variants": [], "max": []})
    for key, desc, opts in VARIANTS:
        if key not in cfg.variants:
            continue
        r = streams_run(key, 1, cfg.variant_streams, opts)
        r["desc"] = desc
        out["variants"].append(r)
    best = [o for k, _, o in VARIANTS if k == BEST][0]
    for nw in (1, 2):
        opts = dict(best)
        opts["worker_connections"] = cfg.max_worker_connections
        r = streams_run("%s, worker_connections %d" % (BEST, cfg.max_worker_connections), nw,
                        cfg.max_streams, opts)
        out["max"].append(r)


# -- phase 5: profile ----------------------------------------------------------

def perf_available():
    return shutil.which("perf") is not None and \
        subprocess.run(["perf", "stat", "-e", "raw_syscalls:sys_enter", "true"],
                       capture_output=True).returncode == 0


def perf_stat_groups(stack, seconds, load):
    """Run load() while counting syscalls and context switches of each group."""
    groups = {"nginx": stack.nginx_pids(), "workers": stack.worker_pids(), "redis": [stack.redis_pid()]}
    procs = {}
    for g, pids in groups.items():
        procs[g] = subprocess.Popen(
            ["perf", "stat", "-x", ",", "-e", "raw_syscalls:sys_enter,context-switches",
             "-p", ",".join(str(p) for p in pids), "--", "sleep", str(seconds + 1)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    d = load()
    out = {}
    for g, p in procs.items():
        err = p.communicate(timeout=seconds + 20)[1]
        vals = {}
        for line in err.splitlines():
            parts = line.split(",")
            if len(parts) > 2 and parts[0].strip().isdigit():
                vals[parts[2]] = int(parts[0])
        out[g] = vals
    return d, out


def phase_profile(R, cfg):
    prof = R.setdefault("profile", {})
    st = bs.Stack(workers=1, worker_args=["--max-realms-per-ip", "0", "--threads", "4"],
                  nginx_opts=NGINX_BASE).start()
    try:
        sess = write_sessions(st, 256, "pf")
        url = "http://127.0.0.1:%d" % st.port
        if perf_available():
            for kind, path, script, args in (("heartbeat", "/", "heartbeat.lua", [sess]),
                                             ("fixed", "/fixed", "fixed.lua", [])):
                d, counts = perf_stat_groups(st, 4, lambda: wrk(url + path, script, args, seconds=4))
                n = max(1, d["requests"])
                prof.setdefault("syscalls", {})[kind] = {
                    g: {"syscalls": v.get("raw_syscalls:sys_enter", 0) / n,
                        "ctxsw": v.get("context-switches", 0) / n} for g, v in counts.items()}
                prof["syscalls"][kind]["rps"] = d["rps"]
            # where the CPU goes, system wide, under heartbeat load
            data = os.path.join(st.rundir, "perf.data")
            w = subprocess.Popen(["wrk", "-t", "2", "-c", "32", "-d", "6s", "-s",
                                  os.path.join(LUA, "heartbeat.lua"), url, "--", sess],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
            # only our processes: other users of the machine run nginx, redis
            # and workers of the same names
            pids = st.nginx_pids() + st.worker_pids() + [st.redis_pid(), w.pid]
            subprocess.run(["perf", "record", "-F", "997", "-p", ",".join(str(p) for p in pids),
                            "-o", data, "--", "sleep", "4"], capture_output=True, timeout=60)
            w.wait(30)
            rep = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "comm,dso",
                                  "--stdio", "-g", "none", "--percent-limit", "0.7"],
                                 capture_output=True, text=True, timeout=120).stdout
            prof["perf_comm_dso"] = [l.rstrip() for l in rep.splitlines() if l.strip() and not l.startswith("#")][:30]
            rep = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "comm,sym",
                                  "--stdio", "-g", "none", "--percent-limit", "0.4"],
                                 capture_output=True, text=True, timeout=120).stdout
            prof["perf_sym"] = [l.rstrip() for l in rep.splitlines() if l.strip() and not l.startswith("#")][:40]
            log("profile: perf done")
        else:
            prof["perf"] = "perf not usable here"
    finally:
        st.stop()
    if cfg.callgrind and shutil.which("valgrind"):
        callgrind(prof, cfg)


def callgrind(prof, cfg):
    """The worker under callgrind, a short heartbeat load at low concurrency."""
    import tempfile
    rundir = tempfile.mkdtemp(prefix="rr-bench-cg-")
    st = bs.Stack(workers=1, worker_args=["--max-realms-per-ip", "0", "--threads", "4"],
                  nginx_opts=NGINX_BASE, rundir=rundir)
    real = bs.WORKER
    out = os.path.join(rundir, "callgrind.out")
    wrapper = os.path.join(rundir, "worker-under-callgrind")
    try:
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file=%s %s \"$@\"\n" % (out, real))
        os.chmod(wrapper, 0o755)
        bs.WORKER = wrapper
        st.start()
        sess = write_sessions(st, 64, "cg")
        url = "http://127.0.0.1:%d" % st.port
        d = wrk(url + "/", "heartbeat.lua", [sess], threads=1, conns=4, seconds=4, timeout_s=10)
        prof["callgrind_requests"] = d["requests"]
        st.stop_nginx()
        st.stop_workers()        # SIGTERM: callgrind writes its output
        inc = subprocess.run(["callgrind_annotate", "--inclusive=yes", out], capture_output=True,
                             text=True, timeout=120).stdout
        seen, incl = set(), []
        for l in inc.splitlines():
            m = re.match(r"\s*([\d,]+ \(\s*[\d.]+%\))\s+\S*?(fcgi/\w+\.c:\w+)", l)
            if m and m.group(2) not in seen:
                seen.add(m.group(2))
                incl.append("%22s  %s" % (m.group(1), m.group(2)))
        prof["callgrind_inclusive"] = incl[:16]
        ann = subprocess.run(["callgrind_annotate", "--inclusive=no", out], capture_output=True,
                             text=True, timeout=120).stdout
        top, started = [], False
        for l in ann.splitlines():
            if "PROGRAM TOTALS" in l:
                prof["callgrind_total"] = l.strip()
            if "file:function" in l:
                started = True
                continue
            if started and l.strip() and not set(l.strip()) <= set("-"):
                top.append(l.rstrip())
            if len(top) >= 25:
                break
        prof["callgrind_top"] = top
        log("profile: callgrind done (%d requests under callgrind)" % d["requests"])
    except Exception as e:
        prof["callgrind_error"] = str(e)
    finally:
        bs.WORKER = real
        st.stop()
        shutil.rmtree(rundir, ignore_errors=True)


# -- phase 6: the worker's close fix (ca2f70b), A/B -------------------------------

# The A/B builds: the tree as it is (the fix applied) and the tree with
# ab/close-handshake.patch reversed (the worker as it was before the fix).
AB_APPLIED = "applied"
AB_BEFORE = "before the fix"


def build_pair(patch):
    """One snapshot of the source tree (working tree, no .git, no build dirs),
    built twice like build-bench: as it is (the fix applied), then with the
    patch reversed (before the fix), so that both builds differ by the patch
    only even while others edit the tree. Returns (binary before the fix,
    binary as is)."""
    top = os.path.join(REPO, "build-bench", "ab")
    src = os.path.join(top, "src")
    shutil.rmtree(top, ignore_errors=True)
    os.makedirs(src)
    # build dirs (anything configured: build/, build-test/, build-bench/) stay out; build-aux/ is needed
    skip = ["./.git", "./run"] + ["./" + d for d in os.listdir(REPO)
                                  if d.startswith("build") and os.path.exists(os.path.join(REPO, d, "config.status"))]
    subprocess.run("tar -C %s %s -cf - . | tar -C %s -xf -"
                   % (REPO, " ".join("--exclude=%s" % x for x in skip), src), shell=True, check=True, timeout=120)

    def build(name):
        b = os.path.join(top, name)
        os.makedirs(b)
        r = subprocess.run("../src/configure CFLAGS='-O2 -g' >/dev/null && make -j2 hysteria-realm-fcgi >/dev/null",
                           shell=True, cwd=b, capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError("the %s tree does not build: %s" % (name, r.stderr[-300:]))
        return os.path.join(b, "hysteria-realm-fcgi")

    applied = build("applied")
    r = subprocess.run(["patch", "-R", "-p1", "--no-backup-if-mismatch", "-i", patch], cwd=src,
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("the patch does not reverse on this tree (fcgi/request.c changed since ca2f70b?): %s"
                           % (r.stdout + r.stderr).strip()[:300])
    return build("before"), applied


def phase_ab(R, cfg):
    patch = os.path.join(HERE, "ab", "close-handshake.patch")
    out = R.setdefault("ab", {"patch": os.path.relpath(patch, REPO), "reversed": True, "runs": []})
    try:
        before, applied = build_pair(patch)
    except (RuntimeError, subprocess.SubprocessError) as e:
        out["error"] = str(e)
        log("A/B skipped: %s" % e)
        return
    log("built the worker as is (fix applied) and with the fix reversed, from one snapshot of the tree")
    real = bs.WORKER
    try:
        for rnd in range(cfg.ab_rounds):
            for label, binary in ((AB_BEFORE, before), (AB_APPLIED, applied)):
                bs.WORKER = binary
                for thr in (1, 4):
                    st = bs.Stack(workers=1, worker_args=["--max-realms-per-ip", "0", "--threads", str(thr)],
                                  nginx_opts=NGINX_BASE).start()
                    try:
                        sess = write_sessions(st, 256, "ab")
                        def once():
                            if perf_available():
                                return perf_stat_groups(st, cfg.seconds, lambda: measured_wrk(
                                    st, "/", "heartbeat.lua", [sess], retry=False, seconds=cfg.seconds))
                            return measured_wrk(st, "/", "heartbeat.lua", [sess], retry=False,
                                                seconds=cfg.seconds), {}
                        d, counts = once()
                        if d["disturbed"] > DISTURBED:
                            log("  (other processes took %.0f%% of the CPU during that measurement: once more)"
                                % (d["disturbed"] * 100))
                            time.sleep(3)
                            d2, c2 = once()
                            if d2["disturbed"] < d["disturbed"]:
                                d, counts = d2, c2
                            d["retried"] = True
                        n = max(1, d["requests"])
                        d["per_req"] = {g: {"syscalls": v.get("raw_syscalls:sys_enter", 0) / n,
                                            "ctxsw": v.get("context-switches", 0) / n} for g, v in counts.items()}
                        out["runs"].append(dict(round=rnd + 1, build=label, threads=thr, **d))
                        log("A/B round %d, %s, 1 x %d: %.0f req/s p50 %.2f ms, worker %.1f syscalls %.2f ctx "
                            "switches per request" % (rnd + 1, label, thr, d["rps"], d["p50_us"] / 1e3,
                                                      d["per_req"].get("workers", {}).get("syscalls", 0),
                                                      d["per_req"].get("workers", {}).get("ctxsw", 0)))
                    finally:
                        st.stop()
    finally:
        bs.WORKER = real


# -- report ----------------------------------------------------------------------

def callgrind_total(pf):
    m = re.match(r"([\d,]+)", pf.get("callgrind_total", ""))
    return int(m.group(1).replace(",", "")) if m else 0


def mark(d):
    """A dagger for a measurement that other users of the machine disturbed."""
    return " †" if d.get("disturbed", 0) > DISTURBED else ""


def fmt_ms(us):
    return "-" if us is None else "%.2f" % (us / 1e3)


def report(R, facts, cfg):
    L = []
    A = L.append
    A("# Benchmark results")
    A("")
    A("Written by `tests/bench/run` (%s, %.0f s). Re-run it to refresh; numbers from"
      % (R.get("when") or time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
         R.get("elapsed_s") or time.monotonic() - T_START))
    A("different runs are not comparable (see the machine notes), ratios within one run are.")
    A("")
    A("## Machine")
    A("")
    A("| | |")
    A("|---|---|")
    for k, lab in (("nproc", "nproc"), ("cpu", "CPU"), ("virtualised", "virtualised"), ("memory", "memory"),
                   ("kernel", "kernel"), ("os", "OS"), ("nginx", "nginx"), ("redis", "Redis"),
                   ("libfcgi", "libfcgi"), ("hiredis", "hiredis"), ("wrk", "wrk"), ("python", "Python"),
                   ("worker", "worker"), ("revision", "git revision"), ("cflags", "worker CFLAGS"),
                   ("nofile", "hard RLIMIT_NOFILE")):
        A("| %s | %s |" % (lab, facts.get(k, "")))
    A("")
    A("wrk, nginx (2 worker processes), the FastCGI workers, Redis and the Python drivers all share")
    A("these %s cores: every number below is what is left after the load generator took its part." % facts.get("nproc"))
    bg = R.get("background")
    if bg is not None:
        A("Before the run, other processes used %.0f%% of one core (CPU not ours, measured over 2 s%s);"
          % (bg * 100, ", after waiting %d s for the machine to calm down" % R["waited_s"] if R.get("waited_s") else ""))
        A("the `other` column below is that share during each measurement (other users of the machine).")
    A("A measurement during which they took more than %d%% of the CPU is repeated once and the less disturbed"
      % (DISTURBED * 100))
    A("of the two kept; one still above that is marked †: read it with care.")
    A("")

    L.extend(summary(R))
    tp = R.get("throughput")
    if tp:
        runs = tp["runs"]
        A("## 1. Heartbeat throughput")
        A("")
        A("wrk -t2 -c32, %d s each, `POST /v1/{name}/heartbeat` with `Authorization: Bearer <session>` and"
          % cfg.seconds)
        A("body `{}` over 256 realms (`lua/heartbeat.lua`). The ceiling is nginx answering `location = /fixed`")
        A("itself (`return 200 '{\"ttl\":60}\\n'`) on the same stack just before each heartbeat run; `404 via")
        A("worker` is `GET /v1/x/nope`, answered by a worker without Redis (nginx + FastCGI only). CPU columns:")
        A("CPU time per request in microseconds from /proc (`client` = wrk; `other` = processes that are not")
        A("part of the bench: other users of the machine; rows where it is large are disturbed).")
        A("")
        A("| what | workers x --threads | req/s | vs ceiling | p50 ms | p99 ms | non-2xx / errors | nginx | worker | redis | client | other |")
        A("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in runs:
            what = {"fixed": "ceiling (nginx /fixed)", "404": "404 via worker", "heartbeat": "**heartbeat**"}[r["kind"]]
            c = r["cpu_us"]
            A("| %s | %d x %d | %.0f%s | %.2f | %s | %s | %d | %.0f | %.0f | %.0f | %.0f | %.0f |"
              % (what, r["workers"], r["threads"], r["rps"], mark(r), r["rps"] / r["ceiling"], fmt_ms(r["p50_us"]),
                 fmt_ms(r["p99_us"]), wrk_errors(r), c["nginx"], c["workers"], c["redis"], c["client"],
                 c["other"]))
        hb = [r for r in runs if r["kind"] == "heartbeat"]
        if hb:
            bestr = max(hb, key=lambda r: r["rps"] / r["ceiling"])
            met = bestr["rps"] >= bestr["ceiling"] / 2
            A("")
            A("**Target heartbeat >= half the ceiling: %s** (best ratio %.2f: %.0f req/s with %d x %d against a "
              "ceiling of %.0f measured just before)."
              % ("met" if met else "missed", bestr["rps"] / bestr["ceiling"], bestr["rps"], bestr["workers"],
                 bestr["threads"], bestr["ceiling"]))
            nf = [r for r in runs if r["kind"] == "404"]
            if nf:
                A("A request that reaches a worker but not Redis already gets %.2f of the ceiling (`404 via worker`)."
                  % (nf[0]["rps"] / nf[0]["ceiling"]))
        A("")

    ch = R.get("churn")
    if ch:
        A("## 2. Register + deregister churn")
        A("")
        A("wrk -t8 -c8 (one connection per thread, so each answer belongs to the request just sent),")
        A("`lua/churn.lua`: register a unique name, take `session_id` from the answer, `DELETE` it;")
        A("`--max-realms-per-ip 0 --max-realms 0`.")
        A("")
        A("| workers | pairs/s | requests/s | p50 ms | p99 ms | failed | nginx | worker | redis | client | other |")
        A("|---|---|---|---|---|---|---|---|---|---|---|")
        for d in ch:
            c = d["cpu_us"]
            A("| %d | %.0f%s | %.0f | %s | %s | %d | %.0f | %.0f | %.0f | %.0f | %.0f |"
              % (d["workers"], d["pairs_s"], mark(d), d["rps"], fmt_ms(d["p50_us"]), fmt_ms(d["p99_us"]),
                 d["bad"] + wrk_errors(d), c["nginx"], c["workers"], c["redis"], c["client"], c["other"]))
        A("")
        A("(CPU per request, not per pair; a pair is two requests.)")
        for d in ch:
            if d.get("bad"):
                A("Failed with %d worker%s: %s (request:status, the first few)."
                  % (d["workers"], "s" if d["workers"] > 1 else "", d.get("bad_codes", "").strip() or "?"))
        A("")

    rv = R.get("rendezvous")
    if rv:
        A("## 3. Rendezvous round trips")
        A("")
        A("`rdv.py`: per round trip, measured by the client: `POST /v1/{name}/connect` -> the punch")
        A("arrives on the holder's event stream -> the holder posts `connects/{nonce}` at once -> the")
        A("connect returns 200 with the holder's answer (checked). 256 realms, one stream each, every")
        A("in-flight round trip on a different realm (far from the cap of 16 per realm); keep-alive")
        A("connections; 1 or 2 driver processes (single-threaded selectors loops). %d s each."
          % cfg.seconds)
        A("")
        A("| workers | in flight | round trips/s | p50 ms | p90 ms | p99 ms | max ms | punch seen p50 ms | errors | CPU us/trip nginx | worker | redis | driver | other |")
        A("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for d in rv:
            c = d["cpu_us"]
            A("| %d | %d | %.0f%s | %s | %s | %s | %s | %s | %s | %.0f | %.0f | %.0f | %.0f | %.0f |"
              % (d["workers"], d["in_flight"], d["trips_s"], mark(d), fmt_ms(d["p50_us"]), fmt_ms(d["p90_us"]),
                 fmt_ms(d["p99_us"]), fmt_ms(d["max_us"]), fmt_ms(d["punch_p50_us"]),
                 sum(d["errors"].values()) if d["errors"] else 0, c["nginx"], c["workers"], c["redis"],
                 c["client"], c["other"]))
        one = [d for d in rv if d["in_flight"] == 1]
        if one:
            worst = max(d["p50_us"] for d in one)
            A("")
            A("**Target p50 <= 2 ms: %s** (p50 at 1 in flight: %s ms)."
              % ("met" if worst <= 2000 else "missed", " / ".join(fmt_ms(d["p50_us"]) for d in one)))
            loaded = [d for d in rv if d["in_flight"] > 1]
            if loaded:
                A("Under load the p50 is the queue in front of the saturated cores, not the path: "
                  "%s." % ", ".join("%d worker%s, %d in flight -> %s ms" % (d["workers"], "s" if d["workers"] > 1 else "",
                                                                            d["in_flight"], fmt_ms(d["p50_us"]))
                                    for d in loaded))
        A("")

    sm = R.get("streams")
    if sm:
        A("## 4. Idle event streams")
        A("")
        A("One realm per stream (`--session-ttl 3600`, no heartbeats needed), `holder.py` x 2 processes")
        A("(each raises RLIMIT_NOFILE to its hard limit and binds its own loopback source address),")
        A("streams opened 256 at a time and held without reading. RSS: VmRSS after the streams are")
        A("open (2 s to settle) minus VmRSS before, divided by the streams opened; nginx = master +")
        A("2 worker processes. `kernel` is the growth of the kernel's Slab (socket structures of")
        A("both ends, client sockets included): not part of the targets, shown for sizing.")
        A("After each measurement %d punches are timed on streams the bench holds itself"
          % 5)
        A("(connect -> punch on the stream; then the answer and the connect's return).")
        A("")
        A("| run | workers | streams | failed | open s | worker B/stream | nginx B/stream | redis B/stream | stack B/stream | kernel B/stream | punch ms (each) | round trip ms max | nginx fds | worker fds | alive at end |")
        A("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in sm["variants"] + sm["max"]:
            ps = r["per_stream"]
            A("| %s | %d | %d | %d | %.1f | %.0f | %.0f | %.0f | %.0f | %.0f | %s | %.1f | %s | %s | %d |"
              % (r["label"], r["workers"], r["opened"], r["failed"], r["open_s"], ps["workers"], ps["nginx"],
                 ps["redis"], ps["stack"], ps["slab"], " ".join("%.1f" % p[0] for p in r["probes"]),
                 max(p[1] for p in r["probes"]) if r["probes"] else 0,
                 "/".join(str(x) for x in r["fds_nginx"]), "/".join(str(x) for x in r["fds_workers"]),
                 r["alive_at_end"]))
        A("")
        A("nginx variants (each is the bench's nginx.conf, i.e. deploy/nginx/local.conf.in with")
        A("`worker_processes 2`, `listen ... reuseport backlog=4096`, `fastcgi_pass hysteria_realm` and the")
        A("`/fixed` location, with these sizes; A -> %s adds the template's tuning one step at a time):" % TEMPLATE)
        A("")
        for key, desc, _ in VARIANTS:
            A("- **%s**: %s" % (key, desc))
        A("- the max runs: %s plus `worker_connections %d` (see below)." % (BEST, cfg.max_worker_connections))
        A("")
        allr = sm["variants"] + sm["max"]
        if allr:
            w_ok = all(r["per_stream"]["workers"] <= 1024 for r in allr)
            best_runs = [r for r in allr if r["label"].startswith(BEST)]
            s_ok = best_runs and all(r["per_stream"]["stack"] < 12 * 1024 for r in best_runs)
            n1 = max([r["opened"] for r in allr if r["workers"] == 1] or [0])
            n2 = max([r["opened"] for r in allr if r["workers"] == 2] or [0])
            pmax = max([p[0] for r in allr for p in r["probes"]] or [0])
            pok = all(p[2] for r in allr for p in r["probes"])
            A("**Targets:** at least 9,000 streams on one worker: %s (%d); 18,000 over two: %s (%d);"
              % ("met" if n1 >= 9000 else "missed", n1, "met" if n2 >= 18000 else "missed", n2))
            A("worker RSS <= 1 KiB per stream: %s (max %.0f B); whole stack < 12 KiB per stream with %s: %s (%s B);"
              % ("met" if w_ok else "missed", max(r["per_stream"]["workers"] for r in allr), BEST,
                 "met" if s_ok else "missed",
                 " / ".join("%.0f" % r["per_stream"]["stack"] for r in best_runs)))
            A("punch within 50 ms with every stream open: %s (slowest %.1f ms; every connect got the answer: %s)."
              % ("met" if pmax <= 50 else "missed", pmax, "yes" if pok else "NO"))
        A("")

    pf = R.get("profile")
    if pf:
        A("## 5. Profile (heartbeat, 1 worker x 4 threads)")
        A("")
        sc = pf.get("syscalls")
        if sc:
            A("System calls and context switches per request (perf stat, tracepoint raw_syscalls:sys_enter):")
            A("")
            A("| load | req/s (under perf) | nginx syscalls | nginx ctx switches | worker syscalls | worker ctx switches | redis syscalls | redis ctx switches |")
            A("|---|---|---|---|---|---|---|---|")
            for kind in ("fixed", "heartbeat"):
                if kind not in sc:
                    continue
                s = sc[kind]
                A("| %s | %.0f | %.1f | %.2f | %.1f | %.2f | %.1f | %.2f |"
                  % (kind, s["rps"], s["nginx"]["syscalls"], s["nginx"]["ctxsw"], s["workers"]["syscalls"],
                     s["workers"]["ctxsw"], s["redis"]["syscalls"], s["redis"]["ctxsw"]))
            A("")
        if pf.get("perf_comm_dso"):
            A("Where the CPU goes under heartbeat load (perf record -p <the bench's nginx, worker, Redis and wrk>,")
            A("by process and object; `[kernel.kallsyms]` is time in the kernel on behalf of that process):")
            A("")
            A("```")
            L.extend(pf["perf_comm_dso"])
            A("```")
            A("")
        if pf.get("perf_sym"):
            A("Hottest symbols:")
            A("")
            A("```")
            L.extend(pf["perf_sym"])
            A("```")
            A("")
        if pf.get("callgrind_top"):
            tot = callgrind_total(pf)
            A("The worker's own instructions under callgrind (%d heartbeats, %s instructions per heartbeat in"
              % (pf.get("callgrind_requests", 0),
                 "%.0fk" % (tot / max(1, pf.get("callgrind_requests", 1)) / 1e3) if tot else "?"))
            A("user space, libraries included). Inclusive cost of the worker's functions:")
            A("")
            A("```")
            L.extend(pf.get("callgrind_inclusive", []))
            A("```")
            A("")
            A("Self cost, top functions:")
            A("")
            A("```")
            A(pf.get("callgrind_total", ""))
            L.extend(pf["callgrind_top"])
            A("```")
            A("")
        elif pf.get("callgrind_error"):
            A("callgrind failed: %s" % pf["callgrind_error"])
            A("")
    L.extend(ab_section(R))
    L.extend(analysis(R, cfg))
    A("## How to run")
    A("")
    A("    tests/bench/run            # the whole run: 5-7 minutes here, more when other users load the machine; installs wrk etc., builds build-bench/")
    A("    tests/bench/run --quick    # a smoke run: shorter loads, fewer streams and variants")
    A("    tests/bench/run --phases streams,ab   # some phases only (throughput, churn, rendezvous,")
    A("                                          # streams, profile, ab)")
    A("")
    A("This file comes from `%s`." % cfg.cmdline)
    A("")
    A("Raw numbers of this run: `tests/bench/results.json`.")
    return "\n".join(L) + "\n"


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if xs else None


def perf_kernel_share(lines):
    """Share of the kernel in the perf comm,dso listing (of what is listed),
    overall and per process name."""
    tot = ker = 0.0
    by = {}
    for l in lines:
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+(.*)$", l)
        if not m:
            continue
        v = float(m.group(1))
        tot += v
        k = by.setdefault(m.group(2), [0.0, 0.0])
        k[1] += v
        if "kernel" in m.group(3):
            ker += v
            k[0] += v
    return (ker / tot if tot else None), {c: a / b for c, (a, b) in by.items() if b > 0}


def summary(R):
    L = []
    A = L.append
    rows = []
    hb = [r for r in (R.get("throughput") or {}).get("runs", []) if r["kind"] == "heartbeat"]
    if hb:
        b = max(hb, key=lambda r: r["rps"] / r["ceiling"])
        rows.append(("heartbeat >= half of nginx's fixed answer", "best %.2f (%.0f of %.0f req/s, %d x %d)"
                     % (b["rps"] / b["ceiling"], b["rps"], b["ceiling"], b["workers"], b["threads"]),
                     "met" if b["rps"] >= b["ceiling"] / 2 else "**missed** (see What limits the numbers)"))
    ch = R.get("churn") or []
    if ch:
        rows.append(("register+deregister churn", " / ".join("%.0f pairs/s with %d worker%s"
                                                            % (d["pairs_s"], d["workers"], "s" if d["workers"] > 1 else "")
                                                            for d in ch), "(no target)"))
    rv = [d for d in (R.get("rendezvous") or []) if d["in_flight"] == 1]
    if rv:
        w = max(d["p50_us"] for d in rv)
        rows.append(("rendezvous round trip p50 <= 2 ms", " / ".join("%s ms (p99 %s) with %d worker%s"
                                                                  % (fmt_ms(d["p50_us"]), fmt_ms(d["p99_us"]), d["workers"],
                                                                     "s" if d["workers"] > 1 else "") for d in rv),
                     "met" if w <= 2000 else "**missed**"))
    sm = R.get("streams")
    if sm and (sm.get("variants") or sm.get("max")):
        allr = sm["variants"] + sm["max"]
        n1 = max([r["opened"] for r in allr if r["workers"] == 1] or [0])
        n2 = max([r["opened"] for r in allr if r["workers"] == 2] or [0])
        rows.append(("idle streams: >= 9,000 on one worker, >= 18,000 over two", "%d / %d open" % (n1, n2),
                     "met" if n1 >= 9000 and n2 >= 18000 else "**missed**"))
        wmax = max(r["per_stream"]["workers"] for r in allr)
        rows.append(("worker RSS <= 1 KiB per idle stream", "%.0f B at most" % wmax,
                     "met" if wmax <= 1024 else "**missed**"))
        best = [r for r in allr if r["label"].startswith(BEST)]
        if best:
            smax = max(r["per_stream"]["stack"] for r in best)
            tmpl = [r for r in allr if r["label"] == TEMPLATE]
            base = [r for r in allr if r["label"] == "A"]
            notes = []
            if tmpl:
                notes.append("%.0f B with the template's buffers, variant %s"
                             % (tmpl[0]["per_stream"]["stack"], TEMPLATE))
            if base:
                notes.append("%.0f B before the tuning, variant A" % base[0]["per_stream"]["stack"])
            rows.append(("whole stack < 12 KiB per idle stream", "%.0f B with nginx variant %s%s"
                         % (smax, BEST, " (%s)" % "; ".join(notes) if notes else ""),
                         "met" if smax < 12 * 1024 else "**missed**"))
        pmax = max([p[0] for r in allr for p in r["probes"]] or [0])
        rows.append(("punch within 50 ms with all streams open", "slowest %.1f ms" % pmax,
                     "met" if pmax <= 50 else "**missed**"))
    if not rows:
        return L
    A("## Summary")
    A("")
    A("| target | this run | |")
    A("|---|---|---|")
    for t, v, st in rows:
        A("| %s | %s | %s |" % (t, v, st))
    A("")
    return L


def ab_labels(ab):
    """(before, after) build labels of an A/B run: this bench's, or those of a
    results.json written before the fix was applied (then a proposed patch)."""
    if ab and not ab.get("reversed") and any(r["build"] == "patched" for r in ab.get("runs", [])):
        return "as is", "patched"
    return AB_BEFORE, AB_APPLIED


def ab_gain(ab, thr):
    """Mean req/s (undisturbed runs) after / before the fix at thr threads, or None."""
    lb, la = ab_labels(ab)
    a = [r["rps"] for r in ab.get("runs", []) if r["build"] == lb and r["threads"] == thr and not mark(r)]
    b = [r["rps"] for r in ab.get("runs", []) if r["build"] == la and r["threads"] == thr and not mark(r)]
    if a and b:
        return sum(b) / len(b) / (sum(a) / len(a)), sum(a) / len(a), sum(b) / len(b)
    return None


def ab_section(R):
    ab = R.get("ab")
    L = []
    A = L.append
    if not ab:
        return L
    lb, la = ab_labels(ab)
    A("## 6. The worker's close fix (ca2f70b), measured (A/B)")
    A("")
    if ab.get("error"):
        A("Not measured: %s" % ab["error"])
        A("")
        return L
    if ab.get("reversed"):
        A("The fix is applied since commit ca2f70b (`fcgi/request.c`, `request_reply()`: `FCGX_Detach` instead of")
        A("`FCGX_FFlush`, see What limits the numbers). To measure it the bench copies the source tree once to")
        A("build-bench/ab/src and builds it twice: as it is (**%s**) and with `%s` reversed" % (la, ab["patch"]))
        A("(`patch -R`: **%s**, libfcgi's close handshake), so the two builds differ by the fix only." % lb)
    else:
        A("`%s`: the tree built as it is and with the patch (results of a run made before the fix was applied)."
          % ab["patch"])
    A("Heartbeat, 1 worker, wrk -t2 -c32, the two builds alternated; syscalls and context switches per request")
    A("from perf stat.")
    A("")
    A("| round | build | --threads | req/s | p50 ms | p99 ms | worker syscalls | worker ctx sw | nginx ctx sw | CPU us/req nginx | worker | redis | other |")
    A("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in ab["runs"]:
        pr = r.get("per_req", {})
        c = r["cpu_us"]
        A("| %d | %s | %d | %.0f%s | %s | %s | %.1f | %.2f | %.2f | %.0f | %.0f | %.0f | %.0f |"
          % (r["round"], r["build"], r["threads"], r["rps"], mark(r), fmt_ms(r["p50_us"]), fmt_ms(r["p99_us"]),
             pr.get("workers", {}).get("syscalls", 0), pr.get("workers", {}).get("ctxsw", 0),
             pr.get("nginx", {}).get("ctxsw", 0), c["nginx"], c["workers"], c["redis"], c["other"]))
    ratios = [(thr, g[0]) for thr in (1, 4) for g in [ab_gain(ab, thr)] if g]

    def cpu(build, k):
        return median([r["cpu_us"][k] for r in ab["runs"] if r["build"] == build])
    A("")
    A("CPU per heartbeat (medians, the measure least sensitive to other users of the machine): worker")
    A("%.0f -> %.0f us, nginx %.0f -> %.0f us, Redis %.0f -> %.0f us (%s -> %s)."
      % (cpu(lb, "workers"), cpu(la, "workers"), cpu(lb, "nginx"), cpu(la, "nginx"),
         cpu(lb, "redis"), cpu(la, "redis"), lb, la))
    if ratios:
        A("Throughput, %s / %s (mean req/s of the undisturbed runs): %s."
          % (la, lb, ", ".join("%.2fx with %d thread%s" % (x, t, "s" if t > 1 else "") for t, x in ratios)))
    else:
        A("Throughput: every pair had a disturbed run; no ratio given.")
    A("")
    return L


def analysis(R, cfg):
    """What limits the numbers, computed from this run where possible."""
    L = []
    A = L.append
    tp = (R.get("throughput") or {}).get("runs", [])
    pf = R.get("profile") or {}
    hb = [r for r in tp if r["kind"] == "heartbeat"]
    fx = [r for r in tp if r["kind"] == "fixed"]
    nf = [r for r in tp if r["kind"] == "404"]
    A("## What limits the numbers")
    A("")
    if hb and fx:
        def comp(rows, k):
            return median([r["cpu_us"][k] for r in rows])
        quiet_hb = [r for r in hb if r["cpu_us"]["other"] < 60] or hb
        quiet_fx = [r for r in fx if r["cpu_us"]["other"] < 60] or fx
        hn, hw, hr, hc = (comp(quiet_hb, k) for k in ("nginx", "workers", "redis", "client"))
        fn, fc = comp(quiet_fx, "nginx"), comp(quiet_fx, "client")
        ht, ft = hn + hw + hr + hc, fn + fc
        A("### Heartbeat against the ceiling (target missed)")
        A("")
        A("The machine is CPU-bound in both measurements, so the ratio is the ratio of CPU spent per request.")
        A("Medians over the runs of this table with little foreign load: a heartbeat costs %.0f us of CPU"
          % ht)
        A("(nginx %.0f, worker %.0f, Redis %.0f, wrk %.0f); nginx's fixed answer costs %.0f us (nginx %.0f,"
          % (hn, hw, hr, hc, ft, fn))
        A("wrk %.0f). Half the ceiling would need a heartbeat in about %.0f us of CPU, less than nginx alone"
          % (fc, 2 * ft))
        A("spends to pass one request to FastCGI and back (%.0f us). No change in the worker can reach it:" % hn)
        if nf:
            A("even a request that a worker answers without touching Redis (`404 via worker`) gets %.2f of the"
              % (nf[0]["rps"] / nf[0]["ceiling"]))
            A("ceiling. The target compares a three-process path (nginx -> FastCGI over a fresh unix socket per")
        else:
            A("The target compares a three-process path (nginx -> FastCGI over a fresh unix socket per")
        A("request, since `fastcgi_keep_conn off` -> worker -> a Lua script in Redis over TCP) with one process")
        A("answering from memory.")
        A("")
        sc = pf.get("syscalls", {})
        if sc.get("heartbeat") and sc.get("fixed"):
            h, f = sc["heartbeat"], sc["fixed"]
            A("Where that CPU goes: a heartbeat makes %.0f system calls and %.1f context switches (nginx %.0f/%.1f,"
              % (h["nginx"]["syscalls"] + h["workers"]["syscalls"] + h["redis"]["syscalls"],
                 h["nginx"]["ctxsw"] + h["workers"]["ctxsw"] + h["redis"]["ctxsw"], h["nginx"]["syscalls"],
                 h["nginx"]["ctxsw"]))
            A("worker %.0f/%.1f, Redis %.0f/%.1f), the fixed answer %.1f and %.2f. "
              % (h["workers"]["syscalls"], h["workers"]["ctxsw"], h["redis"]["syscalls"], h["redis"]["ctxsw"],
                 f["nginx"]["syscalls"], f["nginx"]["ctxsw"]))
        ks, by = perf_kernel_share(pf.get("perf_comm_dso", []))
        if ks is not None:
            A("perf puts %.0f%% of the stack's CPU in the kernel (%s of their own CPU); its hottest symbol,"
              % (ks * 100, ", ".join("%s %.0f%%" % (nm.rstrip("-"), v * 100) for nm, v in sorted(by.items()))))
            A("`pvm_irq_enable`, is not one costly function: this VM has no hardware counters, perf samples")
            A("with a software timer, and a sample due while the kernel runs with interrupts off lands where")
            A("it turns them back on. It stands for kernel work done with interrupts off -- scheduling,")
            A("wake-ups, the loopback network path -- which the counts above put at many crossings and")
            A("context switches per heartbeat against a handful for the fixed answer.")
        tot = callgrind_total(pf)
        if tot and pf.get("callgrind_requests"):
            per = tot / pf["callgrind_requests"]
            A("The worker's own code is the small part of the worker's CPU: callgrind counts %.0fk instructions"
              % (per / 1e3))
            A("per heartbeat in its user space, libraries included. Of those, hiredis formats the EVALSHA")
            A("command with sdscatfmt")
            A("(store_command), json-c builds and prints `{\"ttl\":60}` twice (body_ttl, below), json-c parses")
            A("`{}`, key_for builds keys with snprintf, and libfcgi parses the params; malloc/free run through")
            A("all of them.")
        A("")
        ab = R.get("ab") or {}
        lb, la = ab_labels(ab)
        A("**The fix in the worker, applied since commit ca2f70b** (worth having, though it cannot reach the")
        A("target): `fcgi/request.c`, `request_reply()` no longer calls `FCGX_FFlush(r->fcgx.out)` but")
        A("`FCGX_Detach(&r->fcgx)` (the bench keeps the diff as `tests/bench/ab/close-handshake.patch` and")
        A("reverses it to measure the worker before the fix). Before it each short request ended with two")
        A("writes (the reply, then FCGX_Finish_r's end-of-stdout + END_REQUEST) and libfcgi's graceful close:")
        A("`shutdown(SHUT_WR)`, `poll()` until nginx had read the reply and closed its end, `read()` = 0,")
        A("`close()`; the request thread slept through nginx's turn. Detached, FCGX_Finish_r writes reply and")
        A("end records in one write and closes with a plain `close()`. It is safe because the worker reads")
        A("stdin to EOF before answering and nginx sends nothing after it, so nothing is left unread (no RST")
        abr = ab.get("runs", [])

        def abm(build, key):
            return median([r["per_req"].get("workers", {}).get(key, 0) for r in abr
                           if r["build"] == build and r.get("per_req")])
        gains = [(t, g) for t in (1, 4) for g in [ab_gain(ab, t)] if g]
        if abr and abm(lb, "syscalls"):
            A("on TCP) and nginx still reads the whole reply. Measured in section 6: the worker goes from %.0f to"
              % abm(lb, "syscalls"))
            A("%.0f system calls and from %.1f to %.1f context switches per heartbeat%s"
              % (abm(la, "syscalls"), abm(lb, "ctxsw"), abm(la, "ctxsw"),
                 "; one worker serves %s the heartbeats per second it served before the fix." % " and ".join(
                     "%.2fx with %d thread%s" % (g[0], t, "s" if t > 1 else "") for t, g in gains)
                 if gains else "."))
        else:
            A("on TCP) and nginx still reads the whole reply: 4 system calls and about one context switch")
            A("less per short request (run the `ab` phase to measure the gain).")
        A("")
        try:
            with open(os.path.join(REPO, "fcgi", "store.c")) as f:
                has_alive = "store_alive" in f.read()
        except OSError:
            has_alive = False
        if has_alive:
            A("A smaller one: `fcgi/store.c`, `store_command()` polls the Redis connection before every command")
            A("(`store_alive()`, one `poll()` per short request). Checking only when the connection has been idle")
            A("for a while (a last-use time in `struct store`, say over a second) keeps its purpose (a Redis")
            A("restart is noticed before sending) at no cost under load.")
        share = None
        for l in pf.get("callgrind_inclusive", []):
            m = re.search(r"\(\s*([\d.]+)%\)\s+\S*body\.c:body_ttl(\s|$)", l)
            if m:
                share = float(m.group(1))
        if share:
            A("In user space, `body_ttl_reply()` and `body_heartbeat_event()` (fcgi/body.c) build `{\"ttl\":N}` with")
            A("json-c on every heartbeat although N is the configured TTL: formatting both strings once at")
            A("start-up removes the %.0f%% of the worker's user-space instructions that `body_ttl()` takes." % share)
        A("")
        A("Other levers are outside the worker: `access_log ... buffer=64k` saves nginx one write per request;")
        A("`fastcgi_keep_conn on` would save the socket/connect/close per request but the worker's libfcgi")
        A("accept loop cannot serve kept connections (NOTES); Redis's append-only file adds a write per")
        A("heartbeat (`appendfsync everysec`, as deployed).")
        A("")
        t1 = {r["threads"]: r for r in hb if r["workers"] == 1}
        if len(t1) > 1:
            A("### --threads")
            A("")
            A("1 worker: %s. A request thread is held from accept to close: through the Redis round trip"
              % ", ".join("%d thread%s %.0f req/s%s" % (t, "s" if t > 1 else "", t1[t]["rps"], mark(t1[t]))
                          for t in sorted(t1)))
            A("(before ca2f70b also through libfcgi's close handshake, which waited for nginx to close its end).")
            top = max(r["rps"] for r in t1.values())
            enough = min(t for t in t1 if t1[t]["rps"] >= 0.93 * top)
            A("So one worker")
            A("needs a few threads to keep its share of the two cores busy; from %d on the cores are the limit"
              % enough)
            more = [r for r in hb if r["workers"] > 1]
            A("(the differences are then of the size other users of the machine cause). More workers (%s)"
              % ", ".join("%d x %d: %.0f req/s" % (r["workers"], r["threads"], r["rps"]) for r in more))
            A("change little: they share the same cores. `--threads 4`, the default, is used everywhere else.")
            g1 = ab_gain(R.get("ab") or {}, 1)
            if g1:
                A("Since the close fix (section 6) one thread gets %.0f req/s where it got %.0f with the close"
                  % (g1[2], g1[1]))
                A("handshake.")
            A("")
    rv = R.get("rendezvous") or []
    one = {d["workers"]: d for d in rv if d["in_flight"] == 1}
    if one:
        A("### Rendezvous")
        A("")
        A("At one round trip in flight the p50 is %s (target 2 ms: met). The punch reaches the holder after"
          % " and ".join("%s ms with %d worker%s" % (fmt_ms(d["p50_us"]), w, "s" if w > 1 else "")
                         for w, d in sorted(one.items())))
        A("about half of it; the other half is the answer's way back (answer request, publish, the waiting")
        A("connect's worker writing the reply). With 2 workers, half the connects land on the worker that")
        A("does not hold the realm's stream: it must SUBSCRIBE to the realm channel and wait for the")
        A("confirmation before connect_begin runs (waiter.c: JOINING -> BEGINNING), one more Redis round")
        A("trip, and unsubscribe afterwards. A possible change (not measured): run connect_begin without")
        A("waiting for the subscribe confirmation and, when it comes, look up `hr:ans` for an answer that")
        A("was published before it. (Since ca2f70b the waiting connect's reply -- head, body and END_REQUEST --")
        A("goes out in one write, no longer three.) Throughput under load is the same CPU limit as above:")
        A("about %.0f us of CPU per round trip (median, driver included), for two requests through nginx"
          % median([sum(d["cpu_us"][k] for k in ("nginx", "workers", "redis", "client")) for d in rv]))
        A("(the held connect and the answer), four Redis scripts (connect_begin, connect_answer, connect_end,")
        A("the stream's ack), two publishes and an event written to the stream.")
        A("")
    sm = R.get("streams")
    if sm and sm.get("variants"):
        v = {r["label"]: r for r in sm["variants"]}
        A("### Idle streams")
        A("")
        A("Per stream the worker keeps its stream object, the parked socket, the realm's channel entry and")
        A("hiredis's callback for the channel (one realm per stream here): about %.0f B, well under 1 KiB;"
          % median([r["per_stream"]["workers"] for r in sm["variants"] + sm["max"]]))
        A("Redis adds about %.0f B (the channel subscription). nginx dominates:"
          % median([r["per_stream"]["redis"] for r in sm["variants"] + sm["max"]]))
        steps = []
        order = [k for k, _, _ in VARIANTS if k in v]
        for a_, b_ in zip(order, order[1:]):
            steps.append("%s -> %s saves %.0f B" % (a_, b_, v[a_]["per_stream"]["nginx"] - v[b_]["per_stream"]["nginx"]))
        if steps:
            A("%s per stream of nginx RSS (variants above)." % "; ".join(steps))
        A("What is left in nginx is two connections with their read/write events (client and FastCGI), the")
        A("client connection's pool and header buffer, the request's pool (request object, parsed headers,")
        A("variables, upstream and FastCGI state, the FastCGI params it sent) and the FastCGI buffer; it is")
        A("per-connection state of nginx itself, so the remaining levers are trimming `fastcgi_params` for")
        A("the events location or another proxy. The template (variant %s, as deploy/nginx/hysteria-realm.conf)"
          % TEMPLATE)
        A("sets `fastcgi_buffer_size 1k` on the unbuffered events/connect location: response heads are under")
        A("200 bytes and the largest event (a punch with 8 long IPv6 addresses, 558 bytes on the wire) passes")
        A("whole, in one chunk (checked by hand). 512 (variant %s) would save a little more but forwards such"
          % BEST)
        A("an event in two pieces. `client_header_buffer_size 512` holds the peers' requests (~200-300 bytes,")
        A("Authorization included); a longer request head moves to `large_client_header_buffers` (checked by")
        A("hand with heads of 0.6, 2.3 and 7.3 KB: 200; one header line over 8k is refused with 400, as with")
        A("nginx's defaults). `request_pool_size 1k` only sets the first block of the request's pool.")
        A("")
        A("The limit on the number of streams is nginx, not the worker: nginx starts closing idle and")
        A("keep-alive connections -- including new connections still waiting for their request -- once fewer")
        A("than 1/16 of `worker_connections` are free, so with the template's `worker_connections 20000` an")
        A("nginx process holds at most 18,750 connections = 9,375 streams, below its 20,000 fds (a first try")
        A("at 19,500 streams over two nginx processes lost ~750 of them that way, `20000 worker_connections are")
        A("not enough, reusing connections`); the template therefore runs 2 nginx processes (18,750 streams")
        A("together). `worker_connections` above `worker_rlimit_nofile` makes nginx warn at start, and the")
        A("hard RLIMIT_NOFILE here (20,000) cannot be raised. The max runs accept that warning and use")
        A("`worker_connections %d` (drain" % cfg.max_worker_connections)
        A("point %d connections = %d streams per nginx process, under the 20,000 fds) and `listen ... reuseport`"
          % (cfg.max_worker_connections * 15 // 16, cfg.max_worker_connections * 15 // 32))
        A("so the kernel spreads connections evenly over the two nginx processes (without it one process")
        A("may take most of them). Two nginx processes therefore hold about %d streams at most; %d were"
          % (2 * (cfg.max_worker_connections * 15 // 32), cfg.max_streams))
        A("opened (margin for the uneven hash). One worker holds them all with one fd each. For")
        A("deploy/: size `worker_connections` >= 2 x streams per nginx process x 16/15 and")
        A("`worker_rlimit_nofile` >= `worker_connections` (deploy/nginx/hysteria-realm.conf says so).")
        A("")
        A("Kernel memory is not in the targets but is the largest item: the Slab grows by about %.0f KiB"
          % (median([r["per_stream"]["slab"] for r in sm["variants"] + sm["max"]]) / 1024))
        A("per stream (four sockets: the peer's TCP socket and nginx's, nginx's unix socket to the worker and")
        A("the worker's; on a real server the peer's socket is elsewhere).")
        A("")
    return L


# -- main ----------------------------------------------------------------------

def background_load(seconds=2.0):
    b0, _ = proc_stat_busy()
    time.sleep(seconds)
    b1, _ = proc_stat_busy()
    hz = os.sysconf("SC_CLK_TCK")
    return max(0.0, (b1 - b0) / hz / seconds)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="short loads, few variants (a smoke run)")
    ap.add_argument("--phases", default="throughput,churn,rendezvous,streams,profile,ab")
    ap.add_argument("--no-callgrind", action="store_true")
    ap.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--report-only", metavar="JSON",
                    help="write --out again from the raw numbers of an earlier run (results.json)")
    a = ap.parse_args()

    class C:
        pass
    cfg = C()
    cfg.seconds = 3 if a.quick else 6
    cfg.threads_1w = [4] if a.quick else [1, 2, 4, 8]
    cfg.extra_hb = [] if a.quick else [(2, 2)]
    cfg.variants = ["A", "E"] if a.quick else [k for k, _, _ in VARIANTS]
    cfg.variant_streams = 2000 if a.quick else 9000
    cfg.max_streams = 4000 if a.quick else 19200
    cfg.max_worker_connections = 21000
    cfg.callgrind = not a.no_callgrind
    cfg.ab_rounds = 1 if a.quick else 2
    cfg.cmdline = "tests/bench/run " + " ".join(sys.argv[1:]) if len(sys.argv) > 1 else "tests/bench/run"
    if a.report_only:
        with open(a.report_only) as f:
            R = json.load(f)
        cfg.cmdline = R.get("cmdline", cfg.cmdline)
        text = report(R, R["facts"], cfg)
        for f_ in R.get("failed", []):
            text += ("\n## Phases that failed\n\n" if f_ == R["failed"][0] else "") + "- " + f_ + "\n"
        with open(a.out, "w") as f:
            f.write(text)
        print(text)
        return 0
    bs.raise_nofile()

    def on_signal(sig, frame):
        bs.cleanup_all()
        sys.exit(130)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    facts = machine_facts()
    R = {"facts": facts}
    # Wait (a minute at most) for the machine to be quiet: other users'
    # load is noise in every number. The run goes on anyway, and says so.
    waited = 0
    R["background"] = background_load()
    while R["background"] > 0.3 and waited < 60:
        log("other processes use %.0f%% of a core; waiting for a quieter machine" % (R["background"] * 100))
        time.sleep(8)
        waited += 10
        R["background"] = background_load()
    R["waited_s"] = waited
    log("machine: %s x %s, %s, kernel %s; other load before start: %.0f%% of a core"
        % (facts["nproc"], facts["cpu"], facts["memory"], facts["kernel"], R["background"] * 100))
    phases = a.phases.split(",")
    funcs = {"throughput": phase_throughput, "churn": phase_churn, "rendezvous": phase_rendezvous,
             "streams": phase_streams, "profile": phase_profile, "ab": phase_ab}
    failed = []
    for ph in phases:
        log("== %s" % ph)
        try:
            funcs[ph](R, cfg)
        except Exception as e:
            import traceback
            traceback.print_exc()
            failed.append("%s: %s" % (ph, e))
            R.setdefault("failed", []).append(failed[-1])
    R["when"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    R["elapsed_s"] = time.monotonic() - T_START
    R["cmdline"] = cfg.cmdline
    text = report(R, facts, cfg)
    if failed:
        text += "\n## Phases that failed\n\n" + "\n".join("- " + f for f in failed) + "\n"
    with open(a.out, "w") as f:
        f.write(text)
    default_out = os.path.abspath(a.out) == os.path.join(HERE, "RESULTS.md")
    with open(os.path.join(HERE, "results.json") if default_out else os.path.splitext(a.out)[0] + ".json",
              "w") as f:
        json.dump(R, f, indent=1, default=str)
    print()
    print(text)
    log("wrote %s" % a.out)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
