"""URLs for the cardholder's cards."""

from django.urls import path

from cardreveal.cards import views

app_name = "cards"

urlpatterns = [
    path("", views.card_list, name="list"),
    path("cards/<uuid:card_id>/", views.card_detail, name="detail"),
    path("cards/<uuid:card_id>/reveal", views.card_reveal, name="reveal"),
    path(
        "cards/<uuid:card_id>/reveal/challenge",
        views.card_reveal_challenge,
        name="reveal_challenge",
    ),
    path("activity/", views.activity, name="activity"),
]
