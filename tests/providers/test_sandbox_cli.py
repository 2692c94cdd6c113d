"""The standalone sandbox (python -m providers.sandbox) plays each undocumented provider behaviour
its flags name, so a bank can rehearse a binding option against it before going live."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from providers.base import BindingConfig, CardRef, ClientKey, ProviderSealedCvv
from providers.errors import ProviderAuthError
from providers.http import HttpDoor, HttpPolicy
from providers.juspay import JuspayProvider, basic_authorization
from providers.mastercard import MastercardProvider
from providers.netxd import NetxdProvider
from providers.sandbox.core import Emulator
from providers.sandbox.juspay import JuspayEmulator
from providers.sandbox.mastercard import MastercardEmulator
from providers.sandbox.netxd import NetxdEmulator
from providers.sensitive import Sensitive

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def cli_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The sandbox process with every go-live flag set away from its default."""
    state = tmp_path_factory.mktemp("sandbox-cli")
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "providers.sandbox",
            "--port",
            str(port),
            "--state",
            str(state),
            "--mastercard-padding",
            "oaep-sha1",
            "--mastercard-probe-answer",
            "invalid_contract_type",
            "--netxd-serialisation",
            "canonical",
            "--juspay-response-form",
            "juspay",
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Wait until it listens (generating the keys takes a moment), has exited, or has had
        # far longer than it ever needs (so a hang fails instead of stalling the suite).
        listening = False
        for _ in range(1200):
            if process.poll() is not None:
                break
            with socket.socket() as attempt:
                listening = attempt.connect_ex(("127.0.0.1", port)) == 0
            if listening:
                break
            time.sleep(0.1)
        assert listening, "the sandbox did not start"
        yield f"http://127.0.0.1:{port}", state
    finally:
        process.terminate()
        process.wait(timeout=30)


def _config(emulator: Emulator, base_url: str, **options: Any) -> BindingConfig:
    return BindingConfig(
        key=f"cli-{emulator.kind}",
        base_url=f"{base_url}/{emulator.kind}",
        secrets={k: Sensitive(v) for k, v in emulator.binding_secrets().items()},
        options={**emulator.binding_options(), **options},
    )


def _door() -> HttpDoor:
    return HttpDoor(name="cli", policy=HttpPolicy(allow_loopback_http=True, connect_retries=0))


def test_netxd_flag_makes_a_canonical_ledger(cli_sandbox: tuple[str, Path]) -> None:
    base_url, state = cli_sandbox
    emulator = NetxdEmulator(state)  # the same keys, read from the state folder
    card = CardRef(reference=emulator.cards[0].reference, expiry_month=2, expiry_year=2030)
    canonical = NetxdProvider(
        _config(emulator, base_url, payload_serialisation="canonical"), _door()
    )
    assert canonical.fetch_cvv(card=card).value.reveal() == "123"  # type: ignore[union-attr]
    compact = NetxdProvider(_config(emulator, base_url, payload_serialisation="compact"), _door())
    with pytest.raises(ProviderAuthError):
        compact.fetch_cvv(card=card)


def test_juspay_flag_answers_in_the_sdk_split_form(cli_sandbox: tuple[str, Path]) -> None:
    base_url, state = cli_sandbox
    emulator = JuspayEmulator(state)
    raw = requests.post(
        f"{base_url}/juspay/ardra/vt/cvv/v2",
        data=json.dumps({"payoutId": "Juspay123456789"}),
        headers={
            "Authorization": basic_authorization(api_key=emulator.api_key),
            "X-merchantid": emulator.merchant_id,
            "KeyId": emulator.key_id,
            "Content-Type": "application/json",
        },
        timeout=10,
    )
    carried = raw.json()["encryptedResponse"]
    assert set(carried) == {"header", "encryptedKey", "iv", "encryptedPayload", "tag"}
    provider = JuspayProvider(_config(emulator, base_url), _door())
    card = CardRef({"payout_id": "Juspay123456789"}, expiry_month=12, expiry_year=2029)
    assert provider.fetch_cvv(card=card).value.reveal() == "119"  # type: ignore[union-attr]


def test_mastercard_flags_set_the_padding_and_the_probe_answer(
    cli_sandbox: tuple[str, Path],
) -> None:
    base_url, state = cli_sandbox
    emulator = MastercardEmulator(state)
    emulator.client_key_padding = "oaep-sha1"  # what the flag told the process
    provider = MastercardProvider(_config(emulator, base_url, pass_client_key=True), _door())
    assert "the credentials work" in provider.check_connection().proved
    viewer = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    card = CardRef({"card_contract_id": "70001"}, expiry_month=4, expiry_year=2030)
    result = provider.fetch_cvv(card=card, client_key=ClientKey(viewer.public_key()))
    assert isinstance(result, ProviderSealedCvv)
    assert result.scheme == "rsa-oaep-sha1-hex"
    sha1 = hashes.SHA1()  # noqa: S303 - the padding Mastercard may use, mirrored
    oaep_sha1 = padding.OAEP(mgf=padding.MGF1(sha1), algorithm=sha1, label=None)
    assert viewer.decrypt(bytes.fromhex(result.ciphertext), oaep_sha1) == b"347"
