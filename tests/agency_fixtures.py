"""A partner agency for tests: a real HTTP server on loopback that receives relay-smtp's pushes.

It checks every request's signature exactly as docs/agency.md tells an agency to, can be told to answer
503 to its first N requests (down for a while), and keeps what it accepted by ``registration_id`` and
``event``, so a test can say "each arrived exactly once".  It also notices two requests for one event
at the same time (which the outbox's leases must prevent).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class AgencyLog:
    accepted: Counter[tuple[str, str]] = field(default_factory=Counter)  # (registration_id, event) -> 2xx
    bodies: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    requests: int = 0
    refused: int = 0
    bad_signatures: int = 0
    overlapping: int = 0
    in_flight: set[tuple[str, str]] = field(default_factory=set)


class AgencyServer:
    def __init__(self, secret: str, *, fail_first: int = 0, tolerance: int = 300, port: int = 0) -> None:
        self.secret = secret
        self.fail_first = fail_first
        self.tolerance = tolerance
        self.log = AgencyLog()
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/career-relay"

    def start(self) -> AgencyServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def verify(self, timestamp: str, signature: str, body: bytes) -> bool:
        """The check an agency makes (see docs/agency.md)."""
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > self.tolerance:
            return False
        mac = hmac.new(self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
        return hmac.compare_digest("sha256=" + mac.hexdigest(), signature)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        agency = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                ok = agency.verify(
                    self.headers.get("X-CareerRelay-Timestamp", ""),
                    self.headers.get("X-CareerRelay-Signature", ""),
                    body,
                )
                data = json.loads(body) if ok else {}
                key = (str(data.get("registration_id")), str(data.get("event")))
                with agency.lock:
                    agency.log.requests += 1
                    if not ok:
                        agency.log.bad_signatures += 1
                        status = 401
                    elif agency.log.requests <= agency.fail_first:
                        agency.log.refused += 1
                        status = 503
                    else:
                        status = 200
                        if key in agency.log.in_flight:
                            agency.log.overlapping += 1
                        agency.log.in_flight.add(key)
                if status == 200:
                    time.sleep(0.001)  # widen the window in which a second sender would overlap
                    with agency.lock:
                        agency.log.in_flight.discard(key)
                        agency.log.accepted[key] += 1
                        agency.log.bodies[key] = data
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
