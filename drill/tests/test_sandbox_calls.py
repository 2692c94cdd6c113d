"""The drill's sandbox logs each code request as it arrives, before a fault holds it, and nothing else."""

from __future__ import annotations

import json
import threading
import time

import requests

from drill.sandbox import CallLog, is_cvv_call
from providers.sandbox.core import Fault
from providers.sandbox.server import start_sandbox


def test_only_the_requests_that_fetch_a_code_count_as_calls():
    assert is_cvv_call("mastercard", "/cards/70001/card-verification-codes/searches")
    assert is_cvv_call("thredd", "/cards/103169946/cvv")
    assert not is_cvv_call("thredd", "/cards/103169946/cvv/status")
    assert not is_cvv_call("thredd", "/connect/token")
    assert is_cvv_call("netxd", "/cardv2")
    assert is_cvv_call("juspay", "/ardra/vt/cvv/v2")
    assert not is_cvv_call("juspay", "/ardra/vt/keys")
    assert not is_cvv_call("unknown", "/cardv2")


def test_a_held_call_is_logged_when_it_arrives_not_when_it_is_answered(tmp_path):
    log = tmp_path / "calls.jsonl"
    sandbox = start_sandbox(state_dir=tmp_path / "state")
    sandbox.server.observer = CallLog(log)
    release = threading.Event()
    sandbox.faults.set(Fault(hold=release), kind="thredd")
    try:
        url = sandbox.url_for("thredd") + "/cards/103169946/cvv"
        caller = threading.Thread(target=lambda: requests.get(url, timeout=10))
        caller.start()
        deadline = time.monotonic() + 10
        while not (log.exists() and log.read_text()):
            assert time.monotonic() < deadline, "the held call was never logged"
            time.sleep(0.05)
        (entry,) = [json.loads(line) for line in log.read_text().splitlines()]
        assert entry["kind"] == "thredd"
        assert caller.is_alive()  # still held: logged on arrival
        release.set()
        caller.join(10)
        requests.post(sandbox.url_for("thredd") + "/connect/token", timeout=10)
        assert len(log.read_text().splitlines()) == 1
    finally:
        release.set()
        sandbox.stop()
