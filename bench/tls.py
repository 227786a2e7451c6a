#!/usr/bin/env python3
"""smtpc bench over TLS beside plaintext, against smtpc sink on 127.0.0.1
with the test certificate (tests/certs), A B C A B C: plaintext, STARTTLS
with message data through the core's transmit buffer then BearSSL's (two
copies, --two-copy), STARTTLS with the message encoded straight into
BearSSL's record buffer (one copy). Then TLS handshakes per second: a new
session (connection, STARTTLS, handshake) for every message, beside the
same in plaintext. Prints medians of messages/s and the client's CPU per
message.

Usage: tls.py [ROUNDS]     (bench/tls.sh builds first)
"""
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
SMTPC = os.path.join(ROOT, "build", "smtpc")
CERTS = os.path.join(ROOT, "tests", "certs")
ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
CASES = [(1024, 20000), (102400, 2000)]
MODES = [("plaintext", []), ("STARTTLS, two copies", ["--starttls", "--two-copy"]),
         ("STARTTLS, one copy", ["--starttls"])]
TLS = ["--cafile", os.path.join(CERTS, "ca.pem"), "--tls-name", "mail.example.com"]


class Sink:
    def __enter__(self):
        self.out = tempfile.TemporaryFile("w+")  # one line per message: never a full pipe
        self.proc = subprocess.Popen([SMTPC, "sink", "--port", "0", "--tls-cert",
                                      os.path.join(CERTS, "good.pem"), "--tls-key",
                                      os.path.join(CERTS, "good.key")],
                                     stdout=self.out, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            self.out.seek(0)
            first = self.out.readline()
            if first.startswith("listening on"):
                self.port = int(first.split()[-1])
                return self
            time.sleep(0.02)
        raise SystemExit("the sink did not start")

    def __exit__(self, *exc):
        self.proc.terminate()  # our own child, by its own pid
        self.proc.wait(10)
        self.out.close()


def bench(port, size, count, args):
    cmd = [SMTPC, "bench", "--host", "127.0.0.1", "--port", str(port), "--size", str(size),
           "--messages", str(count)] + args
    if "--starttls" in args or "--tls" in args:
        cmd += TLS
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise SystemExit("bench failed: %s %s" % (" ".join(cmd), out.stderr))
    rate = float(re.search(r"([0-9.]+) messages/s", out.stdout).group(1))
    cpu = float(re.search(r"client CPU ([0-9.]+) us/message", out.stdout).group(1))
    sessions = re.search(r"([0-9.]+) sessions/s", out.stdout)
    return rate, cpu, float(sessions.group(1)) if sessions else None


def main():
    print("smtpc bench against smtpc sink on 127.0.0.1, %d rounds A B C, medians" % ROUNDS)
    with Sink() as sink:
        for size, count in CASES:
            got = {name: [] for name, _ in MODES}
            for _ in range(ROUNDS):
                for name, args in MODES:
                    got[name].append(bench(sink.port, size, count, args))
            print("%d octets, %d messages, one session:" % (size, count))
            base = statistics.median(r for r, _, _ in got[MODES[0][0]])
            for name, _ in MODES:
                rate = statistics.median(r for r, _, _ in got[name])
                cpu = statistics.median(c for _, c, _ in got[name])
                print("  %-22s %9.0f msg/s  %7.1f us CPU/msg  (x%.2f of plaintext)" % (
                    name, rate, cpu, rate / base))
        hs = {"plaintext": [], "STARTTLS": []}
        for _ in range(ROUNDS):
            hs["plaintext"].append(bench(sink.port, 1024, 500, ["--new-session"]))
            hs["STARTTLS"].append(bench(sink.port, 1024, 500, ["--new-session", "--starttls"]))
        print("a new session per 1 KiB message (500 messages):")
        for name, runs in hs.items():
            print("  %-22s %9.0f sessions/s  %7.1f us CPU/msg" % (
                name, statistics.median(s for _, _, s in runs),
                statistics.median(c for _, c, _ in runs)))
        print("  (TLS: one ECDHE handshake with an ECDSA P-256 certificate per session)")


if __name__ == "__main__":
    t0 = time.time()
    main()
    print("(%.0f s)" % (time.time() - t0))
