"""The top bar's links on every signed-in page, reversed once per script prefix."""

from __future__ import annotations

import re

from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import RequestFactory
from django.urls import reverse, set_script_prefix


def _links(html: str) -> dict[str, str]:
    bar = html.split('<header class="topbar">', 1)[1].split("</header>", 1)[0]
    found = dict(re.findall(r'<a href="([^"]+)">([^<]+)</a>', bar))
    found.update({"logout": re.search(r'action="([^"]+)"', bar).group(1)})
    return {text: href for href, text in found.items()} | {"logout": found["logout"]}


def test_the_top_bar_links_where_url_names_say(signed_in):
    links = _links(signed_in.get("/", secure=True).content.decode())
    assert links["Cards"] == reverse("cards:list")
    assert links["Activity"] == reverse("cards:activity")
    assert links["Password"] == reverse("accounts:password_change")
    assert links["logout"] == reverse("accounts:logout")


def _mounted_page(client, script_name: str) -> str:
    """The card list served by the real WSGI handler (which, unlike the test client, sets the
    script prefix from SCRIPT_NAME, as gunicorn behind a path-routing balancer would)."""
    cookies = "; ".join(f"{name}={morsel.value}" for name, morsel in client.cookies.items())
    environ = RequestFactory().get("/", secure=True, SCRIPT_NAME=script_name, HTTP_COOKIE=cookies)
    statuses = []
    # As Django's test client does: the handler's signals must not close the test's connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        body = b"".join(
            WSGIHandler()(environ.environ, lambda status, headers: statuses.append(status))
        )
    finally:
        set_script_prefix("/")
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    assert statuses == ["200 OK"]
    return body.decode()


def test_under_a_script_prefix_the_links_carry_it_and_without_one_they_do_not(signed_in):
    # The links are cached per prefix: a site mounted under /bank/ must not hand its links to
    # one mounted at the root, and the other way round.
    mounted = _links(_mounted_page(signed_in, "/bank"))
    root = _links(signed_in.get("/", secure=True).content.decode())
    assert mounted["Activity"] == "/bank" + reverse("cards:activity")
    assert mounted["logout"] == "/bank" + reverse("accounts:logout")
    assert root["Activity"] == reverse("cards:activity")
