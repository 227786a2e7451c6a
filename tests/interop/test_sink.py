#!/usr/bin/env python3
"""smtpc sink against real clients on 127.0.0.1 (Python's smtplib, curl,
swaks, msmtp, Postfix's smtp-source, smtpc send): every stored message is
compared byte for byte. Raw sessions try the known SMTP smuggling sequences:
each is refused and nothing is stored. A load run (smtp-source, 50 sessions,
5000 messages) must store exactly 5000 messages with the sink's memory flat.

Usage: test_sink.py [SMTPC_BINARY]
"""
import os
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import time

os.environ["PATH"] += ":/usr/sbin:/sbin"  # smtp-source lives there
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
import runner  # noqa: E402

SMTPC = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/smtpc")
ONLY = sys.argv[2] if len(sys.argv) > 2 else ""
TESTS = []

MSG = (b"From: a@example.com\r\nTo: b@example.com\r\nSubject: interop\r\n\r\n"
       b"Hello.\r\n.A line with a leading dot.\r\n..Two dots.\r\nLast line.\r\n")


def test(fn):
    TESTS.append(fn)
    return fn


class Sink:
    def __init__(self, *args):
        self.args = list(args)

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="smtpc-sink-")
        self.maildir = os.path.join(self.dir, "Maildir")
        self.out = open(os.path.join(self.dir, "out"), "w+")
        self.proc = subprocess.Popen([SMTPC, "sink", "--port", "0", "--maildir", self.maildir]
                                     + self.args, stdout=self.out, stderr=subprocess.STDOUT)
        deadline = time.time() + 5
        self.port = None
        while time.time() < deadline and self.port is None:
            self.out.seek(0)
            first = self.out.readline()
            if first.startswith("listening on"):
                self.port = int(first.split()[-1])
            else:
                time.sleep(0.02)
        if self.port is None:
            raise RuntimeError("sink did not start")
        return self

    def __exit__(self, *exc):
        self.proc.terminate()  # our own child, by its own pid
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # a wedged sink: the test that made it fails below
            self.proc.wait(5)
            raise AssertionError("the sink did not stop on SIGTERM")
        self.out.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def stored(self, n=1, seconds=10):
        new = os.path.join(self.maildir, "new")
        deadline = time.time() + seconds
        while time.time() < deadline and len(os.listdir(new)) < n:
            time.sleep(0.02)
        names = sorted(os.listdir(new))
        out = []
        for name in names:
            with open(os.path.join(new, name), "rb") as f:
                out.append(f.read())
        return out

    def log(self):
        self.out.seek(0)
        return self.out.read()


def check(cond, what):
    if not cond:
        raise AssertionError(what)


@test
def python_smtplib():
    with Sink() as s:
        with smtplib.SMTP("127.0.0.1", s.port, local_hostname="client.example") as c:
            c.sendmail("a@example.com", ["b@example.com", "c@example.com"], MSG)
        got = s.stored()
        check(got == [MSG], repr(got))
        check('from="a@example.com" to="b@example.com","c@example.com" size=%d' % len(MSG)
              in s.log() and s.log().count("\naccepted session=1 ") == 1, s.log())


@test
def smtpc_send():
    with Sink() as s:
        p = subprocess.run([SMTPC, "send", "--host", "127.0.0.1", "--port", str(s.port), "--from",
                            "a@example.com", "--to", "b@example.com"], input=MSG,
                           capture_output=True, timeout=30)
        check(p.returncode == 0, p.stderr)
        check(s.stored() == [MSG], repr(s.stored()))


@test
def smtpc_send_several_files_in_one_session():
    names = []
    try:
        for k in range(3):
            with tempfile.NamedTemporaryFile(delete=False) as f:
                f.write(MSG.replace(b"interop", b"file %d" % k))
                names.append(f.name)
        with Sink() as s:
            args = [SMTPC, "send", "--host", "127.0.0.1", "--port", str(s.port), "--from",
                    "a@example.com", "--to", "b@example.com", "--json"]
            for n in names:
                args += ["--file", n]
            p = subprocess.run(args, capture_output=True, timeout=30)
            check(p.returncode == 0, p.stderr)
            import json
            doc = json.loads(p.stdout)
            check([m["status"] for m in doc["messages"]] == ["accepted"] * 3 and
                  all(m["method"] == "BDAT" for m in doc["messages"]), p.stdout)
            got = s.stored(3)
            want = sorted(MSG.replace(b"interop", b"file %d" % k) for k in range(3))
            check(sorted(got) == want, repr(got))
    finally:
        for n in names:
            os.unlink(n)


@test
def smtpc_bench_one_and_several_sessions():
    # the sink offers CHUNKING and PIPELINING: BDAT through the layer; every
    # message stored
    for sessions in ("1", "3"):
        with Sink() as s:
            p = subprocess.run([SMTPC, "bench", "--host", "127.0.0.1", "--port", str(s.port),
                                "--messages", "120", "--sessions", sessions, "--size", "320"],
                               capture_output=True, timeout=60)
            check(p.returncode == 0, p.stdout + p.stderr)
            check(b"120 accepted, 0 failed" in p.stdout, p.stdout)
            got = s.stored(120)
            check(len(got) == 120 and all(len(m) == 320 for m in got),
                  "%d stored" % len(got))


@test
def curl():
    with Sink() as s, tempfile.NamedTemporaryFile() as f:
        f.write(MSG)
        f.flush()
        # the URL path is curl's EHLO argument
        p = subprocess.run(["curl", "-sS", "smtp://127.0.0.1:%d/client.example" % s.port, "--mail-from",
                            "a@example.com", "--mail-rcpt", "b@example.com", "--upload-file",
                            f.name], capture_output=True, timeout=30)
        check(p.returncode == 0, p.stderr)
        check(s.stored() == [MSG], repr(s.stored()))


@test
def swaks():
    with Sink() as s, tempfile.NamedTemporaryFile() as f:
        f.write(MSG)
        f.flush()
        p = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % s.port, "--from", "a@example.com",
                            "--to", "b@example.com", "--data", "@" + f.name, "--helo",
                            "client.example"], capture_output=True, timeout=30)
        check(p.returncode == 0, p.stdout[-500:])
        # swaks ends the data with a line end of its own before the dot
        check(s.stored() == [MSG + b"\r\n"], repr(s.stored()))


@test
def msmtp():
    with Sink() as s:
        p = subprocess.run(["msmtp", "--host=127.0.0.1", "--port=%d" % s.port, "--auth=off",
                            "--tls=off", "--set-date-header=off", "--set-msgid-header=off",
                            "--from=a@example.com", "b@example.com"], input=MSG,
                           capture_output=True, timeout=30)
        check(p.returncode == 0, p.stderr)
        check(s.stored() == [MSG], repr(s.stored()))


@test
def postfix_smtp_source_one_message():
    with Sink() as s:
        p = subprocess.run(["smtp-source", "-m", "1", "-l", "2000", "-f", "a@example.com", "-t",
                            "b@example.com", "127.0.0.1:%d" % s.port], capture_output=True,
                           timeout=30)
        check(p.returncode == 0, p.stderr)
        got = s.stored()
        check(len(got) == 1, repr(got))
        check(b"From: <a@example.com>\r\n" in got[0] and got[0].endswith(b"\r\n"), got[0][:200])


def tls_certs():
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
    from certs import make_certs
    d = tempfile.mkdtemp(prefix="smtpc-sinkcerts-")
    make_certs(d)
    return d


@test
def starttls_smtpc_and_smtplib_with_verified_certificates():
    import ssl
    d = tls_certs()
    try:
        with Sink("--tls-cert", os.path.join(d, "good.pem"), "--tls-key",
                  os.path.join(d, "good.key")) as s:
            p = subprocess.run([SMTPC, "send", "--host", "localhost", "--port", str(s.port),
                                "--from", "a@example.com", "--to", "b@example.com", "--starttls",
                                "--cafile", os.path.join(d, "ca.pem")], input=MSG,
                               capture_output=True, timeout=30)
            check(p.returncode == 0, p.stderr)
            ctx = ssl.create_default_context(cafile=os.path.join(d, "ca.pem"))
            with smtplib.SMTP("localhost", s.port, local_hostname="client.example") as c:
                c.starttls(context=ctx)
                c.sendmail("c@example.com", ["d@example.com"], MSG)
            got = s.stored(2)
            check(got == [MSG, MSG], repr(got))
            # commands pipelined after STARTTLS are plaintext injection: dropped
            c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
            f = c.makefile("rb")
            f.readline()
            c.sendall(b"EHLO x.example\r\nSTARTTLS\r\nMAIL FROM:<evil@example.com>\r\n")
            replies = []
            while True:
                line = f.readline()
                if not line:
                    break
                replies.append(line)
            c.close()
            # the session ends at once: nothing after the injection is answered
            check(b"250 2.1.0" not in b"".join(replies), repr(replies))
            check("evil" not in s.log(), s.log())
    finally:
        shutil.rmtree(d, ignore_errors=True)


SMUGGLING = [b"\r\n.\n", b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\r\n.\r\r\n", b"\r\n.\r"]


@test
def smuggling_sequences_refused_nothing_stored():
    for seq in SMUGGLING:
        with Sink() as s:
            c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
            f = c.makefile("rb")
            f.readline()
            c.sendall(b"EHLO client.example\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n"
                      b"DATA\r\nSubject: outer\r\n\r\nhello" + seq +
                      b"MAIL FROM:<evil@example.com>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\n"
                      b"Subject: smuggled\r\n\r\nhidden\r\n.\r\nQUIT\r\n")
            replies = []
            while True:
                line = f.readline()
                if not line:
                    break
                replies.append(line)
            c.close()
            codes = [r[:4] for r in replies if r[3:4] == b" "]
            check(codes[-2:] == [b"554 ", b"221 "] or codes[-2:] == [b"500 ", b"221 "],
                  "%r: %r" % (seq, replies))
            check(s.stored(1, seconds=0.3) == [], "%r stored something" % seq)
            check("evil" not in s.log() and "\naccepted " not in s.log(), s.log())


CERTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "certs")


def example(prog):
    """An event-loop example next to the smtpc binary under test (or in rel/)."""
    here = os.path.dirname(SMTPC)
    for path in (os.path.join(here, prog), os.path.join(here, "rel", prog)):
        if os.path.exists(path):
            return path
    return None


@test
def examples_deliver_over_starttls_in_event_loop_mode():
    """examples/poll_send and uv_send: STARTTLS in event-loop mode, EHLO and
    MAIL issued outside any callback, verified against the test CA."""
    progs = [p for p in ("poll_send", "uv_send") if example(p)]
    check("poll_send" in progs, "poll_send not built next to " + SMTPC)
    if os.path.exists("/usr/include/uv.h"):
        check("uv_send" in progs, "uv_send not built next to " + SMTPC)
    with Sink("--tls-cert", os.path.join(CERTS, "good.pem"), "--tls-key",
              os.path.join(CERTS, "good.key"), "-v") as s:
        for n, prog in enumerate(progs, 1):
            p = subprocess.run([example(prog), "--starttls", "--cafile",
                                os.path.join(CERTS, "ca.pem"), "--tls-name", "mail.example.com",
                                "127.0.0.1", str(s.port), "a@example.com", "b@example.com"],
                               capture_output=True, timeout=30)
            out = p.stdout.decode()
            check(p.returncode == 0, "%s: %s %s" % (prog, out, p.stderr))
            check("220 2.0.0 Ready to start TLS\nTLS is up\n250 localhost" in out, out)
            got = s.stored(n)
            check(len(got) == n and got[-1].startswith(b"Subject: "), repr(got))
        # the second EHLO, and the message, came after the handshake
        log = s.log()
        check(log.count("TLS is up") == len(progs), log)
        # a wrong name is refused before any command goes out over TLS
        p = subprocess.run([example("poll_send"), "--starttls", "--cafile",
                            os.path.join(CERTS, "ca.pem"), "--tls-name", "other.example.com",
                            "127.0.0.1", str(s.port), "a@example.com", "b@example.com"],
                           capture_output=True, timeout=30)
        check(p.returncode == 1 and b"does not match the server name" in p.stderr,
              "%d %r" % (p.returncode, p.stderr))
        check(len(s.stored(len(progs), seconds=0.2)) == len(progs), "a message went through")


@test
def starttls_large_message_in_full_records():
    """A 300 KB message over STARTTLS: each 16 KiB record holds more lines
    than the sink's core takes at once; the sink must keep pulling them (it
    used to wait for the socket, a second per input buffer)."""
    line = b"The quick brown fox jumps over the lazy dog, again and again, over TLS.\r\n"
    msg = b"Subject: large\r\n\r\n" + line * 4000
    with Sink("--tls-cert", os.path.join(CERTS, "good.pem"), "--tls-key",
              os.path.join(CERTS, "good.key")) as s:
        for extra in ([], ["--helo", "client.example"]):
            p = subprocess.run([SMTPC, "send", "--host", "127.0.0.1", "--port", str(s.port),
                                "--from", "a@example.com", "--to", "b@example.com", "--starttls",
                                "--cafile", os.path.join(CERTS, "ca.pem"), "--tls-name",
                                "mail.example.com", "--timeout", "20000"] + extra,
                               input=msg, capture_output=True, timeout=30)
            check(p.returncode == 0, p.stderr)
        got = s.stored(2)
        check(got == [msg, msg], "stored %r" % [len(g) for g in got])


def tls_session(port):
    """A client up to TLS after STARTTLS, certificate unchecked (the sink's
    side is under test); returns the TLS socket."""
    import ssl
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = c.makefile("rb")
    f.readline()
    c.sendall(b"EHLO client.example\r\n")
    while f.readline()[3:4] != b" ":
        pass
    c.sendall(b"STARTTLS\r\n")
    check(f.readline().startswith(b"220 "), "no 220 to STARTTLS")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx.wrap_socket(c, server_hostname="mail.example.com")


@test
def tls_clients_gone_without_close_notify_do_not_wedge_the_sink():
    """Clients that end TLS with a bare TCP close, or half-close and wait
    (no close_notify), after pipelining a message or nothing: the sink
    drops them, serves the next client at once and stops on SIGTERM. (It
    spun on the core's repeated end-of-session event, inside one client's
    step: nothing else was served and SIGTERM went unseen.)"""
    msg = (b"EHLO client.example\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n"
           b"DATA\r\nSubject: pipelined\r\n\r\nthen gone\r\n.\r\n")
    with Sink("--tls-cert", os.path.join(CERTS, "good.pem"), "--tls-key",
              os.path.join(CERTS, "good.key")) as s:
        kept = []
        for n, (how, data) in enumerate((("close", b""), ("half-close", b""),
                                         ("half-close", msg), ("close", msg)), 1):
            t = tls_session(s.port)
            if data:
                t.sendall(data)
            if how == "close":
                t.close()
            else:
                t.shutdown(socket.SHUT_WR)  # TCP FIN, no close_notify; keeps reading
                kept.append((t, data))
            p = subprocess.run([SMTPC, "send", "--host", "127.0.0.1", "--port", str(s.port),
                                "--from", "c@example.com", "--to", "d@example.com", "--timeout",
                                "5000"], input=MSG, capture_output=True, timeout=30)
            check(p.returncode == 0, "after a %s: %r" % (how, p.stderr))
            check(s.proc.poll() is None, "the sink died")
        got = s.stored(6)
        check(len(got) == 6 and got.count(MSG) == 4, "stored %r" % [g[:20] for g in got])
        # the half-closed clients got their replies (records), then the sink's
        # close: end of input, not a timeout
        for t, sent in kept:
            t.settimeout(5)
            data, eof = b"", False
            try:
                while True:
                    d = t.recv(4096)  # raw: shutdown() dropped the TLS object
                    if not d:
                        eof = True
                        break
                    data += d
            except OSError:
                pass
            t.close()
            check(eof and (data[:1] == b"\x17") == bool(sent), "%r, end of input %s" % (data[:8], eof))


@test
def load_50_sessions_5000_messages_none_lost():
    with Sink() as s:
        t0 = time.time()
        p = subprocess.run(["smtp-source", "-s", "50", "-m", "5000", "-l", "1024", "-f",
                            "a@example.com", "-t", "b@example.com", "127.0.0.1:%d" % s.port],
                           capture_output=True, timeout=300)
        took = time.time() - t0
        check(p.returncode == 0, p.stderr)
        got = len(os.listdir(os.path.join(s.maildir, "new")))
        check(got == 5000, "stored %d of 5000" % got)
        check(s.log().count("\naccepted ") == 5000, "accepted lines")
        with open("/proc/%d/status" % s.proc.pid) as st:
            hwm = [l for l in st if l.startswith("VmHWM")][0].split()[1]
        if os.environ.get("SMTPC_RSS_CHECK"):  # not under AddressSanitizer
            check(int(hwm) < 32 * 1024, "peak RSS %s kB" % hwm)
        print("  5000 messages in %.2f s, %.0f msg/s, sink peak RSS %s kB" % (took, 5000 / took, hwm))


def main():
    missing = [t for t in ("curl", "swaks", "msmtp", "smtp-source") if not shutil.which(t)]
    if missing:
        print("sink: missing %s" % " ".join(missing))
        print("sink: 0 passed, 1 failed")
        return 1
    return runner.run("sink", TESTS, ONLY)


if __name__ == "__main__":
    sys.exit(main())
