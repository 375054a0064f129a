"""Reference deployment 1's security settings in bastion terms.

Environment: ``DJANGO_SECRET_KEY`` and ``JWT_SIGNING_KEY`` (required outside DEBUG, each at least
50 random characters, and different), ``DJANGO_DEBUG=1`` for development, ``REDIS_URL`` to share
limits, lockouts, revocations, the breaker and the cache between workers (memory otherwise),
``PLANT_API_URL`` for the paid identification API.
"""

from __future__ import annotations

import os
from datetime import timedelta

DEBUG = os.environ.get("DJANGO_DEBUG") == "1"

# Development falls back to generated keys (and `manage.py check` warns: bastion.W002); production
# must set both (`manage.py check --deploy` refuses weak or equal keys: bastion.E002/E003/E004).
if DEBUG:
    from django.core.management.utils import get_random_secret_key

    SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or get_random_secret_key()
    JWT_SIGNING_KEY = os.environ.get("JWT_SIGNING_KEY") or SECRET_KEY
else:
    SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
    JWT_SIGNING_KEY = os.environ["JWT_SIGNING_KEY"]

ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,testserver").split(",")
ROOT_URLCONF = "plantid.urls"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_DB", os.path.join(os.path.dirname(__file__), "db.sqlite3")),
    }
}

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "rest_framework",
    "bastion.django",
    "plantid.apps.PlantIdConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "bastion.django.middleware.RateLimitMiddleware",
    "bastion.django.lockout.LockoutMiddleware",
]

# Existing hashes (Django's pbkdf2_sha256, argon2, bcrypt_sha256) keep verifying; new ones are Argon2.
PASSWORD_HASHERS = [
    "bastion.django.hashers.Argon2PasswordHasher",
    "bastion.django.hashers.PBKDF2PasswordHasher",
    "bastion.django.hashers.BCryptSHA256PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 14}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# Lockout: 10 failures lock for 1 hour (per username and per IP address); an e-mail is sent
# (plantid.apps connects bastion.django.signals.user_locked_out); admins unlock with
# `manage.py bastion_unlock --username NAME`.
AUTHENTICATION_BACKENDS = [
    "bastion.django.lockout.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 10
AXES_COOLOFF_TIME = 1  # hour
AXES_RESET_ON_SUCCESS = True

SIMPLE_JWT = {
    "SIGNING_KEY": JWT_SIGNING_KEY,
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=15),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=7),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["bastion.django.authentication.JWTAuthentication"],
    "DEFAULT_THROTTLE_RATES": {
        # Identification calls a paid API: 100/hour per user in production, 10/hour in DEBUG;
        # anonymous clients stricter, per address.
        "identify_user": "10/hour" if DEBUG else "100/hour",
        "identify_anon": "3/hour",
    },
}

BASTION = {
    "STORE": os.environ.get("REDIS_URL", "memory://"),
    "KEY_PREFIX": "plantid:",
    # The load balancer's address range: X-Forwarded-For is believed from it only.
    "TRUSTED_PROXIES": os.environ.get("TRUSTED_PROXIES", "private").split(","),
    "JWT_COOKIE": {"SAMESITE": "Lax", "REFRESH_PATH": "/api/auth/"},
    "LOGIN_PATHS": ["/api/auth/login/"],
    "OUTAGE_POLICY": {"LOGIN_RATELIMIT": "fail_closed", "LOCKOUT": "local"},
    # Per IP: login 5 per 15 minutes, registration 3/hour, password reset 3/hour;
    # token refresh 10/hour per user (per IP without one).
    "RATELIMIT_RULES": [
        {"name": "login", "rate": "5/15m", "paths": ["/api/auth/login/"], "methods": "write", "key": "ip"},
        {
            "name": "register",
            "rate": "3/hour",
            "paths": ["/api/auth/register/"],
            "methods": "write",
            "key": "ip",
        },
        {
            "name": "reset",
            "rate": "3/hour",
            "paths": ["/api/auth/password-reset/"],
            "methods": "write",
            "key": "ip",
        },
        {"name": "refresh", "rate": "10/hour", "paths": ["/api/auth/refresh/"], "methods": "write"},
    ],
}

# The paid identification API, called through a breaker (3 failures open it for 60 s, 2 successes
# close it) and a cache computed once for concurrent identical requests.
PLANT_API_URL = os.environ.get("PLANT_API_URL", "https://plant-api.invalid/v1/identify")
IDENTIFY_UPSTREAM = "plantid.upstream.identify_remote"
IDENTIFY_CACHE_TTL = 24 * 3600

EMAIL_BACKEND = os.environ.get("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = "security@plantid.example"

SESSION_COOKIE_AGE = 7 * 24 * 3600
SECURE_SSL_REDIRECT = not DEBUG
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = not DEBUG

LOGGING = {
    "version": 1,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "bastion.django": {"handlers": ["console"], "level": "WARNING"},
        "plantid": {"handlers": ["console"], "level": "INFO"},
    },
}
