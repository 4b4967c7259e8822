"""A gunicorn worker that reads each request's head (and a small body) before it takes a thread.

gunicorn's ``gthread`` worker hands a connection to a thread as soon as its first byte arrives
(or after 5 s of waiting on a new one); the thread then reads the request line, the headers and the
body with blocking reads and no timeout.  A client that trickles its headers, or opens a
connection and sends nothing, so holds a thread: a handful of them (fewer than the threads) froze
the whole service, health probes included, before any authentication.

Here the worker's poller (one thread, non-blocking sockets) reads every connection until the head
is complete and, when the body is announced by ``Content-Length`` and is small, until the body is
complete too.  Only then does a thread see the request, so slow and idle connections cost a buffer
and a file descriptor, never a thread.  Large or chunked bodies (pfioh's GiB pushes) are still
streamed by the thread from the socket, with backpressure, never buffered whole; every read in the
thread has a timeout, so a client that stalls mid-body frees its thread after ``read_timeout``.
A connection whose head (plus small body) is not complete ``read_timeout`` seconds after it started
sending (or after it was accepted) gets a 408 and is closed.

Probes (``GET`` of :data:`PROBE_PATHS`) get two threads of their own: busy request threads (say,
50 pushes streaming GiBs on 8 threads) must not make a liveness probe wait.
"""
from __future__ import annotations

import json
import re
import selectors
import time
from concurrent import futures
from functools import partial

from gunicorn import util as gunicorn_util
from gunicorn.workers.gthread import TConn, ThreadWorker

# Heads are small (gunicorn refuses fields over 8190 bytes); past this, hand over and let
# gunicorn's parser refuse it with its own 4xx.
MAX_HEAD_BYTES = 256 << 10
STOP_LINGER = 2.0
PROBE_PATHS = (b"/api/v1/health", b"/api/v1/ready", b"/metrics")
PROBE_THREADS = 2
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length[ \t]*:[ \t]*(\d{1,19})[ \t]*(?=\r\n|$)")
_TIMEOUT_REPLY = (b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
                  b"Connection: close\r\nContent-Length: %d\r\n\r\n%s")


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's ``util.write_error`` with a JSON body ``{"status": false, "error": ...}``."""
    detail = f"{reason}: {mesg}" if mesg else reason
    if status_int == 414:
        detail += " (a request line, query included, may be at most 8190 bytes)"
    body = json.dumps({"status": False, "error": detail[:500]}).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1", "replace")
    gunicorn_util.write_nonblock(sock, head + body)


def is_probe(buf: bytes | bytearray) -> bool:
    """Whether the request ``buf`` starts with is a GET of a probe path (query allowed)."""
    line = bytes(buf[:buf.find(b"\r\n")]) if b"\r\n" in buf else b""
    parts = line.split(b" ")
    return len(parts) == 3 and parts[0] == b"GET" and parts[1].split(b"?")[0].rstrip(b"/") in PROBE_PATHS


def request_is_complete(buf: bytes | bytearray, max_buffered_body: int) -> bool:
    """Whether a thread may take the request that ``buf`` starts: its head is complete and its body
    is either complete or one the thread must stream (chunked, large, or awaiting ``100 Continue``).
    """
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return len(buf) > MAX_HEAD_BYTES
    head = bytes(buf[:end]).lower()
    if b"\r\ntransfer-encoding" in head or b"100-continue" in head:
        return True
    match = _CONTENT_LENGTH.search(head)
    length = int(match.group(1)) if match else 0
    return length > max_buffered_body or len(buf) >= end + 4 + length


class _Conn(TConn):
    """A connection that carries the bytes the poller read ahead into its parser."""

    read_timeout: float = 60.0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.prefetched = bytearray()
        self.deadline = 0.0
        self.probe = False

    def init(self):
        super().init()  # creates the parser once; it also made the socket blocking, without timeout
        self.sock.settimeout(self.read_timeout)
        if self.prefetched:
            self.parser.unreader.unread(bytes(self.prefetched))
            self.prefetched = bytearray()


class HeadFirstWorker(ThreadWorker):
    """gthread with the request head read by the poller; see the module docstring."""

    read_timeout: float = 60.0
    max_buffered_body: int = 1 << 20

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._reading: dict[_Conn, None] = {}  # connections whose request the poller is reading
        self._probe_pool = None

    def init_process(self):
        self._probe_pool = futures.ThreadPoolExecutor(max_workers=PROBE_THREADS, thread_name_prefix="probe")
        # gunicorn's own refusals (a request line over its 8190-byte limit, malformed headers)
        # answer JSON like every other error of ours, not an HTML page.
        gunicorn_util.write_error = write_json_error
        super().init_process()

    def enqueue_req(self, conn):
        """Probes go to their own threads; the rest to the request threads."""
        pool = self._probe_pool if getattr(conn, "probe", False) and self._probe_pool else self.tpool
        conn.probe = False  # a request pipelined behind a probe is not one
        fs = pool.submit(self.handle, conn)
        fs.add_done_callback(lambda fut: self.method_queue.defer(self.finish_request, conn, fut))

    def accept(self, listener):
        try:
            sock, addr = listener.accept()
        except BlockingIOError:
            return
        except OSError:
            return  # ECONNABORTED and friends: the client left already
        self.nr_conns += 1
        conn = _Conn(self.cfg, sock, addr, listener.getsockname())
        conn.read_timeout = self.read_timeout
        self._start_reading(conn)

    def on_client_socket_readable(self, conn, client):
        """A kept-alive connection sends its next request: read it like a new one."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._start_reading(conn)
        self._on_readable(conn, client)

    def _start_reading(self, conn: _Conn) -> None:
        conn.sock.setblocking(False)
        conn.deadline = time.monotonic() + self.read_timeout
        self._reading[conn] = None
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))

    def _stop_reading(self, conn: _Conn) -> None:
        self._reading.pop(conn, None)
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass

    def _drop(self, conn: _Conn) -> None:
        self._stop_reading(conn)
        self.nr_conns -= 1
        conn.close()

    def _on_readable(self, conn: _Conn, sock) -> None:
        try:
            data = sock.recv(1 << 16)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(conn)
            return
        if not data:
            self._drop(conn)
            return
        conn.prefetched += data
        if request_is_complete(conn.prefetched, self.max_buffered_body):
            self._stop_reading(conn)
            conn.probe = is_probe(conn.prefetched)
            conn.data_ready = True
            self.enqueue_req(conn)

    def murder_pending(self):
        super().murder_pending()
        now = time.monotonic()
        for conn in list(self._reading):  # at most worker_connections, once a second
            if not self.alive:
                # Stopping: an idle connection goes now, one mid-request gets a short grace (as
                # gthread gives kept-alive ones), so a stop does not wait for read_timeout.
                conn.deadline = min(conn.deadline, now + STOP_LINGER) if conn.prefetched else now
            if conn.deadline > now:
                continue
            if conn.prefetched:  # it started a request: say why it is dropped
                body = b'{"status": false, "error": "request timeout: the request was not sent in time"}'
                try:
                    conn.sock.send(_TIMEOUT_REPLY % (len(body), body))
                except OSError:
                    pass
            self._drop(conn)

def worker_class(read_timeout: float, max_buffered_body: int = 1 << 20) -> type:
    """A :class:`HeadFirstWorker` with these settings (gunicorn takes the class itself)."""
    return type("HeadFirstWorker", (HeadFirstWorker,),
                {"read_timeout": float(read_timeout), "max_buffered_body": int(max_buffered_body)})
