#!/usr/bin/env python3
"""smtpc send and smtpc chat against real servers on 127.0.0.1: aiosmtpd,
Postfix's smtp-sink, and a private Postfix instance with STARTTLS and
implicit TLS (when run as root). Each stored message is compared byte for
byte with what the input should become (line ends normalised, dots
unstuffed).

Usage: test_interop.py [SMTPC_BINARY]
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "cli"))
from certs import make_certs  # noqa: E402
SMTPC = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/smtpc")
DEBIAN_PY = "/usr/bin/python3"
SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"


def normalise(msg, eol=b"\r\n"):
    """The message as a server stores it: every line end as eol, a final one."""
    out = msg.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if out and not out.endswith(b"\n"):
        out += b"\n"
    return out.replace(b"\n", eol)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Aiosmtpd:
    name = "aiosmtpd"

    def __init__(self, tls_args=()):
        self.tls_args = list(tls_args)

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="smtpc-aiosmtpd-")
        self.proc = subprocess.Popen([DEBIAN_PY, os.path.join(HERE, "aiosmtpd_server.py"), self.dir]
                                     + self.tls_args, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.port = int(self.proc.stdout.readline())
        wait_port(self.port)
        self.seen = 0
        return self

    def __exit__(self, *exc):
        self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # our own child, by its own pid
        shutil.rmtree(self.dir, ignore_errors=True)

    def next_message(self):
        base = os.path.join(self.dir, str(self.seen))
        deadline = time.time() + 5
        while not os.path.exists(base + ".env") and time.time() < deadline:
            time.sleep(0.02)
        self.seen += 1
        with open(base + ".eml", "rb") as f:
            body = f.read()
        with open(base + ".env", encoding="utf-8") as f:
            sender, rcpts = f.read().split("\n")[:2]
        return sender, rcpts.split(" "), body, normalise


class SmtpSink:
    name = "smtp-sink"

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="smtpc-sink-")
        self.port = free_port()
        cmd = [SMTP_SINK]
        if os.geteuid() == 0:
            cmd += ["-u", "root"]
        cmd += ["-d", os.path.join(self.dir, "%Y%m%d%H%M%S."), "127.0.0.1:%d" % self.port, "10"]
        self.proc = subprocess.Popen(cmd)
        if not wait_port(self.port):
            raise RuntimeError("smtp-sink did not start")
        self.taken = set()
        return self

    def __exit__(self, *exc):
        self.proc.terminate()  # our own child, by its own pid
        self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)

    def next_message(self):
        deadline = time.time() + 5
        while time.time() < deadline:
            new = sorted(set(os.listdir(self.dir)) - self.taken)
            if new:
                break
            time.sleep(0.02)
        name = new[0]
        self.taken.add(name)
        time.sleep(0.1)  # written in one go; let it finish
        with open(os.path.join(self.dir, name), "rb") as f:
            dump = f.read()
        head, _, rest = dump.partition(b"Received: ")
        lines = rest.split(b"\n")
        i = 1
        while i < len(lines) and lines[i].startswith(b"\t"):
            i += 1
        body = b"\n".join(lines[i:])
        if body.endswith(b"\n"):
            body = body[:-1]  # the dump ends the transaction with an empty line
        sender = rcpts = None
        rcpts = []
        for line in head.split(b"\n"):
            if line.startswith(b"X-Mail-Args: <"):
                sender = line[len(b"X-Mail-Args: <"):].split(b">")[0].decode()
            elif line.startswith(b"X-Rcpt-Args: <"):
                rcpts.append(line[len(b"X-Rcpt-Args: <"):].split(b">")[0].decode())
        return sender, rcpts, body, lambda m: normalise(m, b"\n")


POSTFIX_MAIN = """compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = localhost
mydestination =
virtual_mailbox_domains = example.com
virtual_mailbox_base = {d}/mail
virtual_mailbox_maps = static:box
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_tls_cert_file = {d}/good.pem
smtpd_tls_key_file = {d}/good.key
smtpd_tls_security_level = may
maillog_file = {d}/maillog
maillog_file_prefixes = {d}
"""
POSTFIX_SERVICES = ["pickup unix n - n 60 1 pickup", "cleanup unix n - n - 0 cleanup",
                    "qmgr unix n - n 300 1 qmgr", "rewrite unix - - n - - trivial-rewrite",
                    "bounce unix - - n - 0 bounce", "defer unix - - n - 0 bounce",
                    "trace unix - - n - 0 bounce", "verify unix - - n - 1 verify",
                    "proxymap unix - - n - - proxymap", "error unix - - n - - error",
                    "retry unix - - n - - error", "virtual unix - n n - - virtual",
                    "anvil unix - - n - 1 anvil", "scache unix - - n - 1 scache",
                    "postlog unix-dgram n - n - 1 postlogd", "tlsmgr unix - - n 1000? 1 tlsmgr",
                    "smtp unix - - n - - smtp", "flush unix n - n 1000? 0 flush"]


class Postfix:
    """A private Postfix instance: plain port with STARTTLS, and a port with
    implicit TLS; mail for example.com goes to one mbox file."""
    name = "postfix"

    def __enter__(self):
        import pwd
        self.dir = tempfile.mkdtemp(prefix="smtpc-postfix-")
        os.chmod(self.dir, 0o755)
        make_certs(self.dir)
        pw = pwd.getpwnam("postfix")
        for sub in ("conf", "queue", "data", "mail"):
            os.mkdir(os.path.join(self.dir, sub))
        os.chown(os.path.join(self.dir, "data"), pw.pw_uid, pw.pw_gid)
        os.chown(os.path.join(self.dir, "mail"), pw.pw_uid, pw.pw_gid)
        self.port, self.tls_port = free_port(), free_port()
        conf = os.path.join(self.dir, "conf")
        with open(os.path.join(conf, "main.cf"), "w") as f:
            f.write(POSTFIX_MAIN.format(d=self.dir, uid=pw.pw_uid, gid=pw.pw_gid))
        with open(os.path.join(conf, "master.cf"), "w") as f:
            f.write("%d inet n - n - - smtpd\n" % self.port)
            f.write("%d inet n - n - - smtpd -o smtpd_tls_wrappermode=yes\n" % self.tls_port)
            f.write("\n".join(POSTFIX_SERVICES) + "\n")
        subprocess.run(["postfix", "-c", conf, "start"], check=True, capture_output=True)
        if not (wait_port(self.port) and wait_port(self.tls_port)):
            raise RuntimeError("postfix did not start: see %s/maillog" % self.dir)
        self.box = os.path.join(self.dir, "mail", "box")
        self.seen = 0
        return self

    def __exit__(self, *exc):
        try:
            with open(os.path.join(self.dir, "queue", "pid", "master.pid")) as f:
                pid = int(f.read().split()[0])
            os.kill(pid, 15)  # the instance's own master, by its pid
            deadline = time.time() + 5
            while time.time() < deadline:
                try:
                    os.kill(pid, 0)
                except OSError:
                    break
                time.sleep(0.05)
        except (OSError, ValueError):
            pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def next_message(self):
        """The body of the next message in the mbox (headers are Postfix's)."""
        deadline = time.time() + 10
        while time.time() < deadline:
            data = open(self.box, "rb").read() if os.path.exists(self.box) else b""
            msgs = [m for m in data.split(b"\nFrom ") if m]
            if len(msgs) > self.seen:
                break
            time.sleep(0.05)
        m = msgs[self.seen]
        self.seen += 1
        head, _, body = m.partition(b"\n\n")
        assert body.endswith(b"\n"), body
        return head, body[:-1]  # mbox separates messages with an empty line


def send(port, msg, to=("b@example.com",), extra=(), host="127.0.0.1"):
    cmd = [SMTPC, "send", "--host", host, "--port", str(port), "--from", "a@example.com",
           "--helo", "client.example"] + list(extra)
    for t in to:
        cmd += ["--to", t]
    p = subprocess.run(cmd, input=msg, capture_output=True, timeout=60)
    return p.returncode, p.stderr.decode("utf-8", "replace")


MESSAGES = [
    ("text", b"Subject: hello\r\nFrom: a@example.com\r\n\r\nHello.\r\n"),
    ("dots and bare line ends",
     b"Subject: dots\n\n.\n..\n.leading\nmiddle.dot\rbare cr\r\n.\r\nend without eol"),
    ("8-bit", b"Subject: caf\xc3\xa9\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\xc3\xa9t\xc3\xa9\r\n"),
    ("1 MiB", b"Subject: big\r\n\r\n" + b"".join(
        (b".%06d the quick brown fox jumps over the lazy dog\r\n" % i) for i in range(20000))),
]


def run(tests):
    passed = failed = 0
    for name, fn in tests:
        try:
            fn()
            passed += 1
            print("PASS %s" % name)
        except Exception as e:  # noqa: BLE001
            failed += 1
            print("FAIL %s: %s" % (name, e))
        sys.stdout.flush()
    print("interop: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


def make_tests(server_cls):
    tests = []

    def deliver(label, msg):
        def t():
            with server_cls() as srv:
                rc, err = send(srv.port, msg, to=("b@example.com", "c@example.com"))
                assert rc == 0, "rc %d: %s" % (rc, err)
                sender, rcpts, body, norm = srv.next_message()
                assert sender == "a@example.com", sender
                assert rcpts == ["b@example.com", "c@example.com"], rcpts
                want = norm(msg)
                assert body == want, "stored %d octets, want %d; first difference at %d" % (
                    len(body), len(want),
                    next((i for i in range(min(len(body), len(want))) if body[i] != want[i]),
                         min(len(body), len(want))))
        tests.append(("%s: %s" % (server_cls.name, label), t))

    for label, msg in MESSAGES:
        deliver(label, msg)
    return tests


def aiosmtpd_extra():
    def utf8():
        with Aiosmtpd() as srv:
            rc, err = send(srv.port, b"Subject: x\r\n\r\nx\r\n", to=("j\u00f6rg@example.com",))
            assert rc == 0, "rc %d: %s" % (rc, err)
            _, rcpts, _, _ = srv.next_message()
            assert rcpts == ["j\u00f6rg@example.com"], rcpts

    def chat():
        with Aiosmtpd() as srv:
            p = subprocess.run([SMTPC, "chat", "127.0.0.1", str(srv.port)],
                               input=b"EHLO client.example\nMAIL FROM:<a@example.com>\n"
                                     b"RCPT TO:<b@example.com>\nDATA\nSubject: chat\n\nbody\n.\n"
                                     b"QUIT\n", capture_output=True, timeout=30)
            out = p.stdout.decode()
            assert p.returncode == 0, p.stderr
            assert out.startswith("220 ") and "\n250-localhost\n" in out and "354 " in out \
                and out.endswith("221 Bye\n"), out
            _, rcpts, body, _ = srv.next_message()
            assert body == b"Subject: chat\r\n\r\nbody\r\n", body

    def example(prog, subject):
        def t():
            path = os.path.join(os.path.dirname(SMTPC), "rel", prog)
            assert os.path.exists(path), "not built: " + path
            with Aiosmtpd() as srv:
                p = subprocess.run([path, "127.0.0.1", str(srv.port), "a@example.com",
                                    "b@example.com"], capture_output=True, timeout=30)
                assert p.returncode == 0, p.stderr
                _, rcpts, body, _ = srv.next_message()
                assert rcpts == ["b@example.com"] and body.startswith(subject), body
        return t

    def starttls_auth():
        d = tempfile.mkdtemp(prefix="smtpc-certs-")
        try:
            make_certs(d)
            args = [os.path.join(d, "good.pem"), os.path.join(d, "good.key"), "user", "s3cret"]
            with Aiosmtpd(args) as srv:
                msg = b"Subject: secure\r\n\r\nover STARTTLS\r\n"
                base = ("--starttls", "--cafile", os.path.join(d, "ca.pem"), "--auth")
                rc, err = send(srv.port, msg, host="localhost",
                               extra=base + ("login", "--user", "user", "--password", "s3cret", "-v"))
                assert rc == 0, "rc %d: %s" % (rc, err)
                assert err.index("C: STARTTLS") < err.index("C: AUTH LOGIN"), err
                _, _, body, _ = srv.next_message()
                assert body == msg, body
                rc, err = send(srv.port, msg, host="localhost",
                               extra=base + ("plain", "--user", "user", "--password", "wrong"))
                assert rc == 77 and "535" in err, "rc %d: %s" % (rc, err)  # refused AUTH: 77
                # without STARTTLS the server refuses MAIL: a 5xx, and no AUTH was sent
                rc, err = send(srv.port, msg, extra=("-v",))
                assert rc == 69 and "AUTH" not in err, "rc %d: %s" % (rc, err)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    return [("aiosmtpd: SMTPUTF8 address", utf8), ("aiosmtpd: chat session", chat),
            ("aiosmtpd: STARTTLS with a verified certificate, then AUTH", starttls_auth),
            ("aiosmtpd: examples/poll_send", example("poll_send", b"Subject: poll\r\n")),
            ("aiosmtpd: examples/uv_send", example("uv_send", b"Subject: libuv\r\n"))]


def sink_extra():
    def auth():
        with SmtpSink() as srv:
            rc, err = send(srv.port, b"Subject: x\r\n\r\nx\r\n",
                           extra=("--auth", "plain", "--user", "u", "--password", "p",
                                  "--insecure", "-v"))
            assert rc == 0, "rc %d: %s" % (rc, err)
            # smtp-sink answers AUTH with 250, not RFC 4954's 235: accepted as 2xx
            assert "C: AUTH PLAIN <secret>" in err and "S: 250 2.0.0" in err, err
            srv.next_message()

    def chat():
        with SmtpSink() as srv:
            p = subprocess.run([SMTPC, "chat", "127.0.0.1", str(srv.port)],
                               input=b"EHLO client.example\nNOOP\n", capture_output=True,
                               timeout=30)
            out = p.stdout.decode()
            assert p.returncode == 0, p.stderr
            assert "250-PIPELINING\n" in out and out.endswith("221 Bye\n"), out

    def bench():
        # DATA with pipelining: each message's data, dot and the next MAIL,
        # RCPT and DATA in one write; every message accepted
        with SmtpSink() as srv:
            for sessions in ("1", "2"):
                p = subprocess.run([SMTPC, "bench", "--host", "127.0.0.1", "--port",
                                    str(srv.port), "--messages", "300", "--sessions", sessions],
                                   capture_output=True, timeout=60)
                assert p.returncode == 0, p.stdout + p.stderr
                assert b"300 accepted, 0 failed" in p.stdout, p.stdout

    return [("smtp-sink: AUTH PLAIN with --insecure", auth), ("smtp-sink: chat to end of input", chat),
            ("smtp-sink: smtpc bench, one and two sessions", bench)]


def postfix_tests():
    msg = b"Subject: to postfix\r\n\r\n.dot line\nbare lf\rbare cr\r\n\xc3\xa9t\xc3\xa9\r\nend"
    body = b".dot line\nbare lf\nbare cr\n\xc3\xa9t\xc3\xa9\nend\n"

    def deliver(*mode):
        def t():
            with Postfix() as pf:
                ca = os.path.join(pf.dir, "ca.pem")
                port = pf.tls_port if mode[0] == "--tls" else pf.port
                rc, err = send(port, msg, host="localhost", extra=mode + ("--cafile", ca, "-v"))
                assert rc == 0, "rc %d: %s" % (rc, err)
                head, got = pf.next_message()
                assert b"\nSubject: to postfix\n" in head and b"with ESMTPS" in head, head
                assert got == body, got
        return t

    return [("postfix: STARTTLS, verified certificate, byte for byte", deliver("--starttls")),
            ("postfix: implicit TLS, verified certificate", deliver("--tls"))]


class Sink:
    """smtpc sink --maildir on a free loopback port, looked at from outside:
    the files it stores. Stopped by its own PID."""

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="smtpc-sm-")
        self.maildir = os.path.join(self.dir, "maildir")
        self.port = free_port()
        self.proc = subprocess.Popen([SMTPC, "sink", "--host", "127.0.0.1", "--port",
                                      str(self.port), "--maildir", self.maildir],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_port(self.port):
            self.__exit__()
            raise AssertionError("the sink did not listen")
        bindir = os.path.join(self.dir, "bin")
        os.makedirs(bindir)
        self.sendmail = os.path.join(bindir, "sendmail")
        os.symlink(SMTPC, self.sendmail)
        self.config = os.path.join(self.dir, "config")
        with open(self.config, "w") as f:
            f.write("account default\nhost 127.0.0.1\nport %d\nfrom cron@example.com\n"
                    "domain client.example\ntimeout 10\n" % self.port)
        os.chmod(self.config, 0o600)
        self.env = {"PATH": bindir + ":" + os.environ.get("PATH", "/usr/bin:/bin"),
                    "HOME": self.dir, "SMTPC_CONFIG": self.config, "LC_ALL": "C"}
        return self

    def __exit__(self, *exc):
        self.proc.terminate()  # our own child, by its own pid
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def stored(self, n=1):
        new = os.path.join(self.maildir, "new")
        deadline = time.time() + 10
        while time.time() < deadline:
            names = sorted(os.listdir(new)) if os.path.isdir(new) else []
            if len(names) >= n:
                out = []
                for name in names:
                    with open(os.path.join(new, name), "rb") as f:
                        out.append(f.read())
                return out
            time.sleep(0.05)
        raise AssertionError("nothing stored in %s" % new)


def header_section(msg):
    return msg.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]


def tool_extra():
    def sendmail_t():
        with Sink() as s:
            p = subprocess.run(
                ["sh", "-c", "printf 'To: Ann <ann@example.com>\\nCc: bob@example.com\\n"
                 "Bcc: hidden@example.com\\nSubject: nightly\\n\\nall done\\n' | "
                 "sendmail -t -oi -odi -oem"], env=s.env, capture_output=True, timeout=60)
            assert p.returncode == 0, "rc %d %s" % (p.returncode, p.stderr)
            msg, = s.stored()
            head = header_section(msg)
            assert b"Subject: nightly" in head and b"To: Ann <ann@example.com>" in head, msg
            assert b"\nDate: " in b"\n" + head and b"\nMessage-ID: <" in b"\n" + head, msg
            assert b"From: cron@example.com" in head, msg
            assert b"Bcc" not in head and b"hidden" not in msg, msg
            assert msg.replace(b"\r\n", b"\n").endswith(b"\n\nall done\n"), msg

    def cron_style():
        # what cron runs: -FCronDaemon -i -B8BITMIME -oem RECIPIENT, output on stdin
        with Sink() as s:
            p = subprocess.run(["sendmail", "-FCronDaemon", "-i", "-B8BITMIME", "-oem",
                                "me@example.com"], input=b"Subject: Cron <me@host> job\n\n"
                               b"output\n", env=s.env, capture_output=True, timeout=60)
            assert p.returncode == 0, "rc %d %s" % (p.returncode, p.stderr)
            msg, = s.stored()
            assert b"From: CronDaemon <cron@example.com>" in header_section(msg), msg

    def git_send_email():
        with Sink() as s:
            repo = os.path.join(s.dir, "repo")
            git = ["git", "-C", repo, "-c", "user.name=Dev Eloper", "-c",
                   "user.email=dev@example.com"]
            env = dict(s.env, GIT_CONFIG_NOSYSTEM="1")
            subprocess.run(["git", "init", "-q", repo], env=env, check=True)
            with open(os.path.join(repo, "file.txt"), "w") as f:
                f.write("content\n")
            subprocess.run(git + ["add", "file.txt"], env=env, check=True)
            subprocess.run(git + ["commit", "-q", "-m", "Add a file\n\nWith a body."],
                           env=env, check=True)
            out = os.path.join(s.dir, "patches")
            subprocess.run(git + ["format-patch", "-q", "-1", "-o", out], env=env, check=True)
            patch = os.path.join(out, sorted(os.listdir(out))[0])
            p = subprocess.run(git + ["-c", "sendemail.sendmailcmd=" + s.sendmail,
                                      "send-email", "--to", "list@example.com", "--cc",
                                      "reviewer@example.com", "--confirm=never",
                                      "--suppress-cc=self", "--no-chain-reply-to", patch],
                               env=env, capture_output=True, timeout=120)
            assert p.returncode == 0, "rc %d %s %s" % (p.returncode, p.stdout, p.stderr)
            msg, = s.stored()
            head = header_section(msg)
            assert b"Subject: [PATCH] Add a file" in head, msg
            assert b"From: Dev Eloper <dev@example.com>" in head, msg
            assert b"Message-ID: <" in head or b"Message-Id: <" in head, msg
            assert b"+content" in msg, msg

    tests = [("sendmail -t through a symlink into smtpc sink --maildir", sendmail_t),
             ("sendmail as cron calls it", cron_style)]
    exec_path = subprocess.run(["git", "--exec-path"], capture_output=True).stdout.strip() \
        if shutil.which("git") else b""
    if exec_path and os.path.exists(os.path.join(exec_path.decode(), "git-send-email")):
        tests.append(("git send-email through sendemail.sendmailcmd", git_send_email))
    else:
        tests.append(("git send-email: missing (package git-email)", lambda: 1 / 0))
    return tests


def main():
    missing = []
    if not os.path.exists(SMTPC):
        missing.append(SMTPC)
    if subprocess.run([DEBIAN_PY, "-c", "import aiosmtpd"], capture_output=True).returncode != 0:
        missing.append("python3-aiosmtpd")
    if not os.path.exists(SMTP_SINK):
        missing.append("postfix (smtp-sink)")
    if missing:
        print("interop: missing %s" % ", ".join(missing))
        print("interop: 0 passed, 1 failed")
        return 1
    tests = make_tests(Aiosmtpd) + aiosmtpd_extra() + make_tests(SmtpSink) + sink_extra() + \
        tool_extra()
    if os.geteuid() == 0 and shutil.which("postfix"):
        tests += postfix_tests()
    else:
        print("interop: a private Postfix instance needs root: skipped")
    return run(tests)


if __name__ == "__main__":
    sys.exit(main())
