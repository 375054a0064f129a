"""Drop-in modules for code written against other libraries' APIs, on bastion's core.

- :mod:`bastion.compat.pybreaker`: pybreaker 1.x (``CircuitBreaker``, ``CircuitBreakerError``,
  ``CircuitBreakerListener``).
"""
