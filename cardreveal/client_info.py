"""Who is calling: the client address, user agent and request id an audit record needs."""

from __future__ import annotations

import ipaddress

from django.http import HttpRequest

from cardreveal.audit.services import ClientInfo


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
