"""Secret files: the 32-byte keys (KEK, personal-data key) that the configuration names.

Secrets are never values in the configuration; a deployment mounts them as files, and
the embedded stack creates them (mode 0600) on first run.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from pathlib import Path

from certseal.bounds import MAX_CA_BUNDLE_BYTES, MAX_SMALL_FILE_BYTES
from certseal.errors import CertsealError, invalid
from certseal.files import read_regular_file, without_bom

KEK = "secrets.kek_file"
"""The setting naming the key-encryption key's file (``[secrets] kek_file``)."""
DATA_KEY = "secrets.data_key_file"
"""The setting naming the personal-data key's file (``[secrets] data_key_file``)."""
ANSWERS_KEY = "secrets.answers_key_file"
"""The setting naming the file of the key that seals the answers kept for idempotency
keys (``[secrets] answers_key_file``, certseal.protectors.AnswerProtector)."""


def read_secret_file(
    path: Path, field: str, *, length: int = 32, create: bool = False
) -> bytes:
    """Read a binary secret of ``length`` bytes from the file that ``field`` (the
    setting, e.g. ``secrets.kek_file``, or the command's option) names; with
    ``create``, make a fresh one (random, mode 0600) if missing.

    Raises CertsealError(INVALID_ARGUMENT, ``field``) when the file cannot be read, is
    not a regular file, holds another length or one byte repeated (a placeholder such
    as ``truncate -s 32`` makes): the setting is wrong, whichever.
    """
    if create and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(os.urandom(length))
    # a regular file, read within a bound: a device or a FIFO is refused, not read
    data = read_regular_file(path, field, MAX_SMALL_FILE_BYTES)
    if len(data) != length:
        raise invalid(
            field, f"{path} must hold exactly {length} bytes, has {len(data)}"
        )
    if len(set(data)) == 1:  # `truncate -s 32`: a placeholder, not a key
        raise invalid(
            field,
            f"{path} holds one byte {length} times, a placeholder rather than a key; "
            f"write one with head -c {length} /dev/urandom",
        )
    return data


DSN = "database.dsn_file"
"""The setting naming the PostgreSQL connection string's file (``[database]
dsn_file``)."""

_DSN_SCHEMES = ("postgresql://", "postgres://")


def read_dsn_file(path: str | Path, field: str = DSN) -> str:
    """The PostgreSQL connection string in the file at ``path``: one line of UTF-8
    text (a leading byte order mark and surrounding white space dropped), a
    ``postgresql://`` (or ``postgres://``) URI, the form asyncpg takes.

    Raises CertsealError(INVALID_ARGUMENT, ``field``) when the file cannot be read,
    is not a regular file, is not UTF-8, is empty or blank (libpq's defaults would be
    used silently: a local socket, the user's own name), holds more than one line or
    control characters, or is not such a URI. The message never quotes the file's
    text: it holds a password."""
    data = without_bom(read_regular_file(path, field, MAX_SMALL_FILE_BYTES))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise invalid(
            field, f"{path} is not UTF-8 text (byte {exc.start}): write it as UTF-8"
        ) from None
    dsn = text.strip()
    if not dsn:
        raise invalid(
            field,
            f"{path} is empty or blank; it must hold the connection string, "
            "postgresql://user:password@host:port/database",
        )
    if any(ch in dsn for ch in "\r\n"):
        raise invalid(field, f"{path} holds more than one line; give one DSN")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in dsn):
        raise invalid(field, f"{path} holds control characters")
    if not dsn.lower().startswith(_DSN_SCHEMES):
        raise invalid(
            field,
            f"{path} holds no postgresql:// URI (asyncpg takes only that form, "
            "postgresql://user:password@host:port/database; not libpq's key=value "
            "form)",
        )
    check_dsn_files(dsn, field)
    return dsn


#: asyncpg's sslmode values, weakest first (libpq's order)
_SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def _dsn_query(dsn: str) -> dict[str, str]:
    """The DSN's query as asyncpg reads it (percent-decoded, the last of a repeated
    key); {} when it is none asyncpg would parse (it refuses the DSN then)."""
    try:
        query = urllib.parse.urlsplit(dsn).query
        pairs = urllib.parse.parse_qsl(query, strict_parsing=bool(query))
    except ValueError:
        return {}
    return dict(pairs)


def check_dsn_files(dsn: str, field: str = DSN) -> None:
    """Read and parse the files the DSN's query names, as asyncpg would open them
    (while it parses the string, before connecting): ``sslrootcert`` and
    ``sslcrl`` with ``sslmode`` require or stricter, ``sslcert`` (and its
    ``sslkey``) unless ``sslmode`` is disable. Each is read as a regular file
    within :data:`~certseal.bounds.MAX_SMALL_FILE_BYTES`, so a FIFO or a device
    does not block ``ssl`` for ever, and must hold what ``ssl`` expects (PEM
    certificates, PEM CRLs, a PEM private key): ``ssl`` would say ``[X509] PEM
    lib``, naming nothing. A file the query does not name is the one asyncpg takes
    instead: ``PGSSLROOTCERT`` (and the others), else one under ``~/.postgresql``
    that exists. CertsealError(INVALID_ARGUMENT, ``field``) naming the query setting
    (and where it was named) and its file; the DSN's text is never quoted."""
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    from certseal.tlsfiles import read_certificates

    query = _dsn_query(dsn)
    mode = query.get("sslmode") or os.environ.get("PGSSLMODE") or "prefer"
    if mode.replace("_", "-") not in _SSLMODES:
        return  # asyncpg refuses it: create_pool says so
    strength = _SSLMODES.index(mode.replace("_", "-"))

    def named(name: str) -> str | None:
        return _named_file(query, name)[0]

    def said(name: str) -> str:
        origin = _named_file(query, name)[1]
        return f"{name} ({origin})" if origin else name

    def reading(name: str, path: str) -> bytes:
        try:
            return without_bom(read_regular_file(path, field, MAX_SMALL_FILE_BYTES))
        except CertsealError as exc:
            raise invalid(field, f"its {said(name)}: {exc.message}") from None

    if strength >= _SSLMODES.index("require"):
        root = named("sslrootcert")
        if root:
            try:
                read_certificates(root, field, MAX_CA_BUNDLE_BYTES)
            except CertsealError as exc:
                raise invalid(
                    field, f"its {said('sslrootcert')}: {exc.message}"
                ) from None
        crl = named("sslcrl")
        if crl:
            data = reading("sslcrl", crl)
            try:
                x509.load_pem_x509_crl(data)
            except ValueError:
                raise invalid(
                    field,
                    f"its {said('sslcrl')}: {crl} holds no PEM certificate revocation list",
                ) from None
    cert = named("sslcert")
    if strength > _SSLMODES.index("disable") and cert:
        try:
            read_certificates(cert, field)
        except CertsealError as exc:
            raise invalid(field, f"its {said('sslcert')}: {exc.message}") from None
        key_name = "sslkey" if named("sslkey") else "sslcert"
        key = named("sslkey") or cert
        data = reading(key_name, key)
        password = query.get("sslpassword", "")
        try:
            serialization.load_pem_private_key(
                data, password=password.encode() if password else None
            )
        except TypeError:  # encrypted and no sslpassword
            raise invalid(
                field,
                f"its {said(key_name)}: {key} is encrypted and no sslpassword is set",
            ) from None
        except (ValueError, UnsupportedAlgorithm):
            raise invalid(
                field,
                f"its {said(key_name)}: {key} holds no PEM private key"
                + (" (or not one sslpassword opens)" if password else ""),
            ) from None


#: the files asyncpg opens under ~/.postgresql when neither the DSN nor PG* names one
_DOT_POSTGRESQL = {
    "sslrootcert": "root.crt",
    "sslcrl": "root.crl",
    "sslcert": "postgresql.crt",
    "sslkey": "postgresql.key",
}


def _named_file(query: dict[str, str], name: str) -> tuple[str | None, str]:
    """The file asyncpg opens for the query setting ``name`` and where it was named
    ("" for the DSN): the query's, else the environment's (``PGSSLROOTCERT``, ...),
    else the one under ``~/.postgresql`` when it exists (asyncpg skips a missing
    one). Read here too, since ``ssl``'s errors name no file: a file's fault would
    pass for the connection's."""
    if query.get(name):
        return query[name], ""
    variable = f"PG{name.upper()}"
    if os.environ.get(variable):
        return os.environ[variable], f"from {variable}"
    try:
        default = Path.home() / ".postgresql" / _DOT_POSTGRESQL[name]
    except RuntimeError:  # no home folder: asyncpg opens none either
        return None, ""
    if default.exists():
        return str(default), f"~/.postgresql/{_DOT_POSTGRESQL[name]}"
    return None, ""


_SECRET_KEYS = ("password", "sslpassword")


def _without_query_secrets(dsn: str) -> str:
    """The DSN with the values of ``password=`` and ``sslpassword=`` in its query cut
    out (as far as the next ``&`` or the end)."""
    head, mark, query = dsn.partition("?")
    if not mark:
        return dsn
    kept = [
        f"{key}=" if key in _SECRET_KEYS else item
        for item in query.split("&")
        for key in [item.partition("=")[0]]
    ]
    return head + "?" + "&".join(kept)


def dsn_secrets(dsn: str) -> list[str]:
    """The DSN's secret parts: the password of its user information (from the user
    name's ``:`` to the DSN's last ``@`` outside the query's password values,
    whatever characters it holds, ``/ ? # @`` unencoded too) and the values of
    ``password`` and ``sslpassword`` in its query."""
    rest = _without_query_secrets(dsn.split("://", 1)[-1])
    found = [rest.rpartition("@")[0].partition(":")[2]] if "@" in rest else []
    query = _dsn_query(dsn)
    found += [query[k] for k in _SECRET_KEYS if query.get(k)]
    return [secret for secret in found if secret]


def quotes_a_secret(text: str, dsn: str) -> bool:
    """Whether ``text`` holds a piece of one of the DSN's secrets (any three of its
    characters in a row, or the whole of a shorter one): a message that does must
    not be shown."""
    for secret in dsn_secrets(dsn):
        if len(secret) <= 3:
            if secret in text:
                return True
            continue
        if any(secret[i : i + 3] in text for i in range(len(secret) - 2)):
            return True
    return False


def dsn_host(dsn: str) -> str:
    """The host(s) and port(s) of the DSN's authority as a URI parser reads them
    ("" when there are none, or when they cannot be told apart from the user
    information or would quote a piece of a password)."""
    try:
        netloc = urllib.parse.urlsplit(dsn).netloc
    except ValueError:
        return ""
    host = netloc.rpartition("@")[2]
    if not _host_is_plain(dsn, netloc):
        return ""
    return "" if quotes_a_secret(host, dsn) else host


#: where asyncpg looks when neither the DSN nor PGHOST names a host (not Windows)
_DEFAULT_HOSTS = ("/run/postgresql", "/var/run/postgresql", "/tmp", "/private/tmp")


def dsn_address(dsn: str) -> str:
    """Where asyncpg connects for the DSN, as it may be shown: each host and port it
    tries, a Unix socket folder as the socket's path (``/dir/.s.PGSQL.5432``), from
    the DSN's authority, else its ``host``/``port`` query settings, else PGHOST and
    PGPORT, else asyncpg's defaults. Never a piece of a password: "" when the hosts
    cannot be told apart from the user information or would quote one."""
    try:
        netloc = urllib.parse.urlsplit(dsn).netloc
    except ValueError:
        return ""
    if not _host_is_plain(dsn, netloc):
        return ""
    query = _dsn_query(dsn)
    hosts: list[str] = []
    ports: list[str] = []
    for item in filter(None, netloc.rpartition("@")[2].split(",")):
        host, port = _host_and_port(item)
        hosts.append(urllib.parse.unquote(host))
        ports.append(port)
    if not any(hosts):
        hosts = (query.get("host") or os.environ.get("PGHOST") or "").split(",")
        ports = [""] * len(hosts)
    if not any(hosts):
        hosts = [*_DEFAULT_HOSTS, "localhost"]
        ports = [""] * len(hosts)
    default = (query.get("port") or os.environ.get("PGPORT") or "5432").split(",")
    if not any(ports) and len(default) == len(hosts):
        ports = default
    ports = [port or default[0] for port in ports]
    shown = ", ".join(
        (
            host
            if ".s.PGSQL." in host
            else f"{host.rstrip('/')}/.s.PGSQL.{port}"
            if host.startswith("/")
            else f"{host}:{port}"
        )
        for host, port in zip(hosts, ports, strict=True)
    )
    return "" if quotes_a_secret(shown, dsn) else shown


def _host_and_port(item: str) -> tuple[str, str]:
    """``host[:port]`` of a DSN's authority ("[::1]:5432" keeps its brackets)."""
    if item.startswith("["):
        host, _, rest = item.partition("]")
        return host + "]", rest.removeprefix(":")
    host, _, port = item.partition(":")
    return host, port


#: a host list as asyncpg takes it: host[:port], comma-separated; IPv6 in brackets
_HOSTS = re.compile(
    r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._%-]*)(?::\d*)?"
    r"(?:,(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._%-]*)(?::\d*)?)*"
)


def _host_is_plain(dsn: str, netloc: str) -> bool:
    """Whether ``host`` (what a URI parser takes as the DSN's host) is surely the
    host: it reads as a host list, and no ``@`` stands after it outside the query's
    password values (a password holding ``/ ? #`` unencoded moves the parser's
    authority inside it, and its "host" is then a piece of the password)."""
    tail = _without_query_secrets(dsn.split("://", 1)[-1])
    host = netloc.rpartition("@")[2]
    return (
        tail.startswith(netloc)
        and bool(_HOSTS.fullmatch(host))
        and "@" not in tail[len(netloc) :]
    )


_QUERY_SECRETS = ("password", "sslpassword")


def dsn_has_password(dsn: str) -> bool:
    """Whether the DSN holds a password, in its user information or its query (what
    :func:`redact_dsn` shows as ``***``); True when it cannot be read at all."""
    try:
        netloc = urllib.parse.urlsplit(dsn).netloc
    except ValueError:
        return True
    user, at, _host = netloc.rpartition("@")
    if at and user.partition(":")[2]:
        return True
    return any(_dsn_query(dsn).get(key) for key in _QUERY_SECRETS)


def redact_dsn(dsn: str) -> str:
    """The DSN as it may be shown: scheme, host(s), port and database, the user
    name, and the query's settings but their password values, which read ``***``
    (as the user information's password does; an empty one is shown as none, not
    as ``***``). The host part is shown only when it can be told apart from the
    user information (else ``<host>``)."""
    try:
        parts = urllib.parse.urlsplit(dsn)
        netloc = parts.netloc
    except ValueError:
        return "postgresql://<withheld>"
    user, at, host = netloc.rpartition("@")
    if not _host_is_plain(dsn, netloc):
        return f"{parts.scheme}://<withheld>"  # an @ where no URI parser expects it
    if at:  # "user:@" (no password, as pgserver writes it) shows no ***
        name, _colon, password = user.partition(":")
        user = f"{name}:***@" if password else f"{name}@"
    query = [
        (key, "***" if key in _QUERY_SECRETS and value else value)
        for key, value in _dsn_query(dsn).items()
    ]
    shown = f"{parts.scheme}://{user}{host}{parts.path}"
    if query:
        shown += "?" + urllib.parse.urlencode(query, safe="/:*")
    text = shown
    return "postgresql://<withheld>" if quotes_a_secret(text, dsn) else text
