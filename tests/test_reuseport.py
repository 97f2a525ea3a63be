"""Workers: SO_REUSEPORT listeners (reuseport.py), where the supervisor's reserved socket takes no
connections and each worker's own listener on the same port gets a share of them; and SMTP-only
workers, which never load the web app."""

from __future__ import annotations

import os
import selectors
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from relay_smtp.config import HostPort
from relay_smtp.reuseport import reserve, worker_listener

NO_REUSEPORT = pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="no SO_REUSEPORT here")


@NO_REUSEPORT
def test_the_reserved_socket_holds_the_port_but_takes_no_connections() -> None:
    reserved = reserve(HostPort("127.0.0.1", 0))
    try:
        port = reserved.getsockname()[1]
        assert port != 0
        assert not reserved.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        with pytest.raises(OSError):  # a process without SO_REUSEPORT cannot take the port
            plain = socket.socket()
            try:
                plain.bind(("127.0.0.1", port))
            finally:
                plain.close()
    finally:
        reserved.close()


@NO_REUSEPORT
def test_every_worker_listener_gets_a_share_of_the_connections() -> None:
    reserved = reserve(HostPort("127.0.0.1", 0))
    workers = [worker_listener(reserved) for _ in range(2)]
    clients: list[socket.socket] = []
    accepted = {id(sock): 0 for sock in workers}
    try:
        port = reserved.getsockname()[1]
        assert {sock.getsockname()[1] for sock in workers} == {port}
        # The kernel hashes each connection (by its source port) to one listener: with 40 of them,
        # all on one listener would be a 1 in 2**39 event, not a matter of timing.
        clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(40)]
        with selectors.DefaultSelector() as selector:
            for sock in workers:
                selector.register(sock, selectors.EVENT_READ)
            while sum(accepted.values()) < len(clients):
                ready = selector.select(timeout=10)
                assert ready, f"connections never reached a listener: {accepted}"
                for key, _ in ready:
                    listener = key.fileobj
                    assert isinstance(listener, socket.socket)
                    conn, _ = listener.accept()
                    conn.close()
                    accepted[id(listener)] += 1
        assert all(count > 0 for count in accepted.values()), accepted
    finally:
        for sock in [*clients, *workers, reserved]:
            sock.close()


SMTP_ONLY_WORKER = """
import asyncio, smtplib, sys
from pathlib import Path
from smtp_fixtures import settings_for_maildir
from relay_smtp.service import RelayService

async def main() -> None:
    service = RelayService(settings_for_maildir(Path(sys.argv[1]) / "Maildir"), serve_web=False)
    await service.start(host="127.0.0.1", port=0)
    port = service.smtp_address[1]
    message = b"Subject: s\\r\\n\\r\\nx\\r\\n"
    client = await asyncio.to_thread(smtplib.SMTP, "127.0.0.1", port)
    reply = await asyncio.to_thread(client.sendmail, "a@example.org", ["b@example.org"], message)
    await asyncio.to_thread(client.quit)
    await service.stop()
    loaded = sorted(m for m in ("fastapi", "starlette", "uvicorn", "relay_smtp.webside") if m in sys.modules)
    print(service.web is None, reply == {}, loaded)

asyncio.run(main())
"""


def test_a_worker_without_the_web_side_relays_and_never_loads_the_web_app(tmp_path: Path) -> None:
    tests = Path(__file__).parent
    result = subprocess.run(
        [sys.executable, "-c", SMTP_ONLY_WORKER, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(tests)},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[-2] == "True True []"
    assert len(list((tmp_path / "Maildir" / "new").iterdir())) == 1
