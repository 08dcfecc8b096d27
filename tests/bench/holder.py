"""holder.py -- hold many idle event streams (one process; bench.py runs two).

Reads one JSON object on stdin: port, realms ([[name, session]...]),
source (local IP to bind, so two holders never share ephemeral ports),
opening (streams being opened at once), hold_max (seconds: the longest it
holds them if nobody says stop).

Raises its own RLIMIT_NOFILE to the hard limit, opens one stream per realm
(non-blocking, `opening` at a time; a stream counts as open once its 200
head has arrived), then prints "OPEN ok=N failed=M seconds=S" and holds
them without reading. On "check" (a line on stdin) it looks at every socket
without blocking and prints "ALIVE n closed=m" (a stream is closed if the
peer sent EOF; keepalive comments are read and dropped). On "stop", EOF on
stdin or hold_max it closes them all and exits.
"""

import json
import resource
import select
import socket
import sys
import time

from httpfast import req_bytes


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    cfg = json.loads(sys.stdin.readline())
    port, source = cfg["port"], cfg.get("source")
    realms = cfg["realms"]
    opening = cfg.get("opening", 256)
    hold_max = cfg.get("hold_max", 120)
    ep = select.epoll()
    pending = {}      # fd -> [sock, buf]
    held = {}         # fd -> sock
    failed = 0
    fail_why = {}
    todo = list(realms)
    t0 = time.monotonic()
    deadline = t0 + cfg.get("open_timeout", 120)

    def start_one(name, sid):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if source:
            s.bind((source, 0))
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        pending[s.fileno()] = [s, b"", req_bytes("GET", "/v1/%s/events" % name, sid), False]
        ep.register(s.fileno(), select.EPOLLOUT | select.EPOLLIN)

    def fail(fd, why):
        nonlocal failed
        failed += 1
        fail_why[why] = fail_why.get(why, 0) + 1
        s = pending.pop(fd)[0]
        ep.unregister(fd)
        s.close()

    while (todo or pending) and time.monotonic() < deadline:
        while todo and len(pending) < opening:
            name, sid = todo.pop()
            try:
                start_one(name, sid)
            except OSError as e:
                failed += 1
                fail_why[str(e.errno)] = fail_why.get(str(e.errno), 0) + 1
        for fd, ev in ep.poll(1.0):
            ent = pending.get(fd)
            if ent is None:
                continue
            s = ent[0]
            if not ent[3] and ev & select.EPOLLOUT:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    fail(fd, "connect_%d" % err)
                    continue
                try:
                    s.send(ent[2])
                except OSError as e:
                    fail(fd, "send_%d" % e.errno)
                    continue
                ent[3] = True
                ep.modify(fd, select.EPOLLIN)
                continue
            if ev & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR):
                try:
                    chunk = s.recv(4096)
                except BlockingIOError:
                    continue
                except OSError as e:
                    fail(fd, "recv_%d" % e.errno)
                    continue
                if not chunk:
                    fail(fd, "closed_before_head")
                    continue
                ent[1] += chunk
                if b"\r\n\r\n" in ent[1]:
                    if not ent[1].startswith(b"HTTP/1.1 200"):
                        fail(fd, ent[1][9:12].decode("latin-1", "replace"))
                        continue
                    pending.pop(fd)
                    ep.unregister(fd)
                    held[fd] = s
    for fd in list(pending):
        fail(fd, "open_timeout")
    for _ in todo:
        failed += 1
        fail_why["not_started"] = fail_why.get("not_started", 0) + 1
    print("OPEN ok=%d failed=%d seconds=%.2f why=%s" % (len(held), failed, time.monotonic() - t0,
                                                      json.dumps(fail_why, separators=(",", ":"))),
          flush=True)

    # hold
    end = time.monotonic() + hold_max
    while time.monotonic() < end:
        r, _, _ = select.select([sys.stdin], [], [], max(0.0, min(1.0, end - time.monotonic())))
        if not r:
            continue
        line = sys.stdin.readline()
        if line.strip() == "check":
            closed = 0
            p = select.poll()
            for fd in held:
                p.register(fd, select.POLLIN)
            for fd, ev in p.poll(0):
                s = held[fd]
                try:
                    while True:
                        c = s.recv(65536)
                        if not c:
                            closed += 1
                            break
                        if len(c) < 65536:
                            break
                except BlockingIOError:
                    pass
                except OSError:
                    closed += 1
            print("ALIVE %d closed=%d" % (len(held) - closed, closed), flush=True)
            continue
        break          # "stop" or EOF
    for s in held.values():
        s.close()
    print("CLOSED %d" % len(held), flush=True)


if __name__ == "__main__":
    main()
