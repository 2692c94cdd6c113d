"""Who is calling: the client address, user agent and request id an audit record needs."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

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
