"""The verified-token cache: same answers as without it, rules rerun on every hit."""

import bastion
import bastion.jwt as jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

NOW = 1_700_000_000


@pytest.fixture
def es256():
    private = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode({"sub": "a", "aud": "api", "exp": NOW + 60}, private, algorithm="ES256")
    return token, private.public_key()


def test_repeat_decodes_agree_and_time_rules_rerun(es256):
    token, public = es256
    clock = bastion.ManualClock(NOW)
    first = jwt.decode(token, public, algorithms=["ES256"], audience="api", clock=clock)
    assert jwt.decode(token, public, algorithms=["ES256"], audience="api", clock=clock) == first
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(token, public, algorithms=["ES256"], audience="other", clock=clock)
    with pytest.raises(jwt.InvalidAlgorithmError):
        jwt.decode(token, public, algorithms=["RS256"], audience="api", clock=clock)
    clock.advance(60)
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(token, public, algorithms=["ES256"], audience="api", clock=clock)


def test_another_key_never_hits(es256):
    token, public = es256
    clock = bastion.ManualClock(NOW)
    jwt.decode(token, public, algorithms=["ES256"], audience="api", clock=clock)
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, other, algorithms=["ES256"], audience="api", clock=clock)


def test_size_can_be_changed_and_turned_off(es256):
    token, public = es256
    before = bastion.set_verified_token_cache_size(0)
    try:
        assert before == 4096
        clock = bastion.ManualClock(NOW)
        assert jwt.decode(token, public, algorithms=["ES256"], audience="api", clock=clock)["sub"] == "a"
    finally:
        bastion.set_verified_token_cache_size(before)
