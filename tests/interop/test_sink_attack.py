#!/usr/bin/env python3
"""smtpc sink attacked from the command line and from the network, on
127.0.0.1: option values it must refuse (exit 64 and a message naming the
option), log lines whose fields client text cannot unbalance. Each test is a
defect found by attacking the sink.

Usage: test_sink_attack.py [SMTPC_BINARY [FILTER]]
"""
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
import runner  # noqa: E402
import test_sink  # noqa: E402  (its Sink, on the same binary)
from test_sink import Sink, check  # noqa: E402

SMTPC = test_sink.SMTPC
ONLY = test_sink.ONLY
TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def talk(port, data, until=b"221 "):
    """Sends data at once, reads until `until` or the close."""
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    c.recv(1000)
    c.sendall(data)
    got = b""
    while until not in got:
        d = c.recv(65536)
        if not d:
            break
        got += d
    c.close()
    return got


@test
def bad_option_values_exit_64_naming_the_option():
    bad = [["--max-size", "abc"], ["--max-size", "-1"], ["--max-size", "12x"],
           ["--max-size", "99999999999999999999999"], ["--messages", "abc"],
           ["--messages", "-3"], ["--command-timeout", "-5"], ["--command-timeout", "abc"],
           ["--timeout", "abc"], ["--timeout", "0"], ["--port", "abc"], ["--port", "99999"],
           ["--port", "-1"], ["--max-sessions", "-1"], ["--max-sessions", "0"],
           ["--max-sessions", "99999999999999999999"]]
    for args in bad:
        # a value taken would start a sink: the timeout ends that (and fails)
        try:
            port = [] if args[0] == "--port" else ["--port", "0"]
            p = subprocess.run([SMTPC, "sink"] + port + args, capture_output=True, timeout=5)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s: accepted, the sink started" % " ".join(args))
        check(p.returncode == 64, "%s: exit %d" % (" ".join(args), p.returncode))
        first = p.stderr.decode(errors="replace").splitlines()[0] if p.stderr else ""
        check(args[0] in first, "%s: %r does not name the option" % (" ".join(args), first))


@test
def a_long_envelope_keeps_the_log_line_quotes_balanced():
    # 320 recipients of about 220 octets overflow the 64 KiB of envelope kept
    # for the log: the field must still be closed, its truncation shown, and the
    # fields after it (size=, id=) left outside any quote
    dom = (b"d" * 50 + b".") * 4 + b"example"
    rcpts = b"".join(b"RCPT TO:<a%03d@%s>\r\n" % (i, dom) for i in range(320))
    with Sink() as s:
        got = talk(s.port, b"EHLO x\r\nMAIL FROM:<a@x>\r\n" + rcpts +
                   b"DATA\r\nhi\r\n.\r\nQUIT\r\n")
        check(got.count(b"250 2.1.5") == 320 and b"250 2.0.0 Ok" in got, got[-200:])
        # the sink writes the long line in pieces: wait for its end
        deadline = time.monotonic() + 5
        while True:
            line = [x for x in s.log().split("\n")[:-1] if x.startswith("accepted ")]
            if line or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        check(len(line) == 1, s.log()[-500:])
        line = line[0]
        check(line.count('"') % 2 == 0, "unbalanced quotes: ..." + line[-120:])
        tail = line.rsplit('"', 1)[1]
        check(tail.startswith("... size=4 id=") or tail.startswith(" size=4 id="),
              "fields after the envelope: %r" % tail)
        check("..." in line, "truncation not shown: ..." + line[-120:])


@test
def a_maildir_path_too_long_for_its_file_names_is_refused_at_start():
    # the sink started, then answered 451 to every message: the names of
    # its files were cut to the directory's own name
    import shutil
    import tempfile
    top = tempfile.mkdtemp(prefix="smtpc-attack-")
    try:
        parent = os.path.join(top, "p" * 200, "q" * 200)
        os.makedirs(parent)
        d = os.path.join(parent, "m" * (460 - len(parent)))
        try:
            p = subprocess.run([SMTPC, "sink", "--port", "0", "--maildir", d],
                               capture_output=True, timeout=5)
        except subprocess.TimeoutExpired:
            raise AssertionError("a %d-octet --maildir was taken" % len(d))
        check(p.returncode == 64 and b"--maildir" in p.stderr, (p.returncode, p.stderr))
        check(not os.path.exists(d), "created " + d)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def main():
    return runner.run("sink-attack", TESTS, ONLY)


if __name__ == "__main__":
    sys.exit(main())
