"""What a verifier worker checks before Faust starts (where a failure would be its
traceback and exit 1), and needs no broker: its identity, the files and the folder
its settings name, its settings' ranges and shape.

``python -m services.verifier`` runs these in order and stops at the first failure;
``certseal config check`` runs every one of :func:`config_checks` and reports each.
"""

from __future__ import annotations

import os
import stat
import tempfile
from functools import partial
from pathlib import Path

from certseal.checkpoints import NoteVerifier
from certseal.config import SettingCheck
from certseal.errors import invalid
from certseal.files import certificate_common_name, check_readable
from certseal.hsm import check_token_config, check_token_key_setting
from certseal.listen import address_checks, check_distinct_listens
from certseal.secretfiles import read_secret_file
from certseal.timestamps import utcnow
from certseal.tlsfiles import read_certificates, read_tls_identity
from services.verifier.config import (
    SETTING_CHECKS,
    VerifierSettings,
    check_bundle_certificate,
    worker_data_dir,
)
from services.verifier.domain import FieldRights
from services.verifier.group import peer_identities


def check_identity(cfg: VerifierSettings) -> str:
    """The common name of the certificate the worker presents (``[verifier]
    cert_file``, else ``[tls]``'s); in a partitioned group it must be
    ``service:verifier-<group>`` or the shared ``service:verifier``, as its peers
    require. CertsealError(INVALID_ARGUMENT, naming the setting the certificate
    comes from: ``verifier.cert_file`` or ``tls.cert_file``)."""
    vcfg = cfg.verifier
    field = vcfg.identity_fields("verifier")[1]
    identity = certificate_common_name(vcfg.identity(cfg.tls)[0], field)
    if vcfg.group_size > 1 and not peer_identities(vcfg.group, identity):
        raise invalid(
            field,
            f"names {identity!r}; a worker of a partitioned group presents "
            f"service:verifier-{vcfg.group} (or the shared service:verifier)",
        )
    return identity


def check_bundle_cert_file(cfg: VerifierSettings) -> None:
    """A token key's bundle certificate (``[verifier] bundle_cert_file``): readable,
    and one whose bundles the counters accept (:func:`check_bundle_certificate`)."""
    vcfg = cfg.verifier
    check_readable("verifier.bundle_cert_file", vcfg.bundle_cert_file)
    _, (bundle_cert, *_) = read_certificates(
        vcfg.bundle_cert_file, "verifier.bundle_cert_file"
    )
    _, (platform_ca, *_) = read_certificates(cfg.tls.ca_file, "tls.ca_file")
    check_bundle_certificate(
        bundle_cert,
        platform_ca,
        group=vcfg.group,
        now=utcnow(),
        described=vcfg.bundle_cert_file,
    )


def file_checks(cfg: VerifierSettings) -> list[SettingCheck]:
    """The files and the folder the worker's settings name, [kafka]'s TLS files,
    the index keys, and the transparency log's key, one check each."""
    vcfg = cfg.verifier
    checks: list[SettingCheck] = [
        # [kafka]'s TLS files: ssl would say "PEM lib" only when Faust first connects
        cfg.kafka.ssl_context,
        # what the gRPC server will present and trust, read and parsed
        partial(
            read_tls_identity,
            cfg.tls.ca_file,
            *vcfg.identity(cfg.tls),
            vcfg.identity_fields("verifier"),
        ),
    ]
    if vcfg.bundle_key:  # the TLS pair signs bundles otherwise: the file is not read
        checks.append(partial(check_bundle_cert_file, cfg))
    checks += [  # read whole: a key of the wrong size too
        partial(read_secret_file, Path(path), "verifier.index_key_files")
        for path in vcfg.index_key_files
    ]
    checks.append(partial(check_data_dir, str(worker_data_dir(vcfg))))
    if vcfg.log_target:
        checks.append(partial(NoteVerifier.parse, vcfg.log_key, "verifier.log_key"))
    return checks


def check_files(cfg: VerifierSettings) -> None:
    """Before Faust starts: :func:`file_checks` in order, the first failure raised.
    CertsealError(INVALID_ARGUMENT) naming the setting."""
    for check in file_checks(cfg):
        check()


def check_data_dir(path: str) -> None:
    """The worker's folder (:func:`~services.verifier.config.worker_data_dir`), or
    the nearest folder above it that exists (where the worker will make it), as the
    worker would use it, leaving nothing behind (a start refused for another reason
    leaves no folder): one empty folder is made there and removed, to see that one
    can be (the worker makes its tables' folders in it). A path that cannot be
    a folder (a regular file, a symbolic link loop, a dangling link such as a
    volume not mounted, a path under a file) or one this process may not write is
    INVALID_ARGUMENT ``verifier.data_dir``, not a traceback from ``mkdir`` once
    Faust runs (``Path.exists()`` is False for a loop or a dangling link)."""
    field = "verifier.data_dir"
    at = os.path.abspath(path)
    while True:
        try:
            status = os.stat(at)
        except FileNotFoundError:
            if os.path.lexists(at):
                raise invalid(
                    field, f"{at} is a symbolic link to nothing (a volume not mounted?)"
                ) from None
            parent = os.path.dirname(at)
            if parent == at:
                raise invalid(field, f"no folder of {path} exists") from None
            at = parent  # made by the worker: look at the folder above
            continue
        except NotADirectoryError:
            raise invalid(field, f"{path} is under a file, not a folder") from None
        except OSError as exc:
            raise invalid(field, f"cannot reach {at!r}: {exc.strerror}") from None
        except ValueError:  # a NUL in the path
            raise invalid(field, f"{path!r} is not a usable path") from None
        break
    if not stat.S_ISDIR(status.st_mode):
        raise invalid(field, f"{at} is not a folder")
    if not os.access(at, os.W_OK | os.X_OK):
        raise invalid(field, f"{at} is a folder this process may not write")
    # the worker will make folders in ``at``: make and remove one (os.access is
    # True for root also where nothing can be made, such as /proc)
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".certseal-check-", dir=at))
    except OSError as exc:
        raise invalid(field, f"no folder can be made in {at}: {exc}") from None


def config_checks(cfg: VerifierSettings) -> list[SettingCheck]:
    """Every check a worker's start makes that needs no broker, each apart (after
    :func:`~services.verifier.config.apply_worker_options` gave it its options):
    the field rights, :data:`~services.verifier.config.SETTING_CHECKS`, its identity,
    :func:`file_checks`, a token key's settings (the token not opened) and the listen
    addresses' form (not bound: the running worker may hold them)."""
    vcfg = cfg.verifier
    checks: list[SettingCheck] = [partial(FieldRights.parse, vcfg.field_rights)]
    checks += [partial(check, vcfg) for check in SETTING_CHECKS]
    checks.append(partial(check_identity, cfg))
    checks += file_checks(cfg)
    if vcfg.bundle_key:  # app.bundle_signer's checks before it opens the token
        setting = "verifier.bundle_key"
        checks += [
            partial(check_token_key_setting, cfg.pkcs11, vcfg.bundle_key, setting),
            partial(check_token_config, cfg.pkcs11),
        ]
    checks.append(partial(check_distinct_listens, vcfg, "verifier"))
    return checks + address_checks(vcfg, "verifier", ("listen",))
