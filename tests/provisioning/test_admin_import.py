"""The admin's file import: a dry-run preview with row-level errors, then the whole file or nothing."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import Workbook

from cardreveal.accounts.models import ExternalIdentity
from cardreveal.audit.models import AuthEvent
from cardreveal.cards.models import Card
from cardreveal.provisioning.models import ProvisioningChange

IMPORT = "/admin/provisioning/provisioningchange/import/"


@pytest.fixture(autouse=True)
def _imports_in_tmp(settings, tmp_path):
    settings.CARDREVEAL_IMPORT_DIR = tmp_path / "imports"
    settings.CARDREVEAL_IMPORT_CHUNK_ROWS = 2  # several chunks even for small files


def csv_file(text: str, name: str = "people.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def preview(admin_client, kind: str, upload: SimpleUploadedFile):
    return admin_client.post(IMPORT, {"kind": kind, "file": upload})


CARDHOLDERS = (
    "external_id,email,first_name,last_name,phone\n"
    "C-1,anna@example.com,Anna,Berg,+447700900123\n"
    "C-2,ben@example.com,Ben,Holt,\n"
    "C-3,cara@example.com,Cara,Lind,\n"
)


def test_the_preview_lists_what_would_happen_and_writes_nothing(admin_client):
    answer = preview(admin_client, "cardholders", csv_file(CARDHOLDERS))

    assert answer.status_code == 200
    page = answer.content.decode()
    assert "3 cardholders row(s)" in page
    assert "3 to create" in page
    assert 'name="confirm"' in page
    assert not ExternalIdentity.objects.exists()
    assert not ProvisioningChange.objects.exists()


def test_confirming_the_preview_imports_the_whole_file_audited_with_the_admin(admin_client):
    page = preview(admin_client, "cardholders", csv_file(CARDHOLDERS))
    token = page.context["token"]

    answer = admin_client.post(IMPORT, {"token": token, "confirm": "1"})

    assert answer.status_code == 302
    assert set(ExternalIdentity.objects.values_list("external_id", flat=True)) == {
        "C-1",
        "C-2",
        "C-3",
    }
    record = AuthEvent.objects.get(event=AuthEvent.Event.PROVISIONED)
    assert record.username == "root"
    assert record.channel == "admin"
    assert "people.csv" in record.detail
    assert ProvisioningChange.objects.filter(by="import:root").count() == 3


def test_bad_rows_are_listed_by_line_and_column_and_nothing_is_written(admin_client, settings):
    text = (
        "external_id,email,phone\n"
        "C-1,anna@example.com,\n"
        "C-2,not-an-address,\n"
        "C-3,cara@example.com,0770\n"
        "C-1,again@example.com,\n"
    )

    answer = preview(admin_client, "cardholders", csv_file(text))

    report = answer.context["report"]
    assert [(e.line, e.field) for e in report.errors] == [
        (3, "email"),
        (4, "phone"),
        (5, "external_id"),
    ]
    page = answer.content.decode()
    assert "Nothing was written" in page
    assert 'name="confirm"' not in page
    assert "appears twice in this file" in page
    assert not ExternalIdentity.objects.exists()
    assert not list((settings.CARDREVEAL_IMPORT_DIR).iterdir())  # nothing kept to confirm


def test_a_file_that_went_bad_between_preview_and_confirm_writes_nothing(admin_client, db):
    page = preview(admin_client, "cardholders", csv_file(CARDHOLDERS))
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user("cara@example.com")  # takes C-3's username meanwhile

    answer = admin_client.post(IMPORT, {"token": page.context["token"], "confirm": "1"})

    assert answer.status_code == 200
    assert answer.context["report"].error_count == 1
    assert not ExternalIdentity.objects.exists()


def test_a_wrong_header_is_named_before_any_row_is_read(admin_client):
    answer = preview(admin_client, "cards", csv_file(CARDHOLDERS))

    problem = answer.context["report"].header_problem
    assert "missing column(s): cardholder, binding, last4" in problem
    assert "unknown column(s): email, first_name" in problem


def test_cards_import_from_xlsx_with_reference_columns(admin_client, make_binding):
    binding = make_binding("mastercard")
    first = preview(admin_client, "cardholders", csv_file(CARDHOLDERS))
    admin_client.post(IMPORT, {"token": first.context["token"], "confirm": "1"})
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(
        ["external_id", "cardholder", "binding", "reference.card_contract_id", "last4",
         "expiry_month", "expiry_year", "label"]
    )  # fmt: skip
    sheet.append(["K-1", "C-1", binding.name, "80001", "4242", 9, 2031, "Everyday"])
    sheet.append(["K-2", "C-2", binding.name, "80002", "1881", 1, 2030, "Travel"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    upload = SimpleUploadedFile("cards.xlsx", buffer.getvalue())

    page = preview(admin_client, "cards", upload)
    assert page.context["report"].created == 2
    admin_client.post(IMPORT, {"token": page.context["token"], "confirm": "1"})

    card = Card.objects.get(external_id="K-1")
    assert (card.owner.external_identity.external_id, card.reference) == (
        "C-1",
        {"card_contract_id": "80001"},
    )
    assert Card.objects.get(external_id="K-2").expiry_display == "01/30"


def test_a_card_file_reusing_a_reference_is_refused_at_that_line(admin_client, make_binding):
    binding = make_binding("mastercard")
    page = preview(admin_client, "cardholders", csv_file(CARDHOLDERS))
    admin_client.post(IMPORT, {"token": page.context["token"], "confirm": "1"})
    text = (
        "external_id,cardholder,binding,reference.card_contract_id,last4,expiry_month,expiry_year,label\n"
        f"K-1,C-1,{binding.name},80001,4242,9,2031,Everyday\n"
        f"K-2,C-2,{binding.name},80002,4242,9,2031,Travel\n"
        f"K-3,C-3,{binding.name},80001,4242,9,2031,Copy\n"
    )

    answer = preview(admin_client, "cards", csv_file(text, "cards.csv"))

    (error,) = answer.context["report"].errors
    assert (error.line, error.field) == (4, "reference")
    assert "'K-1'" in error.message
    assert not Card.objects.exists()


def test_a_cardholder_without_import_rights_cannot_open_the_import(client, alice):
    answer = client.get(IMPORT)

    assert answer.status_code == 302  # to the admin's sign-in
