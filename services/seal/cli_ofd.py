"""What ``certseal seal verify-ofd`` says about an OFD's documents and the file as a
whole, beside each signature (pure: lines from a VerifyOfd reply)."""

from __future__ import annotations

from typing import Any


def signature_heading(one: Any, documents: int) -> str:
    """A signature's first line; the document it is in when the file has several,
    and a signature no list names (check ``listed``: taken out of it, or a file
    added) said so."""
    where = f", document {one.document}" if documents > 1 else ""
    if one.checks and one.checks[0].name == "listed" and not one.checks[0].passed:
        where += ", in no list: taken out, or added"
    ident = f"{one.signature_id} " if one.signature_id else ""
    return f"signature   {ident}{one.signature_path} ({one.type}{where})"


def ofd_file_lines(reply: Any) -> list[str]:
    """Each document of several and its verdict, a document holding no signature
    always (a reader shows it unsealed), then the file's verdict and why."""
    lines = [
        f"document    {d.document} {d.document_root or '(no DocRoot read)'}: "
        f"{d.verdict}"
        for d in reply.documents
        if len(reply.documents) > 1 or not reply.signatures
    ]
    lines.append(f"{len(reply.signatures)} signature(s)")
    if reply.verdict:
        said = f": {reply.detail}" if reply.detail else ""
        lines.append(f"file        {reply.verdict}{said}")
    return lines
