#!/usr/bin/env python3
"""run.py -- the integration test runner.

Discovers the test_* functions of every test_*.py beside it, runs them
against real stacks (stack.py) and prints "PASS name", "FAIL name: reason"
or "SKIP name: reason" (a test that does not apply to this mode) per test,
then exactly one closing line "N passed, N failed, N skipped".

Tests that ask for the same stack (see stack.uses) share one; "fresh" tests
get their own. A worker that died during a stack's tests without a test
asking for it counts as a failure of that stack.

Usage: run.py [--proxy=nginx|lighttpd] [--hosts=1|2] [substring ...]
  substring: run only the tests whose name contains one.
  --proxy, --hosts: the mode (the same as RR_PROXY and RR_HOSTS; see stack.py).
Environment: RR_WORKER (worker binary), RR_LOG_DIR (worker logs),
RR_KEEP_RUNDIR=1 (keep the temporary run dirs), RR_PROXY (nginx, the
default, or lighttpd), RR_HOSTS (1, the default, or 2: two network
namespaces, workers over TCP FastCGI; needs root).
"""

import importlib
import os
import signal
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import stack as stackmod  # noqa: E402

_print_lock = threading.Lock()


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.skipped = 0

    def report(self, name, error, seconds):
        with _print_lock:
            if error is None:
                self.passed += 1
                print("PASS %s (%.1fs)" % (name, seconds), flush=True)
            elif isinstance(error, stackmod.Skip):
                self.skipped += 1
                print("SKIP %s: %s" % (name, " ".join(str(error).split()) or "not for this mode"),
                      flush=True)
            else:
                self.failed += 1
                reason = " ".join(str(error).split()) or type(error).__name__
                print("FAIL %s: %s" % (name, reason), flush=True)


def discover(filters):
    tests = []
    for fn in sorted(os.listdir(HERE)):
        if not (fn.startswith("test_") and fn.endswith(".py")):
            continue
        modname = fn[:-3]
        mod = importlib.import_module(modname)
        for k, v in vars(mod).items():
            if k.startswith("test_") and callable(v) and getattr(v, "__module__", "") == modname:
                name = "%s.%s" % (modname[5:], k[5:])
                if filters and not any(f in name for f in filters):
                    continue
                cfg = getattr(v, "rr_stack", None) or dict(
                    args=stackmod.DEFAULT_ARGS, workers=2, fresh=False,
                    stack=True, timeout=90, parallel=False)
                tests.append((name, v, cfg))
    return tests


class Running:
    """One test running in its own thread, with a time limit."""

    def __init__(self, name, fn, cfg, st):
        self.name = name
        self.cfg = cfg
        self.error = None
        self.start = time.monotonic()
        self.end = None
        args = (st,) if cfg["stack"] else ()
        self.thread = threading.Thread(target=self._run, args=(fn, args), daemon=True)
        self.thread.start()

    def _run(self, fn, args):
        try:
            fn(*args)
        except stackmod.Skip as e:
            self.error = e
        except AssertionError as e:
            self.error = e if str(e) else AssertionError(
                "assertion failed at " + _where(e))
        except Exception as e:
            self.error = RuntimeError("%s: %s (at %s)" % (type(e).__name__, e, _where(e)))
        self.end = time.monotonic()

    def finish(self, results):
        left = self.cfg["timeout"] - (time.monotonic() - self.start)
        self.thread.join(max(0.0, left))
        if self.thread.is_alive():
            self.error = RuntimeError("timed out after %d s" % self.cfg["timeout"])
        results.report(self.name, self.error, (self.end or time.monotonic()) - self.start)


def _where(e):
    tb = traceback.extract_tb(e.__traceback__)
    for fr in reversed(tb):
        if os.path.basename(fr.filename).startswith("test_"):
            return "%s:%d" % (os.path.basename(fr.filename), fr.lineno)
    return "%s:%d" % (os.path.basename(tb[-1].filename), tb[-1].lineno) if tb else "?"


def run_group(label, tests, cfg, results):
    """Start one stack for tests (all with the same stack needs), run them,
    stop it."""
    st = None
    if cfg["stack"]:
        st = stackmod.Stack(workers=cfg["workers"], worker_args=cfg["args"], name=label)
        try:
            st.start()
        except Exception as e:
            for name, _, _ in tests:
                results.report(name, RuntimeError("stack did not start: %s" % e), 0.0)
            return
    try:
        background = [Running(n, f, c, st) for n, f, c in tests if c["parallel"]]
        for n, f, c in tests:
            if not c["parallel"]:
                Running(n, f, c, st).finish(results)
        for r in background:
            r.finish(results)
    finally:
        if st is not None:
            st.stop()
            for msg in st.unexpected:
                results.report("%s.workers_alive" % label, RuntimeError(msg), 0.0)


def _on_sigterm(signum, frame):
    # `timeout` and CI stop the runner with SIGTERM: unwind so that every
    # stack is torn down (finally blocks, then the atexit hook in stack.py).
    raise SystemExit(128 + signum)


def main(argv):
    signal.signal(signal.SIGTERM, _on_sigterm)
    for a in argv[1:]:
        if a.startswith("--proxy="):
            os.environ["RR_PROXY"] = a.split("=", 1)[1]
        elif a.startswith("--hosts="):
            os.environ["RR_HOSTS"] = a.split("=", 1)[1]
        elif a.startswith("-"):
            print("run.py: unknown option %s" % a, file=sys.stderr)
            return 2
    try:
        proxy, hosts = stackmod.default_proxy(), stackmod.default_hosts()
    except RuntimeError as e:
        print("run.py: %s" % e, file=sys.stderr)
        return 2
    print("integration tests, mode %s: proxy %s, %s" % (
        stackmod.mode_name(proxy, hosts), proxy,
        "one host, workers on unix sockets" if hosts == 1 else
        "%d hosts (network namespaces), workers on TCP FastCGI" % hosts), flush=True)
    filters = [a for a in argv[1:] if not a.startswith("-")]
    tests = discover(filters)
    results = Results()
    groups = []      # (key, [tests]) in order of first appearance
    index = {}
    fresh = []
    for t in tests:
        cfg = t[2]
        if not cfg["stack"]:
            key = ("nostack",)
        elif cfg["fresh"]:
            fresh.append(t)
            continue
        else:
            key = (cfg["workers"], cfg["args"])
        if key not in index:
            index[key] = len(groups)
            groups.append((key, []))
        groups[index[key]][1].append(t)
    try:
        for n, (key, ts) in enumerate(groups):
            label = "nostack" if key == ("nostack",) else "shared%d" % (n + 1)
            run_group(label, ts, ts[0][2], results)
        for n, t in enumerate(fresh):
            run_group("fresh%d" % (n + 1), [t], t[2], results)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        results.failed += 1
    print("%d passed, %d failed, %d skipped" % (results.passed, results.failed, results.skipped),
          flush=True)
    return 1 if results.failed or not results.passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
