#!/usr/bin/env python3
"""smtpc sink against Postfix's smtp-sink on 127.0.0.1 (no Maildir), the
server pinned to CPU 0 and the client to CPU 1 (taskset), 20 sessions,
20,000 messages of 1 KiB, rounds A B A B, medians. Two clients, each sent
to both servers: smtpc bench (pipelining: the servers' own cost shows) and
Postfix's smtp-source -s 20 -d (one command per round trip). Server CPU per
message from /proc/PID/stat (utime + stime) before and after each run.

Then 10,000 concurrent connections to smtpc sink (the descriptor limits
raised): all greeted, one message sent over each of 1,000 of them while the
rest stay open, none lost, the sink's peak RSS (VmHWM), and how long a new
client waits for its greeting meanwhile.

Usage: vs_smtp_sink.py [ROUNDS] [--no-10k]
"""
import os
import resource
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import time

os.environ["PATH"] += ":/usr/sbin:/sbin"
SMTPC = os.path.abspath("build/smtpc")
ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
ROUNDS = int(ARGS[0]) if ARGS else 2
MESSAGES, SESSIONS, SIZE = 20000, 20, 1024
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cpu_of(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def wait_port(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("server did not start")


def start(server, port, cpu="0", extra=()):
    if server == "smtp-sink":
        cmd = ["taskset", "-c", cpu, "smtp-sink"] + (["-u", "root"] if os.geteuid() == 0 else []) \
            + ["127.0.0.1:%d" % port, "1000"]
    else:
        cmd = ["taskset", "-c", cpu, SMTPC, "sink", "--port", str(port)] + list(extra)
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return p


def client_cmd(client, port):
    if client == "smtpc bench":
        return ["taskset", "-c", "1", SMTPC, "bench", "--host", "127.0.0.1", "--port", str(port),
                "--messages", str(MESSAGES), "--sessions", str(SESSIONS), "--size", str(SIZE)]
    return ["taskset", "-c", "1", "smtp-source", "-s", str(SESSIONS), "-m", str(MESSAGES), "-l",
            str(SIZE), "-d", "127.0.0.1:%d" % port]


def compare():
    for client in ("smtpc bench", "smtp-source"):
        res = {"smtpc sink": [], "smtp-sink": []}
        for _ in range(ROUNDS):
            for server in ("smtpc sink", "smtp-sink"):
                port = free_port()
                srv = start(server, port)
                try:
                    c0, t0 = cpu_of(srv.pid), time.perf_counter()
                    p = subprocess.run(client_cmd(client, port), capture_output=True)
                    t1, c1 = time.perf_counter(), cpu_of(srv.pid)
                finally:
                    srv.terminate()  # our own child, by its own pid
                    srv.wait()
                if p.returncode != 0:
                    raise RuntimeError("%s -> %s: %s" % (client, server, p.stderr.decode()[-300:]))
                res[server].append((MESSAGES / (t1 - t0), (c1 - c0) * 1e6 / MESSAGES))
        med = {s: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v))
               for s, v in res.items()}
        a, b = med["smtpc sink"], med["smtp-sink"]
        print("%-11s: smtpc sink %7.0f msg/s %5.1f us server CPU/msg | smtp-sink %7.0f msg/s "
              "%5.1f us | speed x%.2f, server CPU x%.2f" % (client, a[0], a[1], b[0], b[1],
                                                            a[0] / b[0], a[1] / b[1]))
        sys.stdout.flush()


def ten_thousand(n=10000, senders=1000):
    want = n + 200
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < want + 100:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want + 100, want + 100))
        except (ValueError, OSError):
            print("10k: cannot raise the descriptor limit to %d (hard %d): skipped" % (want, hard))
            return
    else:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want + 100, hard))
    port = free_port()
    srv = start("smtpc sink", port, extra=["--max-sessions", str(n + 100), "--timeout", "600000"])
    socks, greeted = [], 0
    try:
        sel = selectors.DefaultSelector()
        for i in range(n):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            socks.append(s)
            sel.register(s, selectors.EVENT_READ, i)
            if i % 500 == 499:  # take greetings as they come
                for key, _ in sel.select(0):
                    if key.fileobj.recv(200).startswith(b"220 "):
                        greeted += 1
                    sel.unregister(key.fileobj)
        deadline = time.time() + 60
        while greeted < n and time.time() < deadline:
            for key, _ in sel.select(1):
                if key.fileobj.recv(200).startswith(b"220 "):
                    greeted += 1
                sel.unregister(key.fileobj)
        # a new client meanwhile: how long until its greeting
        t0 = time.perf_counter()
        c = socket.create_connection(("127.0.0.1", port), timeout=5)
        first = c.recv(200)
        late_ms = (time.perf_counter() - t0) * 1000
        c.close()
        # one message over each of the first `senders`, pipelined, all at once
        msg = (b"EHLO c.example\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n"
               b"DATA\r\n" + b"x" * 998 + b"\r\n.\r\nQUIT\r\n")
        for s in socks[:senders]:
            s.setblocking(True)
            s.sendall(msg)
        ok = 0
        for s in socks[:senders]:
            s.settimeout(30)
            data = b""
            while b"221 " not in data:
                d = s.recv(4096)
                if not d:
                    break
                data += d
            ok += b"250 2.0.0 Ok" in data
        with open("/proc/%d/status" % srv.pid) as f:
            hwm = [l for l in f if l.startswith("VmHWM")][0].split()[1]
        print("10k: %d of %d connections greeted, %d of %d messages accepted, sink peak RSS %.1f "
              "MiB, a new client greeted in %.1f ms (%s)" % (
                  greeted, n, ok, senders, int(hwm) / 1024, late_ms,
                  "220" if first.startswith(b"220 ") else repr(first[:20])))
    finally:
        for s in socks:
            s.close()
        srv.terminate()
        srv.wait()


def main():
    if shutil.which("taskset") is None or shutil.which("smtp-sink") is None:
        print("needs taskset (util-linux) and smtp-sink, smtp-source (postfix)")
        return 1
    print("%d CPUs; server on CPU 0, client on CPU 1; %d rounds A B; %d messages of %d octets "
          "over %d sessions; medians" % (os.cpu_count() or 1, ROUNDS, MESSAGES, SIZE, SESSIONS))
    compare()
    if "--no-10k" not in sys.argv:
        ten_thousand()
    return 0


if __name__ == "__main__":
    sys.exit(main())
