"""URLs for the in-process profile only (bench/profile_requests.py): the app's own, plus the
cheapest page there can be behind the same guards, to show what every signed-in request costs
before a view does anything. The app under gunicorn never loads this module."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.http import require_GET

from cardreveal.accounts.decorators import verified_required
from cardreveal.urls import urlpatterns as app_urlpatterns


@require_GET
@verified_required
def floor(request: HttpRequest) -> HttpResponse:
    """Nothing but the middleware, the session, the user, the OTP device and the guard."""
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [path("bench/floor", floor), *app_urlpatterns]
