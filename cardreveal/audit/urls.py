"""URLs of the emailed reveal receipts' "This wasn't me" link."""

from django.urls import path

from cardreveal.audit import views

app_name = "audit"

urlpatterns = [
    path("not-me/<str:token>/", views.disown_reveal, name="disown"),
]
