"""Several worker processes on one port, supervised like the daemons mail admins already run.

The parent binds the SMTP port once (reserving it; see ``reuseport.py``) and forks N workers, each
listening on its own ``SO_REUSEPORT`` socket on that port, so the kernel spreads sessions evenly and a
dead worker's share goes to the others until it is back. HTTP is one shared listener, served by
worker 0 only unless ``web.every_worker`` is set. The parent runs no event
loop and holds no connections; it only:

- restarts a worker that died (with a pause if workers keep dying at once),
- forwards SIGHUP (reload configuration, templates and keys) after checking the new configuration,
  and warns when a restart would move a listener (a reload cannot),
- on SIGTERM or SIGINT closes its copy of the listening sockets, sends SIGTERM to every worker,
  waits for them to drain, and exits 0,
- tells systemd READY=1 when every worker listens, and STOPPING=1 when it stops.

Worker 0 alone retries the spool, so a deferred copy is never sent twice by two workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from relay_smtp import reuseport, systemd
from relay_smtp.config import ConfigError, HostPort, Settings, load_settings, with_listeners
from relay_smtp.devsecrets import with_development_secrets
from relay_smtp.metrics import MULTIPROC_ENV, mark_worker_dead

log = logging.getLogger(__name__)

RESTART_PAUSE = 1.0  # a worker that dies within this many seconds of its start waits this long


@dataclass(frozen=True)
class Listeners:
    """The sockets the supervisor binds once and every worker accepts on."""

    smtp: socket.socket
    web: socket.socket

    def close(self) -> None:
        self.smtp.close()
        self.web.close()


# (settings, index, listeners, ready fd) -> exit code. The settings are the supervisor's current ones, so
# a worker restarted after a reload runs the reloaded configuration, as the others do.
WorkerMain = Callable[[Settings, int, Listeners, int], int]


@dataclass
class _Worker:
    index: int
    pid: int
    started: float = field(default_factory=time.monotonic)


class Supervisor:
    def __init__(
        self,
        settings: Settings,
        config_path: Path | None,
        workers: int,
        main: WorkerMain,
        *,
        listen: HostPort | None = None,
        web_listen: HostPort | None = None,
    ) -> None:
        self.settings = settings
        self.config_path = config_path
        # `serve --listen/--web-listen`: a restart applies them again, so a reload does too.
        self.listen, self.web_listen = listen, web_listen
        # Where `run` binds the listeners; a reload never moves them.
        self._listening_on = (settings.smtp.listen, settings.web.listen)
        self.count = workers
        self.main = main
        self.workers: dict[int, _Worker] = {}
        self._stopping = False
        self._reload = False
        self._metrics_dir = ""

    def run(self) -> int:
        # Before forking: every worker inherits one set of development secrets (see devsecrets).
        self.settings = with_development_secrets(self.settings)
        _prepare_store(self.settings)
        listener = Listeners(
            reuseport.reserve(self.settings.smtp.listen),
            reuseport.bind(self.settings.web.listen, reuse_port=False, listen=True),
        )
        self._metrics_dir = _fresh_metrics_dir()
        ready_read, ready_write = os.pipe()
        for index in range(self.count):
            self._spawn(index, listener, ready_write)
        self._install_signals()
        self._await_ready(ready_read, listener, ready_write)
        systemd.notify("READY=1", f"STATUS=relaying with {self.count} workers")
        log.info("supervisor %d: %d workers on %s", os.getpid(), self.count, self.settings.smtp.listen)
        while not self._stopping:
            self._reap(listener, ready_write)
            if self._reload:
                self._reload = False
                self._forward_reload()
            time.sleep(0.1)
        systemd.notify("STOPPING=1")
        # Close our copy of the listening sockets first: once the workers close theirs, the kernel
        # refuses new connections instead of queueing them where nobody will ever greet them.
        listener.close()
        self._stop_all()
        shutil.rmtree(self._metrics_dir, ignore_errors=True)
        return 0

    def _spawn(self, index: int, listener: Listeners, ready_fd: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                    signal.signal(sig, signal.SIG_DFL)
                _drain_when_parent_dies()
                code = self.main(self.settings, index, listener, ready_fd)
            finally:
                os._exit(code)
        self.workers[pid] = _Worker(index, pid)
        log.info("worker %d started as pid %d", index, pid)

    def _await_ready(
        self, ready_fd: int, listener: Listeners, ready_write: int, timeout: float = 30.0
    ) -> None:
        """Each worker writes one byte once it listens; wait for all of them (bounded).

        A worker that dies before it is ready is restarted here too (its replacement writes the byte
        it owed): waiting for it instead would leave every later death unsupervised until the timeout.
        """
        deadline = time.monotonic() + timeout
        seen = 0
        os.set_blocking(ready_fd, False)
        while seen < self.count and time.monotonic() < deadline and not self._stopping:
            try:
                seen += len(os.read(ready_fd, 64))
            except BlockingIOError:
                self._reap(listener, ready_write)
                time.sleep(0.02)

    def _install_signals(self) -> None:
        def stop(signum: int, frame: object) -> None:
            self._stopping = True

        def reload(signum: int, frame: object) -> None:
            self._reload = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, reload)

    def _reap(self, listener: Listeners, ready_fd: int) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            worker = self.workers.pop(pid, None)
            mark_worker_dead(pid)
            if worker is None or self._stopping:
                continue
            log.error("worker %d (pid %d) died (%s); restarting it", worker.index, pid, _describe(status))
            if time.monotonic() - worker.started < RESTART_PAUSE:
                time.sleep(RESTART_PAUSE)
            self._spawn(worker.index, listener, ready_fd)

    def _forward_reload(self) -> None:
        try:
            settings = load_settings(self.config_path)
        except ConfigError as exc:
            for problem in exc.problems:
                log.error("reload refused, configuration unchanged: %s", problem)
            return
        settings = with_listeners(settings, self.listen, self.web_listen)
        warn_of_moved_listeners(settings, *self._listening_on)
        self.settings = with_development_secrets(settings)
        systemd.reloading()
        for pid in self.workers:
            os.kill(pid, signal.SIGHUP)
        systemd.notify("READY=1")

    def _stop_all(self) -> None:
        for pid in list(self.workers):
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.settings.smtp.drain_timeout + 5
        while self.workers and time.monotonic() < deadline:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid:
                self.workers.pop(pid, None)
            else:
                time.sleep(0.05)
        for pid in list(self.workers):
            log.error("worker pid %d did not drain in time; killing it", pid)
            _signal(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        log.info("supervisor stopped")


def warn_of_moved_listeners(restart: Settings, smtp: HostPort, web: HostPort | None) -> None:
    """A reload leaves the listeners where they are: say so when a restart would move one.

    ``restart`` is the reloaded configuration with the command line's --listen/--web-listen applied,
    as a restart would apply them; ``smtp`` and ``web`` are the addresses the listeners were bound by
    (as configured: port 0 or a host name stay what they were asked to be, not what they became).
    So the warning comes on every reload while the two differ, and never while an override keeps
    the address whatever the file says.
    """
    for key, in_use, wanted in (
        ("smtp.listen", smtp, restart.smtp.listen),
        ("web.listen", web, restart.web.listen),
    ):
        if in_use is not None and wanted != in_use:
            log.warning(
                "%s changed: restart the service to move the listener from %s to %s", key, in_use, wanted
            )


def _prepare_store(settings: Settings) -> None:
    """Create or upgrade a SQLite store once, before the workers open it side by side."""
    if settings.store.url.startswith("sqlite"):
        from relay_smtp.store.ledger import Ledger

        Ledger.open(settings.store.url, upgrade=True).close()


def _fresh_metrics_dir() -> str:
    """Workers count into files here; /metrics sums them (prometheus_client multiprocess mode)."""
    directory = tempfile.mkdtemp(prefix="relay-smtp-metrics-")
    os.environ[MULTIPROC_ENV] = directory
    return directory


def _drain_when_parent_dies() -> None:
    """Linux: a worker gets SIGTERM (and drains) if the supervisor is killed with SIGKILL."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return


PR_SET_PDEATHSIG = 1


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit {os.WEXITSTATUS(status)}"


def run_worker(
    config_path: Path | None, settings: Settings, index: int, listeners: Listeners, ready_fd: int
) -> int:
    """The body of one worker process: a RelayService on the inherited listeners until SIGTERM."""
    from relay_smtp.service import RelayService

    async def run() -> None:
        serve_web = index == 0 or settings.web.every_worker
        service = RelayService(settings, config_path=config_path, run_spool=index == 0, serve_web=serve_web)
        await service.run_until_signalled(
            sock=reuseport.worker_listener(listeners.smtp),
            web_sock=listeners.web,
            on_ready=lambda: os.write(ready_fd, b"r"),
        )

    asyncio.run(run())
    return 0
