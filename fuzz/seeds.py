#!/usr/bin/env python3
"""Writes the seed corpora for the fuzz targets (fuzz/corpus/<target>/)."""
import os

HERE = os.path.dirname(os.path.abspath(__file__))

EHLO = {
    "postfix": "250-mx.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n"
               "250-ETRN\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n"
               "250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n",
    "gmail": "250-smtp.gmail.com at your service, [203.0.113.5]\r\n250-SIZE 35882577\r\n"
             "250-8BITMIME\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n"
             "250-CHUNKING\r\n250 SMTPUTF8\r\n",
    "outlook": "250-AM0PR01CA0001.outlook.office365.com Hello [203.0.113.5]\r\n"
               "250-SIZE 157286400\r\n250-PIPELINING\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n"
               "250-STARTTLS\r\n250-8BITMIME\r\n250-BINARYMIME\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n",
    "exim": "250-mail.example.org Hello client.example [192.0.2.1]\r\n250-SIZE 52428800\r\n"
            "250-8BITMIME\r\n250-PIPELINING\r\n250-PIPE_CONNECT\r\n250-AUTH PLAIN LOGIN CRAM-MD5\r\n"
            "250-CHUNKING\r\n250-PRDR\r\n250 HELP\r\n",
    "sendmail": "250-host.example.net Hello client.example [192.0.2.1], pleased to meet you\r\n"
                "250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE\r\n"
                "250-DSN\r\n250-ETRN\r\n250-AUTH=LOGIN PLAIN\r\n"
                "250-AUTH DIGEST-MD5 CRAM-MD5 LOGIN PLAIN XOAUTH2\r\n250-DELIVERBY\r\n250 HELP\r\n",
}
GREET = "220 mx.example.com ESMTP ready\r\n"
TXN = ("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
       "250 2.0.0 Ok: queued as 4ABC\r\n221 2.0.0 Bye\r\n")

# opcodes (fuzz_client.c): 0 EHLO 2 MAIL 3 RCPT 4 DATA 5 body 6 end 7 BDAT 11 QUIT
# 12 STARTTLS 13-16 AUTH 17 raw 18 secure; the top 3 bits pick a variant
SEND = [0, 2, 3 | 0x20, 3 | 0x40, 4, 5, 5 | 0x20, 6, 11]


def client(cfg, ops, server):
    return bytes([cfg, 0x5a, len(ops)] + ops) + server.encode("latin-1")


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    for name, ehlo in EHLO.items():
        write("fuzz_client", "send-" + name, client(0, SEND, GREET + ehlo + TXN))
        write("fuzz_client", "strict-" + name, client(5, SEND, GREET + ehlo + TXN))
    write("fuzz_client", "helo-fallback",
          client(0, [0, 1, 2, 3, 4, 5, 6, 11], GREET + "502 5.5.1 no EHLO\r\n250 ok\r\n" + TXN))
    write("fuzz_client", "starttls",
          client(0, [0, 12, 0, 13, 2, 3, 4, 5, 6, 11],
                 GREET + EHLO["postfix"] + "220 2.0.0 Ready to start TLS\r\n" +
                 EHLO["exim"] + "235 2.7.0 ok\r\n" + TXN))
    write("fuzz_client", "starttls-injection",
          client(0, [0, 12], GREET + EHLO["postfix"] + "220 go\r\n250 injected\r\n"))
    write("fuzz_client", "auth-login",
          client(0, [0, 18, 14, 11], GREET + EHLO["exim"] +
                 "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 2.7.0 ok\r\n221 bye\r\n"))
    write("fuzz_client", "auth-cram",
          client(0, [0, 18, 15, 11], GREET + EHLO["sendmail"] +
                 "334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n"
                 "235 ok\r\n221 bye\r\n"))
    write("fuzz_client", "auth-xoauth2",
          client(0, [0, 18, 16], GREET + EHLO["sendmail"] +
                 "334 eyJzdGF0dXMiOiI0MDEifQ==\r\n535 5.7.8 no\r\n"))
    write("fuzz_client", "bdat",
          client(0, [0, 2, 3, 7 | 0x40, 7 | 0x80 | 0x20, 11],
                 GREET + EHLO["outlook"] + "250 ok\r\n250 ok\r\n250 2 octets\r\n250 queued\r\n"))
    write("fuzz_client", "raw-chat",
          client(0, [17, 17 | 0xc0, 17 | 0x20, 17 | 0x40, 17 | 0xe0],
                 GREET + EHLO["gmail"] + "250 ok\r\n354 go\r\n250 queued\r\n221 bye\r\n"))
    write("fuzz_client", "unsolicited-421", client(0, [0], GREET + "421 4.3.2 shutting down\r\n"))
    write("fuzz_client", "code-mismatch", client(0, [0], GREET + "250-a\r\n251 b\r\n"))
    write("fuzz_client", "long-line", client(4, [0], GREET + "250 " + "x" * 700 + "\r\n"))
    write("fuzz_client", "nul", client(0, [0], GREET + "250 a\0b\r\n"))
    write("fuzz_client", "bare-lf", client(0, [0, 9], "220 hi\n250-a\n250 b\n250 ok\n"))
    write("fuzz_client", "greeting-only", client(0, [], "220\r\n"))

    session = (b"EHLO c.example\r\nMAIL FROM:<a@example.com> SIZE=20\r\nRCPT TO:<b@example.com>\r\n"
               b"DATA\r\nSubject: x\r\n\r\n..dot\r\n.\r\nQUIT\r\n")
    write("fuzz_server", "session", bytes([0, 7]) + session)
    write("fuzz_server", "bdat", bytes([0, 3]) + b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\n"
          b"RCPT TO:<c@d.example>\r\nBDAT 5\r\nab\r\n.BDAT 3 LAST\r\nxyzQUIT\r\n")
    write("fuzz_server", "auth", bytes([9, 5]) + b"EHLO c.example\r\nAUTH PLAIN AHUAcA==\r\n"
          b"AUTH LOGIN\r\ndQ==\r\ncA==\r\nAUTH LOGIN dQ==\r\n*\r\n")
    write("fuzz_server", "starttls", bytes([8, 1]) + b"EHLO c.example\r\nSTARTTLS\r\nEHLO c.example\r\n")
    for i, trick in enumerate([b"\r\n.\n", b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\r\n.\r\r\n"]):
        write("fuzz_server", "smuggle-%d" % i, bytes([2, 11]) + b"EHLO c.example\r\n"
              b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\nhi" + trick +
              b"MAIL FROM:<e@example.com>\r\nRCPT TO:<v@example.com>\r\nDATA\r\nx\r\n.\r\n")
    write("fuzz_server", "long-lines", bytes([4, 2]) + b"EHLO c.example\r\nNOOP " + b"x" * 3000 +
          b"\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n" + b"y" * 200 +
          b"\r\n.\r\n")
    lmtp = (b"LHLO c.example\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n"
            b"RCPT TO:<x@example.com>\r\nRCPT TO:<c@example.com>\r\nDATA\r\nhi\r\n.\r\n"
            b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nBDAT 3\r\nabcBDAT 2 LAST\r\n"
            b"deEHLO c.example\r\nQUIT\r\n")
    write("fuzz_server", "lmtp", bytes([16, 9]) + lmtp)
    write("fuzz_server", "lmtp-smuggle", bytes([16, 3]) + lmtp.replace(b"hi\r\n.", b"hi\n."))
    write("fuzz_server", "chunks-route", bytes([2, 5]) + b"EHLO c.example\r\n"
          b"MAIL FROM:<@r.example,@s.example:a@example.com>\r\nRCPT TO:<b@example.com>\r\n"
          b"BDAT 100\r\n" + b"z" * 100 + b"BDAT 150\r\n" + b"z" * 150 + b"BDAT 1 LAST\r\nz"
          b"DATA\r\nAUTH LOGIN =\r\n")
    for flags in range(8):
        write("fuzz_pair", "body-%d" % flags, bytes([flags]) + b"line1\r\n.dot1\r\n.dot2\n.\nend\r\r\n")
    write("fuzz_pair", "dot-998", bytes([4]) + b"." + b"y" * 997 + b"\r\n")
    write("fuzz_pair", "empty", bytes([0]))

    bodies = {
        "seed-example": b"line1\r\n.dot1\r\n.dot2\n.\nend",
        "smuggle-crlf": b"a\r\n.\r\nMAIL FROM:<x@y>\r\n",
        "smuggle-lf": b"a\n.\nb",
        "smuggle-cr": b"a\r.\rb",
        "smuggle-mixed": b"a\n.\r\nb\r\n.\nc\r\r\n.\r\r\n",
        "empty": b"",
        "dots": b"." * 10 + b"\r\n..\r\n...",
        "binary": bytes(range(256)),
        "text": b"Subject: hi\r\n\r\n" + b"The quick brown fox.\r\n" * 40,
    }
    for name, body in bodies.items():
        write("fuzz_body", name, bytes([7, 3]) + body)

    # certificate chains: the test fixtures (tests/certs), each chain as
    # length-prefixed DER, with a split step
    import base64
    certs = os.path.join(HERE, "..", "tests", "certs")

    def der(name):
        with open(os.path.join(certs, name)) as f:
            text = f.read()
        out = []
        for block in text.split("-----BEGIN CERTIFICATE-----")[1:]:
            out.append(base64.b64decode(block.split("-----END")[0]))
        return out

    def chain(step, *ders):
        return bytes([step]) + b"".join(len(d).to_bytes(2, "big") + d for d in ders)

    ca = der("ca.pem")[0]
    for step, name in ((0, "good"), (7, "client"), (1, "expired"), (13, "future"),
                       (64, "untrusted")):
        write("fuzz_x509", name, chain(step, ca, der(name + ".pem")[0]))
    write("fuzz_x509", "chain", chain(5, ca, *der("chain.pem")))
    write("fuzz_x509", "rsa", chain(3, ca, der("good-rsa.pem")[0]))

    # fuzz_txn: [config][extensions][seed][count][4 per message x 3][server bytes]
    # extensions bits: PIPELINING SIZE CHUNKING DSN 8BITMIME SMTPUTF8 BINARYMIME REQUIRETLS
    def txn(cfg, ext, msgs, server):
        head = bytes([cfg, ext, 0x37, len(msgs)])
        for m in msgs + [[0, 0, 0, 0]] * (3 - len(msgs)):
            head += bytes(m)
        return head + server

    ok = b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go\r\n250 2.0.0 queued\r\n"
    write("fuzz_txn", "pipelined-two", txn(0, 0x13, [[0, 0, 0, 0], [4, 0x08, 5, 0]],
                                           b"250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n"
                                           b"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n250 q2\r\n"))
    write("fuzz_txn", "plain-one", txn(8, 0x12, [[0, 0, 0, 0]],
                                       b"250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n"))
    write("fuzz_txn", "bdat-chunks", txn(128, 0x05, [[0, 0, 5, 0], [0, 0, 0, 0]],
                                         b"250 ok\r\n250 ok\r\n" + b"250 chunk\r\n" * 14 +
                                         b"250 ok\r\n250 ok\r\n250 done\r\n250 done\r\n"))
    write("fuzz_txn", "bdat-middle-refused", txn(128, 0x05, [[0, 0, 5, 0], [0, 0, 0, 0]],
                                                 b"250 ok\r\n250 ok\r\n250 c1\r\n452 4.3.1 full\r\n" +
                                                 b"503 bad\r\n" * 12 + b"250 reset\r\n" + ok))
    write("fuzz_txn", "refusals-then-rset", txn(0, 0x01, [[0, 0x09, 0, 0], [0, 0, 3, 0]],
                                                b"250 ok\r\n550 no\r\n554 none\r\n250 reset\r\n" + ok))
    write("fuzz_txn", "mail-refused-421", txn(0, 0x01, [[0, 0, 0, 0], [0, 0, 0, 0]],
                                              b"550 no\r\n503 x\r\n503 y\r\n421 4.3.2 bye\r\n"))
    write("fuzz_txn", "dsn-requiretls", txn(4, 0x89, [[0, 0, 0, 0x16]], ok))
    write("fuzz_txn", "lmtp", txn(32, 0x01, [[4, 0x08, 0, 0]],
                                  b"250 ok\r\n250 a\r\n250 b\r\n354 go\r\n250 a\r\n452 b\r\n"))
    write("fuzz_txn", "too-big-unmeasured", txn(0, 0x03, [[0, 0, 5, 0], [0, 0, 5, 0x40]],
                                                b"250 ok\r\n250 ok\r\n354 go\r\n552 big\r\n"))

    # fuzz_api_client: [config][op][operands]...; 0xf0-0xfe feed a canned reply
    # (0 greeting, 1 EHLO, 2 250, 3 354, 4 334 LOGIN, 5 235, 6 421, 7 221,
    # 9 334 CRAM, 10 220), 0xff n bytes: feed them; ops as in the file
    body = b"line1\r\n.dot\r\n\t\x01\n."
    session = bytes([0xf0, 0, 0xf1, 3, 0, 0, 0xf2, 4, 0, 0, 0xf2, 5, 0xf3,
                     14, len(body)]) + body + bytes([16, 0xf2, 10, 0xf7, 20])
    write("fuzz_api_client", "session", bytes([0]) + session)
    write("fuzz_api_client", "session-hooked", bytes([0, 0x21, 0x20]) + session)
    write("fuzz_api_client", "small-tx", bytes([16]) + session[:15] + bytes([14, 63]) +
          b"x" * 63 + bytes([14, 63]) + b".\r\n" * 21 + bytes([16, 19, 255, 16]))
    write("fuzz_api_client", "auth-login", bytes([1, 0xf0, 0, 0xf1, 0x21, 12 | 0x40, 1, 0xf4,
                                                  0xf5, 0xf4, 0xf5, 0xf2]))
    write("fuzz_api_client", "auth-early", bytes([1, 0xf0, 0, 0xf1, 12 | 0x40, 1, 0xff, 26]) +
          b"334 VXNlcm5hbWU6\r\n235 ok\r\n" + bytes([0xf4, 0xf5]))
    write("fuzz_api_client", "cram", bytes([1, 0xf0, 0, 0xf1, 22 | 0x20, 12 | 0x60, 0, 0xf9,
                                            0xf5]))
    write("fuzz_api_client", "bdat", bytes([0, 0xf0, 0, 0xf1, 3, 0, 0, 4, 0, 0, 6 | 0x40, 1,
                                            14, 6]) + b"ab\r\n.\x00" + bytes([0xf2, 0xf2, 0xf2]))
    write("fuzz_api_client", "starttls", bytes([0, 0xf0, 0, 0xf1, 11, 0xfa, 17, 0, 0xf1, 11]))
    write("fuzz_api_client", "raw", bytes([0, 0xf0, 13, 4]) + b"DATA" + bytes([0xf3, 13, 3]) +
          b"a\tb" + bytes([13, 1]) + b"." + bytes([0xf2, 13, 4]) + b"X\x01\r\n")
    write("fuzz_api_client", "lmtp", bytes([0, 0xf0, 2, 0xf1, 3, 0, 0, 4, 0, 0, 4, 0, 0, 0xf2,
                                            0xf2, 0xf2, 5, 0xf3, 16, 0xf2, 0xf8]))
    write("fuzz_api_client", "misuse", bytes([0, 23, 25 | 0x20, 26, 24, 0, 24 | 0x40, 3,
                                              0xf0, 24 | 0x20, 1, 0xf6, 8, 0xe0]))

    # fuzz_api_server: [config][op]...; 0xe0-0xfe feed canned client lines
    # (see the file), 0xff n bytes: feed them; 0xc0 + k: pull k + 1 events
    def sv(cfg, ops):
        write_ops = bytes([cfg] + ops)
        return write_ops
    pull = 0xc0 | 31
    write("fuzz_api_server", "session", sv(0, [0, 0, 0xe0, pull, 2, 0, 0xe2, pull, 1, 0,
                                               0xe3, pull, 1, 0, 0xe4, pull, 0x21, 0, 0xe5,
                                               pull, 1, 0, 0xe9, pull, 8, 255]))
    write("fuzz_api_server", "lmtp", sv(2, [0, 0, 0xe1, pull, 2, 0, 0xe2, pull, 1, 0, 0xe3,
                                            pull, 1, 0, 0xe3, pull, 1 | 0x60, 0, 0xe4, pull,
                                            0x21, 0, 0xe5, pull, 3, 1, 0, 1, 0, 1, 0]))
    write("fuzz_api_server", "bdat", sv(4, [0, 0, 0xe0, pull, 2, 0, 0xe2, pull, 1, 0, 0xe3,
                                            pull, 1, 0, 0xe6, pull, 1, 0, 0xe7, pull, 1, 0]))
    write("fuzz_api_server", "auth-hook", sv(1, [7 | 0x20, 0, 0, 0xe0, pull, 2, 0x80, 0xeb,
                                                 pull, 0xec, pull, 8, 255]))
    write("fuzz_api_server", "starttls", sv(0, [6 | 0x20, 0, 0, 0xe0, pull, 2, 0xff, 0xea,
                                                pull, 5, 0xe0, pull, 2, 0]))
    write("fuzz_api_server", "misuse", sv(16, [10, 1, 0, 0, 1, 0, 11 | 0x20, 4, 0, 9, pull]))
    write("fuzz_api_server", "data-bad", sv(8, [0, 0, 0xe0, pull, 2, 0, 0xed, pull, 1, 0, 1, 0,
                                                1, 0, 0x21, 0, 0xef, 0xee, pull, 1, 0]))

    # fuzz_datadiff: [config][split seed][message data]
    for i, d in enumerate([b"a\r\n..b\r\n.\r\nNOOP\r\n", b".\r\n", b"a\nb\r\n.\r\n",
                           b"x\r\r\n.\r\n", b"." + b"y" * 997 + b"\r\n.\r\n",
                           b"y" * 999 + b"\r\n.\r\n", b"a\r\n.\n.\r\n\r\n.\r\n",
                           b"no end\r\n", b"y" * 5000 + b"\r\n.\r\n"]):
        for cfg in (0, 1, 2 | 16, 3 | 4, 2 | 8, 32):
            write("fuzz_datadiff", "d%d-%d" % (i, cfg), bytes([cfg, 5 + i]) + d)


if __name__ == "__main__":
    main()
