#!/usr/bin/env python3
"""exec_start.py -- run the worker the way systemd would run an instance of
an installed hysteria-realm@.service, without systemd as PID 1.

    exec_start.py --unit /lib/systemd/system/hysteria-realm@.service [--instance w1]

Reads the unit file and starts its ExecStart= AS WRITTEN: specifiers (%i,
%d, ...) and ${VAR} / $VAR expanded as systemd does, the LoadCredential=
files copied into a private credentials directory owned by User= (what
${CREDENTIALS_DIRECTORY} then names), the EnvironmentFile= files that exist
read, User=/Group= taken with setpriv (with --no-new-privs for
NoNewPrivileges=yes and an empty bounding set for CapabilityBoundingSet=),
UMask= and LimitNOFILE= applied (the limit capped at this machine's hard
limit), and a real Redis (redis-server on a free loopback port, passed as
HYSTERIA_REALM_REDIS) behind it. Then:

  1. socket activation by systemd-socket-activate (a listening unix socket
     as fd 3, LISTEN_FDS=1, LISTEN_PID = the worker's pid; the worker is
     started by the first connection, as under a .socket unit): one FastCGI
     request for an unknown path (404 JSON), a register with the credential
     token (200, so Redis and the installed Lua sources work), SIGHUP after
     the credential changed (log msg=token_reloaded changed=yes; the new
     token is accepted, the old one refused), SIGTERM (exit status 0);
  2. the socket held by this script, as PID 1 holds a .socket unit's: a
     worker started on it (under strace -D, so that its pid is still the
     one in LISTEN_PID) serves, stops on SIGTERM with 0, and the socket
     still queues connections after it (closed, never shut down); a second
     worker on the same socket serves the connection that waited. The
     system calls it made are checked against the unit's
     SystemCallFilter=, the socket families against
     RestrictAddressFamilies=, its mappings against MemoryDenyWriteExecute=,
     the files it opened against ProtectSystem=strict (none for writing),
     ProtectHome=, PrivateDevices= and ProcSubset=pid. (Only what this short
     run made the worker do is seen.)

Prints "PASS name" / "FAIL name: why" / "SKIP name: why" lines; exits 1 if
anything failed. Needs root (User=, chown).
"""

import argparse
import grp
import json
import os
import pwd
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import fcgi_client  # noqa: E402  (tests/integration/fcgi_client.py)

RESULTS = {"pass": 0, "fail": 0, "skip": 0}
CHILDREN = []   # every worker forked here, stopped at the end whatever happens


def result(ok, name, why=""):
    if ok is None:
        RESULTS["skip"] += 1
        print("SKIP %s: %s" % (name, why), flush=True)
    elif ok:
        RESULTS["pass"] += 1
        print("PASS %s%s" % (name, (" (%s)" % why) if why else ""), flush=True)
    else:
        RESULTS["fail"] += 1
        print("FAIL %s: %s" % (name, why), flush=True)
    return ok


# -- the unit file -----------------------------------------------------------

def parse_unit(path):
    """{section: [(key, value), ...]} with continuation lines joined."""
    sections, cur, pending = {}, None, ""
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if pending:
                line = pending + line.lstrip()
                pending = ""
            stripped = line.strip()
            if not stripped or stripped[0] in "#;":
                continue
            if stripped.endswith("\\"):
                pending = stripped[:-1] + " "
                continue
            if stripped.startswith("[") and stripped.endswith("]"):
                cur = sections.setdefault(stripped[1:-1], [])
                continue
            key, _, value = stripped.partition("=")
            cur.append((key.strip(), value.strip()))
    return sections


def values(section, key):
    """All values of key, an empty assignment resetting the list (systemd)."""
    out = []
    for k, v in section:
        if k == key:
            out = [] if v == "" else out + [v]
    return out


def last(section, key, default=None):
    found = [v for k, v in section if k == key]
    return found[-1] if found else default


def specifiers(text, spec):
    def sub(m):
        c = m.group(1)
        if c not in spec:
            raise ValueError("specifier %%%s is not emulated here" % c)
        return spec[c]
    return re.sub(r"%(.)", sub, text)


def split_words(text):
    """systemd's command line splitting: whitespace, "..." and '...'
    quoting, backslash escapes."""
    words, cur, i, in_word = [], "", 0, False
    while i < len(text):
        c = text[i]
        if c.isspace():
            if in_word:
                words.append(cur)
                cur, in_word = "", False
            i += 1
            continue
        in_word = True
        if c in "\"'":
            j = text.index(c, i + 1)
            cur += text[i + 1:j]
            i = j + 1
        elif c == "\\" and i + 1 < len(text):
            cur += text[i + 1]
            i += 2
        else:
            cur += c
            i += 1
    if in_word:
        words.append(cur)
    return words


def expand_env(words, env):
    """${VAR} anywhere in a word; $VAR alone as a word splits on
    whitespace (systemd.service, "Command lines"). A variable that is not
    set is an error here (systemd would expand it to nothing)."""
    out = []
    for w in words:
        m = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", w)
        if m:
            if m.group(1) not in env:
                raise KeyError(m.group(1))
            out.extend(env[m.group(1)].split())
            continue

        def sub(mm):
            if mm.group(1) not in env:
                raise KeyError(mm.group(1))
            return env[mm.group(1)]
        out.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", sub, w))
    return out


def read_env_file(path):
    """EnvironmentFile=: VAR=value lines, # and ; comments, quotes."""
    env = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;" or "=" not in line:
                continue
            k, _, v = line.partition("=")
            words = split_words(v)
            env[k.strip()] = " ".join(words)
    return env


# -- helpers -------------------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def redis_ping(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def stop(proc, timeout=10):
    """SIGTERM, wait; KILL if it does not go. The exit status (None if
    killed)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None
    return proc.returncode


def request(sock_path, method, uri, token=None, body=None, timeout=8.0):
    headers = {}
    data = b""
    if token is not None:
        headers["Authorization"] = "Bearer " + token
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    with fcgi_client.FcgiConn.unix(sock_path, timeout=timeout) as c:
        return c.request(fcgi_client.http_params(method, uri, headers, data), data, timeout=timeout)


def error_code(resp):
    try:
        return json.loads(resp.body.decode()).get("error")
    except (ValueError, AttributeError):
        return None


# -- the service as systemd would start it ----------------------------------------

class Service:
    def __init__(self, unit_path, instance, work, redis_url):
        self.unit_path = unit_path
        self.instance = instance
        self.work = work
        name = os.path.basename(unit_path)
        prefix = name.split("@", 1)[0]
        self.unit_name = "%s@%s.service" % (prefix, instance)
        self.socket_unit = "%s@%s.socket" % (prefix, instance)
        sections = parse_unit(unit_path)
        svc = sections.get("Service", [])
        self.svc = svc
        self.creds = os.path.join(work, "credentials", self.unit_name)
        spec = {"i": instance, "I": instance, "n": self.unit_name, "N": self.unit_name[:-8],
                "p": prefix, "P": prefix, "d": self.creds, "%": "%"}
        self.user = last(svc, "User", "root")
        self.group = last(svc, "Group", None)
        pw = pwd.getpwnam(self.user)
        self.uid = pw.pw_uid
        self.gid = grp.getgrnam(self.group).gr_gid if self.group else pw.pw_gid

        # LoadCredential=ID:PATH -> $CREDENTIALS_DIRECTORY/ID, owned by User=.
        os.makedirs(os.path.dirname(self.creds), mode=0o711, exist_ok=True)
        os.chmod(os.path.dirname(self.creds), 0o711)
        os.makedirs(self.creds, mode=0o500, exist_ok=True)
        self.cred_sources = {}
        for v in values(svc, "LoadCredential"):
            cid, _, src = specifiers(v, spec).partition(":")
            self.cred_sources[cid] = src
            dst = os.path.join(self.creds, cid)
            shutil.copyfile(src, dst)
            os.chown(dst, self.uid, self.gid)
            os.chmod(dst, 0o400)
        os.chown(self.creds, self.uid, self.gid)
        os.chmod(self.creds, 0o500)

        # The environment systemd gives a system service, then the files.
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "LANG": "C.UTF-8", "USER": self.user, "LOGNAME": self.user,
               "HOME": pw.pw_dir, "SHELL": pw.pw_shell,
               "INVOCATION_ID": "0" * 32}
        self.env_files = []
        for v in values(svc, "Environment"):
            for w in split_words(specifiers(v, spec)):
                k, _, val = w.partition("=")
                env[k] = val
        for v in values(svc, "EnvironmentFile"):
            path = specifiers(v, spec)
            optional = path.startswith("-")
            path = path.lstrip("-")
            if os.path.exists(path):
                env.update(read_env_file(path))
                self.env_files.append(path)
            elif not optional:
                raise FileNotFoundError(path)
        if self.cred_sources:
            env["CREDENTIALS_DIRECTORY"] = self.creds
        env["HYSTERIA_REALM_REDIS"] = redis_url   # as an EnvironmentFile would
        self.env = env

        starts = values(svc, "ExecStart")
        if len(starts) != 1:
            raise ValueError("expected one ExecStart=, found %d" % len(starts))
        self.exec_start_line = starts[0]
        line = specifiers(starts[0].lstrip("-@:+!"), spec)
        self.argv = expand_env(split_words(line), env)

        self.umask = int(last(svc, "UMask", "0022"), 8)
        nofile = last(svc, "LimitNOFILE", None)
        self.nofile = int(nofile.split(":")[-1]) if nofile else None
        self.no_new_privs = last(svc, "NoNewPrivileges", "no") in ("yes", "true", "1", "on")
        self.empty_bounding = any(k == "CapabilityBoundingSet" and v == "" for k, v in svc) and \
            not [v for v in values(svc, "CapabilityBoundingSet")]

    def setpriv(self):
        """User=, Group= (supplementary groups as initgroups(3) gives them),
        NoNewPrivileges=, an empty CapabilityBoundingSet=."""
        cmd = ["setpriv", "--reuid=%d" % self.uid, "--regid=%d" % self.gid, "--init-groups"]
        if self.no_new_privs:
            cmd.append("--no-new-privs")
        if self.empty_bounding:
            cmd.append("--bounding-set=-all")
        return cmd

    def limits(self):
        """In the child: UMask=, LimitNOFILE= (capped at our hard limit)."""
        os.umask(self.umask)
        if self.nofile:
            _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            n = self.nofile if hard == resource.RLIM_INFINITY else min(self.nofile, hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))

    def set_token(self, token):
        path = os.path.join(self.creds, "token")
        os.chmod(self.creds, 0o700)
        tmp = path + ".new"
        with open(tmp, "w") as f:
            f.write(token + "\n")
        os.chown(tmp, self.uid, self.gid)
        os.chmod(tmp, 0o400)
        os.rename(tmp, path)
        os.chown(self.creds, self.uid, self.gid)
        os.chmod(self.creds, 0o500)


def make_socket_like_unit(path):
    """What hysteria-realm@.socket makes: ListenStream=path, SocketGroup=
    www-data, SocketMode=0660."""
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(128)
    socket_perms(path)
    return s


def socket_perms(path):
    try:
        os.chown(path, 0, grp.getgrnam("www-data").gr_gid)
    except KeyError:
        pass
    os.chmod(path, 0o660)


def spawn_on(svc, lsock, log_path, wrap=()):
    """Fork, put lsock on fd 3, LISTEN_FDS=1, LISTEN_PID=our pid, exec
    [wrap...] setpriv ... ExecStart. Returns a Child."""
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    devnull = os.open(os.devnull, os.O_RDONLY)
    argv = list(wrap) + svc.setpriv() + svc.argv
    exe = shutil.which(argv[0]) or argv[0]
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            lfd = lsock.fileno()
            if lfd != 3:
                os.dup2(lfd, 3)
            os.set_inheritable(3, True)
            os.dup2(devnull, 0)
            os.dup2(log, 1)
            os.dup2(log, 2)
            os.closerange(4, 1024)
            svc.limits()
            env = dict(svc.env)
            env.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()), LISTEN_FDNAMES=svc.socket_unit)
            os.execve(exe, argv, env)
        except BaseException as e:  # noqa: BLE001 (child: report, never return)
            os.write(2, ("exec failed: %r\n" % e).encode())
        os._exit(127)
    os.close(log)
    os.close(devnull)
    CHILDREN.append(Child(pid))
    return CHILDREN[-1]


class Child:
    """A forked child: poll / wait / terminate without reaping it twice."""

    def __init__(self, pid):
        self.pid = pid
        self.code = None

    def poll(self):
        if self.code is None:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done == self.pid:
                self.code = os.waitstatus_to_exitcode(status)
        return self.code

    def wait(self, timeout):
        wait_for(lambda: self.poll() is not None, timeout)
        return self.code

    def stop(self, timeout=10):
        """SIGTERM and the exit status; None (and SIGKILL) if it did not go."""
        if self.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
        if self.wait(timeout) is None:
            os.kill(self.pid, signal.SIGKILL)
            self.wait(5)
            return None
        return self.code


# -- system call checks ----------------------------------------------------------------

def syscall_set(name, seen=None):
    """The system calls of a systemd-analyze syscall-filter set, groups
    expanded."""
    seen = seen if seen is not None else set()
    if name in seen:
        return set()
    seen.add(name)
    out = subprocess.run(["systemd-analyze", "syscall-filter", name], capture_output=True,
                         text=True, check=True).stdout
    calls = set()
    for line in out.splitlines()[1:]:
        w = line.strip()
        if not w or w.startswith("#"):
            continue
        if w.startswith("@"):
            calls |= syscall_set(w, seen)
        else:
            calls.add(w)
    return calls


def allowed_syscalls(svc):
    allow, deny = None, set()
    for v in values(svc.svc, "SystemCallFilter"):
        neg = v.startswith("~")
        names = v.lstrip("~").split()
        calls = set()
        for n in names:
            calls |= syscall_set(n) if n.startswith("@") else {n}
        if neg:
            deny |= calls
        else:
            allow = calls if allow is None else allow | calls
    return allow, deny


def check_strace(svc, trace_path):
    text = read(trace_path)
    # Only what the worker did once it was the worker (after its execve).
    made, families, wx, opened = set(), set(), [], []
    exe = svc.argv[0]
    after_exec = False
    for line in text.splitlines():
        m = re.match(r"(\d+)\s+(?:<\.\.\. )?([a-z_0-9]+)[( ]", line)
        if not m:
            continue
        call = m.group(2)
        if not after_exec:
            if call == "execve" and ('execve("%s",' % exe) in line and line.rstrip().endswith("= 0"):
                after_exec = True
            continue
        if "resumed>" in line and line.startswith(m.group(1) + " <..."):
            continue
        made.add(call)
        if call == "socket":
            fm = re.search(r"socket\((AF_[A-Z0-9]+)", line)
            if fm:
                families.add(fm.group(1))
        if call in ("mmap", "mprotect", "pkey_mprotect") and "PROT_WRITE" in line and "PROT_EXEC" in line:
            wx.append(line.strip())
        om = re.search(r'open(?:at)?\((?:AT_FDCWD, )?"([^"]*)", ([A-Z_|]+)', line)
        if om and call in ("open", "openat"):
            opened.append((om.group(1), om.group(2)))
    if not after_exec:
        return result(False, "strace", "no execve of %s in the trace" % exe)
    allow, deny = allowed_syscalls(svc)
    bad = sorted(c for c in made if (allow is not None and c not in allow) or c in deny)
    result(not bad, "SystemCallFilter admits every system call the worker made",
           "%d distinct calls" % len(made) if not bad else "outside the filter: %s" % ", ".join(bad))
    fam_allowed = set()
    for v in values(svc.svc, "RestrictAddressFamilies"):
        fam_allowed |= set(v.split())
    badf = sorted(families - fam_allowed) if fam_allowed else []
    result(not badf, "RestrictAddressFamilies admits the sockets the worker opened",
           " ".join(sorted(families)) if not badf else "not admitted: %s" % ", ".join(badf))
    # ProtectSystem=strict, ProtectHome=, PrivateDevices=, ProcSubset=pid:
    # the worker writes no file and reads none that these hide.
    writes = sorted({p for p, fl in opened if re.search(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC", fl)})
    result(not writes, "ProtectSystem=strict: the worker opens no file for writing",
           "%d files opened, all read-only" % len(opened) if not writes else ", ".join(writes))
    hidden = sorted({p for p, _ in opened
                     if re.match(r"/(home|root|sys|run/user)(/|$)", p)
                     or (p.startswith("/proc/") and not re.match(r"/proc/(self|thread-self|\d+)/", p))
                     or (p.startswith("/dev/") and p not in ("/dev/null", "/dev/zero", "/dev/full",
                                                              "/dev/random", "/dev/urandom"))})
    result(not hidden, "ProtectHome=, PrivateDevices=, ProcSubset=pid hide nothing the worker opens",
           ", ".join(hidden))
    mdwe = last(svc.svc, "MemoryDenyWriteExecute", "no") in ("yes", "true", "1", "on")
    if mdwe:
        result(not wx, "MemoryDenyWriteExecute: no writable+executable mapping",
               "" if not wx else wx[0])


# -- the checks ---------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--unit", required=True)
    ap.add_argument("--instance", default="w1")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()

    if os.geteuid() != 0:
        result(None, "exec-start", "needs root (User=, chown of credentials)")
        return 0

    work = tempfile.mkdtemp(prefix="hysteria-realm-exec.")
    os.chmod(work, 0o711)
    redis = None
    procs = []
    try:
        port = free_port()
        redis = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", work, "--daemonize", "no"],
            stdout=open(os.path.join(work, "redis.log"), "w"), stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
        if not wait_for(lambda: redis_ping(port), 10):
            result(False, "redis-server", "did not answer PING on port %d" % port)
            return 1
        svc = Service(args.unit, args.instance, work, "redis://127.0.0.1:%d/0" % port)
        print("unit %s, instance %s" % (args.unit, args.instance))
        print("  ExecStart=%s" % svc.exec_start_line)
        print("  runs:     %s" % " ".join(svc.argv))
        print("  as %s:%s; credentials %s; env files read: %s"
              % (svc.user, svc.group, ", ".join("%s<-%s" % kv for kv in svc.cred_sources.items()),
                 ", ".join(svc.env_files) or "none"))
        result("${CREDENTIALS_DIRECTORY}" in svc.exec_start_line or "%d" in svc.exec_start_line,
               "ExecStart takes the token from the credentials directory")
        token_arg = [a for a in svc.argv if a.startswith(svc.creds)]
        result(bool(token_arg) and os.path.isfile(token_arg[0]),
               "ExecStart's --token-file names the credential", " ".join(token_arg))
        with open(os.path.join(svc.creds, "token")) as f:
            token = f.readline().strip()

        # -- 1. systemd-socket-activate ---------------------------------------------------
        ssa = shutil.which("systemd-socket-activate")
        sock1 = os.path.join(work, "%s.sock" % args.instance)
        log1 = os.path.join(work, "worker1.log")
        if ssa is None:
            result(None, "socket activation (systemd-socket-activate)", "not installed")
        else:
            cmd = [ssa, "-l", sock1, "--fdname=" + svc.socket_unit]
            for k, v in sorted(svc.env.items()):
                cmd += ["-E", "%s=%s" % (k, v)]
            cmd += ["--"] + svc.setpriv() + svc.argv
            logf = open(log1, "w")
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                 env={"PATH": svc.env["PATH"]}, preexec_fn=svc.limits)
            procs.append(p)
            if not wait_for(lambda: os.path.exists(sock1) or p.poll() is not None, 10) or p.poll() is not None:
                result(False, "systemd-socket-activate listens", read(log1)[-500:])
            else:
                socket_perms(sock1)
                try:
                    r = request(sock1, "GET", "/v1/x/nope")
                    ok = r.status == 404 and error_code(r) == "not_found" and \
                        r.header("content-type", "").startswith("application/json")
                    result(ok, "socket-activated worker answers GET /v1/x/nope with 404 JSON",
                           "%d %r" % (r.status, r.body[:80]) if not ok else "")
                except Exception as e:  # noqa: BLE001
                    result(False, "socket-activated worker answers GET /v1/x/nope with 404 JSON",
                           "%r; log: %s" % (e, read(log1)[-800:]))
                started = [ln for ln in read(log1).splitlines() if "msg=started" in ln]
                result(bool(started) and "listen=systemd" in started[0] and "pid=%d" % p.pid in started[0],
                       "the worker took fd 3 from LISTEN_FDS (its pid is LISTEN_PID)",
                       started[0] if started else "no msg=started line: " + read(log1)[-500:])
                # Redis and the installed Lua sources: register with the credential's token.
                try:
                    r = request(sock1, "POST", "/v1/deploytest1", token=token,
                                body={"addresses": ["203.0.113.10:4433"]})
                    sid = ""
                    if r.status == 200:
                        sid = json.loads(r.body.decode()).get("session_id", "")
                    result(r.status == 200 and len(sid) == 32,
                           "register with the credential token: 200 and a session (Redis, Lua sources)",
                           "" if r.status == 200 else "%d %r; log: %s" % (r.status, r.body[:120], read(log1)[-600:]))
                except Exception as e:  # noqa: BLE001
                    result(False, "register with the credential token", repr(e))
                # SIGHUP: the token file is read again.
                new_token = os.urandom(32).hex()
                svc.set_token(new_token)
                before = read(log1).count("msg=token_reloaded")
                os.kill(p.pid, signal.SIGHUP)
                got = wait_for(lambda: read(log1).count("msg=token_reloaded") > before, 5)
                line = [ln for ln in read(log1).splitlines() if "msg=token_reloaded" in ln]
                result(bool(got) and "changed=yes" in line[-1],
                       "SIGHUP (ExecReload=) re-reads the token: msg=token_reloaded changed=yes",
                       line[-1] if line else "no msg=token_reloaded line")
                try:
                    r_new = request(sock1, "POST", "/v1/deploytest2", token=new_token,
                                    body={"addresses": ["203.0.113.10:4433"]})
                    r_old = request(sock1, "POST", "/v1/deploytest3", token=token,
                                    body={"addresses": ["203.0.113.10:4433"]})
                    result(r_new.status == 200 and r_old.status == 401,
                           "after SIGHUP the new token is taken, the old one refused",
                           "new %d, old %d" % (r_new.status, r_old.status))
                except Exception as e:  # noqa: BLE001
                    result(False, "after SIGHUP the new token is taken", repr(e))
                rc = stop(p)
                result(rc == 0, "SIGTERM: the worker exits 0", "exit %r; log: %s" % (rc, read(log1)[-400:])
                       if rc != 0 else "")
                result("msg=stopped" in read(log1), "the worker logged msg=stopped")
                svc.set_token(token)

        # -- 2. the socket held as PID 1 holds it: stop, queue, second worker ----------------
        sock2 = os.path.join(work, "%s-held.sock" % args.instance)
        lsock = make_socket_like_unit(sock2)
        log2 = os.path.join(work, "worker2.log")
        log3 = os.path.join(work, "worker3.log")
        trace = os.path.join(work, "worker2.strace")
        strace = shutil.which("strace")
        wrap = [strace, "-D", "-f", "-qq", "-o", trace, "--"] if strace else []
        w2 = spawn_on(svc, lsock, log2, wrap)
        wait_for(lambda: "msg=started" in read(log2) or w2.poll() is not None, 15)
        try:
            r = request(sock2, "GET", "/v1/x/nope")
            result(r.status == 404 and error_code(r) == "not_found",
                   "a worker on a socket held by its parent serves", "%d" % r.status)
        except Exception as e:  # noqa: BLE001
            result(False, "a worker on a socket held by its parent serves",
                   "%r; log: %s" % (e, read(log2)[-600:]))
        r = None
        try:
            r = request(sock2, "POST", "/v1/deploytest4", token=token,
                        body={"addresses": ["203.0.113.10:4433", "[2001:db8::1]:4433"]})
        except Exception:  # noqa: BLE001
            pass
        rc2 = w2.stop()
        result(rc2 == 0, "SIGTERM: exit 0 (socket held by the parent)", "exit %r" % rc2)
        # The socket was closed by the worker, not shut down: it still queues.
        waiting = None
        try:
            waiting = fcgi_client.FcgiConn.unix(sock2, timeout=2)
            waiting.send_begin(1)
            waiting.send_params(1, fcgi_client.http_params("GET", "/v1/x/nope"))
            waiting.send_stdin(1)
            result(True, "the socket still takes connections after the worker stopped (not shut down)")
        except OSError as e:
            result(False, "the socket still takes connections after the worker stopped", repr(e))
        if waiting is not None:
            w3 = spawn_on(svc, lsock, log3)
            try:
                resp, _, _, _ = waiting.read_response(1, timeout=10)
                result(resp.status == 404, "a restarted worker serves the connection that waited",
                       "%d" % resp.status)
            except Exception as e:  # noqa: BLE001
                result(False, "a restarted worker serves the connection that waited",
                       "%r; log: %s" % (e, read(log3)[-600:]))
            waiting.close()
            rc3 = w3.stop()
            result(rc3 == 0, "SIGTERM: the second worker exits 0", "exit %r" % rc3)
        lsock.close()
        os.unlink(sock2)
        if strace:
            wait_for(lambda: os.path.exists(trace) and "+++ exited" in read(trace), 5)
            check_strace(svc, trace)
        else:
            result(None, "system calls under strace", "strace is not installed")
    except Exception as e:  # noqa: BLE001
        import traceback
        traceback.print_exc()
        result(False, "exec-start", repr(e))
    finally:
        for p in procs:
            stop(p, 5)
        for c in CHILDREN:
            c.stop(5)
        if redis is not None:
            stop(redis, 5)
        if args.keep or RESULTS["fail"]:
            for name in ("worker1.log", "worker2.log", "worker3.log"):
                text = read(os.path.join(work, name))
                if text and RESULTS["fail"]:
                    print("--- %s (last lines)" % name)
                    print("\n".join(text.splitlines()[-15:]))
        if args.keep:
            print("work directory kept: %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("(exec_start.py totals: %d passed, %d failed, %d skipped)"
          % (RESULTS["pass"], RESULTS["fail"], RESULTS["skip"]))
    return 1 if RESULTS["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
