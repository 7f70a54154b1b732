"""Settings of the chat demo project; also the settings the test suite runs under.

Read from the environment: ``REDIS_URL``, ``DATABASE_URL`` (read by dj-database-url; the SQLite file db.sqlite3 by
default), ``DJANGO_SECRET_KEY``, ``DJANGO_DEBUG`` and ``DJANGO_ALLOWED_HOSTS`` (comma-separated). The chat's flood
control reads ``CHAT_RATE_LIMIT`` (messages, seconds) per user, default ``(10, 10)``; ``None`` turns it off. Its
token authentication reads ``CHAT_TOKEN_FAILURE_LIMIT`` (failures, seconds) per client address, default ``(20, 60)``.
"""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "insecure-demo-key-change-me")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "channels_fanout",  # manage.py fanout_status, fanout_ping and the CHANNEL_LAYERS checks
    "testproject.chat",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "testproject.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

# An empty DATABASE_URL means the default too (dj_database_url.config would return no database for it).
DATABASES = {"default": dj_database_url.parse(os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}

ASGI_APPLICATION = "testproject.asgi.application"

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_fanout.FanoutChannelLayer",
        # Presence diffs reach each room's members as chat.presence events (chat.groups.PRESENCE_EVENT). A daphne
        # killed without a word has its users' offline notices sent by the others within presence_timeout plus a
        # third of it: 13.3 s at the default 10 s.
        "CONFIG": {"hosts": [REDIS_URL], "presence_message_type": "chat.presence"},
    }
}
# The flood control's counters, on the layer's Redis so every process counts together. Timeouts as the layer's
# command_timeout: a Redis that stops answering fails a post in 5 s instead of holding it forever.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": {"socket_connect_timeout": 5, "socket_timeout": 5},
    }
}

LOGIN_URL = "/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "static/"
