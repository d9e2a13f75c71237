# fixtures imported from the modules that define them are parameters here
# ruff: noqa: F811
"""atk44: what a refusal row of an audited attempt (``@attempted``) records of the
caller's text.

F2 (medium): ``certseal.refused.refusal_why`` keeps a refusal's message in the
audit row unless it holds a personal NUMBER. The holder service's refusal of a
field name quotes the name as sent (``'…' is not a field the holder can share``),
so a holder app's AuthoriseUse naming a person (the holder's name, ``张三``) or an
identity number split by three separators (``110101---19900307---7777``, which
``personal_number`` does not join) as a field to share wrote that text into
``audit_log.details.why``. Fixed: the row leaves out any text the message quotes. The module says the audit log holds none of the
caller's text (``certseal.audit.recordable``; atk43holder F6 "a refused file that
names no value"). Over gRPC, against the real database."""

from __future__ import annotations

import grpc
import pytest

from certseal.errors import invalid
from certseal.refused import refusal_why
from tests.issuer.test_audit42_holder_audit import (  # noqa: F401 (fixture)
    authorise_request,
    new_rows,
    refused,
    world,
)

#: text a holder app sends as a field name: a person's name, an identity number
#: written with three separators between its groups
SENT = {"name": "张三", "id-number": "110101---19900307---7777"}


@pytest.mark.parametrize("kind", list(SENT))
def test_refusal_why_quotes_no_text_the_caller_sent(kind):
    text = SENT[kind]
    error = invalid("fields", f"{text!r} is not a field the holder can share")
    assert text not in refusal_why(error)


@pytest.mark.parametrize("kind", list(SENT))
async def test_a_field_name_refused_is_not_written_into_the_audit_row(world, kind):
    w = world
    await new_rows(w, w["app"])
    text = SENT[kind]
    request = authorise_request(w)
    request.fields[:] = [text]
    said = await refused(
        w["holder_stub"].AuthoriseUse(request),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert text in said  # the caller is told its own text: no fault
    [(action, outcome, why)] = await new_rows(w, w["app"])
    assert (action, outcome) == ("licence.authorise", "denied")
    assert text not in why, why
