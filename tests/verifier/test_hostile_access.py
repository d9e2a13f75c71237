"""Who a verifier request acts as, what it may carry, and which bundles an offline
counter accepts (issue 13, kinds 2, 3 and 6): pure, no stack."""

import dataclasses
import urllib.parse

import cbor2
import pytest

from certseal import cose
from certseal.errors import CertsealError, ErrorKind
from services.verifier.access import (
    CLERK_METADATA,
    COUNTER_METADATA,
    MAX_CLERK_CHARS,
    MAX_PURPOSE_CHARS,
    Acting,
    acting_for,
    check_purpose,
)
from services.verifier.bundle import BundleSigner, open_bundle, verify_offline
from services.verifier.domain import FieldRights, Verdict, evaluate, parse_code
from tests.verifier.domain_samples import (
    DEPT,
    NOW,
    index_entry,
    licence_code,
    signer,
    trust_entry,
)
from tests.verifier.test_bundle import SIGNED, sign, snapshot

COUNTER = "91350100M000100Y43"
OTHER = "11100000000013338W"


def acting(caller, counter=None, clerk=None, counters=(), need_counter=True):
    return acting_for(
        caller,
        counter=counter,
        clerk=clerk,
        counters=frozenset(counters),
        group="g",
        need_counter=need_counter,
    )


def kind_of(call) -> tuple[ErrorKind, str | None]:
    with pytest.raises(CertsealError) as err:
        call()
    return err.value.kind, err.value.field


def test_a_department_and_an_operator_act_as_themselves():
    assert acting(f"dept:{COUNTER}") == Acting(f"dept:{COUNTER}", COUNTER)
    assert acting("operator:admin") == Acting("operator:admin", "")
    assert acting(f"dept:{COUNTER}", counters=[COUNTER]).department == COUNTER


def test_the_allow_list_refuses_a_department_outside_it():
    kind, _ = kind_of(lambda: acting(f"dept:{OTHER}", counters=[COUNTER]))
    assert kind is ErrorKind.PERMISSION_DENIED
    # the console acting for it is refused the same way
    kind, _ = kind_of(
        lambda: acting("service:console", f"dept:{OTHER}", "wang", counters=[COUNTER])
    )
    assert kind is ErrorKind.PERMISSION_DENIED


def seal_for(counter=None, clerk=None):
    return acting_for(
        "service:seal",
        counter=counter,
        clerk=clerk,
        counters=frozenset([OTHER]),
        group="g",
        one_code=True,
    )


def test_the_seal_service_verifies_a_file_for_the_party_it_names():
    """atk39holder: the usage record names who gave the seal service the file, with
    the default field rights (department ''), outside the allow-list too."""
    assert seal_for(f"dept:{COUNTER}") == Acting(
        f"dept:{COUNTER}", "", via="service:seal"
    )
    assert seal_for(f"dept:{COUNTER}", "li.si") == Acting(
        f"dept:{COUNTER}", "", clerk="li.si", via="service:seal"
    )
    assert seal_for("app:wallet") == Acting("app:wallet", "", via="service:seal")
    # percent-encoded UTF-8 (gRPC metadata is ASCII), recorded in its own characters
    # (atk39b_holder 1)
    assert seal_for("app:%E6%94%BF%E5%8A%A1%E9%92%B1%E5%8C%85") == Acting(
        "app:政务钱包", "", via="service:seal"
    )
    assert seal_for("operator:%E5%BC%A0%E4%B8%89") == Acting(
        "operator:张三", "", via="service:seal"
    )
    assert seal_for("app:a%25b") == Acting("app:a%b", "", via="service:seal")
    # a seal service that names nobody (an earlier version) acts as itself
    assert seal_for() == Acting("service:seal", "")


@pytest.mark.parametrize(
    ("counter", "clerk"),
    [
        ("dept:not-a-code", None),
        ("integrator:x", None),
        ("nobody", None),
        ("app:has space", None),
        ("app:has%20space", None),  # decoded first
        ("app:%0A", None),
        ("app:%E3%80%80", None),  # an ideographic space
        ("app:%FF", None),  # not UTF-8
        ("app:", None),
        ("app:" + "%E6%94%BF" * 129, None),  # over 128 characters
        ("app:wallet", "li.si"),  # a clerk is at a department's counter
        (None, "li.si"),
    ],
)
def test_the_seal_service_names_only_its_callers(counter, clerk):
    kind, _ = kind_of(lambda: seal_for(counter, clerk))
    assert kind is ErrorKind.INVALID_ARGUMENT


def test_only_verify_code_may_be_asked_by_the_seal_service_for_a_party():
    kind, _ = kind_of(lambda: acting("service:seal", f"dept:{COUNTER}", "li.si"))
    assert kind is ErrorKind.PERMISSION_DENIED


@pytest.mark.parametrize(
    "caller", ["service:certseal", "service:feed", "app:x", "integrator:y"]
)
def test_other_callers_may_not_verify(caller):
    assert kind_of(lambda: acting(caller))[0] is ErrorKind.PERMISSION_DENIED


def test_the_console_acts_for_the_counter_and_clerk_it_names():
    clerk = urllib.parse.quote("王小明")
    got = acting("service:console", f"dept:{COUNTER}", clerk, counters=[COUNTER])
    assert got == Acting(f"dept:{COUNTER}", COUNTER, "王小明", "service:console")
    # its operator page reads the index status as itself
    assert acting("service:console", need_counter=False).department == ""


@pytest.mark.parametrize(
    ("counter", "clerk", "kind", "field"),
    [
        (None, None, ErrorKind.PERMISSION_DENIED, COUNTER_METADATA),
        (f"dept:{COUNTER}", None, ErrorKind.PERMISSION_DENIED, CLERK_METADATA),
        (None, "wang", ErrorKind.PERMISSION_DENIED, COUNTER_METADATA),
        (COUNTER, "wang", ErrorKind.INVALID_ARGUMENT, COUNTER_METADATA),
        ("dept:NOT-A-CODE", "wang", ErrorKind.INVALID_ARGUMENT, COUNTER_METADATA),
        (f"dept:{COUNTER}", "", ErrorKind.INVALID_ARGUMENT, CLERK_METADATA),
        (f"dept:{COUNTER}", "%FF%FE", ErrorKind.INVALID_ARGUMENT, CLERK_METADATA),
        (f"dept:{COUNTER}", "a%00b", ErrorKind.INVALID_ARGUMENT, CLERK_METADATA),
        (
            f"dept:{COUNTER}",
            "x" * (MAX_CLERK_CHARS + 1),
            ErrorKind.INVALID_ARGUMENT,
            CLERK_METADATA,
        ),
    ],
)
def test_the_console_must_name_a_well_formed_counter_and_clerk(
    counter, clerk, kind, field
):
    assert kind_of(lambda: acting("service:console", counter, clerk)) == (kind, field)


@pytest.mark.parametrize("caller", [f"dept:{OTHER}", "operator:admin", "service:x"])
def test_only_the_console_may_name_a_counter(caller):
    for counter, clerk in ((f"dept:{COUNTER}", None), (None, "wang")):
        kind, _ = kind_of(lambda c=counter, k=clerk: acting(caller, c, k))
        assert kind is ErrorKind.PERMISSION_DENIED


def test_the_purpose_is_bounded():
    assert check_purpose("窗" * MAX_PURPOSE_CHARS) == "窗" * MAX_PURPOSE_CHARS
    for bad in ("", "  ", "窗" * (MAX_PURPOSE_CHARS + 1), "a\0b", "a\x1bb", "\ud800"):
        assert kind_of(lambda b=bad: check_purpose(b)) == (
            ErrorKind.INVALID_ARGUMENT,
            "purpose",
        )


async def test_only_a_trusted_signature_counts_as_the_departments():
    key = signer()
    code = parse_code(await licence_code(key))
    good = evaluate(
        code, trust=trust_entry(key), index=index_entry(), nonce_seen=False, now=NOW
    )
    assert good.verdict is Verdict.VALID and good.signed_by_trusted_key
    forger = signer()
    forged = evaluate(
        code,
        trust=dataclasses.replace(trust_entry(key), public_key=forger.public_key_der),
        index=index_entry(),
        nonce_seen=False,
        now=NOW,
    )
    assert forged.verdict is Verdict.BAD_SIGNATURE and not forged.signed_by_trusted_key
    unknown = evaluate(code, trust=None, index=index_entry(), nonce_seen=False, now=NOW)
    assert not unknown.signed_by_trusted_key
    revoked = evaluate(
        code,
        trust=trust_entry(key, revoked_at=NOW - dt_days(5)),
        index=index_entry(),
        nonce_seen=False,
        now=NOW,
    )
    assert revoked.verdict is Verdict.KEY_REVOKED and not revoked.signed_by_trusted_key
    # a code the index does not know is still the department's: its use is recorded
    unknown_licence = evaluate(
        code, trust=trust_entry(key), index=None, nonce_seen=False, now=NOW
    )
    assert unknown_licence.signed_by_trusted_key


def dt_days(n):
    import datetime as dt

    return dt.timedelta(days=n)


def test_field_rights_grant_restricted_fields_per_department():
    rights = FieldRights.parse(["T:A:class,points", "T:*:", "U:B:x"])
    assert (rights.granted("T", "A"), rights.granted("U", "B")) == (
        {"class", "points"},
        {"x"},
    )
    assert rights.granted("T", "C") == rights.granted("U", "C") == frozenset()


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    from certseal.devpki import DevCA

    return DevCA(tmp_path_factory.mktemp("hostile-bundle-ca"))


def signed_by(ca, identity: str, message: bytes) -> bytes:
    """``message``'s payload signed again with ``identity``'s key."""
    ident = ca.identity(identity)
    data = cbor2.loads(cose.parse_sign1(message).payload)
    return BundleSigner(ident.cert_file.read_bytes(), ident.key_file.read_bytes()).sign(
        data
    )


async def test_only_a_verifier_identity_signs_a_bundle(ca):
    key = signer()
    verifier = ca.identity("service:verifier")
    good = sign(
        BundleSigner(verifier.cert_file.read_bytes(), verifier.key_file.read_bytes()),
        snapshot(key, {}, group="dept-a"),
    )
    ca_pem = ca.ca_file.read_bytes()
    assert open_bundle([good], ca_pem=ca_pem, now=SIGNED).signer == "service:verifier"
    assert (
        open_bundle(
            [signed_by(ca, "service:verifier-dept-a", good)], ca_pem=ca_pem, now=SIGNED
        ).group
        == "dept-a"
    )
    # the event feed's key (the shared service:certseal pair in a dev stack), the
    # console's, another group's verifier, a department: none is a bundle signer
    for identity, message in (
        ("service:certseal", "not a verifier identity"),
        ("service:feed", "not a verifier identity"),
        ("service:console", "not a verifier identity"),
        ("service:verifiers", "not a verifier identity"),
        (f"dept:{DEPT}", "not a verifier identity"),
        ("service:verifier-dept-b", "not a verifier of group dept-a"),
    ):
        with pytest.raises(CertsealError, match=message):
            open_bundle([signed_by(ca, identity, good)], ca_pem=ca_pem, now=SIGNED)


async def test_an_offline_verdict_shows_the_codes_public_fields_only(ca):
    """A bundle carries no field value and no field rights; one of an older verifier
    that still names rights ("fields") narrows nothing: the code carries its public
    fields in clear anyway, and restricted ones are never in a code or a bundle."""
    key = signer()
    code = await licence_code(key)
    verifier = ca.identity("service:verifier")
    bundle_signer = BundleSigner(
        verifier.cert_file.read_bytes(), verifier.key_file.read_bytes()
    )
    type_code = DEPT + "001"
    ca_pem = ca.ca_file.read_bytes()
    for rights in (None, {type_code: []}, {type_code: ["class"]}, {"OTHER": []}):
        data = _payload(snapshot(key, {}), counter=f"dept:{COUNTER}")
        assert "fields" not in data
        if rights is not None:  # as an older verifier wrote it
            data["fields"] = rights
        bundle = open_bundle([bundle_signer.sign(data)], ca_pem=ca_pem, now=SIGNED)
        assert bundle.counter == f"dept:{COUNTER}"
        result = verify_offline(code, bundle, NOW)
        assert result.verdict is Verdict.VALID and result.fields == {"class": "C1"}
        assert result.restricted_fields == {}


def _payload(snap, counter):
    import datetime as dt

    from services.verifier.bundle import payload

    return payload(
        snap,
        issued_at=SIGNED,
        valid_until=SIGNED + dt.timedelta(hours=1),
        counter=counter,
    )
