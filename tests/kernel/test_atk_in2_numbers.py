"""Outside attack "atk-in2" on whole numbers typed to the CLI (``whole_number``, which
``--broker-port`` and ``$BROKER_PORT`` share since 03da978): a number of more than
4,300 digits made ``int()`` raise ValueError (Python's limit on converting long
strings), so ``BROKER_PORT=999…9 certseal run`` ended in a traceback and
``--broker-port 999…9`` in argparse's ``invalid parse value``. It is out of range like
any other number too large."""

from __future__ import annotations

import argparse

import pytest

from certseal.cli_options import whole_number
from certseal.errors import CertsealError
from services.run_layers import broker_port_from_environment

HUGE = "9" * 5000


@pytest.mark.parametrize("text", [HUGE, "0" * 5000 + "80" + "0" * 5000, "-" + HUGE])
def test_atk_in2_a_number_of_thousands_of_digits_is_out_of_range(text):
    with pytest.raises(argparse.ArgumentTypeError) as err:
        whole_number(65535)(text)
    assert "is outside 0 to 65,535" in str(err.value)
    assert len(str(err.value)) < 200  # not the 5,000 digits back


def test_atk_in2_leading_zeros_are_still_a_number():
    assert whole_number(65535)("0" * 5000 + "80") == 80


def test_atk_in2_broker_port_of_thousands_of_digits_is_refused(monkeypatch):
    monkeypatch.setenv("BROKER_PORT", HUGE)
    with pytest.raises(CertsealError) as err:
        broker_port_from_environment()
    assert err.value.field == "BROKER_PORT"
    assert "is outside 0 to 65,535" in err.value.message
