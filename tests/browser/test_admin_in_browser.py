"""The admin in a real browser: one-step sign-in, and the binding form's provider fields appearing
as soon as the provider is chosen (static/js/binding_kind.js), without inline script."""

from __future__ import annotations

import re

import pytest

from providers.mastercard import MastercardProvider
from providers.thredd import UAT_BASE_URL
from tests.conftest import totp_code

pytestmark = pytest.mark.browser


def admin_sign_in(run, staff, clock) -> None:
    _user, device = staff
    page = run.page
    page.goto(run.url("/admin/login/?next=/admin/"))
    page.locator("#id_username").fill("root")
    page.locator("#id_password").fill("pw-root-long-enough")
    page.get_by_label("Code").fill(totp_code(device, clock))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(run.url("/admin/"))


def test_admin_signs_in_on_one_form_and_sees_the_reveal_switch_first(open_browser, staff, clock):
    run = open_browser()
    admin_sign_in(run, staff, clock)
    section = run.page.locator(".app-cards")
    assert section.locator("th[scope=row]").first.inner_text() == "Reveals for everyone: on"
    assert run.csp_violations == []
    assert run.console_errors == []


def test_choosing_a_provider_shows_its_fields_and_keeps_the_name(open_browser, staff, clock):
    run = open_browser()
    admin_sign_in(run, staff, clock)
    page = run.page
    page.goto(run.url("/admin/cards/providerbinding/add/"))
    assert page.locator('[name^="secret__"]').count() == 0
    page.locator("#id_name").fill("Card processor")
    page.locator("#id_kind").select_option("thredd")
    page.wait_for_url(re.compile(r"kind=thredd"))
    page.locator('[name="secret__client_secret"]').wait_for(state="visible")
    assert page.locator("#id_name").input_value() == "Card processor"
    assert page.locator("#id_base_url").input_value() == UAT_BASE_URL
    assert page.locator("#id_kind").input_value() == "thredd"

    page.locator("#id_kind").select_option("mastercard")
    page.wait_for_url(re.compile(r"kind=mastercard"))
    page.locator('[name="secret__consumer_key"]').wait_for(state="visible")
    assert page.locator('[name="secret__client_secret"]').count() == 0
    assert page.locator("#id_name").input_value() == "Card processor"
    assert page.locator("#id_base_url").input_value() == MastercardProvider.default_base_url
    assert page.locator('[name="option__encrypt_payloads"]').is_checked()  # its usual value

    page.locator("#id_base_url").fill("https://mtf.api.mastercard.com/global-processing/core")
    page.locator("#id_kind").select_option("juspay")
    page.wait_for_url(re.compile(r"kind=juspay"))
    page.locator('[name="secret__merchant_id"]').wait_for(state="visible")
    # a typed base URL goes along; only the provider's usual one is replaced
    assert page.locator("#id_base_url").input_value().startswith("https://mtf.api.mastercard")
    assert "secret" not in page.url  # nothing secret in the address
    assert run.csp_violations == []
    assert run.console_errors == []
