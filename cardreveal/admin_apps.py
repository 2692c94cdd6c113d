"""The admin app, with our admin site as its default site (Django's documented way to replace it)."""

from django.contrib.admin.apps import AdminConfig


class CardrevealAdminConfig(AdminConfig):
    """`django.contrib.admin` with `cardreveal.admin_site.CardrevealAdminSite` as `admin.site`.

    Kept apart from the site's module: INSTALLED_APPS imports this before the models are ready.
    """

    default_site = "cardreveal.admin_site.CardrevealAdminSite"
