#!/usr/bin/env python3
"""Streams a large message (default 1 GiB) through `smtpc send` to Postfix's
smtp-sink on 127.0.0.1 and reports the client's peak RSS: memory stays flat
whatever the size.

Usage: big_message.py [MEGABYTES]
"""
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time

os.environ["PATH"] += ":/usr/sbin:/sbin"
MB = int(sys.argv[1]) if len(sys.argv) > 1 else 1024


def main():
    line = b"The quick brown fox jumps over the lazy dog; .dots and \xc3\xa9 too.\r\n"
    with tempfile.NamedTemporaryFile(prefix="smtpc-big-") as f:
        f.write(b"Subject: big\r\n\r\n")
        chunk = line * (1 << 20 // len(line) + 1)
        while f.tell() < MB << 20:
            f.write(chunk)
        f.flush()
        size = f.tell()
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        sink = subprocess.Popen(["smtp-sink"] + (["-u", "root"] if os.geteuid() == 0 else [])
                                + ["127.0.0.1:%d" % port, "10"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        try:
            t0 = time.time()
            p = subprocess.run(["build/smtpc", "send", "--host", "127.0.0.1", "--port", str(port),
                                "--from", "a@example.com", "--to", "b@example.com", "--file",
                                f.name, "--timeout", "600000"], capture_output=True)
            took = time.time() - t0
        finally:
            sink.terminate()  # our own child, by its own pid
            sink.wait()
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print("smtpc send: %d MiB message, exit %d, %.1f s (%.0f MB/s), client peak RSS %d kB" % (
        size >> 20, p.returncode, took, size / took / 1e6, peak))
    if p.returncode != 0:
        print(p.stderr.decode()[-300:])
    return p.returncode


if __name__ == "__main__":
    sys.exit(main())
