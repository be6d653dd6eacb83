from __future__ import annotations

import pytest

from apps.chargers import credentials


@pytest.mark.parametrize("password", ["short", "x" * 41])
def test_hash_password_enforces_ocpp_length(password):
    with pytest.raises(credentials.PasswordPolicyError, match="16 to 40"):
        credentials.hash_password(password)


def test_hash_password_is_salted():
    a = credentials.hash_password("same-password-12345")
    b = credentials.hash_password("same-password-12345")
    assert a != b
    assert credentials.check_password("same-password-12345", a)
    assert credentials.check_password("same-password-12345", b)


@pytest.mark.parametrize("encoded", ["", "garbage", "md5$salt$digest", "sha256$only-two"])
def test_check_password_rejects_malformed_hashes(encoded):
    assert not credentials.check_password("any-password-12345", encoded)


def test_generate_password_fits_the_policy():
    password = credentials.generate_password()
    credentials.validate_password(password)
    assert password.isalnum()
    assert credentials.generate_password() != password
