"""Scripted SMTP servers on 127.0.0.1 for the adapter and CLI tests.

A script is a list of steps run in order on one accepted connection:
  ("send", b"...")            send bytes in one write
  ("drip", b"...")            send one byte per write (TCP_NODELAY, short pauses)
  ("line",)                   read one line (CRLF or LF)
  ("lines", n)                read n lines
  ("until", b"\\r\\n.\\r\\n")  read until the bytes have arrived
  ("count", n)                read exactly n more bytes
  ("quiet", seconds)          fail the script if anything arrives meanwhile
  ("sleep", seconds)
  ("close",)                  close the connection
  ("call", fn)                call fn() (to change things between steps)
  ("tls", context)            TLS handshake as the server (an ssl.SSLContext);
                              a failed handshake ends the script quietly
Everything received is kept in .received; a failed expectation in .error.
"""
import socket
import threading
import time


class FakeServer:
    def __init__(self, script, accept_timeout=10.0, rcvbuf=None):
        self.script = script
        self.received = b""
        self.error = None
        self.tls_error = None
        self.tls_version = None
        self.tls_cipher = None
        self.connected = False
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if rcvbuf:  # small: a client that sends much has to wait for the reader
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(accept_timeout)
        self.port = self.sock.getsockname()[1]
        self.buf = b""
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _recv(self, conn, deadline):
        conn.settimeout(max(0.01, deadline - time.time()))
        data = conn.recv(65536)
        if not data:
            raise EOFError("client closed")
        self.received += data
        self.buf += data

    def _line(self, conn):
        deadline = time.time() + 10
        while b"\n" not in self.buf:
            self._recv(conn, deadline)
        i = self.buf.index(b"\n") + 1
        line, self.buf = self.buf[:i], self.buf[i:]
        return line

    def _run(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        self.connected = True
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for step in self.script:
                op = step[0]
                if op == "send":
                    conn.sendall(step[1])
                elif op == "drip":
                    for b in step[1]:
                        conn.sendall(bytes([b]))
                        time.sleep(0.001)
                elif op == "line":
                    self._line(conn)
                elif op == "lines":
                    for _ in range(step[1]):
                        self._line(conn)
                elif op == "until":
                    deadline = time.time() + 20
                    while step[1] not in self.buf:
                        self._recv(conn, deadline)
                    i = self.buf.index(step[1]) + len(step[1])
                    self.buf = self.buf[i:]
                elif op == "count":
                    deadline = time.time() + 20
                    while len(self.buf) < step[1]:
                        self._recv(conn, deadline)
                    self.buf = self.buf[step[1]:]
                elif op == "quiet":
                    if self.buf:
                        raise AssertionError("client sent early: %r" % self.buf)
                    conn.settimeout(step[1])
                    try:
                        data = conn.recv(65536)
                    except socket.timeout:
                        data = None
                    if data:
                        self.received += data
                        raise AssertionError("client sent before the reply: %r" % data)
                    if data == b"":
                        raise EOFError("client closed")
                elif op == "sleep":
                    time.sleep(step[1])
                elif op == "call":
                    step[1]()
                elif op == "close":
                    conn.close()
                    return
                elif op == "tls":
                    conn.settimeout(10)
                    try:
                        conn = step[1].wrap_socket(conn, server_side=True)
                    except (OSError, ValueError) as e:
                        self.tls_error = str(e)
                        return
                    self.tls_version = conn.version()
                    self.tls_cipher = conn.cipher()[0]
                    self.received += b"<TLS>"
            # drain until the client closes, so everything it sent is kept
            deadline = time.time() + 5
            while time.time() < deadline:
                self._recv(conn, deadline)
        except EOFError:
            pass
        except socket.timeout:
            pass
        except Exception as e:  # noqa: BLE001 - recorded for the test
            self.error = str(e)
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def wait(self, timeout=10):
        self.thread.join(timeout)
        self.sock.close()
        return self
