"""Running the simulator under uvicorn: blocking, or in a background thread for tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import uvicorn

from .app import create_app
from .config import SimConfig
from .transport import install_log_filter

_BACKLOG = 4096


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    # Listening before uvicorn starts: connections made from now on queue instead of failing.
    sock.listen(_BACKLOG)
    sock.set_inheritable(True)
    return sock


def _server(config: SimConfig) -> uvicorn.Server:
    uv_config = uvicorn.Config(
        create_app(config),
        http="httptools",
        loop="auto",
        lifespan="off",
        log_level="warning",
        access_log=False,
        backlog=_BACKLOG,
        # In-flight stalls would otherwise hold shutdown for up to stall_s.
        timeout_graceful_shutdown=1,
        # Idle connections stay open longer than the SDKs keep them (httpx closes its
        # own after 5 s), as the providers' front ends do. uvicorn's default of 5 s
        # raced the client's: a request written to a connection the server was just
        # closing failed before the simulator saw it (an accidental fault; the
        # injected ones are in faults.py).
        timeout_keep_alive=75,
    )
    server = uvicorn.Server(uv_config)
    install_log_filter()  # after uvicorn configured its loggers
    return server


def _base_url(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def serve(
    config: SimConfig,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Serve until interrupted. ``on_listening(base_url)`` runs once the port accepts connections."""
    sock = _bind(host, port)
    server = _server(config)
    if on_listening is not None:
        on_listening(_base_url(sock, host))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


def start_in_thread(config: SimConfig, host: str = "127.0.0.1", port: int = 0) -> tuple[str, Callable[[], None]]:
    """Start a simulator in a daemon thread; returns ``(base_url, stop)`` once it serves.

    ``port=0`` picks a free port. ``stop()`` shuts the server down and waits for the thread.
    """
    sock = _bind(host, port)
    server = _server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="promptq-sim", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10.0
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("promptq simulator failed to start")
        time.sleep(0.005)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10.0)
        sock.close()

    return _base_url(sock, host), stop
