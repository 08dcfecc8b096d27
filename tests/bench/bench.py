"""bench.py -- the benchmark of the rendezvous (run it through tests/bench/run).

Two builds of the worker:
  new  the working tree (build-bench/), with the tree's deploy/ and sql/
  old  BENCH_BASE (default a98c9b1, the main before realm health, tokens and the relay),
       built by tests/bench/run in build-bench-base/ from `git archive`,
       run with ITS tree's deploy/nginx/local.conf.in, redis.conf.in and sql/
       (the old Lua scripts; the old nginx template, fastcgi_keep_conn off)

Phases, each on stacks of its own (Redis + workers + nginx, benchstack.py):
  ab           old vs new, interleaved in rounds (each measurement of new
               right after the same of old, both stacks up): nginx's fixed
               answer (the ceiling) and heartbeat on the same stack,
               register+deregister churn, rendezvous round trips at 1 and 64
               in flight over 100 realms, worker system calls per heartbeat
               (perf stat, or strace -c -f without perf).
  throughput   new: the ceiling, a 404 answered by the worker (no Redis),
               heartbeat over a sweep of wrk connection counts and at 4x the
               best one (the "no stall" target: max latency), 2 workers,
               and the old build at that 4x point for contrast.
  churn        new: register + deregister pairs per second, 1 and 2 workers.
  rendezvous   new: rdv.py round trips at 1 and 64 in flight, 1 and 2 workers.
  streams      holder.py: idle event streams; RSS per stream of the worker(s)
               and of the whole stack, nginx buffer variants, the old build
               with the template for contrast, a few punches timed while
               every stream is open.
  profile      new: perf stat (syscalls, context switches per request), perf
               record (where the CPU goes) under heartbeat and rendezvous
               load, callgrind (the worker's own code).
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
import tempfile
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
    ("D", "the template as it is (deploy/nginx/local.conf.in: %s)", {}),
    ("E", "D with fastcgi_buffer_size 512 everywhere", {"fastcgi_buffer_size": "512"}),
]
TEMPLATE = "D"
BEST = "E"
# the old build's streams run (contrast): the old tree's template as it is
OLD_STREAMS = "D, old build"

# the rendezvous load of the targets: 100 realms, 64 round trips in flight
# (2 driver processes x 32)
RDV_REALMS = 100
RDV_LOADS = ((1, 1), (2, 32))

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


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2.0


# -- the two builds ------------------------------------------------------------

def make_builds():
    """{'new': ..., 'old': ...}: binary, source tree, description, the
    worker arguments every stack of that build gets. 'old' has 'error'
    instead of a binary when tests/bench/run could not build it."""
    rev = sh("cd %s && git rev-parse --short HEAD" % REPO)
    dirty = sh("cd %s && git status --porcelain -- fcgi sql deploy configure.ac Makefile.am | head -1" % REPO)
    new = {"key": "new", "worker": bs.WORKER, "tree": REPO, "args": [],
           "rev": rev + (" + the working tree's changes" if dirty else ""),
           "dir": "build-bench/"}
    base = os.environ.get("BENCH_BASE_COMMIT", "")
    old = {"key": "old", "worker": os.environ.get("BENCH_BASE_WORKER"),
           "tree": os.environ.get("BENCH_BASE_TREE"), "args": ["--threads", "4"],
           "rev": base[:7], "dir": "build-bench-base/"}
    if base:
        old["subject"] = sh("cd %s && git log -1 --format=%%s %s" % (REPO, base))
    if not (old["worker"] and os.access(old["worker"], os.X_OK) and old["tree"]):
        old["error"] = os.environ.get("BENCH_BASE_ERROR") or \
            "no old build (run the bench through tests/bench/run, which builds BENCH_BASE)"
    for b in (new, old):
        if not b.get("error"):
            b["version"] = sh("%s --version" % b["worker"])
            kc = re.findall(r"fastcgi_keep_conn\s+(\w+);", open(os.path.join(b["tree"], "deploy", "nginx",
                                                                               "local.conf.in")).read())
            b["keep_conn"] = "/".join(sorted(set(kc))) or "?"
    return {"new": new, "old": old}


BUILDS = {}


def stack_for(build, workers=1, args=(), nginx_opts=None, **kw):
    b = BUILDS[build]
    return bs.Stack(workers=workers, worker_args=list(args) + b["args"], nginx_opts=nginx_opts or NGINX_BASE,
                    worker=b["worker"], tree=b["tree"], **kw)


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
    f["perf"] = sh("perf --version 2>/dev/null")
    f["python"] = platform.python_version()
    n, o = BUILDS["new"], BUILDS["old"]
    f["worker"] = n.get("version", "")
    f["revision"] = n["rev"]
    f["old"] = o.get("error") or "%s (%s), %s" % (o["rev"], o.get("subject", ""), o.get("version", ""))
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
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + timeout_s + 30)
    for line in r.stdout.splitlines():
        if line.startswith("BENCH "):
            d = json.loads(line[6:])
            d["rps"] = d["requests"] / (d["duration_us"] / 1e6)
            d["conns"] = conns
            return d
    raise RuntimeError("wrk gave no summary: %s %s" % (r.stdout[-500:], r.stderr[-500:]))


def disturbance(cpu):
    """Share of the CPU used during a measurement that was not ours."""
    ours = sum(cpu[k] for k in ("nginx", "workers", "redis", "client"))
    return cpu["other"] / max(1e-9, ours + cpu["other"])


def busy(cpu):
    """Share of the machine's CPUs the bench's own processes used during a
    measurement (nginx, workers, Redis, the load generator): req/s =
    busy x CPUs / CPU per request, exactly."""
    tot = sum(cpu[k] for k in ("nginx", "workers", "redis", "client"))
    return tot / max(1e-9, cpu["wall"] * (os.cpu_count() or 1))


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
    d["busy"] = busy(d["cpu"])
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


_PREFIX = [0]


def churn_prefix(tag):
    """A name prefix used by one churn run only: the last name each wrk
    thread registered stays registered when wrk stops (its DELETE is never
    sent), and a run again with the same prefix would get 409 for it."""
    _PREFIX[0] += 1
    return "%s%d" % (tag, _PREFIX[0])


def wrk_errors(d):
    return d["err_connect"] + d["err_read"] + d["err_write"] + d["err_status"] + d["err_timeout"]


# -- system calls per request ----------------------------------------------------

_PERF = [None]


def perf_available():
    if _PERF[0] is None:
        _PERF[0] = shutil.which("perf") is not None and \
            subprocess.run(["perf", "stat", "-e", "raw_syscalls:sys_enter", "true"],
                           capture_output=True).returncode == 0
    return _PERF[0]


def perf_stat_groups(stack, seconds, load, groups=None):
    """Run load() while counting syscalls and context switches of each group
    of processes (perf stat -p, all threads of each process)."""
    groups = groups or {"nginx": stack.nginx_pids(), "workers": stack.worker_pids(), "redis": [stack.redis_pid()]}
    procs = {}
    for g, pids in groups.items():
        procs[g] = subprocess.Popen(
            ["perf", "stat", "-x", ",", "-e", "raw_syscalls:sys_enter,context-switches",
             "-p", ",".join(str(p) for p in pids), "--", "sleep", str(seconds + 1)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    try:
        d = load()
    finally:
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


def strace_count(pid, seconds, load):
    """Without perf: strace -c -f -p <worker> around load(); (load's result,
    system calls counted). strace slows the worker down: counts only."""
    p = subprocess.Popen(["strace", "-c", "-f", "-q", "-p", str(pid)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    try:
        d = load()
    finally:
        p.send_signal(signal.SIGINT)
        err = p.communicate(timeout=30)[1]
    m = re.search(r"^\s*100\.00\s+\S+\s+\S+\s+(\d+)\s+(?:\d+\s+)?total", err, re.M)
    return d, int(m.group(1)) if m else 0


def worker_syscalls(st, sess, seconds, conns):
    """Heartbeat load (wrk, as in the A/B) while the worker's system calls
    are counted (perf stat on the worker process, nginx and Redis beside
    it), per request served in that window."""
    url = "http://127.0.0.1:%d/" % st.port

    def load():
        return wrk(url, "heartbeat.lua", [sess], conns=conns, seconds=seconds)
    if perf_available():
        d, counts = perf_stat_groups(st, seconds, load)
        n = max(1, d["requests"])
        return {"tool": "perf", "rps": d["rps"], "requests": d["requests"],
                "per_req": {g: {"syscalls": v.get("raw_syscalls:sys_enter", 0) / n,
                                "ctxsw": v.get("context-switches", 0) / n} for g, v in counts.items()}}
    if shutil.which("strace"):
        d, n_sys = strace_count(st.worker_pids()[0], seconds, load)
        return {"tool": "strace", "rps": d["rps"], "requests": d["requests"],
                "per_req": {"workers": {"syscalls": n_sys / max(1, d["requests"])}}}
    return None


# -- rendezvous driver -------------------------------------------------------------

def run_rdv(st, sessions, procs, slots, seconds):
    names = list(sessions)
    start_at = time.monotonic() + 1.5 + 0.002 * len(names)
    ps = []
    m = CpuMeter(st)
    for p in range(procs):
        c = {"port": st.port, "token": st.token,
             "realms": [[n, sessions[n]] for n in names[p::procs]],
             "slots": slots, "duration": seconds, "warmup": 0.5, "start_at": start_at,
             "source": "127.9.0.%d" % (2 + p), "max_trips": 400000}
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
    return {"procs": procs, "slots": slots, "in_flight": procs * slots, "realms": len(names), "trips": len(lat),
            "all_trips": all_trips,
            "trips_s": len(lat) / seconds, "p50_us": pct(lat, 50), "p90_us": pct(lat, 90),
            "p99_us": pct(lat, 99), "max_us": lat[-1] if lat else None,
            "punch_p50_us": pct(punch, 50), "punch_p99_us": pct(punch, 99), "errors": errors,
            "disturbed": disturbance(cpu), "busy": busy(cpu),
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


# -- phase: old vs new (A/B) ---------------------------------------------------------

AB_ARGS = ["--max-realms-per-ip", "0", "--max-realms", "0", "--session-ttl", "3600"]


def ab_pair(what, fn):
    """fn(build) for old then new; the pair once more (after a pause) when
    other users of the machine took more than DISTURBED of the CPU during
    either, keeping the less disturbed pair."""
    def once():
        return {k: fn(k) for k in ("old", "new")}
    p = once()
    worst = max(p[k].get("disturbed", 0) for k in p)
    if worst > DISTURBED:
        log("  (other processes took %.0f%% of the CPU during the %s pair: once more)" % (worst * 100, what))
        time.sleep(3)
        p2 = once()
        if max(p2[k].get("disturbed", 0) for k in p2) < worst:
            p = p2
        for k in p:
            p[k]["retried"] = True
    return p


def phase_ab(R, cfg):
    out = R.setdefault("ab", {"rounds": [], "conns": cfg.ab_conns, "more_conns": list(cfg.ab_more_conns),
                              "seconds": cfg.seconds,
                              "rdv_realms": RDV_REALMS})
    for k in ("old", "new"):
        out[k] = {x: BUILDS[k].get(x) for x in ("rev", "subject", "version", "keep_conn", "args", "dir", "error")}
    if BUILDS["old"].get("error"):
        out["error"] = BUILDS["old"]["error"]
        log("A/B skipped: %s" % out["error"])
        return
    for k in ("old", "new"):
        # what each build's heartbeat function asks of Redis (the Lua
        # changes with the tree)
        try:
            with open(os.path.join(BUILDS[k]["tree"], "sql", "heartbeat.lua")) as f:
                out[k]["heartbeat_calls"] = len(re.findall(r"redis\.call\(", f.read()))
        except OSError:
            pass
    secs = cfg.seconds
    for rnd in range(1, cfg.ab_rounds + 1):
        stacks, sess, rv = {}, {}, {}
        try:
            for k in ("old", "new"):
                stacks[k] = stack_for(k, args=AB_ARGS).start()
                sess[k] = write_sessions(stacks[k], 256, "hb")
                rv[k] = hf.register_many(stacks[k].port, stacks[k].token, ["rv%d" % i for i in range(RDV_REALMS)])
            rec = {"round": rnd}

            def hb(k, conns):
                st = stacks[k]
                c = measured_wrk(st, "/fixed", "fixed.lua", retry=False, conns=conns, seconds=secs)
                h = measured_wrk(st, "/", "heartbeat.lua", [sess[k]], retry=False, conns=conns, seconds=secs)
                h["ceiling"] = c["rps"]
                h["ceiling_p50_us"] = c["p50_us"]
                h["ceiling_cpu_us"] = c["cpu_us"]
                h["ceiling_disturbed"] = c["disturbed"]
                h["disturbed"] = max(c["disturbed"], h["disturbed"])
                return h
            rec["heartbeat"] = ab_pair("heartbeat", lambda k: hb(k, cfg.ab_conns))
            for conns in cfg.ab_more_conns:
                # the same heartbeat at another wrk load (the new build's
                # best in the sweep is often at 64 connections)
                rec["heartbeat_c%d" % conns] = ab_pair("heartbeat", lambda k: hb(k, conns))

            def churn(k):
                st = stacks[k]
                d = measured_wrk(st, "/", "churn.lua", [st.token, churn_prefix("ab%s" % k)], threads=8, conns=8,
                                 seconds=secs, retry=False)
                d["pairs_s"] = d["pairs"] / (d["duration_us"] / 1e6)
                return d
            rec["churn"] = ab_pair("churn", churn)
            for procs, slots in RDV_LOADS:
                rec["rdv%d" % (procs * slots)] = ab_pair(
                    "rendezvous", lambda k: run_rdv(stacks[k], rv[k], procs, slots, secs))

            def sysc(k):
                r = worker_syscalls(stacks[k], sess[k], cfg.syscall_seconds, cfg.ab_conns)
                return r or {}
            rec["syscalls"] = {k: sysc(k) for k in ("old", "new")}
            out["rounds"].append(rec)
            h, c = rec["heartbeat"], rec["churn"]
            log("A/B round %d: heartbeat old %.0f new %.0f req/s (%.2fx; new %.2f of its ceiling %.0f); "
                "churn old %.0f new %.0f pairs/s (%.2fx)"
                % (rnd, h["old"]["rps"], h["new"]["rps"], h["new"]["rps"] / h["old"]["rps"],
                   h["new"]["rps"] / h["new"]["ceiling"], h["new"]["ceiling"],
                   c["old"]["pairs_s"], c["new"]["pairs_s"], c["new"]["pairs_s"] / max(1, c["old"]["pairs_s"])))
            for conns in cfg.ab_more_conns:
                h = rec["heartbeat_c%d" % conns]
                log("A/B round %d: heartbeat at -c%d: old %.0f new %.0f req/s (%.2fx; new %.2f of its ceiling %.0f)"
                    % (rnd, conns, h["old"]["rps"], h["new"]["rps"], h["new"]["rps"] / h["old"]["rps"],
                       h["new"]["rps"] / h["new"]["ceiling"], h["new"]["ceiling"]))
            for procs, slots in RDV_LOADS:
                r = rec["rdv%d" % (procs * slots)]
                log("A/B round %d: rendezvous %d in flight: old %.0f new %.0f trips/s (%.2fx), p50 old %.2f new "
                    "%.2f ms, errors old %s new %s"
                    % (rnd, procs * slots, r["old"]["trips_s"], r["new"]["trips_s"],
                       r["new"]["trips_s"] / max(1, r["old"]["trips_s"]), r["old"]["p50_us"] / 1e3,
                       r["new"]["p50_us"] / 1e3, r["old"]["errors"] or 0, r["new"]["errors"] or 0))
            s = rec["syscalls"]
            if s["old"] and s["new"]:
                log("A/B round %d: worker syscalls per heartbeat (%s): old %.2f new %.2f"
                    % (rnd, s["new"]["tool"], s["old"]["per_req"]["workers"]["syscalls"],
                       s["new"]["per_req"]["workers"]["syscalls"]))
        finally:
            for st in stacks.values():
                st.stop()


def ab_metric(ab, kind, key, build):
    return [r[kind][build][key] for r in ab.get("rounds", []) if kind in r]


def ab_pair_disturbed(pair):
    return max(pair["old"].get("disturbed", 0), pair["new"].get("disturbed", 0)) > DISTURBED


def ab_ratio(ab, kind, key):
    """(median of the rounds' new/old ratios, [per round], old mean, new mean,
    [per round: disturbed]). The median and means leave out the pairs that
    other users of the machine disturbed (more than DISTURBED of the CPU in
    either measurement, after the retry), unless every pair was."""
    rows = [r[kind] for r in ab.get("rounds", []) if kind in r and r[kind]["old"].get(key)]
    if not rows:
        return None
    per = [p["new"][key] / p["old"][key] for p in rows]
    dist = [ab_pair_disturbed(p) for p in rows]
    keep = [i for i in range(len(rows)) if not dist[i]] or list(range(len(rows)))
    o = [rows[i]["old"][key] for i in keep]
    n = [rows[i]["new"][key] for i in keep]
    return median([per[i] for i in keep]), per, sum(o) / len(o), sum(n) / len(n), dist


def fmt_x(x, threshold):
    """A ratio with 2 decimals, or 3 when 2 would round it onto the threshold."""
    t = "%.2f" % x
    return ("%.3f" % x if float(t) == threshold and x != threshold else t) + "x"


def fmt_rounds(r):
    """The per-round ratios of ab_ratio(), a dagger on disturbed pairs."""
    return ", ".join("%.2f%s" % (x, " †" if d else "") for x, d in zip(r[1], r[4]))


def ab_syscalls(ab, build, group="workers", key="syscalls"):
    return median([r["syscalls"][build]["per_req"][group][key] for r in ab.get("rounds", [])
                   if r.get("syscalls", {}).get(build) and group in r["syscalls"][build].get("per_req", {})
                   and key in r["syscalls"][build]["per_req"][group]])


# -- phase: throughput (new) -----------------------------------------------------

def phase_throughput(R, cfg):
    """The new worker under heartbeat load over a sweep of wrk connection
    counts, each with its own ceiling (nginx's fixed answer at the same
    connection count, measured just before on the same stack); then 4x the
    best count (max latency: the "no stall" target); 2 workers at the best
    count; the old build at the 4x count for contrast."""
    out = R.setdefault("throughput", {"runs": []})
    runs = out["runs"]
    secs = cfg.seconds
    st = stack_for("new", args=["--max-realms-per-ip", "0"]).start()
    try:
        sess = write_sessions(st, 256, "hb")
        d = measured_wrk(st, "/v1/x/nope", "fixed.lua", seconds=secs)
        runs.append(dict(kind="404", build="new", workers=1, ceiling=None, **d))
        log("404 from the worker (no Redis), c%d: %.0f req/s p50 %.2f ms (%d answers, %d of them non-2xx)"
            % (d["conns"], d["rps"], d["p50_us"] / 1e3, d["requests"], d["err_status"]))

        def point(conns, kind="heartbeat", timeout_s=5, stack=st, sessions=sess, workers=1, build="new"):
            c = measured_wrk(stack, "/fixed", "fixed.lua", conns=conns, seconds=secs)
            runs.append(dict(kind="fixed", build=build, workers=workers, ceiling=c["rps"], **c))
            h = measured_wrk(stack, "/", "heartbeat.lua", [sessions], conns=conns, seconds=secs, timeout_s=timeout_s)
            r = dict(kind=kind, build=build, workers=workers, ceiling=c["rps"], **h)
            runs.append(r)
            log("heartbeat %s, %d worker(s), c%d: %.0f req/s (%.2f of the ceiling %.0f) p50 %.2f p99 %.2f "
                "p99.9 %.2f max %.1f ms, errors %d (timeouts %d)"
                % (build, workers, conns, h["rps"], h["rps"] / c["rps"], c["rps"], h["p50_us"] / 1e3,
                   h["p99_us"] / 1e3, h.get("p999_us", 0) / 1e3, h["max_us"] / 1e3, wrk_errors(h),
                   h["err_timeout"]))
            return r
        sweep = [point(c) for c in cfg.sweep]
        best = max(sweep, key=lambda r: r["rps"])
        out["best_conns"] = best["conns"]
        out["stall_conns"] = 4 * best["conns"]
        point(4 * best["conns"], kind="stall", timeout_s=cfg.stall_timeout)
        if 4 * max(cfg.sweep) != 4 * best["conns"]:
            # the best point moves with the noise of other users: 4x the
            # largest count of the sweep as well
            point(4 * max(cfg.sweep), kind="stall", timeout_s=cfg.stall_timeout)
        st2 = stack_for("new", workers=2, args=["--max-realms-per-ip", "0"]).start()
        try:
            point(best["conns"], stack=st2, sessions=write_sessions(st2, 256, "hb"), workers=2)
        finally:
            st2.stop()
    finally:
        st.stop()
    if not BUILDS["old"].get("error"):
        st = stack_for("old", args=["--max-realms-per-ip", "0"]).start()
        try:
            point(4 * best["conns"], kind="stall", timeout_s=cfg.stall_timeout, stack=st,
                  sessions=write_sessions(st, 256, "hb"), build="old")
        finally:
            st.stop()


# -- phase: metrics (what counting costs) --------------------------------------

def phase_metrics(R, cfg):
    """Heartbeats with the worker's metrics on (the default) and off
    (--metrics false), on two stacks of the new build, interleaved rounds
    with the same wrk load: what the counting and the once-a-second flush
    cost."""
    out = R.setdefault("metrics", [])
    rounds = cfg.metrics_rounds
    base = ["--max-realms-per-ip", "0"]
    for k in range(rounds):
        for on in (True, False):
            st = stack_for("new", args=base + ["--metrics", "true" if on else "false"]).start()
            try:
                sess = write_sessions(st, 256, "hb")
                h = measured_wrk(st, "/", "heartbeat.lua", [sess], conns=32, seconds=cfg.seconds)
                out.append(dict(round=k + 1, metrics=on, **h))
                log("metrics %s, round %d: heartbeat %.0f req/s p50 %.2f ms"
                    % ("on" if on else "off", k + 1, h["rps"], h["p50_us"] / 1e3))
            finally:
                st.stop()


def rounds_table(L, runs, label, setting, rate_key, rate_label, first_over_second=False):
    """The rows of interleaved rounds of two settings (setting(d) names
    each), the medians and their ratio (the second setting's over the
    first's, or the other way). Appends to L."""
    A = L.append
    A("| round | %s | %s | p50 ms | p99 ms | errors | nginx | worker | redis | client | other |"
      % (label, rate_label))
    A("|---|---|---|---|---|---|---|---|---|---|---|")
    for d in runs:
        A("| %d | %s | %.0f%s | %s | %s | %d | %s |"
          % (d["round"], setting(d), d[rate_key], mark(d), fmt_ms(d["p50_us"]),
             fmt_ms(d["p99_us"]), d.get("bad", 0) + wrk_errors(d), cpu_cols(d["cpu_us"])))
    sides = {}
    for d in runs:
        sides.setdefault(setting(d), []).append(d)
    if len(sides) != 2:
        return
    (ka, da), (kb, db) = sides.items()
    ma, mb = median([d[rate_key] for d in da]), median([d[rate_key] for d in db])
    pa, pb = median([d["p50_us"] for d in da]), median([d["p50_us"] for d in db])
    A("")
    A("Median %.0f %s with %s, %.0f with %s: **%.2f**; p50 %s ms and %s ms."
      % (ma, rate_label, ka, mb, kb, (ma / mb if mb else 0.0) if first_over_second else
         (mb / ma if ma else 0.0), fmt_ms(pa), fmt_ms(pb)))


def metrics_section(R, cfg):
    runs = R.get("metrics")
    L = []
    A = L.append
    if not runs:
        return L
    A("## 7. What the metrics cost")
    A("")
    A("Heartbeats (wrk -t2 -c32, `lua/heartbeat.lua`, 256 realms) on a stack of the new build with")
    A("`--metrics true` (the default: counts in memory, one FCALL per second per worker) and with")
    A("`--metrics false`, one after the other in each round. CPU: us per request. The ratio is")
    A("on / off.")
    A("")
    rounds_table(L, runs, "metrics", lambda d: "on" if d["metrics"] else "off", "rps", "req/s",
                 first_over_second=True)
    A("")
    return L


# -- phase: churn (new) ------------------------------------------------------------

def measured_churn(st, tag, cfg):
    """wrk churn.lua (register + deregister pairs) on st, with the CPU
    meter; repeated once if other processes disturbed it."""
    m = CpuMeter(st)
    d = None
    for attempt in range(2):
        # as measured_wrk's retry, with a name prefix of its own
        m.start()
        e = wrk("http://127.0.0.1:%d/" % st.port, "churn.lua", [st.token, churn_prefix(tag)],
                threads=8, conns=8, seconds=cfg.seconds)
        e["cpu"] = m.stop()
        e["cpu_us"] = {k: e["cpu"][k] * 1e6 / max(1, e["requests"])
                       for k in ("nginx", "workers", "redis", "client", "other")}
        e["disturbed"] = disturbance(e["cpu"])
        e["busy"] = busy(e["cpu"])
        if d is None or e["disturbed"] < d["disturbed"]:
            d = dict(e, retried=attempt > 0)
        if e["disturbed"] <= DISTURBED:
            break
        log("  (other processes took %.0f%% of the CPU during that measurement: once more)"
            % (e["disturbed"] * 100))
        time.sleep(3)
    d["pairs_s"] = d["pairs"] / (d["duration_us"] / 1e6)
    return d


def phase_churn(R, cfg):
    out = R.setdefault("churn", [])
    for nw in (1, 2):
        st = stack_for("new", workers=nw, args=["--max-realms-per-ip", "0", "--max-realms", "0"]).start()
        try:
            d = measured_churn(st, "c%d" % nw, cfg)
            d["workers"] = nw
            d["left_registered"] = st.redis("ZCARD", "hr:realms")
            out.append(d)
            log("churn, %d worker(s): %.0f register+deregister pairs/s (p50 %.2f ms per request), failed %d %s"
                % (nw, d["pairs_s"], d["p50_us"] / 1e3, d["bad"], d.get("bad_codes", "").strip()))
        finally:
            st.stop()


# -- phase: durable (what --redis-wait costs) ---------------------------------------

def start_replica(st):
    """A redis-server replicating st's Redis, in sync; the Popen."""
    port = bs.free_port()
    rdir = os.path.join(st.rundir, "replica")
    os.makedirs(rdir, exist_ok=True)
    p = subprocess.Popen([bs.find_program("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
                          "--dir", rdir, "--save", "", "--appendonly", "no",
                          "--repl-diskless-sync-delay", "0", "--replicaof", "127.0.0.1", str(st.redis_port)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bs.wait_until(lambda: "master_link_status:up" in bs.redis_command(port, "INFO", "replication"),
                  15, "the replica in sync")
    return p


def phase_durable(R, cfg):
    """Register + deregister churn with one replica attached, the workers
    without and with --redis-wait 1 (each change answered once the replica
    has it), interleaved rounds: what the durability option costs."""
    out = R.setdefault("durable", [])
    base = ["--max-realms-per-ip", "0", "--max-realms", "0"]
    for k in range(cfg.metrics_rounds):
        for wait in (0, 1):
            st = stack_for("new", args=base + ["--redis-wait", str(wait)]).start()
            rep = None
            try:
                rep = start_replica(st)
                d = measured_churn(st, "w%d%d" % (wait, k), cfg)
                d.update(round=k + 1, wait=wait)
                out.append(d)
                log("durable: --redis-wait %d, round %d: %.0f pairs/s, p50 %.2f ms, p99 %.2f ms"
                    % (wait, k + 1, d["pairs_s"], d["p50_us"] / 1e3, d["p99_us"] / 1e3))
            finally:
                if rep is not None:
                    bs.Stack._term(rep)
                st.stop()


def durable_section(R, cfg):
    runs = R.get("durable")
    L = []
    A = L.append
    if not runs:
        return L
    A("## 8. What --redis-wait costs")
    A("")
    A("The churn load of section 3 (wrk -t8 -c8, `lua/churn.lua`, one worker) against a Redis with one")
    A("replica on loopback, the worker with `--redis-wait 0` (off) and `--redis-wait 1` (a register or")
    A("deregister is answered once the replica acknowledged it: one `WAIT 1 200` per loop turn on a")
    A("connection of its own), one after the other in each round. CPU: us per request. The ratio is")
    A("with / without.")
    A("")
    rounds_table(L, runs, "--redis-wait", lambda d: str(d["wait"]), "pairs_s", "pairs/s")
    A("")
    return L


# -- phase: rendezvous (new) -------------------------------------------------------

def phase_rendezvous(R, cfg):
    out = R.setdefault("rendezvous", [])
    for nw in (1, 2):
        st = stack_for("new", workers=nw, args=["--max-realms-per-ip", "0"]).start()
        try:
            names = ["rv%d" % i for i in range(RDV_REALMS)]
            sessions = hf.register_many(st.port, st.token, names)
            for procs, slots in RDV_LOADS:
                d = measured_rdv(st, sessions, procs, slots, cfg.seconds)
                d["workers"] = nw
                out.append(d)
                log("rendezvous, %d worker(s), %d in flight: %.0f round trips/s p50 %.2f ms p99 %.2f ms "
                    "(punch seen after p50 %.2f ms) errors %s"
                    % (nw, d["in_flight"], d["trips_s"], d["p50_us"] / 1e3, d["p99_us"] / 1e3,
                       d["punch_p50_us"] / 1e3, d["errors"] or "none"))
        finally:
            st.stop()


# -- phase: idle streams -----------------------------------------------------------

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


def streams_run(label, nworkers, n, opts, nprobes=5, build="new"):
    wopts = dict(opts)
    wopts.setdefault("worker_processes", 2)
    st = stack_for(build, workers=nworkers,
                   args=["--max-realms-per-ip", "0", "--max-realms", "0", "--session-ttl", "3600"],
                   nginx_opts=wopts).start()
    holders = []
    probes = []
    res = {"label": label, "workers": nworkers, "target": n, "build": build}
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
                                               r"worker_rlimit_nofile|listen|fastcgi_keep_conn|keepalive)\b", l)]
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


def template_sizes(tree=REPO):
    """The size lines of a tree's nginx template, for the variants' text."""
    try:
        with open(os.path.join(tree, "deploy", "nginx", "local.conf.in")) as f:
            t = f.read()
    except OSError:
        return "?"
    out = []
    for key in ("fastcgi_buffer_size", "client_header_buffer_size", "request_pool_size"):
        vals = re.findall(r"^\s*%s\s+(\S+);" % key, t, re.M)
        if vals:
            out.append("%s %s" % (key, "/".join(vals)))
    return ", ".join(out)


def phase_streams(R, cfg):
    out = R.setdefault("streams", {"variants": [], "max": [], "old": []})
    out["template_sizes"] = template_sizes()
    for key, desc, opts in VARIANTS:
        if key not in cfg.variants:
            continue
        r = streams_run(key, 1, cfg.variant_streams, opts)
        r["desc"] = desc % out["template_sizes"] if "%s" in desc else desc
        out["variants"].append(r)
    if not BUILDS["old"].get("error"):
        r = streams_run(OLD_STREAMS, 1, cfg.variant_streams, {}, build="old")
        out["old"].append(r)
    best = [o for k, _, o in VARIANTS if k == BEST][0]
    for nw in (1, 2):
        opts = dict(best)
        opts["worker_connections"] = cfg.max_worker_connections
        r = streams_run("%s, worker_connections %d" % (BEST, cfg.max_worker_connections), nw,
                        cfg.max_streams, opts)
        out["max"].append(r)


# -- phase: profile (new) ------------------------------------------------------------

def perf_record(pids, data, seconds):
    return subprocess.Popen(["perf", "record", "-F", "997", "-p", ",".join(str(p) for p in pids),
                             "-o", data, "--", "sleep", str(seconds)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def perf_report(data):
    out = {}
    rep = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "comm,dso",
                          "--stdio", "-g", "none", "--percent-limit", "0.7"],
                         capture_output=True, text=True, timeout=120).stdout
    out["comm_dso"] = [l.rstrip() for l in rep.splitlines() if l.strip() and not l.startswith("#")][:30]
    rep = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "comm,sym",
                          "--stdio", "-g", "none", "--percent-limit", "0.4"],
                         capture_output=True, text=True, timeout=120).stdout
    out["sym"] = [l.rstrip() for l in rep.splitlines() if l.strip() and not l.startswith("#")][:40]
    return out


def phase_profile(R, cfg):
    prof = R.setdefault("profile", {})
    # sessions for an hour: the profile takes longer than the default ttl
    st = stack_for("new", args=["--max-realms-per-ip", "0", "--max-realms", "0", "--session-ttl", "3600"]).start()
    try:
        sess = write_sessions(st, 256, "pf")
        url = "http://127.0.0.1:%d" % st.port
        if perf_available():
            for kind, path, script, args in (("heartbeat", "/", "heartbeat.lua", [sess]),
                                             ("fixed", "/fixed", "fixed.lua", [])):
                d, counts = perf_stat_groups(st, 4, lambda: wrk(url + path, script, args, conns=cfg.ab_conns,
                                                                seconds=4))
                n = max(1, d["requests"])
                prof.setdefault("syscalls", {})[kind] = {
                    g: {"syscalls": v.get("raw_syscalls:sys_enter", 0) / n,
                        "ctxsw": v.get("context-switches", 0) / n} for g, v in counts.items()}
                prof["syscalls"][kind]["rps"] = d["rps"]
            # churn and rendezvous: per request (churn) and per round trip
            d, counts = perf_stat_groups(st, 4, lambda: wrk(url + "/", "churn.lua", [st.token, churn_prefix("pf")],
                                                            threads=8, conns=8, seconds=4))
            n = max(1, d["requests"])
            prof["syscalls"]["churn"] = {g: {"syscalls": v.get("raw_syscalls:sys_enter", 0) / n,
                                             "ctxsw": v.get("context-switches", 0) / n} for g, v in counts.items()}
            prof["syscalls"]["churn"]["rps"] = d["rps"]
            sessions = hf.register_many(st.port, st.token, ["rv%d" % i for i in range(RDV_REALMS)])
            # the drivers need ~1.5 s to open their streams before the 4 s of load
            d, counts = perf_stat_groups(st, 7, lambda: run_rdv(st, sessions, 2, 32, 4))
            n = max(1, d["all_trips"])
            prof["syscalls"]["rdv"] = {g: {"syscalls": v.get("raw_syscalls:sys_enter", 0) / n,
                                           "ctxsw": v.get("context-switches", 0) / n} for g, v in counts.items()}
            prof["syscalls"]["rdv"]["rps"] = d["trips_s"]
            # which system calls the worker makes (strace -c: counts only,
            # strace slows the worker down)
            if shutil.which("strace"):
                sp = subprocess.Popen(["strace", "-c", "-f", "-q", "-p", str(st.worker_pids()[0])],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                time.sleep(0.5)
                d = wrk(url + "/", "heartbeat.lua", [sess], conns=cfg.ab_conns, seconds=3)
                sp.send_signal(signal.SIGINT)
                err = sp.communicate(timeout=30)[1]
                prof["strace"] = {"requests": d["requests"],
                                  "calls": {m.group(2): int(m.group(1)) for m in re.finditer(
                                      r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$", err, re.M)
                                      if m.group(2) != "total"}}
            # what Redis's append-only file costs per heartbeat (deploy/redis.conf.in
            # has appendonly yes, appendfsync everysec)
            aof = {}
            for val in ("yes", "no", "yes"):
                st.redis("CONFIG", "SET", "appendonly", val)
                time.sleep(0.5)
                d = measured_wrk(st, "/", "heartbeat.lua", [sess], conns=cfg.ab_conns, seconds=cfg.seconds)
                aof.setdefault(val, []).append({k: d[k] for k in ("rps", "cpu_us", "disturbed")})
            prof["aof"] = aof
            # where the CPU goes under heartbeat load: only our processes
            # (other users of the machine run nginx, redis and workers of the
            # same names)
            data = os.path.join(st.rundir, "perf-hb.data")
            w = subprocess.Popen(["wrk", "-t", "2", "-c", str(cfg.ab_conns), "-d", "6s", "-s",
                                  os.path.join(LUA, "heartbeat.lua"), url, "--", sess],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
            pids = st.nginx_pids() + st.worker_pids() + [st.redis_pid(), w.pid]
            perf_record(pids, data, 4).wait(60)
            w.wait(30)
            prof["heartbeat"] = perf_report(data)
            # ... and under the rendezvous load of the target (64 in flight)
            data = os.path.join(st.rundir, "perf-rdv.data")
            pids = st.nginx_pids() + st.worker_pids() + [st.redis_pid()]
            p = perf_record(pids, data, 5)
            d = run_rdv(st, sessions, 2, 32, 4)
            p.wait(60)
            prof["rdv"] = perf_report(data)
            prof["rdv_run"] = {k: d[k] for k in ("trips_s", "p50_us", "cpu_us", "disturbed")}
            log("profile: perf done")
        else:
            prof["perf"] = "perf not usable here"
    finally:
        st.stop()
    if cfg.callgrind and shutil.which("valgrind"):
        callgrind(prof, cfg)


def callgrind(prof, cfg):
    """The new worker under callgrind, a short heartbeat load at low concurrency."""
    rundir = tempfile.mkdtemp(prefix="rr-bench-cg-")
    out = os.path.join(rundir, "callgrind.out")
    wrapper = os.path.join(rundir, "worker-under-callgrind")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file=%s %s \"$@\"\n"
                % (out, BUILDS["new"]["worker"]))
    os.chmod(wrapper, 0o755)
    st = bs.Stack(workers=1, worker_args=["--max-realms-per-ip", "0"], nginx_opts=NGINX_BASE, rundir=rundir,
                  worker=wrapper)
    try:
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
        st.stop()
        shutil.rmtree(rundir, ignore_errors=True)


# -- report ----------------------------------------------------------------------

def callgrind_total(pf):
    m = re.match(r"([\d,]+)", pf.get("callgrind_total", ""))
    return int(m.group(1).replace(",", "")) if m else 0


def mark(d):
    """A dagger for a measurement that other users of the machine disturbed."""
    return " †" if d.get("disturbed", 0) > DISTURBED else ""


def fmt_ms(us):
    return "-" if us is None else "%.2f" % (us / 1e3)


def met(ok):
    return "met" if ok else "**missed**"


def cpu_cols(c):
    return "%.0f | %.0f | %.0f | %.0f | %.0f" % (c["nginx"], c["workers"], c["redis"], c["client"], c["other"])


def targets(R, cfg):
    """[(target, this run, met or missed, met bool or None)] from the run."""
    rows = []
    ab = R.get("ab") or {}
    if ab.get("rounds"):
        r = ab_ratio(ab, "heartbeat", "rps")
        txt = "**%s** at -c%d (%.0f -> %.0f req/s; rounds %s)" % (fmt_x(r[0], 2.5), ab["conns"], r[2], r[3],
                                                                   fmt_rounds(r))
        ok = r[0] >= 2.5
        for c in ab.get("more_conns", []):
            r2 = ab_ratio(ab, "heartbeat_c%d" % c, "rps")
            if r2:
                txt += "; **%s** at -c%d (%.0f -> %.0f; rounds %s)" % (fmt_x(r2[0], 2.5), c, r2[2], r2[3],
                                                                     fmt_rounds(r2))
                ok = ok or r2[0] >= 2.5
        rows.append(("heartbeat req/s >= 2.5x the old build's (the same wrk -t2 load for both)", txt, ok))
        quiet = [x for x in ab["rounds"] if x["heartbeat"]["new"].get("disturbed", 0) <= DISTURBED] or ab["rounds"]
        shares = [x["heartbeat"]["new"]["rps"] / x["heartbeat"]["new"]["ceiling"] for x in quiet]
        ceil = [x["heartbeat"]["new"]["ceiling"] for x in quiet]
        sw = [x for x in (R.get("throughput") or {}).get("runs", [])
              if x["kind"] == "heartbeat" and x["build"] == "new" and x.get("ceiling")]
        swb = max(sw, key=lambda x: x["rps"] / x["ceiling"]) if sw else None
        more = []
        best_share = median(shares)
        for c in ab.get("more_conns", []):
            k = "heartbeat_c%d" % c
            q = [x for x in ab["rounds"] if k in x and x[k]["new"].get("disturbed", 0) <= DISTURBED] or \
                [x for x in ab["rounds"] if k in x]
            if q:
                sh = median([x[k]["new"]["rps"] / x[k]["new"]["ceiling"] for x in q])
                best_share = max(best_share, sh)
                more.append("**%.2f** at -c%d" % (sh, c))
        rows.append(("heartbeat >= 0.40 of nginx's fixed answer (same stack, same run)",
                     "**%.2f** at -c%d (median of the undisturbed rounds %s; ceiling %.0f req/s)%s%s"
                     % (median(shares), ab["conns"], ", ".join("%.2f" % x for x in shares), median(ceil),
                        "; " + "; ".join(more) if more else "",
                        "; best of the connection sweep %.2f at %d worker%s -c%d"
                        % (swb["rps"] / swb["ceiling"], swb["workers"], "s" if swb["workers"] > 1 else "",
                           swb["conns"]) if swb else ""),
                     best_share >= 0.40))
        r = ab_ratio(ab, "churn", "pairs_s")
        rows.append(("register + deregister pairs/s >= 2.5x the old build's",
                     "**%s** (%.0f -> %.0f pairs/s; rounds %s)"
                     % (fmt_x(r[0], 2.5), r[2], r[3], fmt_rounds(r)), r[0] >= 2.5))
        k = "rdv%d" % (RDV_LOADS[-1][0] * RDV_LOADS[-1][1])
        r = ab_ratio(ab, k, "trips_s")
        rows.append(("rendezvous round trips/s (%d realms, %d in flight) >= 2.5x the old build's"
                     % (RDV_REALMS, RDV_LOADS[-1][0] * RDV_LOADS[-1][1]),
                     "**%s** (%.0f -> %.0f round trips/s; rounds %s)"
                     % (fmt_x(r[0], 2.5), r[2], r[3], fmt_rounds(r)), r[0] >= 2.5))
        p50 = [x["rdv1"]["new"]["p50_us"] for x in ab["rounds"]
               if x["rdv1"]["new"].get("disturbed", 0) <= DISTURBED] or ab_metric(ab, "rdv1", "p50_us", "new")
        old50 = ab_metric(ab, "rdv1", "p50_us", "old")
        rv1 = [d for d in (R.get("rendezvous") or []) if d["in_flight"] == 1]
        extra = "; rendezvous phase: %s" % ", ".join(
            "%s ms with %d worker%s" % (fmt_ms(d["p50_us"]), d["workers"], "s" if d["workers"] > 1 else "")
            for d in rv1) if rv1 else ""
        rows.append(("round trip p50 at 1 in flight <= 0.6 ms",
                     "**%s ms** (median of the undisturbed rounds %s; old %s ms%s)"
                     % (fmt_ms(median(p50)), " ".join(fmt_ms(x) for x in p50), fmt_ms(median(old50)), extra),
                     median(p50) <= 600))
        sn, so = ab_syscalls(ab, "new"), ab_syscalls(ab, "old")
        tool = next((x["syscalls"]["new"].get("tool") for x in ab["rounds"] if x.get("syscalls", {}).get("new")),
                    None)
        if sn is not None:
            rows.append(("worker system calls per heartbeat <= 3 (old: 9)",
                         "**%.2f** (old build %.2f; %s on the worker process, under wrk -c%d)"
                         % (sn, so, "perf stat -e raw_syscalls:sys_enter" if tool == "perf" else "strace -c -f",
                            ab["conns"]), sn <= 3))
    elif ab.get("error"):
        rows.append(("old vs new (A/B)", "not measured: %s" % ab["error"], None))
    tp = (R.get("throughput") or {}).get("runs", [])
    stall = [r for r in tp if r["kind"] == "stall" and r["build"] == "new"]
    if stall:
        best = (R.get("throughput") or {}).get("best_conns")
        rows.append(("no stall: at 4x the best-throughput connections no request waits over 1 s",
                     "; ".join("**max %.0f ms** at %d connections (%sp99 %s, p99.9 %s ms; %d timeouts, %d errors)"
                               % (s["max_us"] / 1e3, s["conns"],
                                  "4 x the best, %d; " % best if best and s["conns"] == 4 * best else "",
                                  fmt_ms(s["p99_us"]), fmt_ms(s.get("p999_us")), s["err_timeout"], wrk_errors(s))
                               for s in stall),
                     all(s["max_us"] < 1e6 and s["err_timeout"] == 0 for s in stall)))
    sm = R.get("streams")
    if sm and (sm.get("variants") or sm.get("max")):
        allr = sm["variants"] + sm["max"]
        n1 = max([r["opened"] for r in allr if r["workers"] == 1] or [0])
        n2 = max([r["opened"] for r in allr if r["workers"] == 2] or [0])
        fails = sum(r["failed"] for r in allr)
        small = cfg.max_streams < 9000
        rows.append(("held streams: >= 9,000 per worker", "**%d** on one worker, %d over two (%d failed to open)%s"
                     % (n1, n2, fails, "; --quick opens fewer" if small else ""),
                     None if small and fails == 0 else n1 >= 9000))
        wmax = max(r["per_stream"]["workers"] for r in allr)
        old = sm.get("old") or []
        rows.append(("worker RSS <= 1 KiB per idle stream", "**%.0f B** at most%s"
                     % (wmax, " (old build %.0f B)" % old[0]["per_stream"]["workers"] if old else ""),
                     wmax <= 1024))
        cand = [r for r in allr if r["label"] == TEMPLATE or r["label"].startswith(BEST)]
        if cand:
            smax = max(r["per_stream"]["stack"] for r in cand)
            rows.append(("whole stack < 12 KiB per idle stream",
                         "**%.0f B** at most with the template (%s) or %s%s"
                         % (smax, TEMPLATE, BEST, " (old build %.0f B)" % old[0]["per_stream"]["stack"] if old else ""),
                         smax < 12 * 1024))
        pmax = max([p[0] for r in allr for p in r["probes"]] or [0])
        pok = all(p[2] for r in allr for p in r["probes"])
        rows.append(("a punch arrives within 50 ms while all streams are open",
                     "**slowest %.1f ms** (every connect got its answer: %s)" % (pmax, "yes" if pok else "NO"),
                     pmax <= 50 and pok))
    return rows


# The build the event-loop issue's targets (2.5x heartbeats, ...) compare
# against; with another BENCH_BASE the summary says so instead.
TARGETS_BASE = "3f07a6b"


def summary(R, cfg):
    L = []
    A = L.append
    old = R.get("builds", BUILDS).get("old", {})
    if old.get("rev") and not old["rev"].startswith(TARGETS_BASE):
        A("## Summary")
        A("")
        A("The old build here is %s (%s): section 1 compares this tree with it, round by round."
          % (old["rev"], old.get("subject", "")))
        A("The targets of the event-loop issue are ratios against %s: `BENCH_BASE=%s tests/bench/run`"
          % (TARGETS_BASE, TARGETS_BASE))
        A("measures them.")
        A("")
        return L
    rows = targets(R, cfg)
    if not rows:
        return L
    A("## Summary")
    A("")
    A("| target | this run | |")
    A("|---|---|---|")
    for t, v, ok in rows:
        A("| %s | %s | %s |" % (t, v, "-" if ok is None else met(ok)))
    A("")
    return L


def ab_section(R, cfg):
    ab = R.get("ab")
    L = []
    A = L.append
    if not ab:
        return L
    A("## 1. Old vs new (A/B)")
    A("")
    o, n = ab["old"], ab["new"]
    A("- **old**: commit %s (%s), built by tests/bench/run in %s; its own tree's nginx template"
      % (o.get("rev") or "?", o.get("subject") or "", o.get("dir")))
    A("  (`fastcgi_keep_conn %s`), redis.conf and Lua scripts (`--scripts-dir`); `--threads 4` (its default)."
      % (o.get("keep_conn") or "?"))
    A("- **new**: %s, build-bench/; the working tree's template (`fastcgi_keep_conn %s`, upstream `keepalive`),"
      % (n.get("rev"), n.get("keep_conn") or "?"))
    A("  redis.conf and sql/ (Redis functions).")
    A("")
    if ab.get("error"):
        A("Not measured: %s" % ab["error"])
        A("")
        return L
    if not ab.get("rounds"):
        A("No round was completed.")
        A("")
        return L
    A("Each round starts one stack per build (1 worker, nginx with 2 processes, Redis; worker flags")
    A("`%s`) and runs every measurement on old, then at once on new. A pair during which other"
      % " ".join(AB_ARGS))
    A("users of the machine took more than %d%% of the CPU is taken once more and the less disturbed kept."
      % (DISTURBED * 100))
    A("%d s per measurement, %d rounds. Heartbeat: wrk -t2 -c%s, `lua/heartbeat.lua` over 256 realms; the ceiling"
      % (ab["seconds"], len(ab["rounds"]), " and -c".join(str(c) for c in [ab["conns"]] + ab.get("more_conns", []))))
    A("is `location = /fixed` (nginx's fixed answer) on the same stack with the same wrk load, just before.")
    A("Churn: wrk -t8 -c8, `lua/churn.lua`. Rendezvous: `rdv.py` over %d realms at 1 and %d in flight."
      % (ab["rdv_realms"], RDV_LOADS[-1][0] * RDV_LOADS[-1][1]))
    A("")
    A("Ratios: the median over the rounds whose pair was not disturbed (other users above %d%% of the CPU in"
      % (DISTURBED * 100))
    A("either run, after the retry: marked † and left out, unless every round was); old and new: means of")
    A("the same rounds (latencies: medians).")
    A("")
    A("| measure | old | new | new / old | per round |")
    A("|---|---|---|---|---|")
    hbk = [("heartbeat", ab["conns"])] + [("heartbeat_c%d" % c, c) for c in ab.get("more_conns", [])]
    for kind, key, lab, f in [x for k, c in hbk for x in
                              ((k, "rps", "heartbeat req/s, wrk -c%d" % c, "%.0f"),
                               (k, "ceiling", "ceiling (nginx /fixed) req/s, wrk -c%d" % c, "%.0f"))] + [
                              ("churn", "pairs_s", "register+deregister pairs/s", "%.0f"),
                              ("rdv64", "trips_s", "rendezvous round trips/s, 64 in flight", "%.0f"),
                              ("rdv1", "trips_s", "rendezvous round trips/s, 1 in flight", "%.0f")]:
        r = ab_ratio(ab, kind, key)
        if r:
            A("| %s | %s | %s | **%.2fx** | %s |" % (lab, f % r[2], f % r[3], r[0], fmt_rounds(r)))
    for kind, key, lab in (("rdv1", "p50_us", "round trip p50 ms, 1 in flight"),
                           ("rdv64", "p50_us", "round trip p50 ms, 64 in flight"),
                           ("heartbeat", "p50_us", "heartbeat p50 ms"),
                           ("heartbeat", "p99_us", "heartbeat p99 ms")):
        r = ab_ratio(ab, kind, key)
        if r:
            A("| %s | %s | %s | %.2fx | %s |" % (lab, fmt_ms(median(ab_metric(ab, kind, key, "old"))),
                                               fmt_ms(median(ab_metric(ab, kind, key, "new"))), r[0],
                                               fmt_rounds(r)))
    for k, c in hbk:
        shares = {b: median([x[k][b]["rps"] / x[k][b]["ceiling"] for x in ab["rounds"] if k in x])
                  for b in ("old", "new")}
        if shares["old"]:
            A("| heartbeat / ceiling, wrk -c%d | %.2f | %.2f | %.2fx | |"
              % (c, shares["old"], shares["new"], shares["new"] / shares["old"]))
    for g, lab in (("workers", "worker"), ("nginx", "nginx"), ("redis", "Redis")):
        so, sn = ab_syscalls(ab, "old", g), ab_syscalls(ab, "new", g)
        if so is not None and sn is not None:
            A("| %s system calls per heartbeat | %.2f | %.2f | %.2fx | |" % (lab, so, sn, sn / so if so else 0))
        co, cn = ab_syscalls(ab, "old", g, "ctxsw"), ab_syscalls(ab, "new", g, "ctxsw")
        if co is not None and cn is not None:
            A("| %s context switches per heartbeat | %.2f | %.2f | %.2fx | |" % (lab, co, cn, cn / co if co else 0))
    for kind, lab, per in (("heartbeat", "CPU us per heartbeat", 1), ("churn", "CPU us per churn pair", 2),
                           ("rdv64", "CPU us per round trip (64 in flight)", 1)):
        tot = {}
        for b in ("old", "new"):
            tot[b] = median([sum(x[kind][b]["cpu_us"][k] for k in ("nginx", "workers", "redis")) * per
                             for x in ab["rounds"]])
        A("| %s, nginx + worker + Redis | %.0f | %.0f | %.2fx | |" % (lab, tot["old"], tot["new"],
                                                                     tot["new"] / tot["old"]))
    A("")
    tool = next((x["syscalls"]["new"].get("tool") for x in ab["rounds"] if x.get("syscalls", {}).get("new")), None)
    if tool == "perf":
        A("System calls: `perf stat -e raw_syscalls:sys_enter,context-switches -p <pid>` on the worker process")
        A("(all its threads), and apart on nginx's and Redis's processes, for %d s of heartbeat load (the A/B's"
          % cfg.syscall_seconds)
        A("wrk load; a separate run from the throughput one, so perf does not slow the measured runs), divided")
        A("by the requests wrk got answered in that window.")
    elif tool == "strace":
        A("System calls: `strace -c -f -p <worker pid>` (perf not usable here) for %d s of heartbeat load,"
          % cfg.syscall_seconds)
        A("divided by the requests wrk got answered in that window.")
    A("")
    A("Per round (CPU: microseconds per request, per churn request, per round trip; `other` = processes")
    A("outside the bench):")
    A("")
    A("| round | wrk -c | build | ceiling req/s | heartbeat req/s | / ceiling | p50 ms | p99 ms | max ms | errors | nginx | worker | redis | client | other |")
    A("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for x in ab["rounds"]:
        for k, c in hbk:
            if k not in x:
                continue
            for b in ("old", "new"):
                h = x[k][b]
                A("| %d | %d | %s | %.0f | %.0f%s | %.2f | %s | %s | %s | %d | %s |"
                  % (x["round"], c, b, h["ceiling"], h["rps"], mark(h), h["rps"] / h["ceiling"], fmt_ms(h["p50_us"]),
                     fmt_ms(h["p99_us"]), fmt_ms(h["max_us"]), wrk_errors(h), cpu_cols(h["cpu_us"])))
    A("")
    A("| round | build | churn pairs/s | p50 ms | p99 ms | failed | nginx | worker | redis | client | other |")
    A("|---|---|---|---|---|---|---|---|---|---|---|")
    for x in ab["rounds"]:
        for b in ("old", "new"):
            d = x["churn"][b]
            A("| %d | %s | %.0f%s | %s | %s | %d | %s |"
              % (x["round"], b, d["pairs_s"], mark(d), fmt_ms(d["p50_us"]), fmt_ms(d["p99_us"]),
                 d["bad"] + wrk_errors(d), cpu_cols(d["cpu_us"])))
    A("")
    A("| round | build | in flight | round trips/s | p50 ms | p90 ms | p99 ms | max ms | punch p50 ms | errors | nginx | worker | redis | driver | other |")
    A("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for x in ab["rounds"]:
        for procs, slots in RDV_LOADS:
            for b in ("old", "new"):
                d = x["rdv%d" % (procs * slots)][b]
                A("| %d | %s | %d | %.0f%s | %s | %s | %s | %s | %s | %s | %s |"
                  % (x["round"], b, d["in_flight"], d["trips_s"], mark(d), fmt_ms(d["p50_us"]), fmt_ms(d["p90_us"]),
                     fmt_ms(d["p99_us"]), fmt_ms(d["max_us"]), fmt_ms(d["punch_p50_us"]),
                     sum(d["errors"].values()) if d["errors"] else 0, cpu_cols(d["cpu_us"])))
    A("")
    if any(x.get("syscalls", {}).get("new") for x in ab["rounds"]):
        A("| round | build | req/s (counted run) | worker syscalls | worker ctx sw | nginx syscalls | nginx ctx sw | redis syscalls | redis ctx sw |")
        A("|---|---|---|---|---|---|---|---|---|")
        for x in ab["rounds"]:
            for b in ("old", "new"):
                s = x.get("syscalls", {}).get(b)
                if not s:
                    continue
                p = s["per_req"]

                def g(grp, k):
                    v = p.get(grp, {}).get(k)
                    return "-" if v is None else "%.2f" % v
                A("| %d | %s | %.0f | %s | %s | %s | %s | %s | %s |"
                  % (x["round"], b, s["rps"], g("workers", "syscalls"), g("workers", "ctxsw"), g("nginx", "syscalls"),
                     g("nginx", "ctxsw"), g("redis", "syscalls"), g("redis", "ctxsw")))
        A("")
    return L


def throughput_section(R, cfg):
    tp = R.get("throughput")
    L = []
    A = L.append
    if not tp:
        return L
    runs = tp["runs"]
    A("## 2. Heartbeat throughput of the new worker, by wrk connection count")
    A("")
    A("wrk -t2 -c N, %d s each, `POST /v1/{name}/heartbeat` with a session, body `{}`, over 256 realms. Before"
      % cfg.seconds)
    A("each heartbeat row, the ceiling (nginx's `/fixed`) with the same N on the same stack. `404 via worker`")
    A("is `GET /v1/x/nope` (nginx + FastCGI + the worker, no Redis). The `stall` rows run at 4x the")
    A("connection count of the best heartbeat row (and at 4x the sweep's largest count when that differs),")
    A("with wrk's `--timeout %ds`: the max column is the slowest"
      % cfg.stall_timeout)
    A("answer (wrk counts one that takes longer than the timeout under timeouts). CPU: us per request.")
    A("")
    A("| what | build | workers | wrk -c | req/s | vs ceiling | p50 ms | p99 ms | p99.9 ms | max ms | errors (timeouts) | nginx | worker | redis | client | other |")
    A("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        what = {"fixed": "ceiling (nginx /fixed)", "404": "404 via worker", "heartbeat": "**heartbeat**",
                "stall": "**heartbeat, stall check**"}[r["kind"]]
        A("| %s | %s | %d | %d | %.0f%s | %s | %s | %s | %s | %s | %d (%d) | %s |"
          % (what, r["build"], r["workers"], r["conns"], r["rps"], mark(r),
             "%.2f" % (r["rps"] / r["ceiling"]) if r.get("ceiling") else "-", fmt_ms(r["p50_us"]),
             fmt_ms(r["p99_us"]), fmt_ms(r.get("p999_us")), fmt_ms(r["max_us"]), wrk_errors(r), r["err_timeout"],
             cpu_cols(r["cpu_us"])))
    A("")
    hb = [r for r in runs if r["kind"] == "heartbeat" and r["workers"] == 1]
    if hb:
        b = max(hb, key=lambda r: r["rps"])
        A("Best: %.0f req/s at -c%d (%.2f of its ceiling). Stall check at -c%d: see the summary."
          % (b["rps"], b["conns"], b["rps"] / b["ceiling"], tp.get("stall_conns", 0)))
        A("")
    return L


def churn_section(R, cfg):
    ch = R.get("churn")
    L = []
    A = L.append
    if not ch:
        return L
    A("## 3. Register + deregister churn (new)")
    A("")
    A("wrk -t8 -c8 (one connection per thread, so each answer belongs to the request just sent),")
    A("`lua/churn.lua`: register a unique name, take `session_id` from the answer, `DELETE` it;")
    A("`--max-realms-per-ip 0 --max-realms 0`.")
    A("")
    A("| workers | pairs/s | requests/s | p50 ms | p99 ms | failed | nginx | worker | redis | client | other |")
    A("|---|---|---|---|---|---|---|---|---|---|---|")
    for d in ch:
        A("| %d | %.0f%s | %.0f | %s | %s | %d | %s |"
          % (d["workers"], d["pairs_s"], mark(d), d["rps"], fmt_ms(d["p50_us"]), fmt_ms(d["p99_us"]),
             d["bad"] + wrk_errors(d), cpu_cols(d["cpu_us"])))
    A("")
    A("(CPU per request, not per pair; a pair is two requests.)")
    for d in ch:
        if d.get("bad"):
            A("Failed with %d worker%s: %s (request:status, the first few)."
              % (d["workers"], "s" if d["workers"] > 1 else "", d.get("bad_codes", "").strip() or "?"))
    A("")
    return L


def rdv_section(R, cfg):
    rv = R.get("rendezvous")
    L = []
    A = L.append
    if not rv:
        return L
    A("## 4. Rendezvous round trips (new)")
    A("")
    A("`rdv.py`: per round trip, measured by the client: `POST /v1/{name}/connect` -> the punch")
    A("arrives on the holder's event stream -> the holder posts `connects/{nonce}` at once -> the")
    A("connect returns 200 with the holder's answer (checked). %d realms, one stream each, every" % RDV_REALMS)
    A("in-flight round trip on a different realm; keep-alive connections; 1 or 2 driver processes")
    A("(single-threaded selectors loops in Python: their CPU is the `driver` column). %d s each." % cfg.seconds)
    A("")
    A("| workers | in flight | round trips/s | p50 ms | p90 ms | p99 ms | max ms | punch seen p50 ms | errors | nginx | worker | redis | driver | other |")
    A("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for d in rv:
        A("| %d | %d | %.0f%s | %s | %s | %s | %s | %s | %s | %s |"
          % (d["workers"], d["in_flight"], d["trips_s"], mark(d), fmt_ms(d["p50_us"]), fmt_ms(d["p90_us"]),
             fmt_ms(d["p99_us"]), fmt_ms(d["max_us"]), fmt_ms(d["punch_p50_us"]),
             sum(d["errors"].values()) if d["errors"] else 0, cpu_cols(d["cpu_us"])))
    A("")
    return L


def streams_section(R, cfg):
    sm = R.get("streams")
    L = []
    A = L.append
    if not sm:
        return L
    A("## 5. Idle event streams")
    A("")
    A("One realm per stream (`--session-ttl 3600`, no heartbeats needed), `holder.py` x 2 processes")
    A("(each raises RLIMIT_NOFILE to its hard limit and binds its own loopback source address),")
    A("streams opened 256 at a time and held without reading. RSS: VmRSS after the streams are")
    A("open (2 s to settle) minus VmRSS before, divided by the streams opened; nginx = master +")
    A("2 worker processes. `kernel` is the growth of the kernel's Slab (socket structures of")
    A("both ends, client sockets included): not part of the targets, shown for sizing.")
    A("After each measurement 5 punches are timed on streams the bench holds itself")
    A("(connect -> punch on the stream; then the answer and the connect's return).")
    A("")
    A("| run | build | workers | streams | failed | open s | worker B/stream | nginx B/stream | redis B/stream | stack B/stream | kernel B/stream | punch ms (each) | round trip ms max | nginx fds | worker fds | alive at end |")
    A("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in sm["variants"] + sm.get("old", []) + sm["max"]:
        ps = r["per_stream"]
        A("| %s | %s | %d | %d | %d | %.1f | %.0f | %.0f | %.0f | %.0f | %.0f | %s | %.1f | %s | %s | %d |"
          % (r["label"], r.get("build", "new"), r["workers"], r["opened"], r["failed"], r["open_s"], ps["workers"],
             ps["nginx"], ps["redis"], ps["stack"], ps["slab"], " ".join("%.1f" % p[0] for p in r["probes"]),
             max(p[1] for p in r["probes"]) if r["probes"] else 0,
             "/".join(str(x) for x in r["fds_nginx"]), "/".join(str(x) for x in r["fds_workers"]),
             r["alive_at_end"]))
    A("")
    A("nginx variants (each is the bench's nginx.conf, i.e. the build's deploy/nginx/local.conf.in with")
    A("`worker_processes 2`, `listen ... reuseport backlog=4096`, `fastcgi_pass hysteria_realm` and the")
    A("`/fixed` location, with these sizes):")
    A("")
    for key, desc, _ in VARIANTS:
        A("- **%s**: %s" % (key, desc % sm.get("template_sizes", "?") if "%s" in desc else desc))
    A("- **%s**: the old build (%s) with its own tree's template as it is (`fastcgi_keep_conn off`)."
      % (OLD_STREAMS, (R.get("ab") or {}).get("old", {}).get("rev") or BUILDS.get("old", {}).get("rev", "?")))
    A("- the max runs: %s plus `worker_connections %d` (nginx drains idle connections once fewer than 1/16"
      % (BEST, cfg.max_worker_connections))
    A("  of `worker_connections` are free; 21000 x 15/16 / 2 = 9,843 streams per nginx process; the template's")
    A("  20000 would stop at 9,375 per process).")
    A("")
    return L


def profile_section(R, cfg):
    pf = R.get("profile")
    L = []
    A = L.append
    if not pf:
        return L
    A("## 6. Profile of the new worker")
    A("")
    sc = pf.get("syscalls")
    if sc:
        A("System calls and context switches per request (perf stat, tracepoint raw_syscalls:sys_enter),")
        A("1 worker, wrk -t2 -c%d:" % cfg.ab_conns)
        A("")
        A("| load | per | req/s (under perf) | nginx syscalls | nginx ctx switches | worker syscalls | worker ctx switches | redis syscalls | redis ctx switches |")
        A("|---|---|---|---|---|---|---|---|---|")
        for kind, lab, per in (("fixed", "nginx /fixed", "request"), ("heartbeat", "heartbeat", "request"),
                               ("churn", "churn (wrk -t8 -c8)", "request"),
                               ("rdv", "rendezvous, 64 in flight", "round trip")):
            if kind not in sc:
                continue
            s = sc[kind]
            A("| %s | %s | %.0f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |"
              % (lab, per, s["rps"], s["nginx"]["syscalls"], s["nginx"]["ctxsw"], s["workers"]["syscalls"],
                 s["workers"]["ctxsw"], s["redis"]["syscalls"], s["redis"]["ctxsw"]))
        A("")
        A("(A round trip is two requests through nginx -- the held connect and the answer -- and an event")
        A("written on the holder's stream; the rendezvous window includes the drivers' 1.5 s of stream set-up.)")
        A("")
    for key, what in (("heartbeat", "heartbeat load (wrk -t2 -c%d)" % cfg.ab_conns),
                      ("rdv", "rendezvous load (%d in flight, %d realms; the Python drivers not recorded)"
                       % (RDV_LOADS[-1][0] * RDV_LOADS[-1][1], RDV_REALMS))):
        p = pf.get(key)
        if not p:
            continue
        A("Where the CPU goes under %s: perf record -F 997 -p <the bench's nginx, worker, Redis%s>, by"
          % (what, " and wrk" if key == "heartbeat" else ""))
        A("process and object (`[kernel.kallsyms]` is time in the kernel on behalf of that process;")
        A("`redis-check-rdb` is redis-server's binary on Debian, `hysteria-realm-` the worker):")
        A("")
        A("```")
        L.extend(p.get("comm_dso", []))
        A("```")
        A("")
        A("Hottest symbols:")
        A("")
        A("```")
        L.extend(p.get("sym", [])[:25])
        A("```")
        A("")
    if pf.get("callgrind_top"):
        tot = callgrind_total(pf)
        A("The worker's own instructions under callgrind (%d heartbeats, %s instructions per heartbeat in"
          % (pf.get("callgrind_requests", 0),
             "%.1fk" % (tot / max(1, pf.get("callgrind_requests", 1)) / 1e3) if tot else "?"))
        A("user space, libraries included; wrk -t1 -c4). Inclusive cost of the worker's functions:")
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
    return L


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


def perf_by_comm(lines):
    """Share of the samples per process name in a comm,dso listing."""
    by = {}
    for l in lines:
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+(.*)$", l)
        if m:
            by[m.group(2)] = by.get(m.group(2), 0.0) + float(m.group(1))
    return by


def ab_cpu(ab, kind, build, k, per=1):
    return median([x[kind][build]["cpu_us"][k] * per for x in ab.get("rounds", [])])


def ab_busy(ab, kind, build):
    return median([x[kind][build].get("busy") for x in ab.get("rounds", [])])


COMP = ("nginx", "workers", "redis", "client")


def analysis(R, cfg):
    """What limits the numbers, computed from this run."""
    L = []
    A = L.append
    ab = R.get("ab") or {}
    pf = R.get("profile") or {}
    tp = (R.get("throughput") or {}).get("runs", [])
    if not ab.get("rounds"):
        return L
    ncpu = int(R["facts"].get("nproc") or 2)
    A("## What limits the numbers")
    A("")
    A("On %d cores shared by everything, a closed-loop throughput is `busy x cores / CPU per request`, where"
      % ncpu)
    A("`CPU per request` counts every process on the path, the load generator included, and `busy` is the")
    A("share of the cores those processes used (the rest is idle -- a chain of single-threaded processes,")
    A("wrk, nginx, one worker, Redis, leaves some while they wait for each other -- or taken by other users")
    A("of the machine). So a new/old throughput ratio is the inverse ratio of CPU per request times the")
    A("ratio of busy shares. CPU columns: /proc, medians of the A/B rounds (`bench busy` likewise).")
    A("")

    # -- heartbeat --------------------------------------------------------------
    hb = {b: {k: ab_cpu(ab, "heartbeat", b, k) for k in COMP + ("other",)} for b in ("old", "new")}
    tot = {b: sum(hb[b][k] for k in COMP) for b in hb}
    bz = {b: ab_busy(ab, "heartbeat", b) for b in hb}
    rps = {b: median(ab_metric(ab, "heartbeat", "rps", b)) for b in hb}
    fx = median([x["heartbeat"]["new"].get("ceiling_cpu_us", {}).get("nginx") for x in ab["rounds"]])
    fxc = median([x["heartbeat"]["new"].get("ceiling_cpu_us", {}).get("client") for x in ab["rounds"]])
    nf = [r for r in tp if r["kind"] == "404" and r["build"] == "new"]
    r_hb = ab_ratio(ab, "heartbeat", "rps")
    A("### Heartbeat: %.2fx the old build, %.2f of the ceiling (targets 2.5x and 0.40)"
      % (r_hb[0], median([x["heartbeat"]["new"]["rps"] / x["heartbeat"]["new"]["ceiling"] for x in ab["rounds"]])))
    A("")
    A("| CPU us per request | nginx | worker | Redis | wrk | all four | bench busy | req/s |")
    A("|---|---|---|---|---|---|---|---|")
    for b in ("old", "new"):
        A("| heartbeat, %s | %.0f | %.0f | %.0f | %.0f | %.0f | %s | %.0f |"
          % (b, hb[b]["nginx"], hb[b]["workers"], hb[b]["redis"], hb[b]["client"], tot[b],
             "%.0f%%" % (bz[b] * 100) if bz[b] else "-", rps[b]))
    if nf:
        c = nf[0]["cpu_us"]
        A("| 404 via the new worker (no Redis) | %.0f | %.0f | %.0f | %.0f | %.0f | %s | %.0f |"
          % (c["nginx"], c["workers"], c["redis"], c["client"], sum(c[k] for k in COMP),
             "%.0f%%" % (nf[0].get("busy", 0) * 100), nf[0]["rps"]))
    if fx is not None:
        A("| nginx's fixed answer (the ceiling) | %.0f | - | - | %.0f | %.0f | | %.0f |"
          % (fx, fxc, fx + fxc, median([x["heartbeat"]["new"]["ceiling"] for x in ab["rounds"]])))
    A("")
    A("- **2.5x**: the new build spends %.0f us of CPU per heartbeat (the four processes) where the old one"
      % tot["new"])
    A("  spent %.0f: %.2fx less. Its processes kept %s of the cores busy, the old build's %s,"
      % (tot["old"], tot["old"] / tot["new"], "%.0f%%" % (bz["new"] * 100) if bz["new"] else "?",
         "%.0f%%" % (bz["old"] * 100) if bz["old"] else "?"))
    A("  hence %.2fx in throughput. At the new build's busy share, 2.5x needs %.0f us per heartbeat in all,"
      % (r_hb[0], tot["old"] * (bz["new"] or 1) / (bz["old"] or 1) / 2.5))
    A("  %.0f us less than now, and wrk's own %.0f us are part of it (the same load generator for both builds)."
      % (tot["new"] - tot["old"] * (bz["new"] or 1) / (bz["old"] or 1) / 2.5, hb["new"]["client"]))
    if fx is not None:
        need = (fx + fxc) / 0.40
        A("- **0.40 of the ceiling**: nginx answers `/fixed` for %.0f us of CPU (nginx + wrk), so 0.40 of its"
          % (fx + fxc))
        A("  rate needs a heartbeat in about %.0f us in all; it takes %.0f."
          % (need, tot["new"]), )
        if nf:
            c = nf[0]["cpu_us"]
            t404 = sum(c[k] for k in COMP)
            A("  A request that the new worker answers without Redis (`404 via worker`) already costs %.0f us"
              % t404)
            A("  (nginx %.0f of it: passing a request to FastCGI and back costs nginx %.0f us more than answering"
              % (c["nginx"], c["nginx"] - fx))
            A("  itself), which leaves %.0f us for everything a heartbeat adds (Redis, the worker's Redis call,"
              % (need - t404))
            A("  the body); it adds %.0f (Redis %.0f, worker %.0f, nginx %.0f, wrk %.0f)."
              % (tot["new"] - t404, hb["new"]["redis"] - c["redis"], hb["new"]["workers"] - c["workers"],
                 hb["new"]["nginx"] - c["nginx"], hb["new"]["client"] - c["client"]))
    aof = pf.get("aof")
    if aof and aof.get("no") and aof.get("yes"):
        ry = median([x["cpu_us"]["redis"] for x in aof["yes"]])
        rn = median([x["cpu_us"]["redis"] for x in aof["no"]])
        nc = {b: ab.get(b, {}).get("heartbeat_calls") for b in ("old", "new")}
        A("- **Redis** spends %.0f us per heartbeat (%.0f with the old build). The heartbeat function has %s"
          % (hb["new"]["redis"], hb["old"]["redis"], nc["new"] or "?"))
        A("  `redis.call`s in sql/heartbeat.lua (the old script %s): checks, the realm's expiry and score, the"
          % (nc["old"] or "?"))
        A("  event appended, trimmed and published; Redis also writes their effects to the append-only file:")
        A("  with `appendonly no` (CONFIG SET, profile phase) its CPU per heartbeat goes %.1f -> %.1f us."
          % (ry, rn))
        rsym = " ".join((pf.get("heartbeat") or {}).get("sym", []))
        if "printf_fp" in rsym and "redis" in rsym:
            A("  The profile shows float formatting in Redis (`__printf_fp_l`): a Lua number (a double in")
            A("  Redis's Lua 5.1) passed to a command or concatenated into a string is printed with `%.14g`.")
    st_ = pf.get("strace")
    A("- **the worker** spends %.0f us per heartbeat (%.0f with the old build) and makes %.2f system calls"
      % (hb["new"]["workers"], hb["old"]["workers"], ab_syscalls(ab, "new") or 0))
    if st_ and st_.get("requests"):
        n = float(st_["requests"])
        calls = sorted(st_["calls"].items(), key=lambda x: -x[1])
        A("  per heartbeat (perf stat); strace -c counts, per request: %s."
          % ", ".join("%s %.2f" % (k, v / n) for k, v in calls if v / n >= 0.005))
    else:
        A("  per heartbeat (perf stat).")
    ks, by = perf_kernel_share((pf.get("heartbeat") or {}).get("comm_dso", []))
    if by.get("hysteria-realm-") is not None:
        A("  perf puts %.0f%% of the worker's samples in the kernel." % (by["hysteria-realm-"] * 100))
    tot_cg = callgrind_total(pf)
    if tot_cg and pf.get("callgrind_requests"):
        tops = []
        for l in pf.get("callgrind_top", []):
            m = re.search(r"\(\s*([\d.]+)%\)\s+(?:\S*?:)?([A-Za-z_][\w.]*)\s", l)
            if m and m.group(2) not in tops:
                tops.append("%s %s%%" % (m.group(2), m.group(1)))
            if len(tops) >= 8:
                break
        A("  In user space callgrind counts %.1fk instructions per heartbeat; the largest self costs: %s."
          % (tot_cg / pf["callgrind_requests"] / 1e3, ", ".join(tops)))
    sc = pf.get("syscalls") or {}
    if sc.get("heartbeat") and sc.get("fixed"):
        A("- **nginx** makes %.1f system calls per heartbeat against %.1f per fixed answer (%.1f with the old"
          % (sc["heartbeat"]["nginx"]["syscalls"], sc["fixed"]["nginx"]["syscalls"],
             ab_syscalls(ab, "old", "nginx") or 0))
        A("  build, whose nginx connected, wrote, read and closed a unix socket per request).")
    A("")

    # -- churn -------------------------------------------------------------------
    ch = {b: {k: ab_cpu(ab, "churn", b, k, 2) for k in COMP} for b in ("old", "new")}
    ct = {b: sum(ch[b].values()) for b in ch}
    cb = {b: ab_busy(ab, "churn", b) for b in ch}
    r = ab_ratio(ab, "churn", "pairs_s")
    A("### Churn: %.2fx (target 2.5x)" % r[0])
    A("")
    A("| CPU us per register + deregister pair | nginx | worker | Redis | wrk | all four | bench busy |")
    A("|---|---|---|---|---|---|---|")
    for b in ("old", "new"):
        A("| %s | %.0f | %.0f | %.0f | %.0f | %.0f | %s |" % (b, ch[b]["nginx"], ch[b]["workers"], ch[b]["redis"],
                                                              ch[b]["client"], ct[b],
                                                              "%.0f%%" % (cb[b] * 100) if cb[b] else "-"))
    A("")
    A("A pair costs %.2fx less CPU than with the old build, for %.2fx the pairs per second. The load generator"
      % (ct["old"] / ct["new"], r[0]))
    A("is a large share here: wrk -t8 -c8 (one connection per thread, so that each answer belongs to the")
    A("request just sent) spends %.0f us per pair, as much as with the old build; Redis (the register and"
      % ch["new"]["client"])
    A("deregister functions) %.0f us, against %.0f before; without wrk the stack's ratio is %.2fx."
      % (ch["new"]["redis"], ch["old"]["redis"],
         (ct["old"] - ch["old"]["client"]) / (ct["new"] - ch["new"]["client"])))
    if sc.get("churn"):
        s = sc["churn"]
        A("System calls per churn request (profile phase): worker %.2f, nginx %.2f, Redis %.2f."
          % (s["workers"]["syscalls"], s["nginx"]["syscalls"], s["redis"]["syscalls"]))
    A("")

    # -- rendezvous ----------------------------------------------------------------
    k64 = "rdv%d" % (RDV_LOADS[-1][0] * RDV_LOADS[-1][1])
    rv = {b: {k: ab_cpu(ab, k64, b, k) for k in COMP} for b in ("old", "new")}
    rt = {b: sum(rv[b].values()) for b in rv}
    rb = {b: ab_busy(ab, k64, b) for b in rv}
    r = ab_ratio(ab, k64, "trips_s")
    A("### Rendezvous: %.2fx at %d in flight (target 2.5x)" % (r[0], RDV_LOADS[-1][0] * RDV_LOADS[-1][1]))
    A("")
    A("| CPU us per round trip | nginx | worker | Redis | drivers | all four | bench busy |")
    A("|---|---|---|---|---|---|---|")
    for b in ("old", "new"):
        A("| %s | %.0f | %.0f | %.0f | %.0f | %.0f | %s |" % (b, rv[b]["nginx"], rv[b]["workers"], rv[b]["redis"],
                                                              rv[b]["client"], rt[b],
                                                              "%.0f%%" % (rb[b] * 100) if rb[b] else "-"))
    A("")
    A("A round trip costs %.2fx less CPU, for %.2fx the round trips per second. The Python drivers take"
      % (rt["old"] / rt["new"], r[0]))
    A("%.0f us of it; a driver costing nothing would still leave nginx + worker + Redis at %.0f us against %.0f"
      % (rv["new"]["client"], rt["new"] - rv["new"]["client"], rt["old"] - rv["old"]["client"]))
    A("(%.2fx): a round trip is two requests through nginx (the held connect, the answer), the event on the"
      % ((rt["old"] - rv["old"]["client"]) / (rt["new"] - rv["new"]["client"])))
    A("holder's stream, four Redis functions (connect_begin, connect_answer, connect_end, the stream's ack) and")
    A("two publishes; nginx's part (%.0f us) is the largest." % rv["new"]["nginx"])
    if sc.get("rdv"):
        s = sc["rdv"]
        A("System calls per round trip (profile phase): worker %.2f, nginx %.2f, Redis %.2f."
          % (s["workers"]["syscalls"], s["nginx"]["syscalls"], s["redis"]["syscalls"]))
    r1 = ab_metric(ab, "rdv1", "p50_us", "new")
    p1 = ab_metric(ab, "rdv1", "punch_p50_us", "new")
    if r1:
        o1 = ab_metric(ab, "rdv1", "p50_us", "old")
        c1 = {b: median([sum(x["rdv1"][b]["cpu_us"][k] for k in COMP) for x in ab["rounds"]]) for b in ("old", "new")}
        t1 = {b: median(ab_metric(ab, "rdv1", "trips_s", b)) for b in ("old", "new")}
        A("At one in flight the p50 is %s ms (target 0.6 ms; old build %s ms), the punch reaching the holder"
          % (fmt_ms(median(r1)), fmt_ms(median(o1))))
        A("after %s ms. A round trip then costs %.0f us of CPU in all (old %.0f), %.1fx what it costs at %d in"
          % (fmt_ms(median(p1)), c1["new"], c1["old"], c1["new"] / max(1, rt["new"]),
             RDV_LOADS[-1][0] * RDV_LOADS[-1][1]))
        A("flight, and %.0f us of wall time: with one round trip in flight every step wakes a sleeping process,"
          % (1e6 / t1["new"] if t1["new"] else 0))
        A("and in this VM a wake-up and the context switch cost tens of microseconds of CPU (the profiles'")
        A("`finish_task_switch`, `_raw_spin_unlock_irqrestore`). The latency is that chain of hand-offs -- driver,")
        A("nginx, worker, Redis and back, for the connect, the punch, the answer and the connect's reply, a")
        A("dozen wake-ups -- which the new design shortens little: it removed the connection set-up per")
        A("request, not hand-offs. The Python driver's own turn-around is part of the number.")
    A("")

    # -- streams -------------------------------------------------------------------
    sm = R.get("streams") or {}
    d = [x for x in sm.get("variants", []) if x["label"] == TEMPLATE]
    o = sm.get("old") or []
    if d and o:
        dn, do = d[0]["per_stream"], o[0]["per_stream"]
        A("### Held streams")
        A("")
        A("With the template (variant %s), per idle stream, old -> new: worker %.0f -> %.0f B, Redis %.0f -> %.0f B,"
          % (TEMPLATE, do["workers"], dn["workers"], do["redis"], dn["redis"]))
        A("nginx %.0f -> %.0f B, the stack %.0f -> %.0f B (target under 12,288 B: %.0f B to spare). The worker"
          % (do["nginx"], dn["nginx"], do["stack"], dn["stack"], 12288 - dn["stack"]))
        A("and Redis hold more per stream than before; nginx, most of it, is the same.")
        A("")
    return L


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
                   ("libfcgi", "libfcgi"), ("hiredis", "hiredis"), ("wrk", "wrk"), ("perf", "perf"),
                   ("python", "Python"), ("worker", "worker (new)"), ("revision", "git revision (new)"),
                   ("old", "old build (BENCH_BASE)"), ("cflags", "worker CFLAGS (both)"),
                   ("nofile", "hard RLIMIT_NOFILE")):
        A("| %s | %s |" % (lab, facts.get(k, "")))
    A("")
    A("wrk, nginx (2 worker processes), the FastCGI workers, Redis and the Python drivers all share")
    A("these %s cores: every number below is what is left after the load generator took its part." % facts.get("nproc"))
    bg = R.get("background")
    if bg is not None:
        A("Before the run, other processes used %.0f%% of one core (CPU not ours, measured over 2 s%s);"
          % (bg * 100, ", after waiting %d s for the machine to calm down" % R["waited_s"] if R.get("waited_s") else ""))
        A("the `other` columns below are that share during each measurement (other users of the machine).")
    A("A measurement during which they took more than %d%% of the CPU is repeated once and the less disturbed"
      % (DISTURBED * 100))
    A("of the two kept; one still above that is marked †: read it with care.")
    A("")
    for part in (summary, ab_section, throughput_section, churn_section, rdv_section, streams_section,
                 profile_section, metrics_section, durable_section, analysis):
        # one section that cannot be written (a phase cut short) does not
        # cost the others
        try:
            L.extend(part(R, cfg))
        except Exception as e:
            import traceback
            traceback.print_exc()
            A("(%s: not written: %s: %s)" % (part.__name__, type(e).__name__, e))
            A("")
    A("## How to run")
    A("")
    A("    tests/bench/run            # the whole run (about 15 minutes here); installs wrk etc., builds build-bench/")
    A("                               # and the old build in build-bench-base/ (BENCH_BASE=<commit>, default a98c9b1)")
    A("    tests/bench/run --quick    # a smoke run: one A/B round, shorter loads, fewer streams and variants")
    A("    tests/bench/run --phases ab,streams   # some phases only (ab, throughput, churn, rendezvous,")
    A("                                          # streams, profile, metrics)")
    A("")
    A("This file comes from `%s`." % cfg.cmdline)
    A("")
    A("Raw numbers of this run: `tests/bench/results.json` (`--report-only tests/bench/results.json` writes")
    A("this file again from them).")
    return "\n".join(L) + "\n"


# -- main ----------------------------------------------------------------------

def background_load(seconds=2.0):
    b0, _ = proc_stat_busy()
    time.sleep(seconds)
    b1, _ = proc_stat_busy()
    hz = os.sysconf("SC_CLK_TCK")
    return max(0.0, (b1 - b0) / hz / seconds)


PHASES = "ab,throughput,churn,rendezvous,streams,profile,metrics,durable"


def config(quick):
    class C:
        pass
    cfg = C()
    cfg.seconds = 3 if quick else 6
    cfg.metrics_rounds = 1 if quick else 3
    cfg.syscall_seconds = 3 if quick else 4
    cfg.ab_rounds = int(os.environ.get("BENCH_AB_ROUNDS") or (1 if quick else 5))
    cfg.ab_conns = int(os.environ.get("BENCH_AB_CONNS", "32"))
    cfg.ab_more_conns = [] if quick else [c for c in (64,) if c != cfg.ab_conns]
    cfg.sweep = [32, 64] if quick else [16, 32, 64, 128]
    cfg.stall_timeout = 10
    cfg.variants = ["A", "D"] if quick else [k for k, _, _ in VARIANTS]
    cfg.variant_streams = 2000 if quick else 9000
    cfg.max_streams = 4000 if quick else 19200
    cfg.max_worker_connections = 21000
    cfg.callgrind = True
    return cfg


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="short loads, few variants (a smoke run)")
    ap.add_argument("--phases", default=PHASES)
    ap.add_argument("--no-callgrind", action="store_true")
    ap.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--report-only", metavar="JSON",
                    help="write --out again from the raw numbers of an earlier run (results.json)")
    a = ap.parse_args()
    cfg = config(a.quick)
    cfg.callgrind = not a.no_callgrind
    cfg.cmdline = "tests/bench/run " + " ".join(sys.argv[1:]) if len(sys.argv) > 1 else "tests/bench/run"
    if a.report_only:
        with open(a.report_only) as f:
            R = json.load(f)
        cfg = config(R.get("quick", False))
        for k, v in R.get("cfg", {}).items():
            setattr(cfg, k, v)
        cfg.cmdline = R.get("cmdline", cfg.cmdline)
        BUILDS.update(R.get("builds", {}))
        text = report(R, R["facts"], cfg)
        for f_ in R.get("failed", []):
            text += ("\n## Phases that failed\n\n" if f_ == R["failed"][0] else "") + "- " + f_ + "\n"
        with open(a.out, "w") as f:
            f.write(text)
        print(text)
        return 0
    bs.raise_nofile()

    class Stopped(Exception):
        pass

    def on_signal(sig, frame):
        # SIGTERM (tests/bench/run's timeout) or Ctrl-C: stop the phase that
        # runs (its finally clauses stop its stacks), then write what was
        # measured; a second signal exits at once
        signal.signal(signal.SIGTERM, lambda *_: (bs.cleanup_all(), os._exit(130)))
        signal.signal(signal.SIGINT, lambda *_: (bs.cleanup_all(), os._exit(130)))
        raise Stopped("stopped by signal %d" % sig)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    BUILDS.update(make_builds())
    facts = machine_facts()
    R = {"facts": facts, "quick": a.quick, "builds": BUILDS,
         "cfg": {k: v for k, v in vars(cfg).items() if not k.startswith("_")}}
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
    log("new: %s (%s); old: %s" % (BUILDS["new"]["worker"], facts["revision"], facts["old"]))
    phases = [p for p in a.phases.split(",") if p]
    funcs = {"ab": phase_ab, "throughput": phase_throughput, "churn": phase_churn,
             "rendezvous": phase_rendezvous, "streams": phase_streams, "profile": phase_profile,
             "metrics": phase_metrics, "durable": phase_durable}
    bad = [p for p in phases if p not in funcs]
    if bad:
        print("unknown phase(s): %s (known: %s)" % (", ".join(bad), PHASES), file=sys.stderr)
        return 2
    failed = []
    for ph in phases:
        log("== %s" % ph)
        try:
            funcs[ph](R, cfg)
        except Stopped as e:
            failed.append("%s: %s (the phases after it did not run)" % (ph, e))
            R.setdefault("failed", []).append(failed[-1])
            log(failed[-1])
            break
        except Exception as e:
            import traceback
            traceback.print_exc()
            failed.append("%s: %s" % (ph, e))
            R.setdefault("failed", []).append(failed[-1])
    bs.cleanup_all()
    R["when"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    R["elapsed_s"] = time.monotonic() - T_START
    R["cmdline"] = cfg.cmdline
    default_out = os.path.abspath(a.out) == os.path.join(HERE, "RESULTS.md")
    with open(os.path.join(HERE, "results.json") if default_out else os.path.splitext(a.out)[0] + ".json",
              "w") as f:
        json.dump(R, f, indent=1, default=str)
    try:
        text = report(R, facts, cfg)
    except Exception:
        import traceback
        traceback.print_exc()
        failed.append("report: see the traceback above")
        text = "# Benchmark results\n\nThe report failed; raw numbers in results.json.\n"
    if failed:
        text += "\n## Phases that failed\n\n" + "\n".join("- " + f for f in failed) + "\n"
    with open(a.out, "w") as f:
        f.write(text)
    print()
    print(text)
    log("wrote %s" % a.out)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
