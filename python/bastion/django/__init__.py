"""bastion for Django and Django REST framework: ``INSTALLED_APPS += ["bastion.django"]``.

- :mod:`bastion.django.conf`: ``settings.BASTION`` (store, key prefix, trusted proxies, outage
  policies) and the components built from it once per process.
- :mod:`bastion.django.checks`: ``manage.py check --deploy`` reports weak secrets, a JWT key equal
  to ``SECRET_KEY``, a memory store under several workers, fail-open limits on logins.
- :mod:`bastion.django.hashers`: ``PASSWORD_HASHERS`` under Django's algorithm names.
- :mod:`bastion.django.authentication`, :mod:`bastion.django.views`, :mod:`bastion.django.urls`:
  simplejwt's authentication and views on :class:`bastion.TokenService`.
- :mod:`bastion.django.throttling`: DRF's throttles, exact under concurrency.
- :mod:`bastion.django.middleware`: rate limits by path and method category.
- :mod:`bastion.django.lockout`: django-axes' settings on :class:`bastion.Lockout`.

See docs/django.md.
"""
