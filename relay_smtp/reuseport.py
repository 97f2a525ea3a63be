"""One SMTP listening socket per worker on a shared port (``SO_REUSEPORT``), so sessions spread.

Why this module exists: when N workers accept on one inherited socket, whichever worker's event loop
wakes first takes the connection, and with long SMTP sessions (a mail server keeps its connections
open for many messages) one worker can end up with all of them while the others idle. With
``SO_REUSEPORT`` every worker listens on its own socket and the kernel hashes each new connection to
one of them, evenly.

The supervisor still binds first (:func:`reserve`): that reports a port in use before any worker
starts and turns port 0 into a real port. Its socket is bound but does not listen, so the kernel gives
it no connections; each worker makes its listener with :func:`worker_listener`. Where the platform has
no ``SO_REUSEPORT`` the reserved socket itself listens and is shared, as before.

A worker that dies loses the connections waiting in its own accept queue (their clients retry, as
after any dropped connection); the kernel sends new ones to the remaining workers until it is back.
At start, connections are refused until the first worker listens (a second or so); systemd hears
READY=1 only once every worker listens.
"""

from __future__ import annotations

import socket

from relay_smtp.config import HostPort

BACKLOG = 512


def _socket(family: int, reuse_port: bool) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    return sock


def bind(address: HostPort, *, reuse_port: bool, listen: bool) -> socket.socket:
    """A non-blocking socket bound on ``address`` (and listening if ``listen``); closed on failure."""
    family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
    sock = _socket(family, reuse_port)
    try:
        sock.bind((address.host, address.port))
        if listen:
            sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def reserve(address: HostPort) -> socket.socket:
    """The supervisor's socket on ``address``: bound, listening only without SO_REUSEPORT."""
    reuse_port = hasattr(socket, "SO_REUSEPORT")
    return bind(address, reuse_port=reuse_port, listen=not reuse_port)


def worker_listener(reserved: socket.socket) -> socket.socket:
    """A listening socket for one worker on the reserved address (the reserved one if it listens)."""
    if reserved.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        return reserved
    sock = _socket(reserved.family, reuse_port=True)
    try:
        sock.bind(reserved.getsockname())
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock
