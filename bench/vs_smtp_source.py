#!/usr/bin/env python3
"""smtpc bench against Postfix's smtp-source, A B A B, both sending to
smtp-sink on 127.0.0.1, pinned with taskset: everything on one CPU (the cost
in CPU) and client and sink on different CPUs (latency). Prints each side's
median messages per second and client CPU per message, and the ratios.

Usage: vs_smtp_source.py [ROUNDS]
"""
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time

os.environ["PATH"] += ":/usr/sbin:/sbin"
SMTPC = os.path.abspath("build/smtpc")
ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
CASES = [(1024, 5000), (102400, 1000)]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd):
    """Wall seconds and the child's CPU seconds of one run."""
    c0, t0 = child_cpu(), time.perf_counter()
    p = subprocess.run(cmd, capture_output=True)
    t1, c1 = time.perf_counter(), child_cpu()
    if p.returncode != 0:
        raise RuntimeError("%s failed: %s" % (cmd[0], p.stderr.decode()[-300:]))
    return t1 - t0, c1 - c0


def main():
    if shutil.which("taskset") is None or shutil.which("smtp-sink") is None:
        print("needs taskset (util-linux) and smtp-sink (postfix)")
        return 1
    ncpu = os.cpu_count() or 1
    print("machine: %s, %d CPUs; %d rounds A B per case; medians" % (
        open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": \t")
        if os.path.exists("/proc/cpuinfo") and "model name" in open("/proc/cpuinfo").read()
        else os.uname().machine, ncpu, ROUNDS))
    layouts = [("one CPU", "0", "0")]
    if ncpu > 1:
        layouts.append(("two CPUs", "0", "1"))
    for name, sink_cpu, client_cpu in layouts:
        for size, n in CASES:
            port = free_port()
            sink = subprocess.Popen(["taskset", "-c", sink_cpu, "smtp-sink"]
                                    + (["-u", "root"] if os.geteuid() == 0 else [])
                                    + ["127.0.0.1:%d" % port, "1000"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.3)
            res = {"smtpc": [], "smtp-source": []}
            try:
                for _ in range(ROUNDS):
                    for who in ("smtpc", "smtp-source"):
                        if who == "smtpc":
                            cmd = ["taskset", "-c", client_cpu, SMTPC, "bench", "--host",
                                   "127.0.0.1", "--port", str(port), "--messages", str(n),
                                   "--size", str(size)]
                        else:
                            cmd = ["taskset", "-c", client_cpu, "smtp-source", "-s", "1", "-m",
                                   str(n), "-l", str(size), "-d", "127.0.0.1:%d" % port]
                        wall, cpu = timed(cmd)
                        res[who].append((n / wall, cpu * 1e6 / n))
            finally:
                sink.terminate()  # our own child, by its own pid
                sink.wait()
            med = {w: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v))
                   for w, v in res.items()}
            a, b = med["smtpc"], med["smtp-source"]
            print("%-8s %6d octets x %4d: smtpc %8.0f msg/s %6.1f us CPU/msg | smtp-source "
                  "%8.0f msg/s %6.1f us CPU/msg | speed x%.2f, CPU x%.2f" % (
                      name, size, n, a[0], a[1], b[0], b[1], a[0] / b[0], a[1] / b[1]))
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
