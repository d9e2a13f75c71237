"""The help line of every ``certseal`` option and argument that its command did not
give one (cli-edges 11: ``licence issue --help`` listed ``--type``, ``--holder-name``
and ``--id-type`` with no word of what they are or their default).

One table, by command and destination, then by destination alone for the arguments
every command means the same by (``--reason``, ``identifier``), filled in by
:func:`fill_help` once the parser is built; tests/kernel/test_cli_edges.py walks every
parser and fails on an option or argument left without one. Split from
:mod:`certseal.cli` by size.
"""

from __future__ import annotations

import argparse

#: (command, destination) -> help, for what means something of its own there
BY_COMMAND = {
    ("audit list", "outcome"): "only rows of this outcome",
    ("department add", "code"): "the department's USCC (18 characters)",
    ("department add", "name"): "the department's name, e.g. 示例交警支队",
    ("department roles", "code"): "the department's USCC",
    ("key retire", "kid"): "the key's id (key list prints it)",
    ("key revoke", "kid"): "the key's id (key list prints it)",
    ("key revoke", "reason"): "why the key is revoked (audited)",
    ("licence issue", "type"): "the licence type's code (type list prints them)",
    ("licence issue", "holder_name"): "the holder's name, as on the identity document",
    ("licence issue", "id_type"): "the holder's identity document type code "
    "(default 111, 居民身份证)",
    ("licence issue", "id_number"): "the holder's identity document number",
    ("licence amend", "holder_name"): "the holder's new name (default: unchanged)",
    ("licence transfer", "to"): "the receiving department's USCC (a listed issuer "
    "of the type)",
    ("licence list", "type"): "only licences of this licence type (its code)",
    ("licence list", "id_type"): "the type code of --id-number's document "
    "(default 111, 居民身份证)",
    ("licence list", "include_superseded"): "list versions replaced by an amendment "
    "or transfer too",
    ("feed webhook", "name"): "the webhook's name (replaced when it exists)",
    ("seal inspect", "file"): "an SES_Signature (DER) file",
    ("seal register", "name"): "the seal's name, e.g. 示例专用章",
    ("seal revoke", "reason"): "why the seal is revoked (audited)",
    ("seal document", "file"): "the document to seal (any file)",
    ("seal pdf", "file"): "the PDF to seal",
    ("seal pdf", "out"): "where the sealed PDF goes",
    ("seal pdf", "reason"): "the signature's reason, shown by PDF readers",
    ("seal verify-pdf", "file"): "the sealed PDF",
    ("seal ofd", "file"): "the OFD to seal",
    ("seal ofd", "out"): "where the sealed OFD goes",
    ("seal verify-ofd", "file"): "the sealed OFD",
    ("console account add", "role"): "clerk (the counter page) or operator (also "
    "the operations page)",
}

#: destination -> help, for what every command means the same by
BY_NAME = {
    "identifier": "the licence's identifier (GB/T 36904), as issue printed it",
    "reason": "why (recorded with the change and audited)",
    "seal_id": "the seal's id, as seal register or seal list printed it",
    "page_token": "the next page: the token the previous page printed",
    "department": "the department's USCC (18 characters)",
    "name": "the account's name",
}


def fill_help(parser: argparse.ArgumentParser, command: str = "") -> None:
    """Give every option and argument of ``parser`` and its subcommands that has no
    help line the one of :data:`BY_COMMAND` or :data:`BY_NAME`, and every subcommand
    without a description the help line its command lists it with (trial2b:
    ``certseal holder -h`` said nothing of what ``holder`` is)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            listed = {choice.dest: choice.help for choice in action._choices_actions}
            for word, sub in action.choices.items():
                if sub.description is None and listed.get(word):
                    sub.description = listed[word]
                fill_help(sub, f"{command} {word}".strip())
        elif action.help is None:
            found = BY_COMMAND.get((command, action.dest), BY_NAME.get(action.dest))
            if found is not None:
                action.help = found
