"""An aiosmtpd server on 127.0.0.1 that stores each message it accepts.

Usage: aiosmtpd_server.py OUTDIR [CERT KEY USER PASSWORD]
Prints the port on the first line of standard output, then serves until
standard input closes. With a certificate it offers STARTTLS, requires it,
and takes AUTH (PLAIN, LOGIN) for USER and PASSWORD only after it. Message N is stored as OUTDIR/N.eml (the content as
received, dot-unstuffed) with the envelope in OUTDIR/N.env.
"""
import os
import socket
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Store:
    def __init__(self, outdir):
        self.outdir = outdir
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        base = os.path.join(self.outdir, str(self.n))
        self.n += 1
        with open(base + ".eml", "wb") as f:
            f.write(envelope.original_content)
        with open(base + ".env", "w", encoding="utf-8") as f:
            f.write("%s\n%s\n" % (envelope.mail_from, " ".join(envelope.rcpt_tos)))
        return "250 2.0.0 stored"


class Check:
    def __init__(self, user, password):
        self.user = user.encode()
        self.password = password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == self.user \
            and auth_data.password == self.password
        return AuthResult(success=ok, handled=False)


def main():
    outdir = sys.argv[1]
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    kw = {}
    if len(sys.argv) > 5:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(sys.argv[2], sys.argv[3])
        kw = dict(tls_context=tls, require_starttls=True, auth_require_tls=True,
                  authenticator=Check(sys.argv[4], sys.argv[5]))
    ctl = Controller(Store(outdir), hostname="127.0.0.1", port=port, enable_SMTPUTF8=True, **kw)
    ctl.start()
    print(port, flush=True)
    sys.stdin.read()
    ctl.stop()


if __name__ == "__main__":
    main()
