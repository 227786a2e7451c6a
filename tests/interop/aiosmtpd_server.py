"""An aiosmtpd server on 127.0.0.1 that stores each message it accepts.

Usage: aiosmtpd_server.py OUTDIR
Prints the port on the first line of standard output, then serves until
standard input closes. Message N is stored as OUTDIR/N.eml (the content as
received, dot-unstuffed) with the envelope in OUTDIR/N.env.
"""
import os
import socket
import sys

from aiosmtpd.controller import Controller


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


def main():
    outdir = sys.argv[1]
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    ctl = Controller(Store(outdir), hostname="127.0.0.1", port=port, enable_SMTPUTF8=True)
    ctl.start()
    print(port, flush=True)
    sys.stdin.read()
    ctl.stop()


if __name__ == "__main__":
    main()
