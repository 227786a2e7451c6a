#!/usr/bin/env python3
"""smtpc as a daily mail tool under attack: hostile messages handed to the
sendmail interface (headers that try to keep a Bcc visible or to hide
recipients), hostile passwordeval commands and configuration files, against
scripted servers on 127.0.0.1. Each case checks the bytes on the wire and the
exit status; none may hang.

Usage: test_attack.py [SMTPC_BINARY] [NAME_FILTER]
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import runner  # noqa: E402
from fakeserver import FakeServer  # noqa: E402

SMTPC = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/smtpc")
ONLY = sys.argv[2] if len(sys.argv) > 2 else ""
TMP = tempfile.mkdtemp(prefix="smtpc-attack-")
TESTS = []

GREET = b"220 fake.example ESMTP\r\n"
EHLO_PIPE = b"250-fake.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n"


def test(fn):
    TESTS.append(fn)
    return fn


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def env(**extra):
    """No configuration or password from the machine's user."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("SMTPC_")}
    e["HOME"] = os.path.join(TMP, "home")
    e["XDG_CONFIG_HOME"] = os.path.join(TMP, "xdg-empty")
    e.update(extra)
    return e


def run(args, msg=b"", timeout=30, **extra):
    p = subprocess.run([SMTPC] + list(args), input=msg, capture_output=True, timeout=timeout,
                       env=env(**extra))
    return p.returncode, p.stdout.decode("latin-1"), p.stderr.decode("latin-1")


def write(name, text, mode=0o600):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def accept_all(nrcpt):
    """A pipelining server that accepts one message to nrcpt recipients."""
    return [("send", GREET), ("line",), ("send", EHLO_PIPE), ("lines", 2 + nrcpt),
            ("send", b"250 ok\r\n" + b"250 ok\r\n" * nrcpt + b"354 go\r\n"),
            ("until", b"\r\n.\r\n"), ("send", b"250 queued\r\n"), ("line",),
            ("send", b"221 bye\r\n")]


def account(port):
    return write("sm-conf", "account default\nhost 127.0.0.1\nport %d\nfrom acct@example.com\n"
                 "domain client.example\ntimeout 5\n" % port)


def sendmail(msg, *args, nrcpt=1):
    """The message through smtpc sendmail to a server that accepts it:
    (exit status, stderr, RCPT addresses, header section, body)."""
    srv = FakeServer(accept_all(nrcpt))
    rc, _, err = run(["sendmail", "-C", account(srv.port)] + list(args), msg=msg)
    srv.wait()
    got = srv.received
    rcpts = [line[9:-1] for line in got.split(b"\r\n") if line.startswith(b"RCPT TO:<")]
    if b"DATA\r\n" not in got:
        return rc, err, rcpts, None, None
    data = got[got.index(b"DATA\r\n") + 6:got.index(b"\r\n.\r\n") + 2]
    head, _, body = data.partition(b"\r\n\r\n")
    return rc, err, rcpts, head, body


# ---- the sendmail interface: Bcc and recipients ---------------------------------------

@test
def sendmail_header_section_starting_with_white_space_is_body_not_a_hidden_bcc():
    # a first line that starts with white space continues no field: there
    # is no header section, so the text is the body, after an empty line
    # (without one, the Bcc line below became a field of what was sent)
    for eol in (b"\n", b"\r\n"):
        msg = eol.join([b" x", b"Bcc: hidden@example.com", b"To: a@example.com", b"",
                        b"body", b""])
        rc, err, rcpts, head, body = sendmail(msg, "-t", "extra@example.com")
        check(rc == 0, "rc %d %s" % (rc, err))
        check(rcpts == [b"extra@example.com"], repr(rcpts))
        check(b"Bcc" not in head and b"hidden" not in head, repr(head))
        check([f.split(b":")[0] for f in head.split(b"\r\n")] == [b"From", b"Date", b"Message-ID"],
              repr(head))
        check(body.startswith(b" x\r\nBcc: hidden@example.com\r\n"), repr(body))


@test
def sendmail_obsolete_white_space_before_the_colon_is_still_a_bcc():
    # RFC 5322 4.5: white space may come before a field's colon; "Bcc :"
    # is a Bcc (it ended the header section and went out in the body)
    msg = (b"To: a@example.com\nBCC\t : hidden@example.com,\n second@example.com\n"
           b"Cc : c@example.com\nSubject: s\n\nbody\n")
    rc, err, rcpts, head, body = sendmail(msg, "-t", nrcpt=4)
    check(rc == 0, "rc %d %s" % (rc, err))
    check(rcpts == [b"a@example.com", b"hidden@example.com", b"second@example.com",
                    b"c@example.com"], repr(rcpts))
    check(b"hidden" not in head + body and b"second" not in head + body, repr(head + body))
    check(b"\r\nCc : c@example.com\r\nSubject: s" in head and body == b"body\r\n",
          repr(head + body))


@test
def sendmail_resent_bcc_is_removed_and_resent_fields_give_the_recipients():
    # a message sent on again (RFC 5322 3.6.6): Resent-Bcc is as blind as
    # Bcc, and with -t the Resent- fields name the recipients, not the
    # original To and Cc (the message had gone back to them)
    msg = (b"From: o@example.com\nTo: original@example.com\nCc: occ@example.com\n"
           b"Bcc: obcc@example.com\nResent-From: me@example.com\n"
           b"resent-to: new@example.com\nResent-Cc: ncc@example.com\n"
           b"Resent-Bcc: nbcc@example.com,\n\tnbcc2@example.com\n\nbody\n")
    rc, err, rcpts, head, body = sendmail(msg, "-t", nrcpt=4)
    check(rc == 0, "rc %d %s" % (rc, err))
    check(rcpts == [b"new@example.com", b"ncc@example.com", b"nbcc@example.com",
                    b"nbcc2@example.com"], repr(rcpts))
    check(b"bcc@" not in head and b"bcc2@" not in head and b"Bcc" not in head, repr(head))
    check(b"To: original@example.com\r\nCc: occ@example.com\r\nResent-From: me@example.com"
          b"\r\nresent-to: new@example.com\r\nResent-Cc: ncc@example.com" in head, repr(head))
    # without -t too, nothing blind is shown
    rc, err, rcpts, head, body = sendmail(msg, "x@example.com")
    check(rc == 0 and rcpts == [b"x@example.com"], "rc %d %s %r" % (rc, err, rcpts))
    check(b"Bcc" not in head and b"bcc" not in head, repr(head))


# ---- hostile servers -------------------------------------------------------------------


@test
def json_recipient_whose_final_reply_never_came_has_no_deciding_code():
    # "code" is the reply that decided for the recipient: a 250 to RCPT
    # decides nothing when the final reply never comes (it was shown as
    # code 250 beside status "failed")
    import json
    lmtp = [("send", GREET), ("line",), ("send", EHLO_PIPE), ("lines", 4),
            ("send", b"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n"), ("until", b"\r\n.\r\n"),
            ("send", b"250 2.0.0 first\r\n"), ("close",)]
    smtp = [("send", GREET), ("line",), ("send", EHLO_PIPE), ("lines", 4),
            ("send", b"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n"), ("until", b"\r\n.\r\n"),
            ("close",)]
    for script, extra, want in ((lmtp, ["--lmtp"], [250, None]), (smtp, [], [None, None])):
        srv = FakeServer(script)
        rc, out, err = run(["send", "--host", "127.0.0.1", "--port", str(srv.port), "--from",
                            "a@example.com", "--to", "b@example.com", "--to", "c@example.com",
                            "--helo", "client.example", "--timeout", "5000", "--json"] + extra,
                           msg=b"Subject: x\r\n\r\nbody\r\n")
        srv.wait()
        check(rc == 75, "%r: rc %d %s" % (extra, rc, err))
        r = json.loads(out)["messages"][0]["recipients"]
        check([x["code"] for x in r] == want, "%r: %r" % (extra, r))
        last = r[1]
        check(last["status"] == "failed" and last["error"] == "SMTPC_ERR_CLOSED" and
              last["text"] is None and last["enhanced"] is None and
              last["rcpt_reply"]["code"] == 250 and last["data_reply"] is None, repr(last))


@test
def server_that_says_221_out_of_turn_exits_75_never_70():
    # a 221 where another reply is due ends the session like a 421: exit 75
    # (it was 70, which the man page does not know, or 77 after EHLO as if
    # no mechanism were offered, and a 221 to AUTH counted as logged in)
    import json
    e = b"250-fake.example\r\n250 AUTH PLAIN\r\n"
    bye = [("send", b"221 bye\r\n"), ("sleep", 0.3)]
    ok = [("line",), ("send", b"250 ok\r\n")]
    cases = {
        "greeting": [("send", b"221 bye\r\n"), ("sleep", 0.3)],
        "EHLO": [("send", GREET), ("line",)] + bye,
        "AUTH": [("send", GREET), ("line",), ("send", e), ("line",)] + bye,
        "MAIL": [("send", GREET), ("line",), ("send", e), ("line",), ("send", b"235 ok\r\n"),
                 ("line",)] + bye,
        "RCPT": [("send", GREET), ("line",), ("send", e), ("line",), ("send", b"235 ok\r\n")] +
                ok + [("line",)] + bye,
        "DATA": [("send", GREET), ("line",), ("send", e), ("line",), ("send", b"235 ok\r\n")] +
                ok + ok + [("line",)] + bye,
    }
    for what, script in cases.items():
        srv = FakeServer(script)
        rc, out, err = run(["send", "--host", "127.0.0.1", "--port", str(srv.port), "--from",
                            "a@example.com", "--to", "b@example.com", "--helo", "client.example",
                            "--timeout", "5000", "--user", "u", "--insecure", "--json"],
                           msg=b"Subject: x\r\n\r\nbody\r\n", SMTPC_PASSWORD="pw")
        srv.wait()
        check(rc == 75 and "221 bye" in err, "%s: rc %d %s" % (what, rc, err))
        doc = json.loads(out)
        check(doc["exit"] == 75 and doc["messages"][0]["status"] != "accepted" and
              (doc["auth"] is None) == (what in ("greeting", "EHLO", "AUTH")),
              "%s: %s" % (what, out))


@test
def closed_standard_descriptors_never_carry_output_into_the_session():
    # run with standard output and error closed (as some daemons and cron
    # set-ups do): the socket took descriptor 1 or 2, and the -v transcript
    # went to the server as commands
    msg = write("closed-fds-msg", "Subject: x\r\n\r\nbody\r\n")
    srv = FakeServer(accept_all(1))
    cmd = ("exec '%s' send --host 127.0.0.1 --port %d --from a@example.com --to b@example.com "
           "--helo client.example --timeout 5000 -v --json --file '%s' </dev/null >&- 2>&-"
           % (SMTPC, srv.port, msg))
    p = subprocess.run(["/bin/sh", "-c", cmd], timeout=30, env=env())
    srv.wait()
    check(p.returncode == 0, "rc %d" % p.returncode)
    check(srv.received == b"EHLO client.example\r\nMAIL FROM:<a@example.com>\r\n"
          b"RCPT TO:<b@example.com>\r\nDATA\r\nSubject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n",
          repr(srv.received))


# ---- composed messages -----------------------------------------------------------------


@test
def composed_long_subject_is_folded_not_refused():
    # a long --subject went out on one line over 998 octets: the message the
    # tool built itself was refused (65); it is folded at white space, and a
    # word too long to fold is encoded
    import email.header
    for subject in ("word " * 300 + "end", "x" * 2000, "  two  spaces  " * 80):
        srv = FakeServer(accept_all(1))
        rc, _, err = run(["send", "--host", "127.0.0.1", "--port", str(srv.port), "--from",
                          "a@example.com", "--to", "b@example.com", "--helo", "client.example",
                          "--timeout", "5000", "--subject", subject, "--body", "x"])
        srv.wait()
        check(rc == 0, "rc %d %s" % (rc, err))
        got = srv.received
        data = got[got.index(b"DATA\r\n") + 6:got.index(b"\r\n.\r\n")]
        head = data.split(b"\r\n\r\n", 1)[0]
        check(all(len(line) <= 998 for line in head.split(b"\r\n")), repr(head[:200]))
        field = head.split(b"Subject:", 1)[1].split(b"\r\nDate:")[0]
        unfolded = field.replace(b"\r\n", b"").decode()
        decoded = "".join(p.decode(c or "ascii") if isinstance(p, bytes) else p
                          for p, c in email.header.decode_header(unfolded))
        want = subject if "=?" in unfolded else " " + subject
        check(decoded.strip() == subject.strip() and
              ("=?" in unfolded or unfolded == want), repr(unfolded[:200]))


@test
def composed_bcc_header_is_refused_not_shown_to_every_recipient():
    # --header 'Bcc: x' went out as a field every recipient sees, and x got
    # nothing: refused, before any connection
    srv = FakeServer([("send", GREET)], accept_timeout=1.0)
    for h in ("Bcc: hidden@example.com", "bcc:hidden@example.com", "Resent-Bcc: h@example.com"):
        rc, _, err = run(["send", "--host", "127.0.0.1", "--port", str(srv.port), "--from",
                          "a@example.com", "--to", "b@example.com", "--subject", "s",
                          "--header", h])
        check(rc == 64 and "--to" in err, "%r: rc %d %s" % (h, rc, err))
    srv.wait()
    check(not srv.connected, "connected")


@test
def account_tls_certcheck_off_never_sends_the_password_in_clear():
    # a file written for msmtp: tls_certcheck off is about certificates; it
    # had also meant --insecure, so auth went out as PLAIN without TLS
    srv = FakeServer([("send", GREET), ("line",),
                      ("send", b"250-fake.example\r\n250 AUTH PLAIN LOGIN\r\n"), ("sleep", 0.3)])
    conf = write("certcheck-conf", "defaults\ntls_certcheck off\naccount default\n"
                 "host 127.0.0.1\nport %d\ntls off\nauth on\nuser u\npassword Sekr1t\n"
                 "from a@example.com\ndomain client.example\ntimeout 5\n" % srv.port)
    rc, _, err = run(["send", "--config", conf, "--to", "b@example.com"],
                     msg=b"Subject: x\r\n\r\nbody\r\n")
    srv.wait()
    check(rc == 77, "rc %d %s" % (rc, err))
    check(srv.received == b"EHLO client.example\r\n", repr(srv.received))


# ---- hostile passwordeval commands -----------------------------------------------------


def gone(pid_file):
    """Whether the process whose PID the command wrote is gone (reaped or
    never left behind); one still there is stopped here by its own PID."""
    with open(pid_file) as f:
        pid = int(f.read().split()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    os.kill(pid, 9)
    return False


@test
def passwordeval_that_never_ends_is_stopped_at_the_timeout():
    # each must come back with 78 within the timeout (1 s here), and leave
    # nothing running; none may connect anywhere
    srv = FakeServer([("send", GREET)], accept_timeout=1.0)
    pid_file = os.path.join(TMP, "eval.pid")
    for cmd, what in (("echo $$ > %s; exec sleep 30" % pid_file, "timeout"),
                      ("echo Sekr1t; echo $$ > %s; exec sleep 30" % pid_file, "timeout"),
                      ("echo $$ > %s; exec >&-; exec sleep 30" % pid_file, "empty first line"),
                      ("echo Sekr1t; echo $$ > %s; exec yes" % pid_file, "1 MiB")):
        if os.path.exists(pid_file):
            os.unlink(pid_file)
        t0 = time.time()
        try:
            rc, _, err = run(["send", "--host", "127.0.0.1", "--port", str(srv.port), "--from",
                              "a@example.com", "--to", "b@example.com", "--user", "u",
                              "--timeout", "1000", "--passwordeval", cmd], timeout=20)
        except subprocess.TimeoutExpired:
            gone(pid_file)
            raise AssertionError("%r: still running after 20 s" % cmd)
        check(rc == 78 and "--passwordeval" in err and what in err and "Sekr1t" not in err,
              "%r: rc %d %s" % (cmd, rc, err))
        check(time.time() - t0 < 15, "%r: %.1f s" % (cmd, time.time() - t0))
        check(gone(pid_file), "%r: the command was left running" % cmd)
    srv.wait()
    check(not srv.connected, "connected")


@test
def passwordeval_whose_leftover_child_holds_the_pipe_is_not_waited_for():
    # the command prints its line and exits 0, but something it started in
    # the background (an agent) keeps standard output open: the password
    # is taken when the command ends, not when the pipe does (the child's
    # standard error is not the test's pipe, which it would hold open too)
    pid_file = os.path.join(TMP, "agent.pid")
    srv = FakeServer([("send", GREET), ("line",), ("send", b"250-fake.example\r\n250 AUTH PLAIN\r\n"),
                      ("line",), ("send", b"235 ok\r\n"), ("line",), ("send", b"250 ok\r\n"),
                      ("line",), ("send", b"250 ok\r\n"), ("line",), ("send", b"354 go\r\n"),
                      ("until", b"\r\n.\r\n"), ("send", b"250 queued\r\n"), ("line",),
                      ("send", b"221 bye\r\n")])
    try:
        rc, _, err = run(["send", "--host", "127.0.0.1", "--port", str(srv.port), "--from",
                          "a@example.com", "--to", "b@example.com", "--user", "u", "--insecure",
                          "--timeout", "20000", "--passwordeval",
                          "sleep 30 2>/dev/null & echo $! > %s; echo Sekr1t" % pid_file],
                         msg=b"Subject: x\r\n\r\nbody\r\n", timeout=15)
    except subprocess.TimeoutExpired:
        raise AssertionError("waited for the background child")
    finally:
        srv.wait()
        if os.path.exists(pid_file):
            gone(pid_file)
    check(rc == 0, "rc %d %s" % (rc, err))
    check(b"AUTH PLAIN AHUAU2VrcjF0\r\n" in srv.received, repr(srv.received))


@test
def password_with_a_nul_octet_is_refused_not_cut():
    # "ab\0cd": the password was taken as "ab"
    path = os.path.join(TMP, "pw-nul")
    with open(path, "wb") as f:
        f.write(b"ab\0cd\n")
    os.chmod(path, 0o600)
    base = ["send", "--host", "127.0.0.1", "--port", "1", "--from", "a@example.com", "--to",
            "b@example.com", "--user", "u"]
    rc, _, err = run(base + ["--password-file", path])
    check(rc == 66 and "control octet" in err, "rc %d %s" % (rc, err))
    rc, _, err = run(base + ["--passwordeval", "cat " + path])
    check(rc == 78 and "control octet" in err, "rc %d %s" % (rc, err))


# ---- hostile configuration files -------------------------------------------------------


@test
def configuration_that_is_a_fifo_or_a_directory_is_refused_at_once():
    # a named pipe with no writer blocked the open for ever
    fifo = os.path.join(TMP, "conf-fifo")
    os.mkfifo(fifo, 0o600)
    for path, extra in ((fifo, {}), (TMP, {}), (None, {"SMTPC_CONFIG": fifo})):
        args = ["send", "--from", "a@example.com", "--to", "b@example.com", "--host",
                "127.0.0.1", "--port", "1"] + (["--config", path] if path else [])
        try:
            rc, _, err = run(args, timeout=15, **extra)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s: blocked" % (path or "$SMTPC_CONFIG"))
        check(rc == 78 and "not a regular file" in err, "%s: rc %d %s" % (path, rc, err))


@test
def configuration_error_does_not_echo_what_may_be_a_secret():
    # --config pointed at a password file, or a password pasted on a line
    # of its own: the error names the line, never shows its text (it went
    # to standard error, and from cron into a mail)
    for text in ("S3cr3t-Pa55\n", "account a\nhost h\nhunter2\n",
                 "root:x:0:0:S3cr3t:/root:/bin/bash\n", "account a\n\"S3cr3t x\" y\n"):
        path = write("conf-secret", text)
        rc, _, err = run(["send", "--config", path, "--from", "a@example.com", "--to",
                          "b@example.com"])
        line = text.count("\n")
        check(rc == 78 and ("conf-secret:%d:" % line) in err and "S3cr3t" not in err and
              "hunter2" not in err, "%r: rc %d %s" % (text, rc, err))
    path = write("conf-secret", "account a\ntls_trustfile /etc/ssl/x.pem\n")
    rc, _, err = run(["send", "--config", path, "--from", "a@example.com", "--to", "b@example.com"])
    check(rc == 78 and "conf-secret:2: unknown keyword 'tls_trustfile'" in err, "rc %d %s" % (rc, err))


def main():
    if not os.path.exists(SMTPC):
        print("no binary at %s" % SMTPC)
        return 1
    try:
        return runner.run("attack", TESTS, ONLY)
    finally:
        shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
