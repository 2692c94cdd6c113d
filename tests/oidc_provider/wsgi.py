"""WSGI entry point of the test provider (gunicorn serves it)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.oidc_provider.settings")
application = get_wsgi_application()
