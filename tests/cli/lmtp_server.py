"""aiosmtpd's LMTP server on a Unix-domain socket, for the smtpc tool's
LMTP tests.

Usage: lmtp_server.py SOCKET_PATH OUTDIR
Prints "ready" once it listens, then serves until standard input closes.
Recipients whose local part starts with "refuse" are refused at RCPT (550);
after the data, those starting with "full" get 452, the others 250 with
their address, one reply each (RFC 2033 4.2). Each accepted message is
stored as OUTDIR/N.eml with its envelope in OUTDIR/N.env.
"""
import os
import sys

from aiosmtpd.controller import UnixSocketController
from aiosmtpd.lmtp import LMTP


class Deliver:
    def __init__(self, outdir):
        self.outdir = outdir
        self.n = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("refuse"):
            return "550 5.1.1 <%s> no such user" % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        base = os.path.join(self.outdir, str(self.n))
        self.n += 1
        with open(base + ".eml", "wb") as f:
            f.write(envelope.original_content)
        with open(base + ".env", "w", encoding="utf-8") as f:
            f.write("%s\n%s\n" % (envelope.mail_from, " ".join(envelope.rcpt_tos)))
        return "\r\n".join("452 4.2.2 <%s> mailbox full" % r if r.startswith("full")
                           else "250 2.0.0 <%s> delivered" % r for r in envelope.rcpt_tos)


class LMTPController(UnixSocketController):
    def factory(self):
        return LMTP(self.handler)


def main():
    path, outdir = sys.argv[1], sys.argv[2]
    ctl = LMTPController(Deliver(outdir), unix_socket=path)
    ctl.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        ctl.stop()


if __name__ == "__main__":
    main()
