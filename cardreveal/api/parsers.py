"""The API's JSON parser: DRF's, reading at most DATA_UPLOAD_MAX_MEMORY_SIZE and refusing deep nesting."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser

from cardreveal.middleware import too_large_refusal

# Levels of arrays and objects a body may nest. The API's bodies are flat objects (one level);
# deeper ones are refused before any view sees them (the Python parser's own limit is a crash).
MAX_JSON_DEPTH = 32


class JsonTooDeep(exceptions.ParseError):
    """A JSON body nested deeper than MAX_JSON_DEPTH (400 `json_too_deep`)."""

    default_code = "json_too_deep"
    default_detail = (
        f"The JSON body is nested too deeply: at most {MAX_JSON_DEPTH} levels of arrays and "
        "objects are read. This API's bodies are flat objects."
    )


class RequestTooLarge(exceptions.APIException):
    """A body over DATA_UPLOAD_MAX_MEMORY_SIZE (413 `request_too_large`)."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"

    def __init__(self) -> None:
        super().__init__(too_large_refusal().message)


def json_depth(value: object) -> int:
    """How many levels of arrays and objects `value` nests (0 for a scalar); walked without
    recursion, so any depth is measured."""
    deepest = 0
    pending: list[tuple[object, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        pending.extend((child, depth + 1) for child in children)
    return deepest


class BoundedJSONParser(JSONParser):
    """DRF's JSONParser, bounded: reads at most DATA_UPLOAD_MAX_MEMORY_SIZE bytes (413 beyond,
    whatever Content-Length said) and refuses a body nested deeper than MAX_JSON_DEPTH (400),
    including one so deep the parser would run out of stack."""

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read() if limit is None else stream.read(int(limit) + 1)
        if limit is not None and len(raw) > int(limit):
            raise RequestTooLarge()
        # Fewer opening brackets than the limit cannot nest past it: skip the walk.
        shallow = raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH
        try:
            data = super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError:
            raise JsonTooDeep() from None
        if not shallow and json_depth(data) > MAX_JSON_DEPTH:
            raise JsonTooDeep()
        return data
