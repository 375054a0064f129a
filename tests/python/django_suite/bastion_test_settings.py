"""A minimal Django project for the bastion.django tests: real apps, an in-memory SQLite database."""

from __future__ import annotations

SECRET_KEY = "Wq3r8-Lm0v_PzXc7Tn2Kb5Hy9Jd4Fs6Ga1Re0Uo3Ii8Ee7Aa2Qw5Zx9Cv4Bn1Mm6Ll"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost"]
USE_TZ = True
ROOT_URLCONF = "django_suite.bastion_test_urls"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "bastion.django",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "bastion.django.middleware.RateLimitMiddleware",
    "bastion.django.lockout.LockoutMiddleware",
]

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

# Django's own hashers at low cost first (tests/python/test_password_interop.py relies on them when
# this settings module is the one configured); tests switch to bastion's with override_settings.
PASSWORD_HASHERS = [
    "django_fast_hashers.FastPBKDF2",
    "django_fast_hashers.FastPBKDF2SHA1",
    "django_fast_hashers.FastArgon2",
    "django_fast_hashers.FastBCryptSHA256",
    "django_fast_hashers.FastBCrypt",
]

AUTHENTICATION_BACKENDS = [
    "bastion.django.lockout.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]

SIMPLE_JWT = {
    "SIGNING_KEY": "jS8-fK2_qL9xVb4Rt7Np0Wc3Zm6Hd1Ya5Ge8Tu2Io4Pl7Kj0Mn3Bv6Cx9Za1Sd5Fg8Hq",
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["bastion.django.authentication.JWTAuthentication"],
    "DEFAULT_THROTTLE_RATES": {"anon": "5/minute", "user": "10/minute", "burst": "3/minute"},
}

AXES_FAILURE_LIMIT = 3
AXES_COOLOFF_TIME = 0.5  # hours, as django-axes reads a number

BASTION: dict[str, object] = {}
