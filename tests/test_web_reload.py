"""SIGHUP on a running `relay-smtp serve` reaches its web side too, over real HTTP.

A company a reload adds is served at once: its HR user opens its admin page, its ATS announces
rejections with its token. A company it removes, and every token it rotates out, are refused from
then on. A configuration the reload refuses changes nothing. In one process, with the web side in
worker 0 of two, and in both workers with ``web.every_worker`` (the kernel spreads the connections).
The agency push goes where the reloaded file says, and what a reload must not change stays.
"""

from __future__ import annotations

import base64
import json
import re
import signal
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from agency_fixtures import AgencyServer
from ports import free_port
from smtp_fixtures import Sink
from test_agency_e2e import UA, mail_text, register
from test_funnel_e2e import LINK, Web
from test_reload import REJECTION, Served, send, serve, wait_for, write_config

from relay_smtp.web.settings import CompanyPage, WebConfig, reloaded

# Each check is made several times on new connections, so that with `web.every_worker` every worker
# is asked. Refusals count against limiters of 10 a minute per client (the admin pages and the pull
# API share one), which must not close the doors the test opens next: 3 x 3 refusals at most.
TRIES = 4
REFUSALS = 3


def companies(*ids: str) -> str:
    """[[companies]] tables for `ids`, each with an ATS token and an HR user of its own."""
    tables = [
        f'[[companies]]\nid = "{c}"\nname = "{c.title()} Corp"\nmode = "audit"\n'
        f'recruiting_senders = ["jobs@{c}.example"]\nats_token = "{c}-ats-token"\n'
        for c in ids
    ]
    users = [f'hr-{c} = {{ password = "{c}-hr-password", company = "{c}" }}' for c in ids]
    return "\n".join(tables) + "\n[admin.users]\n" + "\n".join(users) + "\n"


def settings(admin_token: str, pull_token: str, *ids: str) -> str:
    head = f'[admin]\ntoken = "{admin_token}"\n[agency]\nname = "Agency"\npull_token = "{pull_token}"\n'
    return head + companies(*ids)


def configure(path: Path, ports: tuple[int, int, int], extra: str, every_worker: bool) -> None:
    write_config(path, *ports, extra=extra)
    if every_worker:  # into the [web] table the file already has
        text = path.read_text(encoding="utf-8").replace("[web]\n", "[web]\nevery_worker = true\n", 1)
        path.write_text(text, encoding="utf-8")


def call(port: int, method: str, path: str, authorization: str, body: object = None) -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": authorization, "Content-Type": "application/json"}
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        text = err.read().decode()
        err.close()
        return err.code, text


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def statuses(
    port: int, company: str, admin_token: str, pull_token: str, tries: int = TRIES
) -> dict[str, set[int]]:
    """What each of the company's doors answers, over `tries` connections each."""
    found: dict[str, set[int]] = {"hr": set(), "ats": set(), "admin": set(), "pull": set()}
    for _ in range(tries):
        hr = basic(f"hr-{company}", f"{company}-hr-password")
        status, page = call(port, "GET", f"/admin/companies/{company}", hr)
        found["hr"].add(status)
        if status == 200:
            assert f"{company.title()} Corp" in page
        signal_path = f"/api/v1/companies/{company}/rejections"
        ats = f"Bearer {company}-ats-token"
        found["ats"].add(call(port, "POST", signal_path, ats, {"candidate": "alex@example.org"})[0])
        found["admin"].add(call(port, "GET", "/admin", f"Bearer {admin_token}")[0])
        found["pull"].add(call(port, "GET", "/api/v1/agency/registrations", f"Bearer {pull_token}")[0])
    return found


OPEN = {"hr": {200}, "ats": {202}, "admin": {200}, "pull": {200}}


def refused_reload(served: Served) -> None:
    """SIGHUP with a configuration that cannot be loaded; wait until the relay has said so."""
    before = served.log().count("reload refused")
    served.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: served.log().count("reload refused") > before, "the refusal")


@pytest.mark.parametrize(("workers", "every_worker"), [(1, False), (2, False), (2, True)])
def test_a_reload_reaches_the_web_side(sink: Sink, tmp_path: Path, workers: int, every_worker: bool) -> None:
    # Before: the web app kept the companies, users and tokens of the start: Globex's HR user and
    # ATS got 401 after the reload, ACME's and the rotated tokens still opened the doors.
    config = tmp_path / "relay.toml"
    port, web_port = free_port(), free_port()
    ports = (port, web_port, sink.port)
    configure(config, ports, settings("admin-1", "pull-1", "acme"), every_worker)
    with serve(config, port, workers) as served:
        assert statuses(web_port, "acme", "admin-1", "pull-1") == OPEN

        configure(config, ports, settings("admin-2", "pull-2", "globex"), every_worker)
        served.reload()
        assert statuses(web_port, "globex", "admin-2", "pull-2") == OPEN
        gone = statuses(web_port, "acme", "admin-1", "pull-1", REFUSALS)
        assert gone == {"hr": {401}, "ats": {401}, "admin": {401}, "pull": {401}}

        # An HR user of a company that is not configured: the whole file is refused.
        broken = settings("admin-3", "pull-3", "globex", "initech")
        configure(config, ports, broken.replace('company = "initech"', 'company = "nosuch"'), every_worker)
        refused_reload(served)
        assert statuses(web_port, "globex", "admin-2", "pull-2") == OPEN
        candidate = {"candidate": "alex@example.org"}
        path = "/api/v1/companies/initech/rejections"
        assert call(web_port, "POST", path, "Bearer initech-ats-token", candidate)[0] == 401
    log = served.log()
    assert served.proc.returncode == 0, log
    assert "Traceback" not in log, log


PUSH = """
[agency]
name = "{name}"
push_url = "{url}"
push_secret = "{secret}"
push_interval_seconds = 0.05
push_retry_seconds = 0.05
[[companies]]
id = "acme"
name = "ACME"
mode = "enforce"
recruiting_senders = ["jobs@acme.example"]
"""


def test_a_reload_moves_the_agency_push_and_renames_the_agency(sink: Sink, tmp_path: Path) -> None:
    # Before: the push kept sending to the agency of the start, with its secret, and the pages
    # kept its name.
    old, new = AgencyServer("old-push-secret").start(), AgencyServer("new-push-secret").start()
    config = tmp_path / "relay.toml"
    port, web_port = free_port(), free_port()
    ports = (port, web_port, sink.port)
    configure(config, ports, PUSH.format(name="Old Agency", url=old.url, secret="old-push-secret"), False)
    try:
        with serve(config, port, 1) as served:
            renamed = PUSH.format(name="New Agency K.K.", url=new.url, secret="new-push-secret")
            configure(config, ports, renamed, False)
            served.reload()
            send(port, "jobs@acme.example", "alex@example.org", "rej-alex@acme.example", REJECTION)
            wait_for(lambda: len(sink.received) == 1, "the rejection")
            found = LINK.search(sink.received[0].data)
            assert found, sink.received[0].data
            web, token = Web(web_port), found.group(1).decode()
            status, landing = web.request(f"/r/{token}?lang=en", headers={"User-Agent": UA})
            assert status == 200 and b"New Agency K.K." in landing and b"Old Agency" not in landing
            register(web, token, "alex@example.org")
            wait_for(lambda: len(sink.received) == 2, "the confirmation mail")
            confirm = re.search(r"/confirm/[A-Za-z0-9_-]+\?lang=en", mail_text(sink.received[1].data))
            assert confirm
            assert web.request(confirm.group(0), data=b"")[0] == 200
            wait_for(lambda: len(new.log.accepted) == 1, "the hand-off at the new agency")
        assert new.log.bad_signatures == 0 and old.log.requests == 0
        assert served.proc.returncode == 0, served.log()
    finally:
        old.stop()
        new.stop()


def test_what_a_reload_cannot_change_is_kept_and_named() -> None:
    running = WebConfig(public_url="https://relay.example", form_secret="form-1", admin_token="admin-1")
    new = WebConfig(
        public_url="https://other.example",
        form_secret=None,  # unset: the process keeps the secret it made or read at start, no warning
        link_rate_per_minute=5,
        companies={"globex": CompanyPage("Globex")},
        admin_token="admin-2",
    )
    config, waiting = reloaded(running, new)
    assert (config.public_url, config.form_secret, config.link_rate_per_minute) == (
        "https://relay.example",
        "form-1",
        30,
    )
    assert config.companies == new.companies and config.admin_token == "admin-2"
    assert waiting == ["web.public_url", "web.link_rate_per_minute"]
