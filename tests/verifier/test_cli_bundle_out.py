"""``certseal bundle fetch --out FILE`` replaces FILE: it updates a trust bundle, makes
a missing (or empty) file, and refuses any other file before anything is read or
fetched (cli-edges 1: ``--out README.md`` printed a warning and replaced the README
with bundle data, exit 0)."""

from __future__ import annotations

import datetime as dt
import types

import cbor2
import pytest

from certseal.devpki import DevCA
from certseal.errors import CertsealError, precondition
from certseal.v1 import verifier_pb2
from services.cli import main
from services.verifier import cli_bundle as verifier_cli
from services.verifier.bundle import BundleContent, BundleSigner, Snapshot, payload
from services.verifier.storage import read_bundle_file, write_bundle_file

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return DevCA(tmp_path_factory.mktemp("bundle-out-ca"))


def _message(ca: DevCA, version: int, base: int | None = None) -> bytes:
    ident = ca.identity("service:verifier")
    signer = BundleSigner(ident.cert_file.read_bytes(), ident.key_file.read_bytes())

    def snap(v: int) -> Snapshot:
        return Snapshot("dept-a", v, BundleContent({}, {}), NOW)

    return signer.sign(
        payload(
            snap(version),
            issued_at=NOW,
            valid_until=NOW + dt.timedelta(hours=1),
            base=snap(base) if base is not None else None,
        )
    )


@pytest.fixture
def verifier(ca, monkeypatch):
    """The verifier ``bundle fetch`` asks, stubbed: the requests it got, and a reply
    of a full bundle (version 1) or of the delta from the version asked for."""
    asked: list[int] = []

    def call_service(cfg, target, call, **kwargs):
        since = []

        class Channel:
            def unary_unary(self, *a, **k):
                return lambda request, **kw: since.append(request.since_version)

        call(Channel())
        asked.append(since[0])
        if since[0]:
            return verifier_pb2.ExportTrustBundleResponse(
                bundle=_message(ca, since[0] + 1, since[0]), base_version=since[0]
            )
        return verifier_pb2.ExportTrustBundleResponse(bundle=_message(ca, 1))

    cfg = types.SimpleNamespace(
        tls=types.SimpleNamespace(ca_file=ca.ca_file),
        cli=types.SimpleNamespace(verifier_target="127.0.0.1:1"),
    )
    monkeypatch.setattr(verifier_cli, "load", lambda args: cfg)
    monkeypatch.setattr(verifier_cli, "call_service", call_service)
    return asked


OTHER_FILES = {
    "README.md": "# certseal\n\nThe open-source backbone …\n".encode(),
    "in.pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n",
    "list.cbor": cbor2.dumps([b"not", b"cose"]),  # an array of byte strings
    "map.cbor": cbor2.dumps({"format": "certseal-trust-bundle/1"}),
    "garbage.bin": b"\xff" * 64,
}


@pytest.mark.parametrize("name", OTHER_FILES)
@pytest.mark.parametrize("full", [(), ("--full",)])
def test_a_file_that_is_no_bundle_is_refused_and_kept(
    name, full, verifier, tmp_path, capsys
):
    out = tmp_path / name
    out.write_bytes(OTHER_FILES[name])
    code = main(["bundle", "fetch", "--out", str(out), *full])
    said = (
        f"error: out: {out} names a PDF but the command writes a certseal trust bundle"
        if name.endswith(".pdf")  # refused by its name first (atk46 F7)
        else f"error: out: {out} is not a certseal trust bundle; refusing to replace "
        "it: give a new FILE, or the file of an earlier bundle fetch to update"
    )
    assert (code, capsys.readouterr().err.strip().splitlines()[-1]) == (2, said)
    assert out.read_bytes() == OTHER_FILES[name]
    assert verifier == []  # nothing fetched


def test_the_refusal_comes_before_the_configuration(tmp_path, capsys):
    out = tmp_path / "notes.txt"
    out.write_text("mine\n")
    argv = ["--config", str(tmp_path / "nowhere.toml"), "bundle", "fetch"]
    assert main([*argv, "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith(f"error: out: {out} is not a certseal")
    assert out.read_text() == "mine\n"


@pytest.mark.parametrize("existing", [None, b""])
def test_a_missing_or_empty_file_gets_a_full_bundle(
    existing, ca, verifier, tmp_path, capsys
):
    out = tmp_path / "counter.bundle"
    if existing is not None:
        out.write_bytes(existing)
    assert main(["bundle", "fetch", "--out", str(out)]) == 0
    assert verifier == [0]
    assert len(read_bundle_file(out)) == 1
    assert "(full," in capsys.readouterr().out


def test_a_bundle_is_updated_with_a_delta(ca, verifier, tmp_path, capsys):
    out = tmp_path / "counter.bundle"
    write_bundle_file(out, [_message(ca, 1)])
    assert main(["bundle", "fetch", "--out", str(out)]) == 0
    assert verifier == [1]
    assert len(read_bundle_file(out)) == 2
    assert "delta from 1" in capsys.readouterr().out


def test_a_bundle_of_another_platform_is_replaced_in_full(
    ca, verifier, tmp_path, capsys
):
    """A bundle that cannot be updated (another CA signed it) is still a bundle: it
    is replaced by a full one, as before, saying why."""
    out = tmp_path / "counter.bundle"
    write_bundle_file(out, [_message(DevCA(tmp_path / "other-ca"), 1)])
    assert main(["bundle", "fetch", "--out", str(out)]) == 0
    assert verifier == [0]
    assert "did not issue; fetching a full bundle" in capsys.readouterr().err
    assert len(read_bundle_file(out)) == 1


def test_a_bundle_cut_short_is_said_so_and_replaced_in_full(
    ca, verifier, tmp_path, capsys
):
    """trial49: a bundle file cut short was "not a certseal trust bundle" to
    ``verify --offline``, and ``bundle fetch`` refused to replace it, though it was
    the file of an earlier fetch."""
    out = tmp_path / "counter.bundle"
    write_bundle_file(out, [_message(ca, 1)])
    out.write_bytes(out.read_bytes()[:200])
    with pytest.raises(CertsealError) as err:
        read_bundle_file(out)
    assert err.value.field == "bundle"
    assert "is a certseal trust bundle file cut short or damaged" in err.value.message
    assert main(["bundle", "fetch", "--out", str(out)]) == 0
    assert verifier == [0]
    assert "cut short or damaged" in capsys.readouterr().err
    assert len(read_bundle_file(out)) == 1


def test_a_version_the_group_no_longer_keeps_is_said_in_the_users_words(
    ca, verifier, monkeypatch, tmp_path, capsys
):
    """trial49: the group's words for a program ("fetch a full bundle
    (since_version 0)") were printed, then the command did it itself."""
    asked = verifier
    stubbed = verifier_cli.call_service

    def call_service(cfg, target, call, **kwargs):
        reply = stubbed(cfg, target, call, **kwargs)
        if asked[-1]:
            raise precondition(
                "group dept-a no longer keeps bundle version 1; fetch a full bundle "
                "(since_version 0)",
                field="since_version",
            )
        return reply

    monkeypatch.setattr(verifier_cli, "call_service", call_service)
    out = tmp_path / "counter.bundle"
    write_bundle_file(out, [_message(ca, 1)])
    assert main(["bundle", "fetch", "--out", str(out)]) == 0
    assert asked == [1, 0]
    err = capsys.readouterr().err.strip()
    assert err == (
        f"{out}: group dept-a no longer keeps bundle 1, which the file holds (a "
        "worker restarted, or the group's bundles moved on); fetching a full bundle"
    ), err


@pytest.mark.parametrize(
    "other",
    [
        cbor2.dumps([210, [1, 2, 3, 4]]),  # D2 84 near the start of another array
        b"\x80\x04\x95\xd2\x84" + bytes(40),  # a pickle whose frame length holds it
        "a bundle's message, then a note",
    ],
)
def test_a_file_that_merely_starts_like_a_bundle_is_not_replaced(
    ca, verifier, tmp_path, capsys, other
):
    """atk50: any CBOR array holding ``D2 84`` in its first 16 bytes that did not read
    as an array of byte strings was taken for a bundle cut short, and replaced."""
    out = tmp_path / "mine.cbor"
    if isinstance(other, str):
        other = cbor2.dumps([_message(ca, 1), {"note": "mine"}])
    out.write_bytes(other)
    assert main(["bundle", "fetch", "--out", str(out)]) == 2
    assert "error: out: " in capsys.readouterr().err
    assert out.read_bytes() == other
    assert verifier == []


def test_a_bundle_cut_anywhere_after_its_start_is_replaced(ca, tmp_path):
    """Cut between its messages, in a message's head or within one: still a bundle."""
    from services.verifier.bundle_file_start import starts_as_bundle_file
    from services.verifier.storage import bundle_file_bytes

    data = bundle_file_bytes([_message(ca, 1), _message(ca, 2, 1)])
    assert all(starts_as_bundle_file(data[:cut]) for cut in range(4, len(data)))
