"""Serving the app with uvicorn inside the relay's own event loop.

Why this module exists: `relay-smtp serve` runs SMTP and HTTP in one process and one loop, and owns the
process's signals (SIGTERM drains SMTP first).  uvicorn's ``Server.serve`` would install its own signal
handlers, and its access log would write every ``/r/<token>`` URL into the logs.  `EmbeddedServer`
leaves signals alone, and `make_server` configures uvicorn for that life:

    server = make_server(app, "127.0.0.1", 8025)
    task = asyncio.create_task(server.serve())
    ...
    server.should_exit = True
    await task
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator

import uvicorn
from fastapi import FastAPI


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that does not capture SIGINT/SIGTERM: its host process stops it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def make_server(
    app: FastAPI,
    host: str,
    port: int,
    *,
    forwarded_allow_ips: str | None = None,
) -> EmbeddedServer:
    """A server for `app` on host:port.

    `forwarded_allow_ips`: the reverse proxies (comma-separated addresses, or "*") whose
    X-Forwarded-For/-Proto are believed; the client address then is the real one (rate limits use it).
    """
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=False,  # WebGuard logs requests with their tokens removed
        log_config=None,  # the relay configures logging
        proxy_headers=forwarded_allow_ips is not None,
        forwarded_allow_ips=forwarded_allow_ips,
        server_header=False,
        lifespan="off",
        timeout_graceful_shutdown=10,
    )
    return EmbeddedServer(config)
