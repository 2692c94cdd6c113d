"""Structured logs: one JSON object per line for Django and gunicorn, with only whitelisted fields."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from gunicorn.glogging import Logger as GunicornLogger

# Extra record attributes copied into the JSON line. Anything else a caller attaches (Django's
# `django.request` logger attaches the whole `request`, with its cookies and headers) is dropped.
SAFE_EXTRA_FIELDS = (
    "status_code",
    "method",
    "path",
    "duration_ms",
    "bytes",
    "request_id",
    "remote_addr",
)
_SCALARS = (str, int, float, bool, type(None))

# Successful load-balancer probes would drown the access log; failed ones are still logged.
_QUIET_PATHS = frozenset({"/healthz", "/readyz"})


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON: time (UTC), level, logger, message, safe extras.

    Exceptions are included as their formatted traceback (no local variables). Fields outside
    `SAFE_EXTRA_FIELDS` and non-scalar values are never written.
    """

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        for name in SAFE_EXTRA_FIELDS:
            value = record.__dict__.get(name)
            if value is not None and isinstance(value, _SCALARS):
                payload[name] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            payload["stack"] = self.formatStack(record.stack_info)
        return json.dumps(payload, ensure_ascii=False, default=str)


class GunicornJsonLogger(GunicornLogger):
    """gunicorn's logger with JSON lines: error log on stderr, access log on stdout.

    Access lines carry method, path (never the query string), status, duration, bytes, the
    request id the app answered with, and the peer address; never headers, cookies or bodies.
    """

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        formatter = JsonFormatter()
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(formatter)

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        path = str(environ.get("PATH_INFO", ""))
        status = int(getattr(resp, "status_code", 0) or 0)
        if path in _QUIET_PATHS and status == 200:
            return
        request_id = ""
        for name, value in getattr(resp, "headers", []) or []:
            if str(name).lower() == "x-request-id":
                request_id = str(value)
        method = str(environ.get("REQUEST_METHOD", ""))
        self.access_log.info(
            "%s %s %s",
            method,
            path,
            status,
            extra={
                "method": method,
                "path": path,
                "status_code": status,
                "duration_ms": round(request_time.total_seconds() * 1000, 1),
                # Files sent with sendfile() are not counted in `sent`; their length is known.
                "bytes": getattr(resp, "sent", 0) or getattr(resp, "response_length", None),
                "request_id": request_id or None,
                "remote_addr": environ.get("REMOTE_ADDR"),
            },
        )
