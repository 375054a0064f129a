"""The bastion.django tests: a package, so its conftest never shadows tests/python/conftest.py."""
