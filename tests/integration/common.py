"""common.py -- helpers shared by the integration stack (stack.py) and the
benchmark (tests/bench/): free ports, finding programs, waiting on a
condition with a deadline, and a tiny Redis client (stdlib only)."""

import os
import shutil
import socket
import time


def free_port():
    """A loopback TCP port nobody listens on right now."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def find_program(name):
    p = shutil.which(name)
    if p:
        return p
    for d in ("/usr/sbin", "/usr/bin", "/sbin", "/usr/local/sbin", "/usr/local/bin"):
        if os.access(os.path.join(d, name), os.X_OK):
            return os.path.join(d, name)
    raise RuntimeError("%s not found (install it: see tests/run)" % name)


def wait_until(pred, timeout, what, interval=0.02):
    """Poll pred() until it returns true; RuntimeError after timeout."""
    deadline = time.monotonic() + timeout
    last_err = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # keep polling; report the last error
            last_err = e
        if time.monotonic() >= deadline:
            raise RuntimeError("timed out after %.1f s waiting for %s%s" % (
                timeout, what, (": %s" % last_err) if last_err else ""))
        time.sleep(interval)


def resp_encode(args):
    """One command in RESP."""
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def redis_command(port, *args, timeout=2.0, host="127.0.0.1", password=None, db=None):
    """Send one command to Redis on host:port (on a fresh connection, after
    AUTH if password and SELECT if db), return the decoded reply (str, int,
    list or None); raises on an error reply."""
    first = ([("AUTH", password)] if password else []) + ([("SELECT", db)] if db else [])
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(b"".join(resp_encode(c) for c in first) + resp_encode(args))
        f = s.makefile("rb")
        for _ in first:
            _resp_read(f)
        return _resp_read(f)
    finally:
        s.close()


def _resp_read(f):
    line = f.readline()
    if not line:
        raise ConnectionError("redis closed the connection")
    t, rest = line[:1], line[1:-2]
    if t == b"+":
        return rest.decode()
    if t == b"-":
        raise RuntimeError("redis error: " + rest.decode())
    if t == b":":
        return int(rest)
    if t == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode("utf-8", "replace")
    if t == b"*":
        n = int(rest)
        if n < 0:
            return None
        return [_resp_read(f) for _ in range(n)]
    raise RuntimeError("bad redis reply %r" % line)
