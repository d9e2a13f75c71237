"""The walk-through :mod:`services.run`'s banner suggests once the stack is up.
Split from :mod:`services.run` by size.

Running again reuses the data, so after a restart the demo's department, key and
licence type are there already: the banner said to add them as if for the first
time, and ``department add`` then failed "already onboarded" (a new user's trial
10). The setup is said as what it is: once, the first time."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def walk_through(cfg: Any, config_file: Path | str, console_url: str) -> str:
    """The commands to try, with this stack's files and addresses."""
    return f"""Try, in another terminal (the CLI finds {config_file}; README.md has the whole
walk-through: amend, transfer, revoke, seals). The first three set the demo up, once:
data kept from an earlier run has them already, so after a restart begin at
licence … issue:
  .venv/bin/certseal department add 91350100M000100Y43 --name 示例交警支队 --roles issuer,seal_owner --dev-identity
  .venv/bin/certseal key create 91350100M000100Y43 --suite sm2
  .venv/bin/certseal type add --code 91350100M000100Y43001 --name 机动车驾驶证 \\
      --issuers 91350100M000100Y43 --field class:string:required:public:title=准驾车型 --field address:string:personal:title=住址
  .venv/bin/certseal licence --as 91350100M000100Y43 issue --type 91350100M000100Y43001 \\
      --holder-name 张三 --id-number 440301199001011234 --field class=C1 --field address=深圳
  .venv/bin/certseal licence --as 91350100M000100Y43 code IDENTIFIER --png code.png
  .venv/bin/certseal verify --purpose 窗口办事 'LC1:...'    (quoted: a code has spaces; or --image code.png)
  .venv/bin/certseal verify --group region-demo --purpose 窗口办事 'LC1:...'   (the other group)
  .venv/bin/certseal bundle fetch --out counter.bundle   (then, with no network:)
  .venv/bin/certseal verify --offline --bundle counter.bundle 'LC1:...'
  .venv/bin/certseal seal inspect FILE.ses               (any SESeal or SES_Signature)
  .venv/bin/certseal events tail --since earliest        (the live event feed)
  .venv/bin/certseal id check IDENTIFIER
  .venv/bin/certseal audit verify
  .venv/bin/certseal log verify --licence IDENTIFIER     (its issuance is in the log)
  .venv/bin/certseal console account add ops --department 91350100M000100Y43 --role operator
      (it asks for a password of 12 characters or more; from a script, give it with
      --password-stdin; then sign in at {console_url}operator -
      the browser must trust {cfg.tls.ca_file})
gRPC reflection is on, for a gRPC tool of your own such as grpcurl (optional, not
installed by make setup; the certseal commands above need no such tool):
  grpcurl -cacert {cfg.tls.ca_file} -cert {cfg.cli.cert_file} -key {cfg.cli.key_file} {cfg.issuer.listen} list

Ctrl-C stops everything; running again reuses the data.
"""
