#!/usr/bin/env python3
"""scan_secrets.py -- no secret of the integration runs in any log.

The integration harness appends every secret it uses to $RR_SECRETS_FILE:
the realm token of every Stack (stack.py) and the session id of every
register answered 200 (client.Api.register). stack.py keeps the workers'
logs, the proxy's access and error logs and Redis's log in $RR_LOG_DIR.
This reads the secrets file and every file under the log directory (the
secrets file itself excepted) and reports each line that holds a secret,
case-insensitively, as "FAIL file:line: <the line, the secret masked>".

First a self-check: a fake secret planted in a temporary log must be found
(at the right line, masked in the report), and a near miss must not: a
scanner that cannot fail would pass anything.

Prints "PASS"/"FAIL" lines and one closing "N passed, N failed": one
check per log file (clean or not), one for the self-check, one for the
secrets file (present and not empty).

Usage: scan_secrets.py [--secrets FILE] [--logs DIR]
       (defaults: $RR_SECRETS_FILE, $RR_LOG_DIR)
"""

import os
import re
import sys
import tempfile

HEX_RUN = re.compile(rb"[0-9a-fA-F]{16,}")
MAX_SHOWN = 20          # occurrences listed per file; the rest are counted


def mask(secret):
    """How a secret is shown: its first 4 characters and its length."""
    return "<secret %s...(%d chars)>" % (secret[:4], len(secret))


class Secrets:
    """The secrets, lowercased. Hex ones (tokens and session ids, the
    usual case) are looked up by length in the hex runs of a line; any
    other is searched as a substring."""

    def __init__(self, values):
        self.hex_by_len = {}
        self.other = []
        for v in values:
            v = v.strip()
            if len(v) < 8:          # too short to tell apart from chance
                continue
            b = v.lower().encode("utf-8", "replace")
            if re.fullmatch(rb"[0-9a-f]+", b) and len(b) >= 16:
                self.hex_by_len.setdefault(len(b), set()).add(b)
            elif b not in self.other:
                self.other.append(b)
        self.count = sum(len(s) for s in self.hex_by_len.values()) + len(self.other)

    def find(self, line):
        """The secrets (bytes, lowercased) that occur in line."""
        low = line.lower()
        found = []
        for m in HEX_RUN.finditer(low):
            run = m.group(0)
            for n, group in self.hex_by_len.items():
                if n > len(run):
                    continue
                for k in range(len(run) - n + 1):
                    w = run[k:k + n]
                    if w in group and w not in found:
                        found.append(w)
        for s in self.other:
            if s in low and s not in found:
                found.append(s)
        return found


def read_secrets(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return [ln.strip() for ln in f if ln.strip()]


def scan_file(path, secrets):
    """[(line number, masked line)] for each line of path with a secret."""
    out = []
    with open(path, "rb") as f:
        for no, line in enumerate(f, 1):
            found = secrets.find(line)
            if not found:
                continue
            text = line.rstrip(b"\r\n").decode("utf-8", "replace")
            for s in found:
                text = re.sub(re.escape(s.decode()), mask(s.decode()), text, flags=re.I)
            out.append((no, text[:300]))
    return out


def log_files(root, exclude):
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for fn in sorted(files):
            p = os.path.join(d, fn)
            if os.path.realpath(p) in exclude or not os.path.isfile(p):
                continue
            yield p


def self_check():
    """None if the scanner finds a planted secret (masked) and not a near
    miss; else what went wrong."""
    secret = "5ec7e7" + "ab" * 13                     # 32 hex, as a token
    near = secret[:-1] + ("0" if secret[-1] != "0" else "1")
    d = tempfile.mkdtemp(prefix="rr-scan-selfcheck-")
    try:
        log = os.path.join(d, "w1.log")
        with open(log, "w") as f:
            f.write("level=info msg=started\n")
            f.write("level=debug msg=x session=%s\n" % near)          # not a secret
            f.write('127.0.0.1 - - "POST /v1/x" 200 auth="Bearer %s"\n' % secret.upper())
            f.write("level=info msg=stopped\n")
        sec = Secrets([secret])
        hits = [(p, no, t) for p in log_files(d, set()) for no, t in scan_file(p, sec)]
        if [(p, no) for p, no, _ in hits] != [(log, 3)]:
            return "planted secret at %s:3 expected, found %r" % (log, hits)
        if secret.lower() in hits[0][2].lower() or mask(secret) not in hits[0][2]:
            return "the report does not mask the secret: %r" % hits[0][2]
        return None
    finally:
        for fn in os.listdir(d):
            os.unlink(os.path.join(d, fn))
        os.rmdir(d)


def main(argv):
    secrets_path = os.environ.get("RR_SECRETS_FILE")
    logs = os.environ.get("RR_LOG_DIR")
    args = argv[1:]
    while args:
        a = args.pop(0)
        if a == "--secrets" and args:
            secrets_path = args.pop(0)
        elif a == "--logs" and args:
            logs = args.pop(0)
        else:
            print(__doc__.strip().split("\n\n")[-1], file=sys.stderr)
            return 2
    passed = failed = 0

    why = self_check()
    if why is None:
        print("PASS secrets: self-check (a planted secret is found and masked)")
        passed += 1
    else:
        print("FAIL secrets: self-check: %s" % why)
        failed += 1

    values = []
    if not secrets_path or not os.path.isfile(secrets_path):
        print("FAIL secrets: no secrets file (%s): did the integration runs set "
              "RR_SECRETS_FILE?" % secrets_path)
        failed += 1
    else:
        values = read_secrets(secrets_path)
        if values:
            print("PASS secrets: %d recorded (%d distinct) in %s"
                  % (len(values), len(set(values)), secrets_path))
            passed += 1
        else:
            print("FAIL secrets: %s is empty: the harness recorded no token or session id"
                  % secrets_path)
            failed += 1
    sec = Secrets(values)

    if not logs or not os.path.isdir(logs):
        print("FAIL secrets: no log directory (%s)" % logs)
        failed += 1
    elif sec.count:
        exclude = {os.path.realpath(secrets_path)} if secrets_path else set()
        nfiles = nlines = 0
        for p in log_files(logs, exclude):
            nfiles += 1
            rel = os.path.relpath(p, logs)
            try:
                hits = scan_file(p, sec)
            except OSError as e:
                print("FAIL secrets: %s: cannot read: %s" % (rel, e))
                failed += 1
                continue
            if hits:
                failed += 1
                nlines += len(hits)
                for no, text in hits[:MAX_SHOWN]:
                    print("FAIL secrets: %s:%d: %s" % (rel, no, text))
                if len(hits) > MAX_SHOWN:
                    print("FAIL secrets: %s: %d more lines with secrets"
                          % (rel, len(hits) - MAX_SHOWN))
            else:
                passed += 1
        print("scanned %d log files under %s for %d secrets: %d lines with one"
              % (nfiles, logs, sec.count, nlines))
        if nfiles == 0:
            print("FAIL secrets: no log files under %s" % logs)
            failed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
