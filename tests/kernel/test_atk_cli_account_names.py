"""Attack on 2edfe80: a new console account's name holds no phone number
(services/console/accounts.py ``new_account_name``, certseal/personal.py)."""

from __future__ import annotations

import pytest

from certseal.errors import CertsealError
from services.console.accounts import new_account_name


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("008613800138000", id="0086-prefix"),
        pytest.param("clerk.008613800138000", id="0086-prefix-after-a-name"),
    ],
)
def test_a_mobile_number_with_the_00_86_prefix_is_refused(name):
    with pytest.raises(CertsealError) as err:
        new_account_name(name)
    assert err.value.field == "name"
