"""``[verifier] usage_linger_ms``: how long the worker gathers plain codes' uses into
one usage record (services/verifier/gathering.py; docs/architecture.md §2c). The
records wait there, not in the Faust app's producer, which sends at once (a record
waiting in both would wait twice); a value outside 0 to 5,000 ms is refused naming
it. The gathering itself: tests/verifier/test_gathering.py."""

from __future__ import annotations

import pytest

from certseal.errors import CertsealError
from services.config import Config
from services.verifier.app import create_app
from services.verifier.config import VerifierConfig, check_fetch_waits


def _app(tmp_path, linger_ms: int):
    cfg = Config()
    cfg.verifier.group = "linger"
    cfg.verifier.data_dir = str(tmp_path)
    cfg.verifier.usage_linger_ms = linger_ms
    return create_app(cfg)


@pytest.mark.parametrize("linger_ms", [0, 200, 5_000])
def test_the_producer_does_not_linger_again(tmp_path, linger_ms):
    state = _app(tmp_path, linger_ms)
    try:
        assert state.app.conf.producer_linger == 0
    finally:
        state.index.close()


def test_the_default_is_200_ms():
    assert VerifierConfig().usage_linger_ms == 200


@pytest.mark.parametrize("linger_ms", [-1, 5_001, 60_000])
def test_a_linger_out_of_range_is_refused_naming_it(linger_ms):
    config = VerifierConfig()
    config.usage_linger_ms = linger_ms
    with pytest.raises(
        CertsealError, match=r"^verifier.usage_linger_ms: must be between 0 and"
    ):
        check_fetch_waits(config)
