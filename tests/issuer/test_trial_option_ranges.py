"""trial (a new user's walk-through) 8: ``type add --validity-days 0`` said "must be
between 1 and 36500 days" (the issuer) but ``-1`` "is outside 0 to 4,294,967,295"
(the protobuf field's range, from the parser): two ranges for one option. Every
whole-number option of the issuer's commands with a range of its own now takes that
range in the parser: one message, naming it, for every value outside."""

import pytest

from services.issuer.limits import MAX_KEY_VALIDITY_DAYS, MAX_TYPE_VALIDITY_DAYS

_DEPT = "91350100M000100Y43"
OPTIONS = [
    (
        ["type", "add", "--code", f"{_DEPT}002", "--name", "x", "--issuers", _DEPT,
         "--field", "a:string", "--validity-days"],
        "validity-days",
        ["0", "-1", str(MAX_TYPE_VALIDITY_DAYS + 1), "99999999999"],
        "is outside 1 to 36,500 days",
    ),
    (
        ["key", "create", _DEPT, "--suite", "sm2", "--validity-days"],
        "validity-days",
        ["-1", str(MAX_KEY_VALIDITY_DAYS + 1), "99999999999"],
        "is outside 0 to 3,650 days (0: 730)",
    ),
    (
        ["key", "rotate", _DEPT, "--suite", "sm2", "--validity-days"],
        "validity-days",
        ["-1", str(MAX_KEY_VALIDITY_DAYS + 1)],
        "is outside 0 to 3,650 days (0: 730)",
    ),
    (
        ["republish", "--max-events"],
        "max-events",
        ["-1", "100001", "99999999999"],
        "is outside 0 to 100,000 (0: 10,000)",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "option", "values", "said"), OPTIONS, ids=lambda v: str(v)[:30]
)
def test_every_value_outside_an_options_range_gets_its_one_message(
    argv, option, values, said, capsys
):
    from services.cli import main

    for value in values:
        with pytest.raises(SystemExit) as stopped:
            main([*argv, value])
        last = capsys.readouterr().err.splitlines()[-1]
        assert stopped.value.code == 2, last
        assert last.startswith(f"error: {option}: "), last
        assert last.endswith(said), (value, last)


def test_the_parser_takes_the_ranges_the_issuer_takes():
    from services.cli import build_parser

    parser = build_parser()
    base = OPTIONS[0][0]
    for days in ("1", str(MAX_TYPE_VALIDITY_DAYS)):
        assert parser.parse_args([*base, days]).validity_days == int(days)
    key = OPTIONS[1][0]
    for days in ("0", str(MAX_KEY_VALIDITY_DAYS)):
        assert parser.parse_args([*key, days]).validity_days == int(days)
