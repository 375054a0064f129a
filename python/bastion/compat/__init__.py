"""Drop-in modules for code written against other libraries' APIs, on bastion's core.

- :mod:`bastion.compat.pybreaker`: pybreaker 1.x (``CircuitBreaker``, ``CircuitBreakerError``,
  ``CircuitBreakerListener``).
- :mod:`bastion.compat.redis_lock`: python-redis-lock 4.x (``Lock`` and its exceptions), on the
  core's leases.
"""
