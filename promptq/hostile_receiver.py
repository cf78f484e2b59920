"""Webhook receivers that misbehave on purpose (tests and benchmarks): a TCP server
that answers every request with a hostile `answer(conn, stopping)`, and such answers."""

from __future__ import annotations

import select
import socket
import threading
import time
from typing import Any


class HostileServer:
    """A TCP server answering every request with `answer(conn)` on a thread of its own;
    it notes how many connections were open at once (one the client closed counts no
    more: each is checked for end of stream when a new request arrives)."""

    def __init__(self, answer: Any) -> None:
        self._answer = answer
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(512)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/hook"
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self.requests = 0
        self.most_at_once = 0
        self._stopping = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            received = b""
            while b"\r\n\r\n" not in received or len(received) < _request_length(received):
                chunk = conn.recv(65536)
                if not chunk:
                    return
                received += chunk
            with self._lock:
                self._open = [c for c in self._open if not _closed_by_peer(c)]
                self._open.append(conn)
                self.requests += 1
                self.most_at_once = max(self.most_at_once, len(self._open))
            self._answer(conn, self._stopping)
        except OSError:
            pass
        finally:
            with self._lock:
                if conn in self._open:
                    self._open.remove(conn)
            conn.close()

    def stop(self) -> None:
        self._stopping.set()
        self._listener.close()


def _request_length(received: bytes) -> int:
    """Bytes of the whole request (headers and body) once its headers are in."""
    head, _, _ = received.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    return len(head) + 4 + length


def _closed_by_peer(conn: socket.socket) -> bool:
    try:
        readable, _, _ = select.select([conn], [], [], 0)
        return bool(readable) and conn.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def trickle(conn: socket.socket, stopping: threading.Event) -> None:
    """One byte of a never-ending status line a second, until the client hangs up."""
    while not stopping.is_set():
        conn.sendall(b"H")
        if select.select([conn], [], [], 1.0)[0] and conn.recv(1, socket.MSG_PEEK) == b"":
            return


def header_flood(conn: socket.socket, stopping: threading.Event) -> None:
    """A status line, then header lines as fast as the client takes them, forever."""
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    line = b"X-Flood: " + b"a" * 100 + b"\r\n"
    while not stopping.is_set():
        conn.sendall(line * 100)


def slow_header_flood(conn: socket.socket, stopping: threading.Event) -> None:
    """A status line, then a header line every 0.2 s, forever: each read gets bytes in time."""
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    while not stopping.is_set():
        conn.sendall(b"X-Flood: a\r\n")
        time.sleep(0.2)
