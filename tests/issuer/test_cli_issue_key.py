"""``licence issue --idempotency-key KEY`` issues once for the department's KEY, as
before f93fbbef: the key goes in IssueLicenceRequest's own ``idempotency_key`` field,
which the issuer keeps with the licence in the department's key space (the
``idempotency_keys`` table, shared with IssueLicences' per-item keys) for as long as
the licence, not only ``[idempotency] retention_hours`` (atk48 F2: sent as metadata
alone, the same key issued a second licence once its 72 hours had passed)."""

from __future__ import annotations

import re

from tests.conftest import run_certseal
from tests.issuer.test_interrupted_changes import (
    IDENTIFIER,
    _again,
    _issue_argv,
    _versions,
)


async def test_the_same_issue_key_after_its_retention_issues_nothing_new(
    config, issuer, dept, tmp_path
):
    argv, key = _issue_argv(dept), f"atk48-{dept.code}"
    first = await _again(config, tmp_path, issuer, argv, key)
    # the retention passes: the generic store's answer is gone (the purger's work)
    await issuer.pool.execute(
        "delete from idempotent_requests where caller = $1 and key = $2",
        f"dept:{dept.code}",
        key,
    )
    assert await _again(config, tmp_path, issuer, argv, key) == first
    assert await _versions(issuer, "type_code", dept.type_code) == 1


async def test_a_generated_issue_key_is_kept_with_the_licence(
    config, issuer, dept, tmp_path
):
    """Without --idempotency-key, the command's own key (cli-…) is the licence's,
    as before: a repeat with it is the same issuance even after the retention."""
    code, out = await run_certseal(
        config, tmp_path, *_issue_argv(dept), issuer_target=f"localhost:{issuer.port}"
    )
    assert code == 0, out
    identifier = IDENTIFIER.findall(out)[0]
    kept = await issuer.pool.fetchval(
        "select key from idempotency_keys where identifier = $1", identifier
    )
    assert kept is not None and re.fullmatch(r"cli-[0-9a-f]{32}", kept), kept
