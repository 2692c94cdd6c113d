"""The API's schema and its interactive docs (Swagger UI from the app's own static files, under the strict CSP)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_safe
from drf_spectacular.views import SpectacularAPIView


@require_safe
def api_docs(request: HttpRequest) -> HttpResponse:
    """Swagger UI for /api/v1/schema/. drf-spectacular's own page starts Swagger UI with an inline
    script, which our CSP forbids; this page loads only script files (with the CSP nonce)."""
    csrf_header = settings.CSRF_HEADER_NAME.removeprefix("HTTP_").replace("_", "-")
    return render(
        request,
        "api/docs.html",
        {"schema_url": reverse("api:schema") + "?format=json", "csrf_header": csrf_header},
    )


class SchemaView(SpectacularAPIView):
    """The OpenAPI schema, for GET and HEAD only: OPTIONS answers 405 here as everywhere under
    /api/v1/, and `Allow` does not claim otherwise."""

    http_method_names = ["get", "head"]
