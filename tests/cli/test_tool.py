#!/usr/bin/env python3
"""smtpc as a daily mail tool, against scripted servers on 127.0.0.1: the
credentials (password file, passwordeval, $SMTPC_PASSWORD), automatic AUTH
and its refusals, the configuration file (accounts, parents, lookup order,
permissions, errors), the sendmail interface, composed messages and LMTP.
The bytes on the wire and the exit status are checked in each case.

Usage: test_tool.py [SMTPC_BINARY] [NAME_FILTER]
"""
import base64
import hmac
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
TMP = tempfile.mkdtemp(prefix="smtpc-tool-")
TESTS = []

GREET = b"220 fake.example ESMTP\r\n"
MSG = b"Subject: test\r\n\r\nhello\r\n"


def test(fn):
    TESTS.append(fn)
    return fn


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def env(**extra):
    """A hermetic environment: no configuration or password from the
    machine's user unless the test gives one."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("SMTPC_")}
    e["HOME"] = os.path.join(TMP, "home")
    e["XDG_CONFIG_HOME"] = os.path.join(TMP, "xdg-empty")
    e.update(extra)
    return {k: v for k, v in e.items() if v is not None}


def run(args, msg=MSG, timeout=30, argv0=None, **extra):
    cmd = [argv0 or SMTPC] + list(args)
    p = subprocess.run(cmd, input=msg, capture_output=True, timeout=timeout, env=env(**extra))
    return p.returncode, p.stdout.decode("latin-1"), p.stderr.decode("latin-1")


def send(port, *args, msg=MSG, **extra):
    base = ["send", "--host", "127.0.0.1", "--port", str(port), "--helo", "client.example",
            "--timeout", "5000"]
    if "--from" not in args and "--account" not in args:
        base += ["--from", "a@example.com"]
    if "--to" not in args:
        base += ["--to", "b@example.com"]
    return run(base + list(args), msg=msg, **extra)


def ehlo(*ext):
    lines = [b"fake.example"] + [x.encode() for x in ext]
    return b"".join(b"250-" + x + b"\r\n" for x in lines[:-1]) + b"250 " + lines[-1] + b"\r\n"


def delivered(after_auth=True):
    """The rest of a session after AUTH's 235: MAIL, RCPT, DATA, QUIT."""
    return [("line",), ("send", b"250 ok\r\n"), ("line",), ("send", b"250 ok\r\n"), ("line",),
            ("send", b"354 go\r\n"), ("until", b"\r\n.\r\n"), ("send", b"250 queued\r\n"),
            ("line",), ("send", b"221 bye\r\n")]


def plain(user, pw):
    return base64.b64encode(b"\0" + user + b"\0" + pw)


def plain_session(ext="AUTH PLAIN"):
    return [("send", GREET), ("line",), ("send", ehlo(ext)), ("line",),
            ("send", b"235 2.7.0 ok\r\n")] + delivered()


def write(path, text, mode=0o600):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


# ---- automatic AUTH ------------------------------------------------------------------

@test
def auto_auth_without_tls_uses_only_cram_md5():
    challenge = b"<42.1@fake.example>"
    digest = hmac.new(b"pw", challenge, "md5").hexdigest().encode()
    srv = FakeServer([("send", GREET), ("line",), ("send", ehlo("AUTH PLAIN LOGIN CRAM-MD5")),
                      ("line",), ("send", b"334 " + base64.b64encode(challenge) + b"\r\n"),
                      ("line",), ("send", b"235 ok\r\n")] + delivered())
    rc, _, err = send(srv.port, "--user", "u", "--password-file",
                      write(os.path.join(TMP, "pw1"), "pw\n"))
    srv.wait()
    check(rc == 0, "rc %d %s" % (rc, err))
    check(srv.received.startswith(b"EHLO client.example\r\nAUTH CRAM-MD5\r\n" +
                                  base64.b64encode(b"u " + digest) + b"\r\nMAIL FROM:"),
          repr(srv.received))


@test
def auto_auth_with_nothing_usable_sends_nothing_after_ehlo_and_exits_77():
    for ext in ("AUTH PLAIN LOGIN", "AUTH XOAUTH2", "SIZE 1000"):
        srv = FakeServer([("send", GREET), ("line",), ("send", ehlo(ext)), ("sleep", 0.3)])
        rc, _, err = send(srv.port, "--user", "u", SMTPC_PASSWORD="pw")
        srv.wait()
        check(rc == 77, "%s: rc %d %s" % (ext, rc, err))
        check(srv.received == b"EHLO client.example\r\n", "%s: %r" % (ext, srv.received))
        check("no usable AUTH mechanism" in err, err)


@test
def auto_auth_with_insecure_prefers_plain_then_login():
    srv = FakeServer(plain_session("AUTH LOGIN CRAM-MD5 PLAIN"))
    rc, _, err = send(srv.port, "--user", "u", "--insecure", SMTPC_PASSWORD="s3cret")
    srv.wait()
    check(rc == 0, "rc %d %s" % (rc, err))
    check(b"\r\nAUTH PLAIN " + plain(b"u", b"s3cret") + b"\r\nMAIL" in srv.received,
          repr(srv.received))
    srv = FakeServer([("send", GREET), ("line",), ("send", ehlo("AUTH LOGIN XOAUTH2")), ("line",),
                      ("send", b"334 VXNlcm5hbWU6\r\n"), ("line",),
                      ("send", b"334 UGFzc3dvcmQ6\r\n"), ("line",),
                      ("send", b"235 ok\r\n")] + delivered())
    rc, _, err = send(srv.port, "--user", "u", "--insecure", "--auth", "auto",
                      SMTPC_PASSWORD="s3cret")
    srv.wait()
    check(rc == 0 and b"AUTH LOGIN\r\ndQ==\r\nczNjcmV0\r\nMAIL" in srv.received,
          "rc %d %r %s" % (rc, srv.received, err))


@test
def auth_off_sends_no_auth_though_a_user_is_set():
    srv = FakeServer([("send", GREET), ("line",), ("send", ehlo("AUTH PLAIN"))] + delivered())
    rc, _, err = send(srv.port, "--user", "u", "--auth", "off")
    srv.wait()
    check(rc == 0 and b"AUTH" not in srv.received, "rc %d %r" % (rc, srv.received))


@test
def refused_auth_exits_77_temporary_75():
    for code, want in ((b"535 5.7.8 bad credentials", 77), (b"534 5.7.9 too weak", 77),
                       (b"538 5.7.11 encryption required", 77), (b"454 4.7.0 try later", 75),
                       (b"504 5.5.4 unknown", 69)):
        srv = FakeServer([("send", GREET), ("line",), ("send", ehlo("AUTH PLAIN")), ("line",),
                          ("send", code + b"\r\n"), ("line",), ("send", b"221 bye\r\n")])
        rc, _, err = send(srv.port, "--user", "u", "--insecure", SMTPC_PASSWORD="pw")
        srv.wait()
        check(rc == want, "%r: rc %d %s" % (code, rc, err))
        check(b"MAIL" not in srv.received and srv.received.endswith(b"QUIT\r\n"),
              repr(srv.received))


# ---- where the password comes from ---------------------------------------------------

@test
def password_file_passwordeval_and_environment():
    cases = [(["--password-file", write(os.path.join(TMP, "pwf"), "from-file\r\nline 2\n")],
              {}, b"from-file"),
             (["--passwordeval", "printf 'from-eval\\nsecond\\n'; cat"], {}, b"from-eval"),
             ([], {"SMTPC_PASSWORD": "from-env"}, b"from-env"),
             (["--password", "from-arg"], {"SMTPC_PASSWORD": "from-env"}, b"from-arg")]
    for args, extra, want in cases:
        srv = FakeServer(plain_session())
        rc, _, err = send(srv.port, "--user", "u", "--auth", "plain", "--insecure", *args,
                          **extra)
        srv.wait()
        check(rc == 0, "%r: rc %d %s" % (args, rc, err))
        check(b"AUTH PLAIN " + plain(b"u", want) + b"\r\n" in srv.received,
              "%r: %r" % (args, srv.received))
        check(("visible" in err) == ("--password" in args), "%r: %s" % (args, err))
        check(want.decode() not in err, err)


@test
def password_sources_that_fail_connect_nowhere():
    srv = FakeServer([("send", GREET)], accept_timeout=1.0)
    for args, want in ((["--passwordeval", "exit 3"], 78), (["--passwordeval", "true"], 78),
                       (["--passwordeval", "printf 'a\\001b'"], 78),
                       (["--passwordeval", "echo pw; exit 1"], 78),
                       (["--passwordeval", "head -c 5000 /dev/zero | tr '\\0' x"], 78),
                       (["--password-file", os.path.join(TMP, "none")], 66),
                       (["--password-file", "/dev/null"], 66),
                       (["--password", "a", "--password-file", "/dev/null"], 64),
                       ([], 64)):
        rc, _, err = send(srv.port, "--user", "u", "--auth", "plain", "--insecure", *args)
        check(rc == want, "%r: rc %d %s" % (args, rc, err))
        check("5000" not in " ".join(args) or "longer than 4096" in err, err)
        check("exit 1" not in " ".join(args) or "exit status 1" in err, err)
    srv.wait()
    check(not srv.connected, "connected")


@test
def passwordeval_does_not_read_the_message():
    srv = FakeServer(plain_session())
    rc, _, err = send(srv.port, "--user", "u", "--auth", "plain", "--insecure",
                      "--passwordeval", "cat; echo pw", msg=b"Subject: kept\r\n\r\nbody\r\n")
    srv.wait()
    check(rc == 0 and b"Subject: kept\r\n\r\nbody\r\n.\r\n" in srv.received,
          "rc %d %r %s" % (rc, srv.received, err))


# ---- the configuration file ----------------------------------------------------------

CONF = """# two accounts and a parent
defaults
timeout 5
domain conf.example

account base
host 127.0.0.1
port {port}
from base@example.com
user baseuser
password "pass word#1"
auth plain
tls_certcheck off

account other : base
from other@example.com
user otheruser
dsn_notify failure,delay
dsn_return hdrs

account default : base
"""


def conf_session(*ext):
    return [("send", GREET), ("line",), ("send", ehlo(*(ext or ("AUTH PLAIN",)))), ("line",),
            ("send", b"235 ok\r\n")] + delivered()


@test
def configuration_accounts_parents_and_overrides():
    srv = FakeServer(conf_session("AUTH PLAIN", "DSN"))
    path = write(os.path.join(TMP, "conf1"), CONF.format(port=srv.port))
    rc, _, err = run(["send", "--config", path, "-a", "other", "--to", "b@example.com"])
    srv.wait()
    check(rc == 0, "rc %d %s" % (rc, err))
    check(srv.received.startswith(
        b"EHLO conf.example\r\nAUTH PLAIN " + plain(b"otheruser", b"pass word#1") +
        b"\r\nMAIL FROM:<other@example.com> RET=HDRS\r\n"
        b"RCPT TO:<b@example.com> NOTIFY=FAILURE,DELAY\r\n"), repr(srv.received))
    # the default account (through $SMTPC_CONFIG); the command line wins
    srv = FakeServer(conf_session())
    path = write(os.path.join(TMP, "conf2"), CONF.format(port=srv.port))
    rc, _, err = run(["send", "--from", "cli@example.com", "--user", "cliuser", "--to",
                      "b@example.com", "--helo", "cli.example"], SMTPC_CONFIG=path)
    srv.wait()
    check(rc == 0, "rc %d %s" % (rc, err))
    check(srv.received.startswith(
        b"EHLO cli.example\r\nAUTH PLAIN " + plain(b"cliuser", b"pass word#1") +
        b"\r\nMAIL FROM:<cli@example.com>\r\n"), repr(srv.received))


@test
def configuration_lookup_order():
    xdg = os.path.join(TMP, "xdg")
    home = os.path.join(TMP, "home2")
    srv = FakeServer(conf_session())
    write(os.path.join(xdg, "smtpc", "config"), CONF.format(port=srv.port))
    write(os.path.join(home, ".config", "smtpc", "config"), "account default\nhost nowhere\n")
    rc, _, err = run(["send", "--to", "b@example.com"], XDG_CONFIG_HOME=xdg, HOME=home)
    srv.wait()
    check(rc == 0 and b"MAIL FROM:<base@example.com>" in srv.received,
          "rc %d %s %r" % (rc, err, srv.received))
    srv = FakeServer(conf_session())
    write(os.path.join(home, ".config", "smtpc", "config"), CONF.format(port=srv.port))
    rc, _, err = run(["send", "--to", "b@example.com"], HOME=home, XDG_CONFIG_HOME=None)
    srv.wait()
    check(rc == 0 and b"MAIL FROM:<base@example.com>" in srv.received,
          "rc %d %s %r" % (rc, err, srv.received))
    # --config before $SMTPC_CONFIG before XDG
    rc, _, err = run(["send", "--config", os.path.join(TMP, "missing"), "--to", "b@example.com"],
                     SMTPC_CONFIG=os.path.join(xdg, "smtpc", "config"))
    check(rc == 78 and "missing" in err, "rc %d %s" % (rc, err))


@test
def configuration_passwordeval():
    srv = FakeServer(conf_session())
    path = write(os.path.join(TMP, "conf3"),
                 "account default\nhost 127.0.0.1\nport %d\nfrom a@example.com\nuser u\n"
                 "passwordeval \"echo evaluated; echo more\"\nauth plain\n"
                 "tls_certcheck off\n" % srv.port, mode=0o644)
    rc, _, err = run(["send", "--config", path, "--to", "b@example.com"])
    srv.wait()
    check(rc == 0 and b"AUTH PLAIN " + plain(b"u", b"evaluated") in srv.received,
          "rc %d %s %r" % (rc, err, srv.received))
    path = write(os.path.join(TMP, "conf4"),
                 "account default\nhost 127.0.0.1\nuser u\nfrom a@example.com\n"
                 "passwordeval exit 1\n")
    rc, _, err = run(["send", "--config", path, "--to", "b@example.com"])
    check(rc == 78 and "conf4:5: passwordeval" in err, "rc %d %s" % (rc, err))


@test
def configuration_errors_exit_78_with_file_and_line():
    srv = FakeServer([("send", GREET)], accept_timeout=1.0)
    conf = os.path.join(TMP, "conf5")
    for text, mode, args, want in (
            ("account a\nhost 127.0.0.1\nbogus x\n", 0o600, [], "conf5:3: unknown keyword"),
            ("account a\nport 99999\n", 0o600, [], "conf5:2: port"),
            ("account a\nhost h\n", 0o600, ["--account", "b"], "no account 'b'"),
            ("account a\nhost h\npassword p\n", 0o640, [], "readable by its group"),
            ("account a\nhost h\npassword p\n", 0o604, [], "readable by others"),
            ("account a : nope\n", 0o600, [], "conf5:1: unknown account 'nope'")):
        write(conf, text, mode)
        rc, _, err = run(["send", "--config", conf, "--from", "a@example.com", "--to",
                          "b@example.com", "--port", str(srv.port)] + args)
        check(rc == 78 and want in err, "%r: rc %d %s" % (text, rc, err))
    rc, _, err = run(["send", "--account", "x", "--to", "b@example.com"])
    check(rc == 78 and "no configuration file" in err, "rc %d %s" % (rc, err))
    srv.wait()
    check(not srv.connected, "connected")


# ---- the sendmail interface ----------------------------------------------------------

EHLO_PIPE = b"250-fake.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n"


def accept_all(nrcpt):
    """A pipelining server that accepts one message to nrcpt recipients."""
    return [("send", GREET), ("line",), ("send", EHLO_PIPE), ("lines", 2 + nrcpt),
            ("send", b"250 ok\r\n" + b"250 ok\r\n" * nrcpt + b"354 go\r\n"),
            ("until", b"\r\n.\r\n"), ("send", b"250 queued\r\n"), ("line",),
            ("send", b"221 bye\r\n")]


def sendmail_link():
    d = os.path.join(TMP, "bin")
    link = os.path.join(d, "sendmail")
    if not os.path.exists(link):
        os.makedirs(d, exist_ok=True)
        os.symlink(SMTPC, link)
    return link


def account(port, extra=""):
    return write(os.path.join(TMP, "sm-conf"),
                 "account default\nhost 127.0.0.1\nport %d\nfrom acct@example.com\n"
                 "domain client.example\ntimeout 5\n%s" % (port, extra))


def data_of(received):
    i = received.index(b"354") if b"354" in received else received.index(b"DATA\r\n") + 6
    return received[received.index(b"DATA\r\n") + 6:received.index(b"\r\n.\r\n") + 2]


TMSG = (b"From: Me <me@example.com>\n"
        b"To: \"Doe, John\" <john@example.com>, plain@example.com (a comment, with a comma)\n"
        b"Cc: team: x@example.com, (nobody) y@example.com;,\n"
        b"  folded@example.com\n"
        b"Bcc: hidden@example.com,\n"
        b"\tsecret@example.com\n"
        b"Subject: hi\n"
        b"\n"
        b"Bcc: this is the body\n")


@test
def sendmail_t_through_a_symlink_removes_bcc_and_adds_date_and_message_id():
    srv = FakeServer(accept_all(8))
    rc, _, err = run(["-t", "-i", "-oi", "-odi", "-oem", "-bm", "-oQ/var/spool", "-C",
                      account(srv.port), "extra@example.com"], msg=TMSG, argv0=sendmail_link())
    srv.wait()
    check(rc == 0, "rc %d %s" % (rc, err))
    rcpts = [l for l in srv.received.split(b"\r\n") if l.startswith(b"RCPT")]
    check(rcpts == [b"RCPT TO:<%s@example.com>" % a for a in (
        b"extra", b"john", b"plain", b"x", b"y", b"folded", b"hidden", b"secret")], repr(rcpts))
    check(srv.received.startswith(b"EHLO client.example\r\nMAIL FROM:<acct@example.com>"),
          repr(srv.received))
    data = data_of(srv.received)
    head, body = data.split(b"\r\n\r\n", 1)
    check(b"hidden" not in head and b"secret" not in head and b"Bcc" not in head, repr(head))
    check(body == b"Bcc: this is the body\r\n", repr(body))
    lines = head.split(b"\r\n")
    check(lines[0].startswith(b"Date: ") and lines[1].startswith(b"Message-ID: <") and
          lines[1].endswith(b"@example.com>") and lines[2] == b"From: Me <me@example.com>",
          repr(lines))
    check(b"Cc: team: x@example.com, (nobody) y@example.com;,\r\n  folded@example.com" in head,
          repr(head))


@test
def sendmail_f_and_F_and_existing_headers_kept():
    srv = FakeServer(accept_all(1))
    msg = b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <kept@x>\r\n\r\nbody\r\n"
    rc, _, err = run(["sendmail", "-C", account(srv.port), "-f", "<env@example.com>", "-F",
                      "Ann \"A.\" Smith", "-v", "--", "b@example.com"], msg=msg)
    srv.wait()
    check(rc == 0, "rc %d %s" % (rc, err))
    check(b"MAIL FROM:<env@example.com>" in srv.received, repr(srv.received))
    check(data_of(srv.received) == b"From: \"Ann \\\"A.\\\" Smith\" <env@example.com>\r\n" + msg,
          repr(data_of(srv.received)))
    check("C: MAIL FROM:<env@example.com>" in err, err)  # -v
    # a non-ASCII name is encoded; a message with no header gets the empty line
    srv = FakeServer(accept_all(1))
    rc, _, err = run(["sendmail", "-C", account(srv.port), "-FJos\u00e9", "-fa@example.com",
                      "b@example.com"], msg=b"just a body line\n")
    srv.wait()
    data = data_of(srv.received)
    check(rc == 0 and data.startswith(b"From: =?UTF-8?B?Sm9zw6k=?= <a@example.com>\r\nDate: "),
          "rc %d %s %r" % (rc, err, data))
    check(data.endswith(b">\r\n\r\njust a body line\r\n"), repr(data))


@test
def sendmail_refusals_before_connecting():
    srv = FakeServer([("send", GREET)], accept_timeout=1.0)
    conf = account(srv.port)
    for args, msg, want, what in (
            (["-bs"], MSG, 64, "unknown option"),
            (["-t"], b"To: <open@example.com\n\nx\n", 65, "'<' without"),
            (["-t"], b"To: \"unterminated@example.com\n\nx\n", 65, "quoted string"),
            (["-t"], b"To: a@example.com (open\n\nx\n", 65, "comment"),
            (["-t"], b"To: " + b"a" * 400 + b"@example.com\n\nx\n", 65, "longer than 320"),
            (["-t"], b"X-Long: " + b"a" * 300000 + b"\n\nx\n", 65, "256 KiB"),
            (["-t"], b"Subject: none\n\nx\n", 64, "no recipient"),
            (["-t"], b"To: bad address@example.com\n\nx\n", 65, "angle address"),
            (["-f"], MSG, 64, "needs a value")):
        rc, _, err = run(["sendmail", "-C", conf] + args, msg=msg)
        check(rc == want and what in err, "%r %r: rc %d %s" % (args, msg[:40], rc, err))
    rc, _, err = run(["sendmail", "b@example.com"])
    check(rc == 64 and "no server" in err, "rc %d %s" % (rc, err))
    srv.wait()
    check(not srv.connected, "connected")
    # a message that cannot be read: 66
    fd = os.open(TMP, os.O_RDONLY)
    try:
        p = subprocess.run([SMTPC, "sendmail", "-C", conf, "b@example.com"], stdin=fd,
                           capture_output=True, timeout=30, env=env())
    finally:
        os.close(fd)
    check(p.returncode == 66 and b"cannot read" in p.stderr, "rc %d %s" % (p.returncode, p.stderr))
    rc, _, err = run(["send", "--host", "127.0.0.1", "--port", str(srv.port), "--from",
                      "a@example.com", "--to", "b@example.com", "--body", "@" + TMP])
    check(rc == 66 and "--body" in err, "rc %d %s" % (rc, err))
    many = b"To: " + b",".join(b"r%d@example.com" % i for i in range(1001)) + b"\n\nx\n"
    rc, _, err = run(["sendmail", "-C", conf, "-t"], msg=many)
    check(rc == 65 and "too many" in err, "rc %d %s" % (rc, err))


# ---- messages built from --subject, --body, --header ----------------------------------

@test
def composed_message_ascii_and_utf8():
    srv = FakeServer(accept_all(2))
    rc, _, err = send(srv.port, "--to", "b@example.com", "--to", "c@example.com", "--subject",
                      "plain words", "--body", "hello", "--header", "X-Test: yes", msg=b"")
    srv.wait()
    check(rc == 0, "rc %d %s" % (rc, err))
    data = data_of(srv.received)
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    check(lines[:3] == [b"From: a@example.com", b"To: b@example.com, c@example.com",
                        b"Subject: plain words"], repr(lines))
    check(lines[3].startswith(b"Date: ") and lines[4].startswith(b"Message-ID: <") and
          lines[5] == b"X-Test: yes" and len(lines) == 6 and body == b"hello\r\n", repr(data))
    subject = "Gr\u00fc\u00dfe aus K\u00f6ln, " * 4
    body_file = write(os.path.join(TMP, "body"), "caf\u00e9\n")
    srv = FakeServer(accept_all(1))
    rc, _, err = send(srv.port, "--subject", subject, "--body", "@" + body_file, "--header",
                      "From: Other <o@example.com>", msg=b"")
    srv.wait()
    check(rc == 0, "rc %d %s" % (rc, err))
    data = data_of(srv.received)
    head, body = data.split(b"\r\n\r\n", 1)
    check(b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
          b"Content-Transfer-Encoding: 8bit" in head and body == "caf\u00e9\r\n".encode(),
          repr(data))
    check(b"From: Other <o@example.com>" in head and b"From: a@example.com" not in head,
          repr(head))
    import email.header
    sub = head.split(b"Subject: ", 1)[1].split(b"\r\nDate:")[0]
    check(all(len(w) <= 75 for w in sub.split(b"\r\n ")), repr(sub))
    decoded = "".join(p.decode(c or "ascii") if isinstance(p, bytes) else p
                      for p, c in email.header.decode_header(sub.replace(b"\r\n", b"").decode()))
    check(decoded == subject, repr(decoded))


@test
def composed_message_refuses_header_injection():
    srv = FakeServer([("send", GREET)], accept_timeout=1.0)
    for args in (["--subject", "a\r\nBcc: x@example.com"], ["--subject", "a\nb"],
                 ["--header", "X-A: b\r\nBcc: x@example.com"], ["--header", "no colon"],
                 ["--header", "Bad Name: x"], ["--header", ": empty"],
                 ["--subject", "s", "--file", "/dev/null"]):
        rc, _, err = send(srv.port, *args, msg=b"")
        check(rc == 64, "%r: rc %d %s" % (args, rc, err))
    rc, _, err = send(srv.port, "--body", "@" + os.path.join(TMP, "missing"), msg=b"")
    check(rc == 66, "rc %d %s" % (rc, err))
    srv.wait()
    check(not srv.connected, "connected")


# ---- 8-bit data ----------------------------------------------------------------------

@test
def eight_bit_message_without_8bitmime_is_refused_before_mail():
    msg = "Subject: x\r\n\r\ncaf\u00e9\r\n".encode()
    srv = FakeServer([("send", GREET), ("line",), ("send", ehlo("PIPELINING", "SIZE 1000")),
                      ("line",), ("send", b"221 bye\r\n")])
    rc, _, err = send(srv.port, msg=msg)
    srv.wait()
    check(rc == 65 and "8BITMIME" in err, "rc %d %s" % (rc, err))
    check(srv.received == b"EHLO client.example\r\nQUIT\r\n", repr(srv.received))
    srv = FakeServer(accept_all(1))  # offers 8BITMIME: BODY=8BITMIME
    rc, _, err = send(srv.port, msg=msg)
    srv.wait()
    check(rc == 0 and b"MAIL FROM:<a@example.com> BODY=8BITMIME\r\n" in srv.received,
          "rc %d %r" % (rc, srv.received))


# ---- LMTP ----------------------------------------------------------------------------

class LmtpServer:
    """aiosmtpd's LMTP server (tests/cli/lmtp_server.py) on a Unix socket in a
    temporary directory; stopped by closing its standard input, or by its
    own PID."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="lmtp-", dir=TMP)
        self.path = os.path.join(self.dir, "s")
        py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
        self.proc = subprocess.Popen([py, os.path.join(os.path.dirname(__file__),
                                                       "lmtp_server.py"), self.path, self.dir],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = self.proc.stdout.readline()
        if line.strip() != b"ready":
            self.stop()
            raise AssertionError("the LMTP server did not start: %r" % line)

    def stored(self):
        out = []
        for i in range(100):
            base = os.path.join(self.dir, str(i))
            if not os.path.exists(base + ".env"):
                break
            with open(base + ".env") as f, open(base + ".eml", "rb") as g:
                out.append((f.read().split("\n")[:2], g.read()))
        return out

    def stop(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def lmtp_send(srv, *rcpts, extra=()):
    args = ["send", "--lmtp", "--unix", srv.path, "--from", "a@example.com", "--helo",
            "client.example", "--timeout", "5000"] + list(extra)
    for r in rcpts:
        args += ["--to", r]
    return run(args, msg=b"Subject: lmtp\r\n\r\nbody\r\n")


@test
def lmtp_over_a_unix_socket_to_aiosmtpd():
    srv = LmtpServer()
    try:
        rc, out, err = lmtp_send(srv, "one@example.com", "two@example.com")
        check(rc == 0, "rc %d %s" % (rc, err))
        check("<one@example.com>: 250 2.0.0 <one@example.com> delivered" in err and
              "<two@example.com>: 250 2.0.0 <two@example.com> delivered" in err, err)
        # partial: one refused at RCPT, one after the data; reported each
        rc, out, err = lmtp_send(srv, "ok@example.com", "full@example.com",
                                 "refuse@example.com", extra=["--json"])
        check(rc == 69, "rc %d %s" % (rc, err))
        check("<full@example.com>: 452 4.2.2" in err and "delivered to 1 of 3" in err, err)
        import json
        doc = json.loads(out)
        r = doc["messages"][0]["recipients"]
        check([x["code"] for x in r] == [250, 452, 550] and
              doc["messages"][0]["status"] == "partial", out)
        # only temporary refusals after the data: 75
        rc, out, err = lmtp_send(srv, "full1@example.com", "full2@example.com")
        check(rc == 75, "rc %d %s" % (rc, err))
        # no recipient accepted: no DATA at all
        rc, out, err = lmtp_send(srv, "refuse1@example.com", "refuse2@example.com")
        check(rc == 69 and "550" in err, "rc %d %s" % (rc, err))
        stored = srv.stored()
        check([s[0] for s in stored] == [
            ["a@example.com", "one@example.com two@example.com"],
            ["a@example.com", "ok@example.com full@example.com"],
            ["a@example.com", "full1@example.com full2@example.com"]], repr(stored))
        check(stored[0][1] == b"Subject: lmtp\r\n\r\nbody\r\n", repr(stored[0][1]))
    finally:
        srv.stop()


@test
def lmtp_to_smtpc_sink_over_a_unix_socket():
    d = tempfile.mkdtemp(prefix="sink-", dir=TMP)
    path, maildir = os.path.join(d, "lmtp"), os.path.join(d, "maildir")
    sink = subprocess.Popen([SMTPC, "sink", "--lmtp", "--unix", path, "--maildir", maildir],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while not os.path.exists(path) and time.time() < deadline:
            time.sleep(0.02)
        check(os.path.exists(path), "the sink did not listen")
        rc, out, err = run(["send", "--lmtp", "--unix", path, "--from", "a@example.com",
                            "--to", "b@example.com", "--to", "c@example.com", "--helo",
                            "client.example", "--json"], msg=b"Subject: to the sink\r\n\r\nx\r\n")
        check(rc == 0, "rc %d %s" % (rc, err))
        check("<b@example.com>: 2" in err and "<c@example.com>: 2" in err, err)
        import json
        r = json.loads(out)["messages"][0]["recipients"]
        check([x["data_reply"]["code"] // 100 for x in r] == [2, 2], out)
        new = os.path.join(maildir, "new")
        check(len(os.listdir(new)) >= 1, "nothing stored")
        with open(os.path.join(new, os.listdir(new)[0]), "rb") as f:
            check(b"Subject: to the sink" in f.read(), "stored message")
    finally:
        sink.terminate()  # our own child, by its own pid
        try:
            sink.wait(10)
        except subprocess.TimeoutExpired:
            sink.kill()
            sink.wait()


@test
def lmtp_wire_and_configuration():
    # LHLO, no HELO fallback; protocol lmtp from the account
    srv = FakeServer([("send", GREET), ("line",), ("send", EHLO_PIPE), ("lines", 4),
                      ("send", b"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
                      ("until", b"\r\n.\r\n"),
                      ("send", b"250 2.0.0 first\r\n550 5.2.1 second\r\n"), ("line",),
                      ("send", b"221 bye\r\n")])
    conf = write(os.path.join(TMP, "lmtp-conf"),
                 "account default\nhost 127.0.0.1\nport %d\nprotocol lmtp\n" % srv.port)
    rc, _, err = run(["send", "--config", conf, "--from", "a@example.com", "--to",
                      "b@example.com", "--to", "c@example.com", "--helo", "client.example"])
    srv.wait()
    check(rc == 69 and "<c@example.com>: 550 5.2.1 second" in err, "rc %d %s" % (rc, err))
    check(srv.received.startswith(b"LHLO client.example\r\nMAIL FROM:<a@example.com>"),
          repr(srv.received))
    srv = FakeServer([("send", GREET), ("line",), ("send", b"500 what\r\n"), ("line",),
                      ("send", b"221 bye\r\n")])
    rc, _, err = send(srv.port, "--lmtp")
    srv.wait()
    check(rc == 69 and b"HELO" not in srv.received.replace(b"LHLO", b""),
          "rc %d %r" % (rc, srv.received))
    rc, _, err = run(["send", "--lmtp", "--unix", "/x", "--host", "h", "--from", "a@example.com",
                      "--to", "b@example.com"])
    check(rc == 64, "rc %d %s" % (rc, err))
    rc, _, err = run(["send", "--lmtp", "--unix", os.path.join(TMP, "no-socket"), "--from",
                      "a@example.com", "--to", "b@example.com"])
    check(rc == 75 and "no-socket" in err, "rc %d %s" % (rc, err))


@test
def version_and_help():
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "include", "smtpc.h")) as f:
        version = [l.split('"')[1] for l in f if l.startswith("#define SMTPC_VERSION ")][0]
    rc, out, err = run(["--version"])
    check(rc == 0 and out == "smtpc %s\n" % version, "rc %d %r" % (rc, out))
    rc, out, err = run(["sendmail", "--help"])
    check(rc == 0 and "-t" in out and "Bcc" in out, "rc %d %s" % (rc, out))
    rc, out, err = run(["--help"])
    check(rc == 0 and "sendmail" in out and "77" in out and "78" in out, out)


def main():
    if not os.path.exists(SMTPC):
        print("no binary at %s" % SMTPC)
        return 1
    try:
        return runner.run("tool", TESTS, ONLY)
    finally:
        shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
