"""A minimal Django project using Nexus Connector: mail and payments through connectors,
Stripe webhooks as a signal, SQLite."""

from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "demo-site-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
USE_TZ = True

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "nexus_connector_django",
    "demo_shop",
]
MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]
ROOT_URLCONF = "demo_site.urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# -- Nexus Connector ------------------------------------------------------------------------
NEXUS_CONNECTOR = {"config": BASE_DIR / "connectors.toml"}
EMAIL_BACKEND = "nexus_connector_django.EmailBackend"
DEFAULT_FROM_EMAIL = "Demo Shop <shop@example.com>"
STRIPE_WEBHOOK_SECRET = "whsec_demo_site_signing_secret"
