"""atk40: an outside attacker's tries at the seal service naming the party it
verifies a licence file for (``x-certseal-counter`` from ``service:seal`` on
VerifyCode, percent-encoded, ``access._file_reader``): pure, no stack.

Found:

* V1 (low) the seal service sending the metadata on another method (VerifyCodes,
  ExportTrustBundle: ``one_code`` False) is refused PERMISSION_DENIED saying "only
  service:console verifies on a counter's behalf", which its operator reads as the
  seal service never may; it may, on VerifyCode.

Held: any other identity sending the metadata (PERMISSION_DENIED); malformed
percent-encoding (a lone ``%`` or ``%zz`` is kept as written, so ``app:%zz`` is the
name ``%zz``, harmless; a stray byte, overlong UTF-8 ``%C0%AF`` and an encoded
surrogate are INVALID_ARGUMENT); encoded NUL, newline, tab, NBSP, ideographic space,
soft hyphen, bidi overrides (not printable or white space: refused); double
encoding (decoded once: ``app%253Ax`` has no kind); mixed case (``DEPT:``, a
lower-case code: refused); empty; over 128 characters; a name with ``:`` (kind
first: ``app:dept:<code>`` is an app); two values (the verifier refuses a key given
twice); a clerk with a party other than a department.
"""

from __future__ import annotations

import pytest

from certseal.errors import CertsealError, ErrorKind
from services.verifier.access import acting_for

COUNTER = "91350100M000100Y43"


def test_the_seal_service_naming_a_party_off_verify_code_is_told_where_it_may():
    with pytest.raises(CertsealError) as err:
        acting_for(
            "service:seal",
            counter=f"dept:{COUNTER}",
            clerk=None,
            counters=frozenset(),
            group="g",
        )
    assert err.value.kind is ErrorKind.PERMISSION_DENIED
    assert "only service:console verifies" not in err.value.message, err.value.message
    assert "VerifyCode" in err.value.message


@pytest.mark.parametrize("caller", ["dept:" + COUNTER, "operator:ops", "app:wallet"])
def test_another_caller_naming_a_party_is_told_only_the_console_may(caller):
    with pytest.raises(CertsealError) as err:
        acting_for(
            caller,
            counter=f"dept:{COUNTER}",
            clerk=None,
            counters=frozenset(),
            group="g",
        )
    assert err.value.kind is ErrorKind.PERMISSION_DENIED
    assert "only service:console verifies" in err.value.message, err.value.message


def test_the_seal_service_on_verify_code_still_names_the_party():
    acting = acting_for(
        "service:seal",
        counter=f"dept:{COUNTER}",
        clerk=None,
        counters=frozenset(),
        group="g",
        one_code=True,
    )
    assert acting.counter == f"dept:{COUNTER}" and acting.via == "service:seal"
