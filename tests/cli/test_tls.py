#!/usr/bin/env python3
"""smtpc with TLS (io-bearssl) against scripted TLS servers on 127.0.0.1:
implicit TLS and STARTTLS, verified certificates, and every refusal:
unknown CA, wrong name, expired, STARTTLS not offered or refused, plaintext
injected after the 220, TLS 1.3 only. Certificates are made here with the
openssl command. Each case checks the exit status and that nothing after
the failure point reached the wire.

Usage: test_tls.py [SMTPC_BINARY]
"""
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from certs import make_certs  # noqa: E402
import runner  # noqa: E402
from fakeserver import FakeServer  # noqa: E402

SMTPC = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/smtpc")
ONLY = sys.argv[2] if len(sys.argv) > 2 else ""
TMP = tempfile.mkdtemp(prefix="smtpc-tls-")
TESTS = []


SNI = []  # the names clients sent, in order (None: no SNI)


def ctx(cert, tls13_only=False):
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    c.load_cert_chain(os.path.join(TMP, cert + ".pem"), os.path.join(TMP, cert + ".key"))
    if tls13_only:
        c.minimum_version = ssl.TLSVersion.TLSv1_3
    c.sni_callback = lambda sock, name, context: SNI.append(name)
    return c


def test(fn):
    TESTS.append(fn)
    return fn


def send(port, *args, msg=b"Subject: tls\r\n\r\nover TLS\r\n", cafile=True):
    cmd = [SMTPC, "send", "--host", "localhost", "--port", str(port), "--from", "a@example.com",
           "--to", "b@example.com", "--helo", "client.example", "--timeout", "5000"] + list(args)
    if cafile:
        cmd += ["--cafile", os.path.join(TMP, "ca.pem")]
    p = subprocess.run(cmd, input=msg, capture_output=True, timeout=30)
    return p.returncode, p.stderr.decode("latin-1")


def check(cond, what):
    if not cond:
        raise AssertionError(what)


EHLO_TLS = b"250-fake.example\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n"
EHLO_AFTER = b"250-fake.example\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\n"
TAIL = [("lines", 3), ("send", b"250 ok\r\n250 ok\r\n354 go\r\n"), ("until", b"\r\n.\r\n"),
        ("send", b"250 queued\r\n"), ("line",), ("send", b"221 bye\r\n")]


def starttls_script(cert="good", tls13=False):
    return [("send", b"220 fake ESMTP\r\n"), ("line",), ("send", EHLO_TLS), ("line",),
            ("send", b"220 2.0.0 go ahead\r\n"), ("tls", ctx(cert, tls13)), ("line",),
            ("send", EHLO_AFTER)] + TAIL


@test
def requiretls_over_tls_when_offered_else_69_before_mail():
    ehlo = b"250-fake.example\r\n250-PIPELINING\r\n250 REQUIRETLS\r\n"
    script = [("send", b"220 fake ESMTP\r\n"), ("line",), ("send", EHLO_TLS), ("line",),
              ("send", b"220 2.0.0 go ahead\r\n"), ("tls", ctx("good")), ("line",),
              ("send", ehlo)] + TAIL
    srv = FakeServer(script)
    rc, err = send(srv.port, "--starttls", "--requiretls")
    srv.wait()
    check(rc == 0, "rc %d %s" % (rc, err))
    check(b"<TLS>EHLO client.example\r\nMAIL FROM:<a@example.com> REQUIRETLS\r\n" in srv.received,
          repr(srv.received))
    # over TLS, not offered: 69 and no MAIL
    srv = FakeServer(starttls_script()[:8] + [("line",), ("send", b"221 bye\r\n")])
    rc, err = send(srv.port, "--starttls", "--requiretls")
    srv.wait()
    check(rc == 69 and "REQUIRETLS" in err, "rc %d %s" % (rc, err))
    check(b"MAIL" not in srv.received and srv.received.endswith(b"QUIT\r\n"), repr(srv.received))


@test
def json_names_the_tls_session():
    import json
    srv = FakeServer(starttls_script())
    p = subprocess.run([SMTPC, "send", "--host", "localhost", "--port", str(srv.port), "--from",
                        "a@example.com", "--to", "b@example.com", "--helo", "client.example",
                        "--timeout", "5000", "--starttls", "--cafile", os.path.join(TMP, "ca.pem"),
                        "--json"], input=b"x\r\n", capture_output=True, timeout=30)
    srv.wait()
    check(p.returncode == 0, "rc %d %s" % (p.returncode, p.stderr))
    doc = json.loads(p.stdout)
    tls = doc["tls"]
    check(tls["mode"] == "starttls" and tls["verified_name"] == "localhost" and
          tls["client_certificate"] is None, p.stdout)
    check(tls["version"] == srv.tls_version, "%s, server %s" % (p.stdout, srv.tls_version))
    # the server's OpenSSL name and the IANA name: the same parts
    parts = srv.tls_cipher.replace("AES128", "AES_128").replace("AES256", "AES_256").split("-")
    check(tls["cipher"] is not None and tls["cipher"].startswith("TLS_") and
          all(x in tls["cipher"] for x in parts), "%s, server %s" % (p.stdout, srv.tls_cipher))
    check("AUTH PLAIN" in doc["server"]["extensions"] and "STARTTLS" not in
          doc["server"]["extensions"], p.stdout)


@test
def implicit_tls_delivers_with_a_verified_certificate():
    srv = FakeServer([("tls", ctx("good")), ("send", b"220 fake ESMTP\r\n"), ("line",),
                      ("send", EHLO_AFTER)] + TAIL)
    rc, err = send(srv.port, "--tls")
    srv.wait()
    check(rc == 0, "rc %d %s" % (rc, err))
    check(srv.received.startswith(b"<TLS>EHLO client.example\r\nMAIL FROM:<a@example.com>"),
          repr(srv.received))
    check(srv.tls_version in ("TLSv1.2",), srv.tls_version)


@test
def starttls_delivers_then_auth_only_after_it():
    srv = FakeServer([("send", b"220 fake ESMTP\r\n"), ("line",), ("send", EHLO_TLS), ("line",),
                      ("send", b"220 2.0.0 go ahead\r\n"), ("tls", ctx("good")), ("line",),
                      ("send", EHLO_AFTER), ("line",), ("send", b"235 ok\r\n")] + TAIL)
    rc, err = send(srv.port, "--starttls", "--auth", "plain", "--user", "u", "--password", "p")
    srv.wait()
    check(rc == 0, "rc %d %s" % (rc, err))
    check(srv.received.startswith(b"EHLO client.example\r\nSTARTTLS\r\n<TLS>EHLO client.example\r\n"
                                  b"AUTH PLAIN AHUAcA==\r\nMAIL"), repr(srv.received))


def refused(script, args, want_rc, want_err, after=b"STARTTLS\r\n"):
    srv = FakeServer(script)
    rc, err = send(srv.port, *args)
    srv.wait()
    check(rc == want_rc, "rc %d, want %d: %s" % (rc, want_rc, err))
    check(want_err in err, "%r not in %s" % (want_err, err))
    # nothing of the mail, and no credentials, reached the wire
    check(b"MAIL" not in srv.received and b"AUTH" not in srv.received, repr(srv.received))
    return srv


@test
def unknown_ca_wrong_name_expired_are_refused():
    for cert, why in (("untrusted", "not trusted"), ("othername", "server name"),
                      ("expired", "expired"), ("future", "not yet valid")):
        refused(starttls_script(cert), ["--starttls"], 76, why)
        refused([("tls", ctx(cert)), ("send", b"220 x\r\n")], ["--tls"], 76, why)


@test
def system_bundle_does_not_trust_the_test_ca():
    srv = FakeServer([("tls", ctx("good")), ("send", b"220 x\r\n")])
    rc, err = send(srv.port, "--tls", cafile=False)
    srv.wait()
    check(rc == 76 and "not trusted" in err, "rc %d %s" % (rc, err))


@test
def insecure_skips_verification_and_says_so():
    srv = FakeServer([("tls", ctx("expired")), ("send", b"220 fake ESMTP\r\n"), ("line",),
                      ("send", EHLO_AFTER)] + TAIL)
    rc, err = send(srv.port, "--tls", "--insecure", cafile=False)
    srv.wait()
    check(rc == 0 and "NOT checked" in err, "rc %d %s" % (rc, err))


@test
def starttls_not_offered_or_refused_never_falls_back():
    refused([("send", b"220 fake\r\n"), ("line",), ("send", EHLO_AFTER), ("line",),
             ("send", b"221 bye\r\n")], ["--starttls", "--auth", "plain", "--user", "u",
                                         "--password", "p"], 76, "does not offer STARTTLS")
    refused([("send", b"220 fake\r\n"), ("line",), ("send", EHLO_TLS), ("line",),
             ("send", b"454 4.7.0 TLS not available\r\n"), ("line",), ("send", b"221 bye\r\n")],
            ["--starttls"], 76, "STARTTLS refused")


@test
def plaintext_injected_after_the_220_is_refused():
    srv = refused([("send", b"220 fake\r\n"), ("line",), ("send", EHLO_TLS), ("line",),
                   ("send", b"220 go\r\n250-injected\r\n250 AUTH PLAIN\r\n"), ("sleep", 0.5)],
                  ["--starttls"], 76, "plaintext")
    check(srv.received == b"EHLO client.example\r\nSTARTTLS\r\n", repr(srv.received))


@test
def tls13_only_server_names_the_version():
    refused([("tls", ctx("good", tls13_only=True)), ("send", b"220 x\r\n")], ["--tls"], 76, "version")


@test
def handshake_that_stalls_times_out():
    srv = FakeServer([("sleep", 3)])
    t0 = time.time()
    rc, err = send(srv.port, "--tls", "--timeout", "500")
    t = time.time() - t0
    srv.wait()
    check(rc == 75 and t < 2.5, "rc %d in %.1fs: %s" % (rc, t, err))


@test
def auth_cram_md5_uses_the_tls_adapters_digest():
    import base64
    import hmac
    challenge = b"<1896.697170952@postoffice.reston.mci.net>"
    digest = hmac.new(b"s3cret", challenge, "md5").hexdigest().encode()
    want = base64.b64encode(b"user " + digest) + b"\r\n"
    srv = FakeServer([("tls", ctx("good")), ("send", b"220 fake ESMTP\r\n"), ("line",),
                      ("send", b"250-fake\r\n250 AUTH CRAM-MD5\r\n"), ("line",),
                      ("send", b"334 " + base64.b64encode(challenge) + b"\r\n"), ("line",),
                      ("send", b"235 ok\r\n"), ("line",), ("send", b"250 ok\r\n"), ("line",),
                      ("send", b"250 ok\r\n"), ("line",), ("send", b"354 go\r\n"),
                      ("until", b"\r\n.\r\n"), ("send", b"250 ok\r\n"), ("line",),
                      ("send", b"221 bye\r\n")])
    rc, err = send(srv.port, "--tls", "--auth", "cram-md5", "--user", "user", "--password", "s3cret")
    srv.wait()
    check(rc == 0, "rc %d %s" % (rc, err))
    check(b"AUTH CRAM-MD5\r\n" + want + b"MAIL" in srv.received, repr(srv.received))


@test
def auto_auth_over_tls_takes_the_first_offered_of_plain_login_cram_md5():
    import base64
    for ext, want in ((b"AUTH CRAM-MD5 LOGIN PLAIN XOAUTH2", b"AUTH PLAIN " +
                       base64.b64encode(b"\0user\0s3cret") + b"\r\n"),
                      (b"AUTH CRAM-MD5 XOAUTH2 LOGIN", b"AUTH LOGIN\r\n")):
        script = [("tls", ctx("good")), ("send", b"220 fake ESMTP\r\n"), ("line",),
                  ("send", b"250-fake\r\n250 " + ext + b"\r\n"), ("line",)]
        if want.startswith(b"AUTH LOGIN"):
            script += [("send", b"334 VXNlcm5hbWU6\r\n"), ("line",),
                       ("send", b"334 UGFzc3dvcmQ6\r\n"), ("line",)]
        script += [("send", b"235 ok\r\n"), ("line",), ("send", b"250 ok\r\n"), ("line",),
                   ("send", b"250 ok\r\n"), ("line",), ("send", b"354 go\r\n"),
                   ("until", b"\r\n.\r\n"), ("send", b"250 ok\r\n"), ("line",),
                   ("send", b"221 bye\r\n")]
        srv = FakeServer(script)
        rc, err = send(srv.port, "--tls", "--user", "user", "--password-file",
                       os.path.join(TMP, "pw"))
        srv.wait()
        check(rc == 0, "%r: rc %d %s" % (ext, rc, err))
        check(b"<TLS>EHLO client.example\r\n" + want in srv.received, repr(srv.received))


def ctx_client_cert(cert="good"):
    c = ctx(cert)
    c.verify_mode = ssl.CERT_REQUIRED
    c.load_verify_locations(os.path.join(TMP, "ca.pem"))
    return c


@test
def client_certificate_for_a_server_that_requires_one():
    import json
    for kind in ("rsa", "ec"):
        pem = os.path.join(TMP, "client-%s.pem" % kind)
        key = os.path.join(TMP, "client-%s.key" % kind)
        srv = FakeServer([("tls", ctx_client_cert()), ("send", b"220 fake ESMTP\r\n"), ("line",),
                          ("send", b"250-fake\r\n250 PIPELINING\r\n")] + TAIL)
        cmd = [SMTPC, "send", "--host", "localhost", "--port", str(srv.port), "--from",
               "a@example.com", "--to", "b@example.com", "--helo", "client.example",
               "--timeout", "5000", "--tls", "--cafile", os.path.join(TMP, "ca.pem"),
               "--tls-cert", pem, "--tls-key", key, "--json"]
        p = subprocess.run(cmd, input=b"x\r\n", capture_output=True, timeout=30)
        srv.wait()
        check(p.returncode == 0 and srv.tls_error is None,
              "%s: rc %d %s %s" % (kind, p.returncode, p.stderr, srv.tls_error))
        check(b"<TLS>EHLO client.example\r\nMAIL" in srv.received, repr(srv.received))
        check(json.loads(p.stdout)["tls"]["client_certificate"] == pem, p.stdout)
    # the chain and key in one file, from the configuration
    both = os.path.join(TMP, "client-both.pem")
    with open(both, "wb") as f:
        for n in ("client-ec.pem", "client-ec.key"):
            with open(os.path.join(TMP, n), "rb") as g:
                f.write(g.read())
    srv = FakeServer([("tls", ctx_client_cert()), ("send", b"220 fake ESMTP\r\n"), ("line",),
                      ("send", b"250-fake\r\n250 PIPELINING\r\n")] + TAIL)
    conf = os.path.join(TMP, "conf-cert")
    with open(conf, "w") as f:
        f.write("account default\nhost localhost\nport %d\ntls on\ntls_starttls off\n"
                "tls_trust_file %s\ntls_cert_file %s\n" % (srv.port, os.path.join(TMP, "ca.pem"),
                                                          both))
    p = subprocess.run([SMTPC, "send", "--config", conf, "--from", "a@example.com", "--to",
                        "b@example.com", "--helo", "client.example"], input=b"x\r\n",
                       capture_output=True, timeout=30)
    srv.wait()
    check(p.returncode == 0, "config: rc %d %s" % (p.returncode, p.stderr))
    # without one the server ends the handshake: nothing is sent. The server's
    # alert, or its close (a reset when the client's last flight arrives
    # after it: the order is the scheduler's), ends the session
    srv = FakeServer([("tls", ctx_client_cert()), ("send", b"220 fake ESMTP\r\n")])
    rc, err = send(srv.port, "--tls")
    srv.wait()
    check((rc == 76 and "TLS" in err or rc == 75 and "reset" in err) and
          srv.tls_error is not None and b"EHLO" not in srv.received,
          "rc %d %s %r" % (rc, err, srv.received))
    # a key that is not the certificate's, or no key: refused before connecting
    srv = FakeServer([("send", b"220 x\r\n")], accept_timeout=1.0)
    for args, want, what in (
            (["--tls-cert", os.path.join(TMP, "client-rsa.pem"), "--tls-key",
              os.path.join(TMP, "client-ec.key")], 66, "TLS: "),
            (["--tls-cert", os.path.join(TMP, "client-rsa.pem")], 66, "no private key"),
            (["--tls-cert", os.path.join(TMP, "missing.pem")], 66, "cannot read"),
            (["--tls-key", os.path.join(TMP, "client-rsa.key")], 64, "--tls-key needs"),
            (["--tls-cert", os.path.join(TMP, "client-rsa.pem")][:1] + ["x", "--no-tls"], 64,
             "")):
        if "--no-tls" in args:  # --tls-cert without --tls or --starttls
            rc, err = send(srv.port, "--tls-cert", os.path.join(TMP, "client-rsa.pem"))
            check(rc == 64 and "need --tls" in err, "rc %d %s" % (rc, err))
            continue
        rc, err = send(srv.port, "--tls", *args)
        check(rc == want and what in err, "%r: rc %d %s" % (args, rc, err))
    srv.wait()
    check(not srv.connected, "connected")


@test
def chat_over_implicit_tls():
    srv = FakeServer([("tls", ctx("good")), ("send", b"220 fake ESMTP\r\n"), ("line",),
                      ("send", b"250 ok\r\n"), ("line",), ("send", b"221 bye\r\n")])
    p = subprocess.run([SMTPC, "chat", "--tls", "--cafile", os.path.join(TMP, "ca.pem"),
                        "localhost", str(srv.port)], input=b"NOOP\nQUIT\n", capture_output=True,
                       timeout=30)
    srv.wait()
    check(p.returncode == 0 and p.stdout == b"220 fake ESMTP\n250 ok\n221 bye\n",
          "%d %r %r" % (p.returncode, p.stdout, p.stderr))
    check(srv.received == b"<TLS>NOOP\r\nQUIT\r\n", repr(srv.received))


def chat(port, stdin, *args):
    p = subprocess.run([SMTPC, "chat", "--cafile", os.path.join(TMP, "ca.pem")] + list(args) +
                       ["localhost", str(port)], input=stdin, capture_output=True, timeout=30)
    return p.returncode, p.stdout.decode("latin-1"), p.stderr.decode("latin-1")


@test
def chat_typed_starttls_does_the_handshake_and_goes_on():
    srv = FakeServer([("send", b"220 fake ESMTP\r\n"), ("line",), ("send", EHLO_TLS), ("line",),
                      ("send", b"220 2.0.0 go ahead\r\n"), ("tls", ctx("good")), ("line",),
                      ("send", EHLO_AFTER), ("line",), ("send", b"250 ok\r\n"), ("line",),
                      ("send", b"221 bye\r\n")])
    rc, out, err = chat(srv.port, b"EHLO client.example\nstarttls\nEHLO client.example\nNOOP\n"
                                  b"QUIT\n")
    srv.wait()
    check(rc == 0, "rc %d %s %s" % (rc, out, err))
    check(srv.received == b"EHLO client.example\r\nstarttls\r\n<TLS>EHLO client.example\r\n"
                         b"NOOP\r\nQUIT\r\n", repr(srv.received))
    check(out.endswith("220 2.0.0 go ahead\n250-fake.example\n250-PIPELINING\n250 AUTH PLAIN\n"
                       "250 ok\n221 bye\n"), out)
    check("TLS is up" in err, err)


@test
def chat_typed_starttls_with_an_argument_or_a_space_still_upgrades():
    """The core takes any line whose first word is STARTTLS for STARTTLS; so
    must chat, or the 220 leaves the session paused with no layer (every later
    line was refused, and chat still exited 0)."""
    for typed in (b"STARTTLS \n", b"starttls now\n"):
        srv = FakeServer([("send", b"220 fake ESMTP\r\n"), ("line",),
                          ("send", b"220 2.0.0 go ahead\r\n"), ("tls", ctx("good")), ("line",),
                          ("send", b"250 ok\r\n"), ("line",), ("send", b"221 bye\r\n")])
        rc, out, err = chat(srv.port, typed + b"NOOP\nQUIT\n")
        srv.wait()
        check(rc == 0 and "TLS is up" in err, "%r: rc %d %s" % (typed, rc, err))
        check(srv.received == typed.rstrip(b"\n") + b"\r\n<TLS>NOOP\r\nQUIT\r\n",
              repr(srv.received))
        check(out == "220 fake ESMTP\n220 2.0.0 go ahead\n250 ok\n221 bye\n", out)


@test
def chat_starttls_option_upgrades_first():
    srv = FakeServer([("send", b"220 fake ESMTP\r\n"), ("line",), ("send", EHLO_TLS), ("line",),
                      ("send", b"220 2.0.0 go ahead\r\n"), ("tls", ctx("good")), ("line",),
                      ("send", EHLO_AFTER), ("line",), ("send", b"221 bye\r\n")])
    rc, out, err = chat(srv.port, b"EHLO client.example\nQUIT\n", "--starttls", "--helo",
                        "client.example")
    srv.wait()
    check(rc == 0, "rc %d %s %s" % (rc, out, err))
    check(srv.received == b"EHLO client.example\r\nSTARTTLS\r\n<TLS>EHLO client.example\r\n"
                         b"QUIT\r\n", repr(srv.received))
    check(out.startswith("220 fake ESMTP\n250-fake.example\n"), out)
    # a certificate that fails stops chat before anything is sent over TLS
    srv = FakeServer(starttls_script("othername"))
    rc, out, err = chat(srv.port, b"EHLO client.example\nQUIT\n", "--starttls")
    srv.wait()
    check(rc == 76 and "server name" in err, "rc %d %s" % (rc, err))
    check(srv.received == b"EHLO localhost\r\nSTARTTLS\r\n", repr(srv.received))


@test
def tls_against_a_plaintext_server_says_so():
    srv = FakeServer([("send", b"220 plain ESMTP\r\n"), ("sleep", 1)])
    rc, err = send(srv.port, "--tls")
    srv.wait()
    check(rc == 76 and "not speaking TLS" in err and "--starttls" in err, "rc %d %s" % (rc, err))


@test
def plaintext_after_the_220_separately_is_refused():
    """The injection arrives in its own segment, after the client began the
    handshake: the TLS layer refuses it by name."""
    srv = refused([("send", b"220 fake\r\n"), ("line",), ("send", EHLO_TLS), ("line",),
                   ("send", b"220 go\r\n"), ("sleep", 0.3), ("send", b"250 injected\r\n"),
                   ("sleep", 0.5)], ["--starttls"], 76, "plaintext received after the 220")
    check(srv.received.startswith(b"EHLO client.example\r\nSTARTTLS\r\n\x16\x03"),
          repr(srv.received[:40]))


@test
def extended_key_usage_without_server_auth_is_refused():
    refused(starttls_script("clientonly"), ["--starttls"], 76, "serverAuth")
    refused([("tls", ctx("clientonly")), ("send", b"220 x\r\n")], ["--tls"], 76, "serverAuth")


@test
def key_usage_that_allows_no_handshake_is_named():
    """A server certificate whose key usage allows neither signing nor key
    exchange: refused, and the message says key usage (it said only "TLS
    handshake failure")."""
    refused(starttls_script("certsignonly"), ["--starttls"], 76, "key usage")
    refused([("tls", ctx("certsignonly")), ("send", b"220 x\r\n")], ["--tls"], 76, "key usage")


@test
def bench_names_a_tls_failure():
    """smtpc bench over TLS that cannot get it up: the cause is named and the
    exit status is 76, as for send (it printed only "0 accepted, 0 failed")."""
    for script, args, why in (
            ([("send", b"220 plain ESMTP\r\n"), ("sleep", 1)], ["--tls"], "not speaking TLS"),
            (starttls_script("othername"), ["--starttls"], "server name")):
        srv = FakeServer(script)
        p = subprocess.run([SMTPC, "bench", "--host", "localhost", "--port", str(srv.port),
                            "--messages", "1", "--cafile", os.path.join(TMP, "ca.pem")] + args,
                           capture_output=True, timeout=30)
        srv.wait()
        err = p.stderr.decode()
        check(p.returncode == 76 and why in err, "%s: rc %d %s" % (args, p.returncode, err))
        check(b"MAIL" not in srv.received, repr(srv.received))


@test
def ip_address_host_needs_a_name_no_ip_in_sni():
    # refused before connecting, and says what to do
    srv = FakeServer([("send", b"220 x\r\n")], accept_timeout=1)
    p = subprocess.run([SMTPC, "send", "--host", "127.0.0.1", "--port", str(srv.port), "--from",
                        "a@example.com", "--to", "b@example.com", "--tls", "--cafile",
                        os.path.join(TMP, "ca.pem")], input=b"x\r\n", capture_output=True,
                       timeout=30)
    srv.wait()
    err = p.stderr.decode()
    check(p.returncode == 64 and "--tls-name" in err and "--insecure" in err,
          "%d %s" % (p.returncode, err))
    check(not srv.connected, "connected anyway")
    for tool in (["chat", "--starttls"], ["bench", "--tls"]):
        p = subprocess.run([SMTPC] + tool + (["--host", "127.0.0.1", "--port", "1"]
                                              if tool[0] == "bench" else ["127.0.0.1", "1"]),
                           input=b"", capture_output=True, timeout=30)
        check(p.returncode == 64 and b"--tls-name" in p.stderr, "%s: %d %r" % (
            tool, p.returncode, p.stderr))
    # with the name: verified against it, and it is the SNI
    del SNI[:]
    srv = FakeServer([("tls", ctx("good")), ("send", b"220 fake ESMTP\r\n"), ("line",),
                      ("send", EHLO_AFTER)] + TAIL)
    p = subprocess.run([SMTPC, "send", "--host", "127.0.0.1", "--port", str(srv.port), "--from",
                        "a@example.com", "--to", "b@example.com", "--tls", "--tls-name", "localhost",
                        "--cafile", os.path.join(TMP, "ca.pem"), "--helo", "client.example"],
                       input=b"x\r\n", capture_output=True, timeout=30)
    srv.wait()
    check(p.returncode == 0, p.stderr)
    check(SNI == ["localhost"], repr(SNI))
    # --insecure with an IP: no SNI at all (RFC 6066 3)
    del SNI[:]
    srv = FakeServer([("tls", ctx("good")), ("send", b"220 fake ESMTP\r\n"), ("line",),
                      ("send", EHLO_AFTER)] + TAIL)
    p = subprocess.run([SMTPC, "send", "--host", "127.0.0.1", "--port", str(srv.port), "--from",
                        "a@example.com", "--to", "b@example.com", "--tls", "--insecure", "--helo",
                        "client.example"], input=b"x\r\n", capture_output=True, timeout=30)
    srv.wait()
    check(p.returncode == 0, p.stderr)
    check(SNI == [None], repr(SNI))


def main():
    if not shutil.which("openssl"):
        print("tls: openssl command missing")
        print("tls: 0 passed, 1 failed")
        return 1
    make_certs(TMP)
    with open(os.path.join(TMP, "pw"), "w") as f:
        f.write("s3cret\n")
    try:
        return runner.run("tls", TESTS, ONLY)
    finally:
        shutil.rmtree(TMP, ignore_errors=True)

if __name__ == "__main__":
    sys.exit(main())
