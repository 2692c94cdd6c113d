"""An invitation sent through a real SMTP server (aiosmtpd, its own process on loopback, delivering
into a maildir): the received message's link sets the password, and works only once."""

from __future__ import annotations

import email
import mailbox
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from bench.processes import free_port, started, wait_for_port
from cardreveal.accounts.invitations import invitation_send

LINK_RE = re.compile(r"https://cards\.bank\.example(/accounts/invitation/\?token=[A-Za-z0-9_-]+)")
NEW_PASSWORD = "through-real-mail-passphrase-3"


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """aiosmtpd's command-line server on a free loopback port, storing mail in a maildir."""
    port = free_port()
    maildir = tmp_path / "maildir"
    argv = [
        sys.executable,
        "-m",
        "aiosmtpd",
        "-n",
        "-l",
        f"127.0.0.1:{port}",
        "-c",
        "aiosmtpd.handlers.Mailbox",
        str(maildir),
    ]
    with started(argv, env={"PATH": "/usr/bin:/bin"}, log=tmp_path / "smtp.log") as proc:
        wait_for_port(port, timeout=30, proc=proc)
        yield port, maildir


def received(maildir: Path, *, timeout: float = 20) -> list[email.message.Message]:
    """The messages the server has stored, waiting for the first to arrive."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if maildir.exists():
            messages = [email.message_from_bytes(m.as_bytes()) for m in mailbox.Maildir(maildir)]
            if messages:
                return messages
        time.sleep(0.1)
    raise AssertionError("the SMTP server received no message")


def test_invitation_sent_through_a_real_smtp_server_has_a_working_link(
    db, smtp_server, settings, django_capture_on_commit_callbacks
):
    port, maildir = smtp_server
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_TIMEOUT = 10
    settings.DEFAULT_FROM_EMAIL = "cardreveal@bank.example"
    settings.CARDREVEAL_SITE_URL = "https://cards.bank.example"
    user = get_user_model().objects.create_user(username="frank", email="frank@example.com")

    with django_capture_on_commit_callbacks(execute=True):
        invitation_send(user=user, by=None)

    (message,) = received(maildir)
    assert message["To"] == "frank@example.com"
    assert message["From"] == "cardreveal@bank.example"
    assert message["Subject"] == "Set up your cardreveal account"
    body = message.get_payload(decode=True).decode(message.get_content_charset() or "utf-8")
    match = LINK_RE.search(body)
    assert match is not None, body
    path = match.group(1)

    browser = Client()
    response = browser.post(path, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/enrol/"
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert Client().get(path).status_code == 410
