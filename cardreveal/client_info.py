"""Who is calling: the client address, user agent and request id an audit record needs, and the
device name a person can read from a user agent."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

import ua_parser
from django.http import HttpRequest


@dataclass(frozen=True)
class ClientInfo:
    """Where a request came from: address, user agent, request id, channel."""

    ip: str | None
    user_agent: str
    request_id: str
    channel: str


SYSTEM_CLIENT = ClientInfo(ip=None, user_agent="", request_id="", channel="system")


def client_info(request: HttpRequest, *, channel: str) -> ClientInfo:
    """ClientInfo for `request`. The address is REMOTE_ADDR: put a proxy that sets it in front."""
    raw_ip = request.META.get("REMOTE_ADDR", "")
    try:
        ip: str | None = str(ipaddress.ip_address(raw_ip))
    except ValueError:
        ip = None
    return ClientInfo(
        ip=ip,
        user_agent=request.headers.get("User-Agent", ""),
        request_id=getattr(request, "request_id", ""),
        channel=channel,
    )


# What ua-parser calls a family, as people know it; "Other" is its name for "not recognised".
_FAMILY_NAMES = {
    "Mac OS X": "macOS",
    "Mobile Safari": "Safari",
    "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "Firefox Mobile": "Firefox",
    "Firefox iOS": "Firefox",
    "Mobile Safari UI/WKWebView": "An app",
    "Chrome Mobile WebView": "An app",
}
_UNKNOWN_FAMILIES = {"", "Other", "Generic Smartphone", "Generic Feature Phone", "Spider"}
UNKNOWN_DEVICE = "Unknown browser or app"


def _known(family: str | None) -> str:
    family = family or ""
    return "" if family in _UNKNOWN_FAMILIES else _FAMILY_NAMES.get(family, family)


@lru_cache(maxsize=2048)
def device_name(user_agent: str) -> str:
    """A name a person recognises for the browser or app behind `user_agent`, e.g. "Chrome 120
    on Windows 10", "Safari 17 on iOS 17 (iPhone)", "curl 8"; `UNKNOWN_DEVICE` when the parser
    recognises nothing. Never the raw string: it may be long, or made up by whoever sent it."""
    parsed = ua_parser.parse(user_agent[:1000])
    browser = _known(parsed.user_agent.family if parsed.user_agent else None)
    system = _known(parsed.os.family if parsed.os else None)
    model = _known(parsed.device.family if parsed.device else None)
    if browser and parsed.user_agent and parsed.user_agent.major:
        browser = f"{browser} {parsed.user_agent.major}"
    if system and parsed.os and parsed.os.major and system != "macOS":
        system = f"{system} {parsed.os.major}"  # macOS's user agents all say 10.15: say nothing
    name = " on ".join(part for part in (browser, system) if part)
    if model and model not in (system, "Mac") and name:
        name = f"{name} ({model})"
    return name or UNKNOWN_DEVICE
