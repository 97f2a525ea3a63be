"""Tell systemd how the relay is doing (sd_notify), without linking libsystemd.

With `Type=notify` systemd waits for READY=1 before it considers the service started (so Postfix's
queue manager is not pointed at a port nobody listens on yet), and STOPPING=1 / RELOADING=1 show up
in `systemctl status`. Outside systemd ($NOTIFY_SOCKET unset) every call is a no-op.
"""

from __future__ import annotations

import os
import socket
import time


def notify(*states: str) -> bool:
    """Send "KEY=value" lines to $NOTIFY_SOCKET; True if systemd was told."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # abstract namespace socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall("\n".join(states).encode("utf-8"))
    except OSError:
        return False
    return True


def reloading() -> bool:
    """RELOADING=1 must carry the monotonic time (systemd 253 and later check it)."""
    return notify("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")
