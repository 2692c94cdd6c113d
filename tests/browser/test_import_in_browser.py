"""The admin's file import in a real browser: upload, the preview with a refused row by line, a
corrected file confirmed, the cardholders there."""

from __future__ import annotations

import pytest

from cardreveal.accounts.models import ExternalIdentity
from tests.browser.test_admin_in_browser import admin_sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BAD = "external_id,email\nC-1,anna@example.com\nC-2,not-an-address\n"
GOOD = "external_id,email\nC-1,anna@example.com\nC-2,ben@example.com\n"


def test_an_admin_previews_a_file_sees_the_bad_row_then_imports_the_corrected_one(
    open_browser, staff, clock, tmp_path, settings
):
    settings.CARDREVEAL_IMPORT_DIR = tmp_path / "imports"
    run = open_browser()
    admin_sign_in(run, staff, clock)
    page = run.page
    page.goto(run.url("/admin/provisioning/provisioningchange/"))
    page.get_by_role("link", name="Import cardholders or cards").click()

    (tmp_path / "bad.csv").write_text(BAD)
    page.locator("#id_kind").select_option("cardholders")
    page.locator("#id_file").set_input_files(str(tmp_path / "bad.csv"))
    page.get_by_role("button", name="Preview").click()
    errors = page.locator("#import-errors")
    assert "3" in errors.locator("td").first.inner_text()  # line 3 of the file
    assert "Enter a valid email address" in errors.inner_text()
    assert page.get_by_role("button", name="Import these 2 rows").count() == 0

    (tmp_path / "good.csv").write_text(GOOD)
    page.locator("#id_kind").select_option("cardholders")
    page.locator("#id_file").set_input_files(str(tmp_path / "good.csv"))
    page.get_by_role("button", name="Preview").click()
    assert "2 to create" in page.locator("#import-summary").inner_text()
    assert not ExternalIdentity.objects.exists()
    page.get_by_role("button", name="Import these 2 rows").click()

    assert "Imported good.csv: 2 created" in page.locator(".messagelist").inner_text()
    assert set(ExternalIdentity.objects.values_list("external_id", flat=True)) == {"C-1", "C-2"}
    assert run.csp_violations == []
    assert run.console_errors == []
