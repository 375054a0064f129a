"""ManualClock: time moves only when told to."""

from __future__ import annotations

import pytest
from bastion import ManualClock


def test_manual_clock() -> None:
    assert ManualClock().now() == 0.0
    c = ManualClock(1_000.0)
    assert c.now() == 1_000.0
    c.advance(2.5)
    assert c.now() == 1_002.5
    c.advance(-0.5)
    assert c.now() == 1_002.0
    c.set(5)
    assert c.now() == 5.0
    c.advance(0.000001)
    assert c.now() == pytest.approx(5.000001)
    assert repr(ManualClock(7)) == "ManualClock(now=7)"


def test_frozen() -> None:
    c = ManualClock(1)
    with pytest.raises(AttributeError):
        c.now = 3  # type: ignore[method-assign]


def test_bad_arguments() -> None:
    with pytest.raises(TypeError):
        ManualClock("soon")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ManualClock(1).advance(None)  # type: ignore[arg-type]
