#!/usr/bin/env python3
"""The io-posix adapter and the smtpc tool against scripted servers on
127.0.0.1: exact bytes on the wire, exit statuses, timeouts.

Usage: test_cli.py [SMTPC_BINARY] [NAME_FILTER]
"""
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import runner  # noqa: E402
from fakeserver import FakeServer  # noqa: E402

SMTPC = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/smtpc")
ONLY = sys.argv[2] if len(sys.argv) > 2 else ""
TESTS = []

GREET = b"220 fake.example ESMTP\r\n"
EHLO_PIPE = b"250-fake.example\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250 8BITMIME\r\n"
EHLO_PLAIN = b"250-fake.example\r\n250 8BITMIME\r\n"
MSG = b"Subject: test\r\n\r\nhello\r\n"


def test(fn):
    TESTS.append(fn)
    return fn


def send(port, *args, msg=MSG, timeout=30, extra=()):
    cmd = [SMTPC, "send", "--host", "127.0.0.1", "--port", str(port),
           "--from", "a@example.com", "--helo", "client.example"] + list(args)
    if not any(a == "--to" for a in args) and "--no-to" not in extra:
        cmd += ["--to", "b@example.com"]
    t0 = time.time()
    p = subprocess.run(cmd, input=msg, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode("latin-1"), p.stderr.decode("latin-1"), time.time() - t0


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def pipelined_session(ehlo=EHLO_PIPE, rcpt_replies=b"250 ok\r\n", data_reply=b"354 go\r\n",
                      final=b"250 2.0.0 queued\r\n", nrcpt=1):
    return [("send", GREET), ("line",), ("send", ehlo), ("lines", 2 + nrcpt),
            ("send", b"250 ok\r\n" + rcpt_replies + data_reply), ("until", b"\r\n.\r\n"),
            ("send", final), ("line",), ("send", b"221 bye\r\n")]


# ---- the wire ------------------------------------------------------------------

@test
def pipelined_group_in_one_write_and_exact_bytes():
    srv = FakeServer(pipelined_session())
    rc, _, err, _ = send(srv.port, msg=b"Subject: x\n\n.leading dot\nbare cr\rend")
    srv.wait()
    check(rc == 0, "rc %d %s" % (rc, err))
    check(srv.error is None, srv.error)
    data = b"Subject: x\r\n\r\n..leading dot\r\nbare cr\r\nend\r\n.\r\n"
    # RFC 1870 5: SIZE counts CRLF line ends but not the doubled dots or the terminator
    text = b"Subject: x\r\n\r\n.leading dot\r\nbare cr\r\nend\r\n"
    check(srv.received == b"EHLO client.example\r\nMAIL FROM:<a@example.com> SIZE=%d\r\n"
          b"RCPT TO:<b@example.com>\r\nDATA\r\n%sQUIT\r\n" % (len(text), data),
          repr(srv.received))


@test
def server_that_answers_only_after_the_whole_group():
    # reads MAIL, both RCPTs and DATA before answering: a waiting client would stall
    srv = FakeServer([("send", GREET), ("line",), ("send", EHLO_PIPE), ("lines", 4),
                      ("send", b"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
                      ("until", b"\r\n.\r\n"), ("send", b"250 queued\r\n"), ("line",),
                      ("send", b"221 bye\r\n")])
    rc, _, err, t = send(srv.port, "--to", "b@example.com", "--to", "c@example.com",
                         "--timeout", "5000")
    srv.wait()
    check(rc == 0 and srv.error is None, "rc %d %s %s" % (rc, err, srv.error))
    check(t < 4, "took %.1fs" % t)


@test
def without_pipelining_never_a_command_early():
    q = ("quiet", 0.15)
    srv = FakeServer([("send", GREET), ("line",), q, ("send", EHLO_PLAIN), ("line",), q,
                      ("send", b"250 ok\r\n"), ("line",), q, ("send", b"250 ok\r\n"), ("line",), q,
                      ("send", b"250 ok\r\n"), ("line",), q, ("send", b"354 go\r\n"),
                      ("until", b"\r\n.\r\n"), q, ("send", b"250 queued\r\n"), ("line",),
                      ("send", b"221 bye\r\n")])
    rc, _, err, _ = send(srv.port, "--to", "b@example.com", "--to", "c@example.com")
    srv.wait()
    check(srv.error is None, srv.error)
    check(rc == 0, "rc %d %s" % (rc, err))
    check(srv.received.startswith(b"EHLO client.example\r\nMAIL FROM:<a@example.com> BODY"
                                  b"=7BIT") is False, "no BODY for 7-bit text")
    check(b"RCPT TO:<c@example.com>\r\nDATA\r\n" in srv.received, repr(srv.received))


@test
def replies_one_byte_per_segment():
    script = pipelined_session()
    script = [("drip", s[1]) if s[0] == "send" else s for s in script]
    srv = FakeServer(script)
    rc, _, err, _ = send(srv.port)
    srv.wait()
    check(rc == 0 and srv.error is None, "rc %d %s %s" % (rc, err, srv.error))


@test
def greeting_and_ehlo_in_one_segment_before_ehlo_is_sent():
    # the whole EHLO reply arrives with the greeting: it must not count as
    # the EHLO reply until EHLO has been sent, and must not be lost
    srv = FakeServer([("send", GREET + b"250 early\r\n"), ("line",), ("send", EHLO_PLAIN),
                      ("line",)])
    rc, _, err, t = send(srv.port, "--timeout", "2000")
    srv.wait()
    check(rc == 76 and "nothing asked for" in err and t < 1.5, "rc %d %s" % (rc, err))
    srv = FakeServer([("send", GREET + b"421 4.3.2 going down\r\n"), ("line",)])
    rc, _, err, t = send(srv.port, "--timeout", "2000")
    srv.wait()
    check(rc == 75 and "421" in err and t < 1.5, "rc %d %s" % (rc, err))


@test
def multiline_reply_split_anywhere():
    ehlo = b"250-fake.example\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250 8BITMIME\r\n"
    for cut in (3, 4, 17, 20, 40, len(ehlo) - 1):
        srv = FakeServer([("send", GREET), ("line",), ("send", ehlo[:cut]), ("sleep", 0.05),
                          ("send", ehlo[cut:]), ("lines", 3),
                          ("send", b"250 ok\r\n250 ok\r\n354 go\r\n"), ("until", b"\r\n.\r\n"),
                          ("send", b"250 queued\r\n"), ("line",), ("send", b"221 bye\r\n")])
        rc, _, err, _ = send(srv.port)
        srv.wait()
        check(rc == 0 and srv.error is None, "cut %d: rc %d %s %s" % (cut, rc, err, srv.error))


# ---- exit statuses ---------------------------------------------------------------

@test
def status_64_bad_command_line():
    for args in (["--from", "a@example.com"], ["--host"], ["--bogus"],
                 ["--host", "127.0.0.1", "--from", "a@b.c", "--to", "c@d.e", "--tls", "--starttls"],
                 ["--host", "127.0.0.1", "--from", "a@b.c", "--to", "c@d.e", "--timeout", "x"],
                 ["--host", "127.0.0.1", "--from", "a@b.c", "--to", "c@d.e", "--auth", "nope"]):
        p = subprocess.run([SMTPC, "send"] + args, capture_output=True, timeout=10)
        check(p.returncode == 64, "%r: rc %d" % (args, p.returncode))
    p = subprocess.run([SMTPC], capture_output=True, timeout=10)
    check(p.returncode == 64, "no command")
    p = subprocess.run([SMTPC, "send", "--help"], capture_output=True, timeout=10)
    check(p.returncode == 0 and b"--starttls" in p.stdout, "send --help")


@test
def status_65_bad_address_nothing_sent():
    srv = FakeServer([("send", GREET)], accept_timeout=1.0)
    for bad in ("b@example.com\r\nRSET", "b@example.com\nRSET", "no-at-sign", "b@exam\x7fple.com",
                "b@example.com\tx"):
        rc, _, err, _ = send(srv.port, "--to", bad)
        check(rc == 65, "%r: rc %d %s" % (bad, rc, err))
    srv.wait(2)
    check(not srv.connected and srv.received == b"", "something was sent")


@test
def status_65_over_size_before_mail():
    ehlo = b"250-fake.example\r\n250 SIZE 20\r\n"
    srv = FakeServer([("send", GREET), ("line",), ("send", ehlo), ("line",),
                      ("send", b"221 bye\r\n")])
    rc, _, err, _ = send(srv.port)
    srv.wait()
    check(rc == 65, "rc %d %s" % (rc, err))
    check(srv.received == b"EHLO client.example\r\nQUIT\r\n", repr(srv.received))
    check("limit" in err, err)


@test
def status_65_needs_smtputf8():
    srv = FakeServer([("send", GREET), ("line",), ("send", EHLO_PIPE), ("line",),
                      ("send", b"221 bye\r\n")])
    rc, _, err, _ = send(srv.port, "--to", "j\u00f6rg@example.com")
    srv.wait()
    check(rc == 65, "rc %d %s" % (rc, err))
    check(b"MAIL" not in srv.received, repr(srv.received))
    # offered: MAIL carries SMTPUTF8
    ehlo = b"250-fake.example\r\n250-PIPELINING\r\n250 SMTPUTF8\r\n"
    srv = FakeServer(pipelined_session(ehlo=ehlo))
    rc, _, err, _ = send(srv.port, "--to", "j\u00f6rg@example.com")
    srv.wait()
    check(rc == 0, "rc %d %s" % (rc, err))
    check(b"MAIL FROM:<a@example.com> SMTPUTF8\r\nRCPT TO:<j\xc3\xb6rg@example.com>\r\n"
          in srv.received, repr(srv.received))


@test
def status_65_line_over_1000_octets_before_mail():
    srv = FakeServer([("send", GREET), ("line",), ("send", EHLO_PIPE), ("line",),
                      ("send", b"221 bye\r\n")])
    rc, _, err, _ = send(srv.port, msg=b"Subject: x\r\n\r\n" + b"y" * 999 + b"\r\n")
    srv.wait()
    check(rc == 65 and "998" in err, "rc %d %s" % (rc, err))
    check(b"MAIL" not in srv.received, repr(srv.received))
    srv = FakeServer(pipelined_session())  # 998 octets: fine
    rc, _, err, _ = send(srv.port, msg=b"Subject: x\r\n\r\n" + b"y" * 998 + b"\r\n")
    srv.wait()
    check(rc == 0, "rc %d %s" % (rc, err))
    # 998 octets starting with a dot: the dot doubled for DATA does not count
    # (RFC 5321 4.5.3.1.6), and BDAT doubles nothing
    line = b"." + b"y" * 997
    srv = FakeServer(pipelined_session())
    rc, _, err, _ = send(srv.port, msg=b"Subject: x\r\n\r\n" + line + b"\r\n")
    srv.wait()
    check(rc == 0 and b"\r\n." + line + b"\r\n.\r\n" in srv.received, "rc %d %s" % (rc, err))
    ehlo = b"250-fake.example\r\n250-PIPELINING\r\n250 CHUNKING\r\n"
    srv = FakeServer([("send", GREET), ("line",), ("send", ehlo), ("lines", 2),
                      ("send", b"250 ok\r\n250 ok\r\n"), ("until", line + b"\r\n"),
                      ("send", b"250 2.0.0 queued\r\n"), ("line",), ("send", b"221 bye\r\n")])
    rc, _, err, _ = send(srv.port, msg=b"Subject: x\r\n\r\n" + line + b"\r\n")
    srv.wait()
    check(rc == 0 and srv.received.endswith(line + b"\r\nQUIT\r\n"), "rc %d %s" % (rc, err))


@test
def body_8bitmime_when_offered():
    srv = FakeServer(pipelined_session())
    rc, _, err, _ = send(srv.port, msg=b"Subject: caf\xc3\xa9\r\n\r\nx\r\n")
    srv.wait()
    check(rc == 0 and b"BODY=8BITMIME" in srv.received, "rc %d %r" % (rc, srv.received))


@test
def status_69_permanent_and_partial_recipients():
    srv = FakeServer(pipelined_session(rcpt_replies=b"550 5.1.1 no such user\r\n250 ok\r\n",
                                       nrcpt=2))
    rc, _, err, _ = send(srv.port, "--to", "x@example.com", "--to", "b@example.com")
    srv.wait()
    check(rc == 69, "rc %d %s" % (rc, err))
    check("x@example.com" in err and "550" in err, err)
    check(b"\r\n.\r\n" in srv.received, "the others still got the message")
    # every recipient refused: only the terminator follows a 354
    srv = FakeServer([("send", GREET), ("line",), ("send", EHLO_PIPE), ("lines", 3),
                      ("send", b"250 ok\r\n550 no\r\n354 go\r\n"), ("line",),
                      ("send", b"554 no valid recipients\r\n"), ("line",), ("send", b"221 bye\r\n")])
    rc, _, err, _ = send(srv.port)
    srv.wait()
    check(rc == 69, "rc %d %s" % (rc, err))
    check(srv.received.endswith(b"DATA\r\n.\r\nQUIT\r\n"), repr(srv.received))


@test
def status_75_temporary_refusal_refused_connection_timeout():
    srv = FakeServer([("send", GREET), ("line",), ("send", EHLO_PIPE), ("lines", 3),
                      ("send", b"451 4.3.0 try later\r\n503 no\r\n503 no\r\n"), ("line",),
                      ("send", b"221 bye\r\n")])
    rc, _, err, _ = send(srv.port)
    srv.wait()
    check(rc == 75 and "451" in err, "rc %d %s" % (rc, err))
    # nothing listening
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    rc, _, err, _ = send(port)
    check(rc == 75, "refused: rc %d %s" % (rc, err))
    # silent server: the greeting never comes
    srv = FakeServer([("sleep", 3)])
    rc, _, err, t = send(srv.port, "--timeout", "400")
    srv.wait()
    check(rc == 75 and "timed out" in err, "silent: rc %d %s" % (rc, err))
    check(0.3 < t < 2.0, "timeout took %.2fs" % t)
    # a reply that stops halfway: the wait for it is bounded too
    srv = FakeServer([("send", GREET), ("line",), ("send", b"250-fake"), ("sleep", 3)])
    rc, _, err, t = send(srv.port, "--timeout", "400")
    srv.wait()
    check(rc == 75 and t < 2.0, "half reply: rc %d %.2fs %s" % (rc, t, err))


@test
def status_75_silent_in_the_middle_of_the_transaction():
    # the envelope is answered, then nothing: the data-phase wait is bounded
    srv = FakeServer([("send", GREET), ("line",), ("send", EHLO_PIPE), ("lines", 3),
                      ("send", b"250 ok\r\n250 ok\r\n354 go\r\n"), ("until", b"\r\n.\r\n"),
                      ("sleep", 3)])
    rc, _, err, t = send(srv.port, "--timeout", "400")
    srv.wait()
    check(rc == 75 and "timed out" in err, "rc %d %s" % (rc, err))
    check(t < 2.0, "took %.2fs" % t)


@test
def status_75_dropped_connection_mid_reply():
    srv = FakeServer([("send", GREET), ("line",), ("send", b"250-fake.example\r\n250-PIPE"),
                      ("close",)])
    rc, _, err, _ = send(srv.port)
    srv.wait()
    check(rc == 75, "rc %d %s" % (rc, err))


@test
def status_76_protocol_violations():
    cases = [b"250-fake\r\n251 mismatch\r\n", b"250 nul\x00here\r\n", b"hello\r\n",
             b"250 " + b"x" * 100000 + b"\r\n"]
    for bad in cases:
        srv = FakeServer([("send", GREET), ("line",), ("send", bad), ("sleep", 0.5)])
        rc, _, err, _ = send(srv.port)
        srv.wait()
        check(rc == 76, "%r: rc %d %s" % (bad[:20], rc, err))


@test
def helo_when_ehlo_is_not_known():
    srv = FakeServer([("send", GREET), ("line",), ("send", b"502 5.5.1 no\r\n"), ("line",),
                      ("send", b"250 hello\r\n"), ("line",), ("send", b"250 ok\r\n"), ("line",),
                      ("send", b"250 ok\r\n"), ("line",), ("send", b"354 go\r\n"),
                      ("until", b"\r\n.\r\n"), ("send", b"250 ok\r\n"), ("line",),
                      ("send", b"221 bye\r\n")])
    rc, _, err, _ = send(srv.port)
    srv.wait()
    check(rc == 0 and srv.error is None, "rc %d %s %s" % (rc, err, srv.error))
    check(srv.received.startswith(b"EHLO client.example\r\nHELO client.example\r\n"),
          repr(srv.received))


@test
def bdat_when_chunking_is_offered():
    ehlo = b"250-fake.example\r\n250-PIPELINING\r\n250 CHUNKING\r\n"
    srv = FakeServer([("send", GREET), ("line",), ("send", ehlo), ("lines", 2),
                      ("send", b"250 ok\r\n250 ok\r\n"), ("until", b"end\r\n"),
                      ("send", b"250 2.0.0 queued\r\n"), ("line",), ("send", b"221 bye\r\n")])
    rc, _, err, _ = send(srv.port, msg=b"a\n.b\nend")
    srv.wait()
    check(rc == 0, "rc %d %s" % (rc, err))
    check(srv.received.endswith(b"BDAT 12 LAST\r\na\r\n.b\r\nend\r\nQUIT\r\n"), repr(srv.received))


@test
def close_without_answering_quit_after_acceptance_is_success():
    srv = FakeServer(pipelined_session()[:-2] + [("line",), ("close",)])
    rc, _, err, _ = send(srv.port)
    srv.wait()
    check(rc == 0, "rc %d %s" % (rc, err))


@test
def auth_never_in_clear_text_without_insecure():
    ehlo = b"250-fake.example\r\n250-PIPELINING\r\n250 AUTH PLAIN LOGIN\r\n"
    srv = FakeServer([("send", GREET), ("line",), ("send", ehlo), ("line",),
                      ("send", b"221 bye\r\n")])
    rc, _, err, _ = send(srv.port, "--auth", "plain", "--user", "u", "--password", "p")
    srv.wait()
    check(rc == 64 and b"AUTH" not in srv.received, "rc %d %r" % (rc, srv.received))
    srv = FakeServer([("send", GREET), ("line",), ("send", ehlo), ("line",),
                      ("send", b"334 VXNlcm5hbWU6\r\n"), ("line",), ("send", b"334 UGFzc3dvcmQ6\r\n"),
                      ("line",), ("send", b"235 ok\r\n"), ("lines", 3),
                      ("send", b"250 ok\r\n250 ok\r\n354 go\r\n"), ("until", b"\r\n.\r\n"),
                      ("send", b"250 ok\r\n"), ("line",), ("send", b"221 bye\r\n")])
    rc, out, err, _ = send(srv.port, "--auth", "login", "--user", "u", "--password", "s3cret",
                           "--insecure", "-v", "--json")
    srv.wait()
    check(rc == 0, "rc %d %s" % (rc, err))
    import json
    check(json.loads(out)["auth"] == "LOGIN" and "s3cret" not in out, out)
    check(b"AUTH LOGIN\r\ndQ==\r\nczNjcmV0\r\nMAIL" in srv.received, repr(srv.received))
    check("czNjcmV0" not in err and "s3cret" not in err and "C: <secret>" in err, err)


@test
def verbose_transcript_shows_commands_and_replies_not_body():
    srv = FakeServer(pipelined_session())
    rc, _, err, _ = send(srv.port, "-v", msg=b"Subject: private\r\n\r\nsecret body\r\n")
    srv.wait()
    check(rc == 0, "rc %d" % rc)
    for want in ("S: 220 fake.example ESMTP", "C: EHLO client.example", "S: 250-PIPELINING",
                 "C: MAIL FROM:<a@example.com>", "C: DATA", "S: 354 go", "C: .", "C: QUIT"):
        check(want in err, "%r missing from:\n%s" % (want, err))
    check("secret body" not in err and "private" not in err, err)


@test
def message_from_a_file():
    import tempfile
    with tempfile.NamedTemporaryFile(delete=False) as f:
        f.write(b"Subject: file\n\nfrom a file\n")
        name = f.name
    srv = FakeServer(pipelined_session())
    rc, _, err, _ = send(srv.port, "--file", name, msg=b"")
    srv.wait()
    os.unlink(name)
    check(rc == 0 and b"from a file\r\n.\r\n" in srv.received, "rc %d %r" % (rc, srv.received))
    rc, _, err, _ = send(1, "--file", "/nonexistent/message")
    check(rc == 66, "missing file: rc %d" % rc)


# ---- delivery options ---------------------------------------------------------------

EHLO_DSN = (b"250-fake.example\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250-DSN\r\n"
            b"250 ENHANCEDSTATUSCODES\r\n")


@test
def dsn_options_on_the_wire():
    srv = FakeServer(pipelined_session(ehlo=EHLO_DSN))
    rc, _, err, _ = send(srv.port, "--dsn-notify", "success,failure", "--dsn-return", "hdrs",
                         "--dsn-envid", "QQ+id=1")
    srv.wait()
    check(rc == 0 and srv.error is None, "rc %d %s %s" % (rc, err, srv.error))
    check(b"MAIL FROM:<a@example.com> SIZE=24 RET=HDRS ENVID=QQ+2Bid+3D1\r\n"
          b"RCPT TO:<b@example.com> NOTIFY=SUCCESS,FAILURE\r\nDATA\r\n" in srv.received,
          repr(srv.received))
    srv = FakeServer(pipelined_session(ehlo=EHLO_DSN))
    rc, _, err, _ = send(srv.port, "--dsn-notify", "never", "--dsn-return", "full")
    srv.wait()
    check(rc == 0, "rc %d %s" % (rc, err))
    check(b"MAIL FROM:<a@example.com> SIZE=24 RET=FULL\r\nRCPT TO:<b@example.com> NOTIFY=NEVER\r\n"
          in srv.received, repr(srv.received))


@test
def dsn_without_dsn_offered_exits_69_before_mail():
    for opt in (["--dsn-notify", "delay"], ["--dsn-return", "full"], ["--dsn-envid", "x"]):
        srv = FakeServer([("send", GREET), ("line",), ("send", EHLO_PIPE), ("line",),
                          ("send", b"221 bye\r\n")])
        rc, _, err, _ = send(srv.port, *opt)
        srv.wait()
        check(rc == 69 and "DSN" in err, "%r: rc %d %s" % (opt, rc, err))
        check(srv.received == b"EHLO client.example\r\nQUIT\r\n", repr(srv.received))


@test
def requiretls_without_tls_exits_69_before_connecting():
    srv = FakeServer([("send", GREET)], accept_timeout=1.0)
    rc, _, err, _ = send(srv.port, "--requiretls")
    srv.wait(2)
    check(rc == 69 and "--tls" in err, "rc %d %s" % (rc, err))
    check(not srv.connected, "connected")


@test
def no_pipelining_one_command_at_a_time_although_offered():
    q = ("quiet", 0.15)
    srv = FakeServer([("send", GREET), ("line",), ("send", EHLO_PIPE), ("line",), q,
                      ("send", b"250 ok\r\n"), ("line",), q, ("send", b"250 ok\r\n"), ("line",), q,
                      ("send", b"354 go\r\n"), ("until", b"\r\n.\r\n"), q,
                      ("send", b"250 queued\r\n"), ("line",), ("send", b"221 bye\r\n")])
    rc, _, err, _ = send(srv.port, "--no-pipelining")
    srv.wait()
    check(srv.error is None, srv.error)
    check(rc == 0, "rc %d %s" % (rc, err))


@test
def no_chunking_uses_data_although_chunking_is_offered():
    ehlo = b"250-fake.example\r\n250-PIPELINING\r\n250 CHUNKING\r\n"
    srv = FakeServer(pipelined_session(ehlo=ehlo))
    rc, _, err, _ = send(srv.port, "--no-chunking", msg=b"a\n.b\n")
    srv.wait()
    check(rc == 0, "rc %d %s" % (rc, err))
    check(srv.received.endswith(b"RCPT TO:<b@example.com>\r\nDATA\r\na\r\n..b\r\n.\r\nQUIT\r\n"),
          repr(srv.received))


@test
def a_refused_middle_chunk_is_never_success():
    # three BDAT chunks pipelined; the second refused 452, the last 503:
    # the message is refused (75), never accepted with the first chunk's 250
    body = (b"x" * 70 + b"\n") * 9000  # 639000 octets of text with CRLF
    text = len(body) + body.count(b"\n")
    c1 = 262144
    c2 = 262144
    c3 = text - c1 - c2
    ehlo = b"250-fake.example\r\n250-PIPELINING\r\n250 CHUNKING\r\n"
    srv = FakeServer([("send", GREET), ("line",), ("send", ehlo), ("lines", 2),
                      ("send", b"250 ok\r\n250 ok\r\n"),
                      ("line",), ("count", c1), ("line",), ("count", c2), ("line",), ("count", c3),
                      ("send", b"250 2.0.0 262144 octets\r\n452 4.3.1 out of room\r\n"
                               b"503 5.5.1 bad sequence\r\n"),
                      ("line",), ("send", b"221 bye\r\n")])
    rc, _, err, _ = send(srv.port, msg=body, timeout=60)
    srv.wait()
    check(srv.error is None, srv.error)
    check(rc == 75 and "452" in err, "rc %d %s" % (rc, err))
    check(b"BDAT 262144\r\n" in srv.received and (b"BDAT %d LAST\r\n" % c3) in srv.received,
          "chunks %r" % [l for l in srv.received.split(b"\r\n") if l.startswith(b"BDAT")])
    check(srv.received.endswith(b"QUIT\r\n"), repr(srv.received[-40:]))


def files(*bodies):
    import tempfile
    names = []
    for b in bodies:
        with tempfile.NamedTemporaryFile(delete=False, suffix=".eml") as f:
            f.write(b)
            names.append(f.name)
    return names


@test
def two_files_one_session_first_refused_then_rset():
    a, b = files(b"Subject: one\n\nfirst\n", b"Subject: two\n\nsecond\n")
    try:
        srv = FakeServer([("send", GREET), ("line",), ("send", EHLO_PIPE), ("lines", 3),
                          ("send", b"250 ok\r\n550 5.1.1 no such user\r\n554 no valid recipients\r\n"),
                          ("lines", 4),
                          ("send", b"250 reset\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
                          ("until", b"\r\n.\r\n"), ("send", b"250 2.0.0 queued\r\n"), ("line",),
                          ("send", b"221 bye\r\n")])
        rc, _, err, _ = send(srv.port, "--file", a, "--file", b, msg=b"")
        srv.wait()
        check(srv.error is None, srv.error)
        check(rc == 69, "rc %d %s" % (rc, err))
        lines = [l for l in err.splitlines() if l.startswith("smtpc: ")]
        check(len(lines) == 2, err)
        check(a in lines[0] and "refused" in lines[0] and "550" in lines[0], lines[0])
        check(b in lines[1] and "accepted" in lines[1] and "250" in lines[1], lines[1])
        check(srv.received == b"EHLO client.example\r\n"
              b"MAIL FROM:<a@example.com> SIZE=23\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"
              b"RSET\r\nMAIL FROM:<a@example.com> SIZE=24\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"
              b"Subject: two\r\n\r\nsecond\r\n.\r\nQUIT\r\n", repr(srv.received))
    finally:
        os.unlink(a)
        os.unlink(b)


@test
def several_files_the_worst_status_and_the_next_mail_after_the_dot():
    a, b, c = files(b"one\n", b"two\n", b"three\n")
    try:
        # the first accepted, the second refused after its data (5xx), the
        # third deferred (4xx): the exit status is the worst, 69
        srv = FakeServer([("send", GREET), ("line",), ("send", EHLO_PIPE), ("lines", 3),
                          ("send", b"250 ok\r\n250 ok\r\n354 go\r\n"), ("until", b"\r\n.\r\n"),
                          ("lines", 3),
                          ("send", b"250 queued\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
                          ("until", b"\r\n.\r\n"), ("lines", 3),
                          ("send", b"554 5.7.1 spam\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
                          ("until", b"\r\n.\r\n"), ("send", b"451 4.3.0 later\r\n"), ("line",),
                          ("send", b"221 bye\r\n")])
        rc, _, err, _ = send(srv.port, "--file", a, "--file", b, "--file", c, msg=b"")
        srv.wait()
        check(srv.error is None, srv.error)
        check(rc == 69, "rc %d %s" % (rc, err))
        check(b"one\r\n.\r\nMAIL FROM:<a@example.com> SIZE=5\r\n" in srv.received,
              "the next MAIL with the dot: %r" % srv.received)
        lines = [l for l in err.splitlines() if l.startswith("smtpc: ")]
        check(len(lines) == 3 and "accepted" in lines[0] and "554" in lines[1] and
              "451" in lines[2], err)
    finally:
        for n in (a, b, c):
            os.unlink(n)
    # an unreadable file among them: 66 before anything is sent
    rc, _, err, _ = send(1, "--file", "/nonexistent/one", "--file", "/nonexistent/two")
    check(rc == 66, "rc %d %s" % (rc, err))


@test
def json_after_the_session_parsed():
    import json
    a, b = files(b"Subject: one\n\ncaf\xc3\xa9\n", b"two\n")
    try:
        ehlo = (b"250-fake.example\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250-8BITMIME\r\n"
                b"250 ENHANCEDSTATUSCODES\r\n")
        srv = FakeServer([("send", b"220 fake.example \"quoted\" \\ greeting\r\n"), ("line",),
                          ("send", ehlo), ("lines", 4),
                          ("send", b"250 2.1.0 ok\r\n250 2.1.5 ok \"b\"\r\n"
                                   b"550 5.1.1 no \\ such\xff\xfe user\r\n354 go\r\n"),
                          ("until", b"\r\n.\r\n"), ("lines", 4),
                          ("send", b"250 2.0.0 queued as \"A1\"\r\n250 ok\r\n250 ok\r\n"
                                   b"550 no\r\n354 go\r\n"),
                          ("until", b"\r\n.\r\n"), ("send", b"451 4.3.0 try \xc3\xa9 later\r\n"),
                          ("line",), ("send", b"221 bye\r\n")])
        rc, out, err, _ = send(srv.port, "--file", a, "--file", b, "--to", "b@example.com",
                               "--to", "x@example.com", "--json", msg=b"")
        srv.wait()
        check(srv.error is None, srv.error)
        check(rc == 69, "rc %d %s" % (rc, err))  # the worst: a permanent refusal
        out = out.encode("latin-1").decode("utf-8")  # JSON is UTF-8
        doc = json.loads(out)
        check(doc["exit"] == 69, out)
        check(doc["server"]["host"] == "127.0.0.1" and doc["server"]["port"] == srv.port, out)
        check(doc["server"]["greeting"] == {"code": 220,
                                            "text": "fake.example \"quoted\" \\ greeting"}, out)
        check("PIPELINING" in doc["server"]["extensions"] and
              "SIZE 1000000" in doc["server"]["extensions"], out)
        check(doc["tls"] is None and doc["auth"] is None, out)
        m1, m2 = doc["messages"]
        check(m1["file"] == a and m1["size"] == 20 and m1["method"] == "DATA", out)
        check(m1["status"] == "partial" and m1["exit"] == 69, out)
        check(m1["reply"] == {"code": 250, "enhanced": "2.0.0",
                              "text": "2.0.0 queued as \"A1\""}, out)
        r1, r2 = m1["recipients"]
        check(r1["address"] == "b@example.com" and r1["status"] == "accepted" and
              r1["code"] == 250 and r1["enhanced"] == "2.0.0", out)
        check(r1["rcpt_reply"]["text"] == "2.1.5 ok \"b\"", out)
        check(r2["address"] == "x@example.com" and r2["status"] == "refused" and
              r2["code"] == 550 and r2["enhanced"] == "5.1.1", out)
        check(r2["text"] == "5.1.1 no \\ such\ufffd\ufffd user", repr(r2["text"]))
        check(m2["status"] == "refused" and m2["exit"] == 75 and m2["reply"]["code"] == 451 and
              m2["reply"]["text"] == "4.3.0 try \u00e9 later", out)
        t = m1["timings"]
        check(0 <= t["start_ms"] <= t["end_ms"] and
              abs(t["duration_ms"] - (t["end_ms"] - t["start_ms"])) < 0.01, out)
        check(m2["timings"]["start_ms"] >= t["start_ms"], out)
    finally:
        os.unlink(a)
        os.unlink(b)
    # a session that never starts still ends with its object
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    rc, out, err, _ = send(port, "--json")
    check(rc == 75, "rc %d" % rc)
    doc = json.loads(out)
    check(doc["exit"] == 75 and doc["server"]["greeting"] is None and
          doc["messages"][0]["status"] == "not sent" and doc["messages"][0]["file"] is None, out)


@test
def progress_on_stderr_at_most_ten_a_second():
    body = b"y" * 76 + b"\n"
    body = body * 160000  # 12 MB: more than the socket buffers hold; the server reads slowly
    slow = [("send", GREET), ("line",), ("send", b"250-fake.example\r\n250 PIPELINING\r\n"),
            ("lines", 3),
            ("send", b"250 ok\r\n250 ok\r\n354 go\r\n")]
    text = len(body) + body.count(b"\n")
    for k in range(30):  # about 1.5 s of reading, in pieces
        slow.append(("count", text // 30))
        slow.append(("sleep", 0.05))
    slow += [("count", text % 30 + 3), ("send", b"250 queued\r\n"), ("line",),
             ("send", b"221 bye\r\n")]
    srv = FakeServer(slow, rcvbuf=65536)
    rc, _, err, t = send(srv.port, "--progress", msg=body, timeout=60)
    srv.wait()
    check(rc == 0 and srv.error is None, "rc %d %s %s" % (rc, err, srv.error))
    shown = [u for u in err.replace("\n", "\r").split("\r") if u.startswith("smtpc: sent ")]
    check(len(shown) >= 3, "updates: %r" % shown)
    check(len(shown) <= 10 * t + 2, "%d updates in %.2fs" % (len(shown), t))
    check(shown[-1].startswith("smtpc: sent %d of %d octets (100%%)" % (text + 3, text + 3)),
          shown[-1])
    nums = [int(u.split()[2]) for u in shown]
    check(nums == sorted(nums), "not increasing: %r" % nums)
    # off by default
    srv = FakeServer(pipelined_session())
    rc, _, err, _ = send(srv.port)
    srv.wait()
    check(rc == 0 and "sent" not in err, err)


@test
def usage_errors_exit_64():
    base = ["--host", "127.0.0.1", "--from", "a@b.example", "--to", "c@d.example"]
    for extra in (["--port", "smtp-port"], ["--port", "70000"], ["--port", "0"], ["--port", ""],
                  ["--port", "25x"], ["--timeout", "0"], ["--timeout", "-5"],
                  ["--timeout", "99999999999"], ["--timeout", "2147483648"], ["--timeout", "1x"],
                  ["--user", "u", "--password", "p", "--auth", "nope"],
                  ["--auth", "plain", "--user", "u"], ["--dsn-notify", "sometimes"],
                  ["--dsn-notify", "never,success"], ["--dsn-notify", "success,"],
                  ["--dsn-notify", ""], ["--dsn-return", "all"], ["--dsn-envid", "a b"],
                  ["--dsn-envid", "x" * 101], ["--dsn-envid", "caf\u00e9"]):
        p = subprocess.run([SMTPC, "send"] + base + extra, capture_output=True, timeout=10)
        check(p.returncode == 64, "%r: rc %d %s" % (extra, p.returncode, p.stderr))
    p = subprocess.run([SMTPC, "send"] + base + ["--port", "65535", "--timeout", "2147483647",
                                                 "--help"], capture_output=True, timeout=10)
    check(p.returncode == 0 and b"--dsn-notify" in p.stdout and b"--json" in p.stdout, p.stderr)


@test
def a_file_changed_after_measuring_is_never_delivered():
    # the file is measured (SIZE=, BODY=, the line check) before the
    # connection; it is truncated, appended to, or rewritten at the same
    # size with a line over 998 octets before its data is sent. Each time:
    # the data is never ended (no final dot, no BDAT LAST), no QUIT (the
    # connection is closed so the server drops the part it has), exit 75,
    # the file named as changed, the JSON status "failed"; the next file is
    # not sent either
    import json
    lines = b"Subject: x\n\n" + b"line\n" * 300
    ehlos = (EHLO_PIPE, b"250-fake.example\r\n250-PIPELINING\r\n250 CHUNKING\r\n")
    for mode in ("truncate", "append", "rewrite"):
        for ehlo in ehlos:
            a, b = files(lines, b"second\n")
            def change(name=a):
                if mode == "truncate":
                    with open(name, "r+b") as g:
                        g.truncate(100)
                elif mode == "append":
                    with open(name, "ab") as g:
                        g.write(b"appended\n")
                else:  # the same octets, one line of 1500
                    with open(name, "wb") as g:
                        g.write(lines[:12] + lines[12:-1].replace(b"\n", b"x") + b"\n")
            try:
                bdat = b"CHUNKING" in ehlo
                srv = FakeServer([("call", change), ("send", GREET), ("line",), ("send", ehlo),
                                  ("lines", 2 if bdat else 3),
                                  ("send", b"250 ok\r\n250 ok\r\n" + (b"" if bdat else b"354 go\r\n"))])
                rc, out, err, _ = send(srv.port, "--file", a, "--file", b, "--json",
                                       "--timeout", "5000", msg=b"")
                srv.wait()
                what = "%s %s: rc %d %s %r" % (mode, "BDAT" if bdat else "DATA", rc, err,
                                             srv.received[-60:])
                check(srv.error is None, srv.error)
                check(rc == 75, what)
                check("changed" in err and a in err, what)
                body = srv.received.split(b"RCPT TO:<b@example.com>\r\n", 1)[1]
                check(b"\r\n.\r\n" not in body and b"LAST" not in body and b"QUIT" not in body,
                      what)
                doc = json.loads(out)
                check(doc["exit"] == 75 and doc["messages"][0]["status"] == "failed" and
                      doc["messages"][1]["status"] == "failed", out)
            finally:
                os.unlink(a)
                os.unlink(b)


# The replies of a two-message session (two recipients each, pipelined,
# the second message's commands sent with the first one's dot), each with
# what the server reads before sending it.
SESSION = [(None, GREET), (("line",), EHLO_PIPE),
           (("lines", 4), b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.1.5 ok\r\n354 go\r\n"),
           (("until", b"\r\n.\r\n"), b"250 2.0.0 queued as ONE\r\n"),
           (("lines", 4), b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.1.5 ok\r\n354 go\r\n"),
           (("until", b"\r\n.\r\n"), b"250 2.0.0 queued as TWO\r\n"),
           (("line",), b"221 bye\r\n")]
# The same by BDAT: each message one chunk (23 and 24 octets), the second
# message's envelope sent with the first one's chunk.
SESSION_BDAT = [(None, GREET),
                (("line",), b"250-fake.example\r\n250-PIPELINING\r\n250 CHUNKING\r\n"),
                (("lines", 3), b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.1.5 ok\r\n"),
                ([("line",), ("count", 23)], b"250 2.0.0 queued as ONE\r\n"),
                (("lines", 3), b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.1.5 ok\r\n"),
                ([("line",), ("count", 24)], b"250 2.0.0 queued as TWO\r\n"),
                (("line",), b"221 bye\r\n")]
FINALS = (3, 5)  # the replies that accept each message, in both


def session_cut(cut, replace=None, session=SESSION):
    """The script of a session up to `cut` octets of replies, then a close;
    with replace=(i, j), the reply starting at line j of step i becomes a 421
    and the server closes after it."""
    script, sent = [], 0
    for i, (read, reply) in enumerate(session):
        if read:
            script.extend(read if isinstance(read, list) else [read])
        if replace and replace[0] == i:
            lines = reply.split(b"\r\n")[:-1]
            script.append(("send", b"".join(l + b"\r\n" for l in lines[:replace[1]]) +
                           b"421 4.3.2 shutting down\r\n"))
            script.append(("close",))
            return script
        if cut is not None and sent + len(reply) > cut:
            script.append(("send", reply[:cut - sent]))
            script.append(("close",))
            return script
        script.append(("send", reply))
        sent += len(reply)
    return script


def check_session(script, accepted, what):
    """Runs the two files against script: exactly the messages in accepted
    are reported accepted (stderr, JSON, per recipient), the rest failed or
    refused; exit 0 only when both were."""
    import json
    a, b = files(b"Subject: one\n\nfirst\n", b"Subject: two\n\nsecond\n")
    try:
        srv = FakeServer(script)
        rc, out, err, _ = send(srv.port, "--file", a, "--file", b, "--to", "b@example.com",
                               "--to", "c@example.com", "--json", "--timeout", "5000", msg=b"")
        srv.wait()
        doc = json.loads(out)
        want_rc = 0 if len(accepted) == 2 else 75
        check(rc == want_rc and doc["exit"] == rc, "%s: rc %d %s" % (what, rc, err))
        for k, m in enumerate(doc["messages"]):
            ok = k in accepted
            check((m["status"] == "accepted") == ok and
                  m["status"] in ("accepted", "failed", "refused", "not sent"),
                  "%s: %s" % (what, out))
            check(m["exit"] == (0 if ok else None if m["status"] == "not sent" else 75),
                  "%s: %s" % (what, out))
            # a message never sent: its recipients neither, nothing is "pending"
            check(all((r["status"] == "accepted") == ok and r["status"] != "pending" and
                      (r["status"] == "not sent") == (m["status"] == "not sent")
                      for r in m["recipients"]), "%s: %s" % (what, out))
            if ok:
                check(m["reply"]["text"] == "2.0.0 queued as %s" % ("ONE", "TWO")[k], out)
            line = [l for l in err.splitlines() if l.startswith("smtpc: " + (a, b)[k])]
            check(not ok or (line and "accepted" in line[0]), "%s: %s" % (what, err))
    finally:
        os.unlink(a)
        os.unlink(b)


@test
def a_close_at_every_point_never_passes_for_acceptance():
    # the server closes after every reply, and inside each (after its first
    # octet, in the middle, before its last): a message is accepted only
    # when its final 250 arrived whole; by DATA and by BDAT
    for session in (SESSION, SESSION_BDAT):
        ends, sent = [], 0
        for _, reply in session:
            ends.append(sent + len(reply))
            sent += len(reply)
        cuts = set()
        for i, (_, reply) in enumerate(session):
            start = ends[i] - len(reply)
            cuts.update((start, start + 1, start + len(reply) // 2, ends[i] - 1))
        cuts.add(sent)
        for cut in sorted(cuts):
            accepted = [k for k, f in enumerate(FINALS) if ends[f] <= cut]
            check_session(session_cut(cut, session=session), accepted,
                          "%s, close at %d" % ("BDAT" if session is SESSION_BDAT else "DATA",
                                               cut))


@test
def a_421_in_place_of_every_reply_never_passes_for_acceptance():
    for session in (SESSION, SESSION_BDAT):
        for i, (_, reply) in enumerate(session[:-1]):
            lines = reply.split(b"\r\n")
            for j in range(reply.count(b"\r\n")):
                if j > 0 and lines[j - 1][3:4] == b"-":
                    continue  # inside a multi-line reply
                accepted = [k for k, f in enumerate(FINALS) if f < i]
                check_session(session_cut(None, (i, j), session), accepted,
                              "%s, 421 at reply %d line %d" %
                              ("BDAT" if session is SESSION_BDAT else "DATA", i, j))


@test
def standard_input_is_read_from_where_it_stands():
    # a regular file as standard input, part of it read by the caller: the
    # message is the rest (as cat would send), SIZE= counts the rest
    a, = files(b"From a line the caller read\nSubject: y\n\nbody\n")
    try:
        srv = FakeServer(pipelined_session())
        with open(a, "rb") as fh:
            fh.seek(28)
            p = subprocess.run([SMTPC, "send", "--host", "127.0.0.1", "--port", str(srv.port),
                                "--from", "a@example.com", "--to", "b@example.com",
                                "--helo", "client.example"], stdin=fh, capture_output=True,
                               timeout=30)
        srv.wait()
        check(p.returncode == 0 and srv.error is None, "rc %d %r" % (p.returncode, p.stderr))
        check(srv.received == b"EHLO client.example\r\nMAIL FROM:<a@example.com> SIZE=20\r\n"
              b"RCPT TO:<b@example.com>\r\nDATA\r\nSubject: y\r\n\r\nbody\r\n.\r\nQUIT\r\n",
              repr(srv.received))
    finally:
        os.unlink(a)


def json_text(octets):
    """What the JSON output holds for octets: each well-formed UTF-8
    sequence as it is, each other octet U+FFFD."""
    out, i = [], 0
    while i < len(octets):
        for k in (1, 2, 3, 4):
            try:
                out.append(octets[i:i + k].decode("utf-8"))
                i += k
                break
            except UnicodeDecodeError:
                pass
        else:
            out.append("\ufffd")
            i += 1
    return "".join(out)


@test
def json_escapes_every_control_octet_and_any_server_text():
    # a file name with every control octet, quotes and backslashes; a final
    # reply with every octet from 0x80 up, overlong, surrogate, too large
    # and cut sequences among valid ones: Python parses the output, the
    # name comes back whole, each octet that is not UTF-8 as U+FFFD
    import json
    import tempfile
    d = tempfile.mkdtemp()
    name = os.path.join(d.encode(), b"m" + bytes(range(1, 32)) + b"\x7f\"\\'.eml")
    weird = (bytes(range(0x80, 0x100)) + b" \xc0\xaf \xed\xa0\x80 \xf0\x9f\x98\x80 \xf4\x90\x80\x80"
             b" \xe2\x82 \xe2\x82\xac end\xe2")
    try:
        with open(name, "wb") as f:
            f.write(b"hi\n")
        srv = FakeServer(pipelined_session(final=b"250 " + weird + b"\r\n"))
        p = subprocess.run([SMTPC.encode(), b"send", b"--host", b"127.0.0.1", b"--port",
                            str(srv.port).encode(), b"--from", b"a@example.com", b"--to",
                            b"b@example.com", b"--helo", b"client.example", b"--json",
                            b"--file", name], capture_output=True, timeout=30)
        srv.wait()
        check(p.returncode == 0 and srv.error is None, "rc %d %r" % (p.returncode, p.stderr))
        doc = json.loads(p.stdout.decode("utf-8"))
        m = doc["messages"][0]
        check(m["file"] == name.decode(), repr(m["file"]))
        check(m["reply"]["text"] == json_text(weird), repr(m["reply"]["text"]))
        check(m["recipients"][0]["text"] == json_text(weird), repr(m["recipients"][0]))
        check(all(0x20 <= b < 0x7f or b >= 0x80 for b in p.stdout[:-1]), "raw control octet")
    finally:
        os.unlink(name)
        os.rmdir(d)


@test
def messages_of_zero_octets_and_with_nul_octets():
    # nothing but the terminator (DATA) or "BDAT 0 LAST"; NUL octets go as
    # they are, the line ends around them made CRLF
    srv = FakeServer([("send", GREET), ("line",), ("send", EHLO_PIPE), ("lines", 3),
                      ("send", b"250 ok\r\n250 ok\r\n354 go\r\n"), ("line",),
                      ("send", b"250 queued\r\n"), ("line",), ("send", b"221 bye\r\n")])
    rc, _, err, _ = send(srv.port, msg=b"")
    srv.wait()
    check(rc == 0 and srv.error is None, "rc %d %s %s" % (rc, err, srv.error))
    check(srv.received.endswith(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n"
                                b"DATA\r\n.\r\nQUIT\r\n"), repr(srv.received))
    chunking = b"250-fake.example\r\n250-PIPELINING\r\n250 CHUNKING\r\n"
    for body, wire in ((b"", b"BDAT 0 LAST\r\n"), (b"a\x00b\nc", b"BDAT 8 LAST\r\na\x00b\r\nc\r\n")):
        srv = FakeServer([("send", GREET), ("line",), ("send", chunking), ("lines", 2),
                          ("send", b"250 ok\r\n250 ok\r\n"), ("line",), ("count", len(wire) - 13),
                          ("send", b"250 queued\r\n"), ("line",), ("send", b"221 bye\r\n")])
        rc, _, err, _ = send(srv.port, msg=body)
        srv.wait()
        check(rc == 0 and srv.error is None, "rc %d %s %s" % (rc, err, srv.error))
        check(srv.received.endswith(b"RCPT TO:<b@example.com>\r\n" + wire + b"QUIT\r\n"),
              repr(srv.received))
    srv = FakeServer(pipelined_session())
    rc, _, err, _ = send(srv.port, msg=b"a\x00b\rc")
    srv.wait()
    check(rc == 0 and srv.received.endswith(b"DATA\r\na\x00b\r\nc\r\n.\r\nQUIT\r\n"),
          repr(srv.received))


@test
def bench_counts_every_message_not_accepted_as_failed():
    # the server accepts one message and closes in the middle of the next
    # two: 1 accepted and 9 failed (not "0 failed": the messages the session
    # took with it were not delivered either), exit 75
    srv = FakeServer([("send", GREET), ("line",), ("send", b"250-fake\r\n250 PIPELINING\r\n"),
                      ("lines", 3), ("send", b"250 ok\r\n250 ok\r\n354 go\r\n"),
                      ("until", b"\r\n.\r\n"), ("lines", 3),
                      ("send", b"250 queued\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
                      ("until", b"\r\n.\r\n"), ("close",)])
    p = subprocess.run([SMTPC, "bench", "--host", "127.0.0.1", "--port", str(srv.port),
                        "--messages", "10"], capture_output=True, timeout=60)
    srv.wait()
    check(p.returncode == 75 and b": 1 accepted, 9 failed\n" in p.stdout,
          "rc %d %r %r" % (p.returncode, p.stdout, p.stderr))


@test
def a_success_code_where_it_cannot_answer_is_a_protocol_violation():
    # 250 to DATA, 354 to BDAT, 354 to MAIL: nothing delivered, and not a
    # refusal the sender could retry (75) either: 76, said as such
    chunking = b"250-fake.example\r\n250-PIPELINING\r\n250 CHUNKING\r\n"
    cases = [
        ("DATA", [("send", GREET), ("line",), ("send", EHLO_PIPE), ("lines", 3),
                  ("send", b"250 ok\r\n250 ok\r\n250 fine, go ahead\r\n"), ("line",),
                  ("send", b"250 reset\r\n"), ("line",), ("send", b"221 bye\r\n")]),
        ("BDAT", [("send", GREET), ("line",), ("send", chunking), ("lines", 2),
                  ("send", b"250 ok\r\n250 ok\r\n"), ("line",), ("count", 4),
                  ("send", b"354 go on\r\n"), ("line",), ("send", b"221 bye\r\n")]),
        ("MAIL FROM", [("send", GREET), ("line",), ("send", EHLO_PIPE), ("lines", 3),
                       ("send", b"354 ok\r\n250 ok\r\n354 go\r\n"), ("line",),
                       ("send", b"554 no transaction\r\n"), ("line",), ("send", b"221 bye\r\n")]),
    ]
    for stage, script in cases:
        srv = FakeServer(script)
        rc, _, err, _ = send(srv.port, "--timeout", "3000", msg=b"hi\n")
        srv.wait()
        check(srv.error is None, srv.error)
        check(rc == 76 and ("%s answered" % stage) in err and "not a valid answer" in err,
              "%s: rc %d %s" % (stage, rc, err))


@test
def json_output_that_cannot_be_written_is_said():
    # standard output full: the message was delivered (exit 0, so nothing is
    # sent twice), and the lost JSON is reported on standard error
    srv = FakeServer(pipelined_session())
    with open("/dev/full", "wb") as out:
        p = subprocess.run([SMTPC, "send", "--host", "127.0.0.1", "--port", str(srv.port),
                            "--from", "a@example.com", "--to", "b@example.com", "--helo",
                            "client.example", "--json"], input=MSG, stdout=out,
                           stderr=subprocess.PIPE, timeout=30)
    srv.wait()
    check(p.returncode == 0 and b"cannot write the JSON output" in p.stderr,
          "rc %d %r" % (p.returncode, p.stderr))


# ---- chat -------------------------------------------------------------------------

def chat(port, lines, timeout=20):
    p = subprocess.run([SMTPC, "chat", "--timeout", "3000", "127.0.0.1", str(port)],
                       input=lines, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode("latin-1"), p.stderr.decode("latin-1")


@test
def chat_prints_every_line_and_sends_each_command():
    srv = FakeServer([("send", b"220-first greeting line\r\n220 last\r\n"), ("line",),
                      ("send", b"250-fake\r\n250 PIPELINING\r\n"), ("line",),
                      ("send", b"250 ok\r\n"), ("line",), ("send", b"250 ok\r\n"), ("line",),
                      ("send", b"354 go\r\n"), ("until", b"\r\n.\r\n"), ("send", b"250 queued\r\n"),
                      ("line",), ("send", b"221 bye\r\n")])
    rc, out, err = chat(srv.port, b"EHLO me.example\nMAIL FROM:<a@b.example>\n"
                                  b"RCPT TO:<c@d.example>\nDATA\nSubject: hi\n\nbody\n.\nQUIT\n")
    srv.wait()
    check(rc == 0, "rc %d %s" % (rc, err))
    check(out == "220-first greeting line\n220 last\n250-fake\n250 PIPELINING\n250 ok\n250 ok\n"
                 "354 go\n250 queued\n221 bye\n", out)
    check(srv.received == b"EHLO me.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n"
                          b"DATA\r\nSubject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n", repr(srv.received))


@test
def chat_sends_quit_at_end_of_input_and_refuses_control_bytes():
    srv = FakeServer([("send", GREET), ("line",), ("send", b"250 ok\r\n"), ("line",),
                      ("send", b"221 bye\r\n")])
    rc, out, err = chat(srv.port, b"NOOP\nNOOP\rRSET\n")
    srv.wait()
    check(rc == 0, "rc %d %s" % (rc, err))
    check(srv.received == b"NOOP\r\nQUIT\r\n", repr(srv.received))
    check("control byte" in err, err)


@test
def chat_input_ending_inside_a_message_is_a_failure():
    """End of input after DATA's 354 leaves the message unsent: chat cannot
    QUIT there and must not exit 0."""
    srv = FakeServer([("send", GREET), ("line",), ("send", b"354 go\r\n"), ("line",),
                      ("sleep", 0.5)])
    rc, out, err = chat(srv.port, b"DATA\nSubject: cut short\n")
    srv.wait()
    check(rc != 0 and "QUIT" in err, "rc %d %s" % (rc, err))
    check(b"\r\n.\r\n" not in srv.received, repr(srv.received))


def main():
    if not os.path.exists(SMTPC):
        print("no binary at %s" % SMTPC)
        return 1
    return runner.run("cli", TESTS, ONLY)


if __name__ == "__main__":
    sys.exit(main())
