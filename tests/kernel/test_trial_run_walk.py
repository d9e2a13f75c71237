"""trial (a new user's walk-through) 10: after a restart (running again reuses the
data), ``make run``'s banner still said to begin with ``department add``, which then
failed "already onboarded". The banner says the setup is for the first time only,
and where to begin after a restart."""

from types import SimpleNamespace

from services.run_walk import walk_through


def test_the_walk_through_says_the_setup_is_once_and_where_a_restart_begins():
    cfg = SimpleNamespace(
        tls=SimpleNamespace(ca_file="ca.pem"),
        cli=SimpleNamespace(cert_file="cli.pem", key_file="cli.key"),
        issuer=SimpleNamespace(listen="127.0.0.1:50051"),
    )
    lines = walk_through(cfg, ".certseal/config.toml", "https://x/").splitlines()
    setup = next(i for i, line in enumerate(lines) if "department add" in line)
    said = " ".join(lines[:setup])
    assert "once" in said and "after a restart begin at licence … issue" in said
    issue = next(i for i, line in enumerate(lines) if "issue --type" in line)
    # the first three are the setup: department, key, type; then the issuance
    commands = [
        line.split()[1]
        for line in lines[setup:issue]
        if line.strip().startswith(".venv/bin/certseal")
    ]
    assert commands == ["department", "key", "type"]
