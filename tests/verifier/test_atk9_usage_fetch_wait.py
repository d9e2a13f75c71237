"""atk9 (outside review of session 9): ``[verifier] usage_fetch_max_wait_ms``, the
replay guard's fetch wait, is taken as given. bench/broker_bench.py notes that
aiokafka's fetches with a wait of 0 never return from Tansu (checked by atk9 against a
broker of its own: a consumer with a wait of 0 got no record of a one-record topic in
4 s, with 1 ms at once): a guard configured with 0
would never catch up, and every presentation code would be UNAVAILABLE with no error
at start. The rules ask bad input to be refused naming the field (CLI ``error:
<field>: <problem>``, exit 2), never a hang. (The other fetch waits are not checked
either; they are older.)"""

from __future__ import annotations

import pytest

from certseal.errors import CertsealError
from services.config import Config
from services.verifier.app import create_app


@pytest.mark.parametrize("wait_ms", [0, -5])
def test_atk9_a_usage_fetch_wait_below_one_ms_is_refused_naming_it(tmp_path, wait_ms):
    """FINDING (low): create_app builds the replay guard with the wait as given."""
    cfg = Config()
    cfg.verifier.group = "atk9"
    cfg.verifier.data_dir = str(tmp_path)
    cfg.verifier.usage_fetch_max_wait_ms = wait_ms
    state = None
    try:
        with pytest.raises(CertsealError, match=r"verifier\.usage_fetch_max_wait_ms"):
            state = create_app(cfg)
    finally:
        if state is not None:
            state.index.close()
