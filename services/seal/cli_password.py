"""An encrypted PDF's password for ``seal pdf`` and ``seal verify-pdf``: read from
``--password-file FILE``, and the seal service's refusal of it said as that option's
(exit 2, bad input), the password named as the one in FILE."""

from __future__ import annotations

from certseal.errors import CertsealError, ErrorKind, invalid
from certseal.files import read_regular_file
from certseal.text import shown_name

__all__ = ["password_hint", "password_in"]


def password_in(name: str | None) -> str:
    """An encrypted PDF's password: the first line of the file ``name`` (a file, so
    it stays out of the shell's history and the process list); "" without one."""
    if not name:
        return ""
    data = read_regular_file(name, "password-file", 4096)
    try:
        return data.decode().splitlines()[0] if data.strip() else ""
    except UnicodeDecodeError:
        raise invalid("password-file", "is not UTF-8 text") from None


#: the seal service's refusal of a password that opens the PDF neither as its user
#: nor as its owner (services/seal/pdf_open.py)
_WRONG_PASSWORD = "does not open this PDF"


def password_hint(
    exc: CertsealError, password_file: str | None = None
) -> CertsealError:
    """The service's error about an encrypted PDF's ``password`` (a request field the
    user never sees) as INVALID_ARGUMENT naming ``password-file``, the option that
    gives it, so it exits 2 like other bad input; any other error unchanged. A
    refused password is said as the one in ``password_file`` (a wrong one, nu39: "is
    not this PDF's password", with what to do)."""
    if exc.field != "password":
        return exc
    if not password_file or exc.kind is not ErrorKind.INVALID_ARGUMENT:
        return invalid(
            "password-file", f"{exc.message} (--password-file FILE, its first line)"
        )
    problem = exc.message
    if problem == _WRONG_PASSWORD:
        problem = (
            "is not this PDF's password: check it with whoever sent the PDF (its "
            "user or owner password), put it on the file's first line and try again"
        )
    return invalid(
        "password-file", f"the password in {shown_name(password_file)} {problem}"
    )
