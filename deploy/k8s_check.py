"""``make k8s-check``: render every overlay and check it offline, against the operators'
rules and the code.

For each overlay in deploy/k8s/overlays: ``kubectl kustomize`` renders it (kubectl's
built-in kustomize, no cluster needed). The versions come from docs/operations.md's
"Supported versions" table (:mod:`deploy.k8s_versions`): every built-in object is
validated against the Kubernetes OpenAPI schemas of the oldest and newest Kubernetes
named, in strict mode (kubernetes-validate: a typo'd field fails); every custom resource
against the CRD schemas of the minimum and newest version of its operator
(:mod:`deploy.k8s_schemas`: unknown and required fields, enums, patterns, CEL rules);
the Kafka version against what each named Strimzi supports. Then what the API server
and the operators check beyond the schemas (:mod:`deploy.k8s_rules`,
:mod:`deploy.k8s_podsecurity`): every namespaced object in the overlay's namespace,
every reference resolved there, CloudNativePG's memory and backup rules, the restricted
Pod Security Standard for every pod (Strimzi's too) and the ``release`` label. And the
manifests must agree with the code: every topic the code uses is declared with the
code's partitions and settings, every verifier worker may create its Faust topics and group, the
mounted configuration loads and its ports are the ones the containers and Services
expose, every container is hardened and probed, and every alert has its entry in
docs/operations.md. Least privilege, against the code: each component mounts exactly the
secret files (DSN, KEK, data key, index key, log key) its code reads, may reach
PostgreSQL exactly when its code opens it, and presents ``service:<component>``; every
target a component's configuration calls (the console's groups, the issuer's seal
service, the seal service's verifier group, the verifiers' transparency log) is a
Service port its NetworkPolicies let it reach, and they let it reach no other
component's port. Exit status 1 lists every problem.
"""

from __future__ import annotations

import functools
import json
import posixpath
import re
import subprocess
import sys
import tempfile
import urllib.parse
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from deploy import k8s_podsecurity, k8s_rules, k8s_schemas
from deploy.k8s_versions import supported_versions

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = K8S / "overlays"
COMPONENTS = ("issuer", "seal", "feed", "verifier", "console", "tlog")
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
# secrets the operator creates before deploying (docs/operations.md, "Secrets")
OPERATOR_SECRETS = {
    "certseal-keys",
    "certseal-answers-key",
    "certseal-index-key",
    "certseal-seal-ca",
    "certseal-platform-ca",
    "certseal-backup-s3",
    "certseal-log-key",
    "certseal-tsa",
}
# the files of certseal-config (mounted at /etc/certseal) the components layer, in order
CONFIG_FILES = ("config.toml", "site.toml", "console.toml")
CONFIG_DIR = "/etc/certseal"
# the label naming the verifier group of a group's objects (deploy/k8s/overlays/*/verifiers)
GROUP_LABEL = "certseal.gov.cn/verifier-group"


def render(overlay: Path) -> list[dict[str, Any]]:
    """The overlay's objects, as ``kubectl kustomize`` renders them."""
    try:
        done = subprocess.run(
            ["kubectl", "kustomize", str(overlay)],
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        raise SystemExit(
            "k8s-check needs kubectl (its built-in kustomize renders the overlays)"
        ) from None
    if done.returncode != 0:
        raise SystemExit(f"kustomize failed for {overlay}:\n{done.stderr}")
    return [o for o in yaml.safe_load_all(done.stdout) if o]


def _name(obj: dict[str, Any]) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def versions() -> dict[str, tuple[str, str]]:
    """The supported versions (docs/operations.md), key -> (minimum, newest)."""
    return supported_versions()


def operators(table: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """The operators' rows of the table (every key but ``kubernetes``)."""
    return {k: v for k, v in table.items() if k != "kubernetes"}


def _kubernetes(version: str) -> str:
    return ".".join(version.split(".")[:2])


def check_schemas(
    objects: Iterable[dict[str, Any]], table: dict[str, tuple[str, str]] | None = None
) -> Iterator[str]:
    """Custom resources against their operators' CRDs, built-in kinds against the
    Kubernetes OpenAPI schemas, at the minimum and newest supported versions."""
    table = table or versions()
    custom = operators(table)
    groups = {
        api.rpartition("/")[0]
        for operator, pair in custom.items()
        for version in pair
        for api, _ in k8s_schemas.load(operator, version)
    }
    for obj in objects:
        group = obj.get("apiVersion", "").rpartition("/")[0]
        if group in groups:
            for problem in k8s_schemas.validate(obj, custom):
                yield f"{_name(obj)}: {problem}"
            continue
        text = json.dumps(obj, sort_keys=True)
        for version in sorted(set(table["kubernetes"])):
            for problem in _builtin_problems(text, version):
                yield f"{_name(obj)}: {problem}"


@functools.cache
def _builtin_problems(text: str, version: str) -> tuple[str, ...]:
    """The problems of one built-in object (its JSON, keys sorted) against the
    Kubernetes OpenAPI schema of ``version``. Kept per object text: kubernetes_validate
    reads its schema files again on every call, and the same objects are checked again
    and again (each overlay, each edited copy in the tests)."""
    obj = json.loads(text)
    try:
        kubernetes_validate.validate(obj, _kubernetes(version), strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(str(p) for p in exc.path)
        return (f"{where}: {exc.message} (Kubernetes {version})",)
    except kubernetes_validate.SchemaNotFoundError:
        return (
            f"no schema for {obj.get('apiVersion')} {obj.get('kind')} in "
            f"Kubernetes {version}",
        )
    return ()


def check_versions(
    objects: list[dict[str, Any]], table: dict[str, tuple[str, str]] | None = None
) -> Iterator[str]:
    """The table names versions with stored schemas, and the Kafka version every named
    Strimzi version supports."""
    table = table or versions()
    yield from k8s_schemas.missing_versions(operators(table))
    for obj in objects:
        if obj.get("kind") != "Kafka":
            continue
        wanted = str(((obj.get("spec") or {}).get("kafka") or {}).get("version", ""))
        for version in sorted(set(table["strimzi"])):
            path = k8s_schemas.SCHEMAS / "strimzi" / version / "kafka-versions.json"
            if not path.exists():
                continue
            supported = json.loads(path.read_text())["supported"]
            if wanted not in supported:
                yield (
                    f"{_name(obj)}: Strimzi {version} does not support Kafka "
                    f"{wanted or '(no spec.kafka.version)'} "
                    f"(it supports {', '.join(supported)})"
                )


def check_rules(
    objects: list[dict[str, Any]], table: dict[str, tuple[str, str]] | None = None
) -> Iterator[str]:
    """What the API server and the operators check beyond the schemas: namespaces,
    references, CloudNativePG's memory rule and backup, the restricted Pod Security
    Standard (the operators' pods too) and kube-prometheus-stack's release label."""
    table = table or versions()
    yield from k8s_rules.check_namespaces(objects, operators(table))
    yield from k8s_rules.check_references(objects, OPERATOR_SECRETS)
    yield from k8s_rules.check_postgres(objects, table["cloudnative-pg"][1])
    for obj in objects:
        for _, pod in k8s_rules.pod_templates(obj):
            yield from k8s_podsecurity.restricted(_name(obj), pod)
    for who, pod in k8s_podsecurity.strimzi_pods(objects):
        yield from k8s_podsecurity.restricted(who, pod)
    yield from check_release_label(objects)


def check_release_label(objects: list[dict[str, Any]]) -> Iterator[str]:
    """Every ServiceMonitor and PrometheusRule carries the overlay's one ``release``
    label (kube-prometheus-stack's default selectors ignore the others)."""
    values = {}
    for obj in objects:
        if obj.get("kind") in ("ServiceMonitor", "PrometheusRule"):
            release = (obj["metadata"].get("labels") or {}).get("release")
            if not release:
                yield (
                    f"{_name(obj)}: no release label; kube-prometheus-stack would "
                    "ignore it (set it in the overlay)"
                )
            else:
                values[_name(obj)] = release
    if len(set(values.values())) > 1:
        yield f"monitoring objects disagree on the release label: {values}"


def _pod_specs(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if obj.get("kind") in WORKLOADS:
        yield obj["spec"]["template"]["spec"]


def check_pods(objects: Iterable[dict[str, Any]]) -> Iterator[str]:
    """Hardened, probed, resourced containers that run a real component."""
    for obj in objects:
        for pod in _pod_specs(obj):
            who = _name(obj)
            context = pod.get("securityContext") or {}
            if not context.get("runAsNonRoot") or context.get("runAsUser", 0) == 0:
                yield f"{who}: the pod must run as a non-root user (runAsNonRoot)"
            if pod.get("automountServiceAccountToken") is not False:
                yield f"{who}: automountServiceAccountToken must be false"
            for container in pod.get("containers", []):
                yield from _check_container(who, container)


def _check_container(who: str, container: dict[str, Any]) -> Iterator[str]:
    where = f"{who} container {container.get('name')}"
    for probe in ("readinessProbe", "livenessProbe"):
        if probe not in container:
            yield f"{where}: no {probe}"
    sc = container.get("securityContext") or {}
    if sc.get("runAsUser") == 0 or sc.get("runAsNonRoot") is not True:
        yield f"{where}: must run as non-root (securityContext.runAsNonRoot)"
    if sc.get("allowPrivilegeEscalation") is not False:
        yield f"{where}: allowPrivilegeEscalation must be false"
    if sc.get("readOnlyRootFilesystem") is not True:
        yield f"{where}: readOnlyRootFilesystem must be true"
    if (sc.get("capabilities") or {}).get("drop") != ["ALL"]:
        yield f"{where}: capabilities must drop ALL"
    resources = container.get("resources") or {}
    for part in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            if resource not in (resources.get(part) or {}):
                yield f"{where}: no {part}.{resource}"
    image = container.get("image", "")
    if image.endswith(":latest") or ":" not in image.rpartition("/")[2]:
        yield f"{where}: image {image!r} is not pinned to a version"
    args = container.get("args") or []
    module = args[0] if args else ""
    if module.startswith("services."):
        main = ROOT / Path(*module.split(".")) / "__main__.py"
        if not main.exists():
            yield f"{where}: runs {module}, which has no __main__"
    else:
        yield f"{where}: args must start with the component's module (services.X)"


def code_topics() -> dict[str, Any]:
    """The topics the code declares, and any other topic name its source mentions."""
    from certseal.events import default_topics

    declared: dict[str, Any] = {
        spec.name: spec for spec in default_topics(_partitions())
    }
    pattern = re.compile(r"""["'](certseal\.[a-z0-9-]+\.v[0-9]+)["']""")
    for folder in ("certseal", "services", "examples"):
        for path in (ROOT / folder).rglob("*.py"):
            for name in pattern.findall(path.read_text()):
                declared.setdefault(name, None)
    return declared


def _partitions() -> int:
    config = ROOT / "deploy" / "k8s" / "base" / "config.toml"
    from services.config import load as load_config

    return load_config(config).kafka.topic_partitions


def check_topics(objects: list[dict[str, Any]]) -> Iterator[str]:
    """Every topic the code uses is declared, as the code declares it."""
    topics = {
        t["spec"].get("topicName", t["metadata"]["name"]): t
        for t in objects
        if t.get("kind") == "KafkaTopic"
    }
    for name, spec in code_topics().items():
        topic = topics.get(name)
        if topic is None:
            yield f"topic {name} is used by the code but no KafkaTopic declares it"
            continue
        if spec is None:
            continue
        if topic["spec"]["partitions"] != spec.partitions:
            yield (
                f"topic {name}: {topic['spec']['partitions']} partitions, the code "
                f"declares {spec.partitions}"
            )
        config = topic["spec"].get("config") or {}
        for key, value in spec.configs().items():
            if str(config.get(key)) != value:
                yield f"topic {name}: {key} is {config.get(key)!r}, the code says {value!r}"
    # A verifier group's workers (pods) each create their own Faust topics
    # (certseal-verifier-<group>-<pod>-<table>-changelog, its assignor) and consumer
    # group under the group's prefix: its Kafka user must be allowed to.
    users = [o for o in objects if o.get("kind") == "KafkaUser"]
    for group in _verifier_groups(objects):
        prefix = f"certseal-verifier-{group}-"
        for kind, needs in (("topic", {"All", "Create"}), ("group", {"All", "Read"})):
            if not any(
                acl["resource"]["type"] == kind
                and acl["resource"]["name"] == prefix
                and acl["resource"].get("patternType") == "prefix"
                and needs & set(acl.get("operations") or ())
                for user in users
                for acl in user["spec"]["authorization"]["acls"]
            ):
                yield (
                    f"verifier group {group}: no Kafka user may create its workers' "
                    f"{kind}s {prefix}* (prefix ACL)"
                )


def _configmap_files(objects: list[dict[str, Any]]) -> dict[str, str]:
    for obj in objects:
        if (
            obj.get("kind") == "ConfigMap"
            and obj["metadata"]["name"] == "certseal-config"
        ):
            return dict(obj.get("data") or {})
    return {}


def _verifier_groups(objects: list[dict[str, Any]]) -> list[str]:
    groups = []
    for obj in objects:
        if obj.get("kind") == "ConfigMap" and "GROUP" in (obj.get("data") or {}):
            groups.append(obj["data"]["GROUP"])
    return groups


def _port(listen: str) -> int:
    return int(listen.rpartition(":")[2])


def overlay_config(objects: list[dict[str, Any]]) -> Any:
    """The configuration certseal-config mounts, loaded as the components load it.

    Raises ``CertsealError`` when it does not load, ``KeyError`` without config.toml.
    """
    from services.config import load as load_config

    files = _configmap_files(objects)
    if "config.toml" not in files:
        raise KeyError("config.toml")
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for name in CONFIG_FILES:
            path = Path(folder) / name
            path.write_text(files.get(name, ""))
            paths.append(path)
        return load_config(paths)


def check_config(objects: list[dict[str, Any]]) -> Iterator[str]:
    """The mounted configuration loads, and its ports are the containers' and Services'."""
    from certseal.errors import CertsealError

    try:
        cfg = overlay_config(objects)
    except KeyError:
        yield "ConfigMap certseal-config has no config.toml"
        return
    except CertsealError as exc:
        yield f"ConfigMap certseal-config: {exc}"
        return
    sections: dict[str, Any] = {
        "issuer": cfg.issuer,
        "seal": cfg.seal,
        "feed": cfg.feed,
        "verifier": cfg.verifier,
        "tlog": cfg.tlog,
    }
    wanted: dict[str, dict[str, int]] = {
        name: {
            "grpc": _port(section.listen),
            "probe": _port(section.probe_listen) if section.probe_listen else 0,
            "metrics": _port(section.metrics_listen) if section.metrics_listen else 0,
        }
        for name, section in sections.items()
    }
    wanted["console"] = {"https": _port(cfg.console.listen)}
    if cfg.seal.tsa_listen:
        wanted["seal"]["tsa"] = _port(cfg.seal.tsa_listen)
    for obj in objects:
        for pod in _pod_specs(obj):
            for container in pod["containers"]:
                component = container["name"]
                ports = {p["name"]: p["containerPort"] for p in container["ports"]}
                for name, number in wanted.get(component, {}).items():
                    if number and ports.get(name) != number:
                        yield (
                            f"{_name(obj)}: port {name} is {ports.get(name)}, the "
                            f"configuration listens on {number}"
                        )
                for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                    grpc = (container.get(probe) or {}).get("grpc")
                    if grpc and grpc["port"] != wanted[component]["probe"]:
                        yield f"{_name(obj)}: {probe} asks port {grpc['port']}, not the probe port"
        if obj.get("kind") == "Service":
            component = (
                obj["metadata"].get("labels", {}).get("app.kubernetes.io/component")
            )
            for port in obj["spec"]["ports"]:
                expected = wanted.get(component or "", {}).get(port["name"])
                if expected is not None and port["port"] != expected:
                    yield (
                        f"{_name(obj)}: port {port['name']} is {port['port']}, the "
                        f"configuration listens on {expected}"
                    )
    services = {
        o["metadata"]["name"]: {p["port"] for p in o["spec"]["ports"]}
        for o in objects
        if o.get("kind") == "Service"
    }
    for caller, setting, target in calls(cfg):
        host, _, port = target.rpartition(":")
        if not port.isdigit() or int(port) not in services.get(host, set()):
            yield f"{caller}: {setting} {target} is not a Service port in this overlay"
    yield from _check_wanted_calls(cfg)
    yield from _check_config_files(objects)
    kafka = [o for o in objects if o.get("kind") == "Kafka"]
    bootstrap = f"{kafka[0]['metadata']['name']}-kafka-bootstrap" if kafka else None
    host, _, port = cfg.kafka.bootstrap_servers.partition(",")[0].rpartition(":")
    listeners = kafka[0]["spec"]["kafka"].get("listeners", []) if kafka else []
    if host != bootstrap or int(port) not in {x["port"] for x in listeners}:
        yield f"[kafka] bootstrap_servers {cfg.kafka.bootstrap_servers} is not the Kafka's"


def calls(cfg: Any) -> list[tuple[str, str, str]]:
    """Every gRPC or HTTP target a component's configuration calls inside the
    cluster: (component, setting, HOST:PORT); unset optional targets are left out."""
    found = [
        ("console", "[console] verifier_targets", t)
        for t in cfg.console.verifier_targets
    ]
    found += [
        ("console", "[console] seal_target", cfg.console.seal_target),
        ("console", "[console] issuer_target", cfg.console.issuer_target),
    ]
    found += [
        (
            "console",
            "[console] metrics_sources",
            source.partition("=")[2].split("//")[1].split("/")[0],
        )
        for source in cfg.console.metrics_sources
    ]
    for component, setting, value in (
        ("issuer", "[issuer] seal_target", cfg.issuer.seal_target),
        ("seal", "[seal] verifier_target", cfg.seal.verifier_target),
        ("verifier", "[verifier] log_target", cfg.verifier.log_target),
    ):
        if value:
            found.append((component, setting, value))
    tsa = in_cluster(cfg.seal.tsa_url)
    if tsa:
        found.append(("seal", "[seal] tsa_url", tsa))
    return found


def in_cluster(url: str) -> str:
    """The HOST:PORT of an http(s) ``url`` whose host is a Service of this namespace
    (a bare name, or ``NAME.NAMESPACE.svc[.cluster.local]``: taken as NAME); "" for
    an empty URL or one outside the cluster (an outside TSA)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if not host or parts.scheme not in ("http", "https"):
        return ""
    name, _, rest = host.partition(".")
    if rest and not re.fullmatch(r"[a-z0-9-]+\.svc(\.cluster\.local)?", rest):
        return ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return f"{name}:{parts.netloc.rpartition(':')[2]}"  # not a port: said so
    return f"{name}:{port}"


def _check_wanted_calls(cfg: Any) -> Iterator[str]:
    """What the cluster's features need configured: licence files (the issuer's seal
    service), their status (the seal service's verifier group) and the transparency
    log's checkpoint in every verification (its target and a key that parses and
    names the log's origin)."""
    from certseal.checkpoints import NoteVerifier
    from certseal.errors import CertsealError

    if not cfg.issuer.seal_target:
        yield "[issuer] seal_target is empty: the issuer could not make licence files"
    if not cfg.seal.verifier_target:
        yield "[seal] verifier_target is empty: VerifyPdf could not tell a licence's status"
    if not cfg.verifier.log_target:
        yield "[verifier] log_target is empty: verifications would carry no checkpoint"
        return
    try:
        key = NoteVerifier.parse(cfg.verifier.log_key, "verifier.log_key")
    except CertsealError as exc:
        yield f"[verifier] log_key: {exc.message}"
        return
    if key.name != cfg.tlog.origin:
        yield (
            f"[verifier] log_key is {key.name}'s, not the log's ([tlog] origin "
            f"{cfg.tlog.origin})"
        )


def _check_config_files(objects: list[dict[str, Any]]) -> Iterator[str]:
    """Each component loads the configuration files certseal-config holds, in the
    order :data:`CONFIG_FILES` gives (the order the check loads them in)."""
    files = _configmap_files(objects)
    for obj in objects:
        for pod in _pod_specs(obj):
            for container in pod.get("containers", []):
                component = _component(container)
                if component is None:
                    continue
                args = [str(a) for a in container.get("args") or []]
                layered = [
                    args[i + 1] for i, a in enumerate(args[:-1]) if a == "--config"
                ]
                wanted = [
                    f"{CONFIG_DIR}/{name}"
                    for name in CONFIG_FILES
                    if name != "console.toml" or component == "console"
                ]
                if layered != wanted:
                    yield (
                        f"{_name(obj)}: loads {layered}, not {wanted} (the files "
                        "certseal-config layers)"
                    )
                for path in layered:
                    if posixpath.basename(path) not in files:
                        yield f"{_name(obj)}: certseal-config has no {path}"


def check_references(objects: list[dict[str, Any]]) -> Iterator[str]:
    """Every component is covered by a NetworkPolicy and a ServiceMonitor, ACLs name
    declared topics, every verifier pod is a named worker (references: :mod:`deploy.k8s_rules`)."""
    policies = {
        (o["spec"]["podSelector"].get("matchLabels") or {}).get(
            "app.kubernetes.io/component"
        )
        or (o["spec"]["podSelector"].get("matchLabels") or {}).get(
            "app.kubernetes.io/name"
        )
        for o in objects
        if o.get("kind") == "NetworkPolicy"
    }
    if "default-deny" not in {
        o["metadata"]["name"] for o in objects if o.get("kind") == "NetworkPolicy"
    }:
        yield "no default-deny NetworkPolicy"
    monitors = {
        o["spec"]["selector"]["matchLabels"].get("app.kubernetes.io/name")
        for o in objects
        if o.get("kind") == "ServiceMonitor"
    }
    for component in COMPONENTS:
        if component not in policies:
            yield f"{component}: no NetworkPolicy allows its traffic"
        if component != "console" and component not in monitors:
            yield f"{component}: no ServiceMonitor scrapes it"
    topics = {
        o["spec"].get("topicName", o["metadata"]["name"])
        for o in objects
        if o.get("kind") == "KafkaTopic"
    }
    for obj in objects:
        if obj.get("kind") != "KafkaUser":
            continue
        for acl in obj["spec"]["authorization"]["acls"]:
            resource = acl["resource"]
            if resource["type"] != "topic":
                continue
            name, prefix = resource["name"], resource.get("patternType") == "prefix"
            if prefix and {"All", "Create"} & set(acl.get("operations") or ()):
                continue  # topics the user creates itself (verifier workers' Faust)
            if not any(t.startswith(name) if prefix else t == name for t in topics):
                yield f"{_name(obj)}: its ACL names topic {name}, which is not declared"
    for obj in objects:
        if obj.get("kind") != "StatefulSet":
            continue
        for container in obj["spec"]["template"]["spec"]["containers"]:
            args = container.get("args") or []
            if args[:1] == ["services.verifier"] and "--worker" not in args:
                yield (
                    f"{_name(obj)}: a verifier pod needs --worker (its pod name): "
                    "without it the group's pods would split its small tables"
                )


# The secret files the configuration names, what in a component's code
# (services/<component>/, its CLI included: operators run it in the pod) reads each,
# and the secret key behind it; "{cluster}" is any CloudNativePG Cluster's name.
SECRET_FILES: tuple[tuple[str, str, str, str], ...] = (
    (
        "database.dsn_file",
        r"^\s*(?:import|from)\s+asyncpg\b|\.dsn\(\)",
        "{cluster}-app",
        "uri",
    ),
    ("secrets.kek_file", r"\bkek_file\b", "certseal-keys", "kek"),
    ("secrets.data_key_file", r"\bdata_key_file\b", "certseal-keys", "data-key"),
    # the key sealing kept answers: every component with an idempotent method
    (
        "secrets.answers_key_file",
        r"@idempotent\b|\bIdempotencyStore\(",
        "certseal-answers-key",
        "answers-key",
    ),
    # the index key sealing restricted field values: the issuer and verifiers only
    ("issuer.index_key_file", r"\bindex_key_file\b", "certseal-index-key", "index-key"),
    (
        "verifier.index_key_files",
        r"\bindex_key_files\b",
        "certseal-index-key",
        "index-key",
    ),
    # the transparency log's Ed25519 key: the log alone
    ("tlog.signing_key_file", r"\bsigning_key_file\b", "certseal-log-key", "log.key"),
    # the platform TSA's key and certificate, and the roots its tokens are checked
    # against: the seal service alone
    ("seal.tsa_key_file", r"\btsa_key_file\b", "certseal-tsa", "tsa.key"),
    ("seal.tsa_cert_file", r"\btsa_cert_file\b", "certseal-tsa", "tsa.pem"),
    (
        "seal.tsa_trusted_ca_files",
        r"\btsa_trusted_ca_files\b",
        "certseal-tsa",
        "ca.pem",
    ),
)
POSTGRES_PORT = 5432


@functools.cache
def code_reads(component: str) -> frozenset[str]:
    """The SECRET_FILES settings that ``services/<component>/``'s code reads."""
    code = "\n".join(
        path.read_text() for path in (ROOT / "services" / component).rglob("*.py")
    )
    return frozenset(
        setting
        for setting, pattern, _, _ in SECRET_FILES
        if re.search(pattern, code, re.MULTILINE)
    )


def _setting(cfg: Any, dotted: str) -> list[str]:
    """The paths a setting names (one, or each of a list of files)."""
    section, _, name = dotted.partition(".")
    value = getattr(getattr(cfg, section), name)
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _component(container: dict[str, Any]) -> str | None:
    args = container.get("args") or [""]
    name = str(args[0]).removeprefix("services.")
    return name if name in COMPONENTS else None


def _mounted_secret_files(
    pod: dict[str, Any], container: dict[str, Any]
) -> dict[str, tuple[str, str]]:
    """Each file a container sees from a secret: its path -> (secret, key)."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    files: dict[str, tuple[str, str]] = {}
    for mount in container.get("volumeMounts", []):
        volume = volumes.get(mount["name"], {})
        secrets = [
            s["secret"]
            for s in (volume.get("projected") or {}).get("sources", [])
            if "secret" in s
        ]
        if "secret" in volume:
            secrets.append({"name": volume["secret"]["secretName"], **volume["secret"]})
        for secret in secrets:
            for item in secret.get("items") or []:
                path = posixpath.join(mount["mountPath"], item["path"])
                files[posixpath.normpath(path)] = (secret["name"], item["key"])
    return files


def _selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """Whether a pod selector selects ``labels`` (empty or missing: every pod)."""
    return k8s_rules.matches(selector or {}, labels)


def _opens_port(rule: dict[str, Any], port: int) -> bool:
    ports = rule.get("ports")
    return not ports or any(
        p.get("port") == port and p.get("protocol", "TCP") == "TCP" for p in ports
    )


def _peer_is(peer: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a NetworkPolicy peer covers this namespace's pods with ``labels``."""
    if "ipBlock" in peer or peer.get("namespaceSelector") not in (None, {}):
        return False  # addresses, or other namespaces' pods
    return _selects(peer.get("podSelector"), labels)


def _allows(
    objects: list[dict[str, Any]],
    source: dict[str, str],
    target: dict[str, str],
    port: int,
) -> tuple[bool, bool]:
    """(egress from ``source`` pods allowed, ingress to ``target`` pods allowed) on
    ``port``, under the NetworkPolicies of one namespace."""
    policies = [o["spec"] for o in objects if o.get("kind") == "NetworkPolicy"]

    def allowed(direction: str, selected: dict[str, str], peer: dict[str, str]) -> bool:
        kind, field = ("Egress", "to") if direction == "egress" else ("Ingress", "from")
        governing = [
            p
            for p in policies
            if _selects(p.get("podSelector"), selected)
            and kind in p.get("policyTypes", ["Ingress"])
        ]
        if not governing:
            return True  # no policy isolates these pods in this direction
        return any(
            _opens_port(rule, port)
            and (field not in rule or any(_peer_is(q, peer) for q in rule[field]))
            for policy in governing
            for rule in policy.get(direction) or []
        )

    return allowed("egress", source, target), allowed("ingress", target, source)


def _presented_identity(
    cfg: Any, component: str, files: dict[str, tuple[str, str]]
) -> tuple[str, str | None]:
    """(the client certificate file a component presents, the secret it comes from)."""
    if component == "console":
        path = cfg.console.cert_file
    else:
        path = getattr(cfg, component).identity(cfg.tls)[0]
    source = files.get(posixpath.normpath(path))
    return path, source[0] if source else None


def check_access(objects: list[dict[str, Any]]) -> Iterator[str]:
    """Each component gets what its code needs, and no more.

    It mounts exactly the secret files (SECRET_FILES) its code reads, each from the
    secret that holds it; it may reach PostgreSQL (its own egress and the database's
    ingress NetworkPolicies) exactly when its code opens PostgreSQL; and the client
    certificate it presents is ``service:<component>`` (a verifier group's:
    ``service:verifier-<group>``).
    """
    from certseal.errors import CertsealError

    try:
        cfg = overlay_config(objects)
    except (KeyError, CertsealError):
        return  # check_config says why
    clusters = [o["metadata"]["name"] for o in objects if o.get("kind") == "Cluster"]
    certificates = {
        o["spec"]["secretName"]: o for o in objects if o.get("kind") == "Certificate"
    }
    for obj in objects:
        for pod in _pod_specs(obj):
            labels = obj["spec"]["template"]["metadata"].get("labels") or {}
            for container in pod.get("containers", []):
                component = _component(container)
                if component is None:
                    continue
                who = _name(obj)
                files = _mounted_secret_files(pod, container)
                reads = code_reads(component)
                checks = [
                    (setting, posixpath.normpath(path), secret, key)
                    for setting, _, secret, key in SECRET_FILES
                    for path in _setting(cfg, setting)
                ]
                # a file two settings name (the issuer's and the verifiers' index
                # key) is needed when the code reads either
                needed = {path for setting, path, _, _ in checks if setting in reads}
                for setting, path, secret, key in checks:
                    names = {secret.format(cluster=c) for c in clusters}
                    source = files.get(path)
                    if setting in reads and source is None:
                        yield (
                            f"{who}: its code reads [{setting.replace('.', '] ')} "
                            f"({path}), but nothing mounts it"
                        )
                    elif path not in needed and source is not None:
                        yield (
                            f"{who}: mounts {path} (secret {source[0]}), which its "
                            "code never reads"
                        )
                    elif source is not None and (
                        source[0] not in names
                        # a list of files (index keys during a rotation): key, key-*
                        or not (
                            source[1] == key
                            or (
                                setting.endswith("_files")
                                and source[1].startswith(f"{key}-")
                            )
                        )
                    ):
                        yield (
                            f"{who}: {path} is {source[0]}'s {source[1]}, not "
                            f"{' or '.join(sorted(names))}'s {key}"
                        )
                opens = "database.dsn_file" in reads
                for cluster in clusters:
                    egress, ingress = _allows(
                        objects, labels, {"cnpg.io/cluster": cluster}, POSTGRES_PORT
                    )
                    for allowed, what in (
                        (egress, "its egress"),
                        (ingress, f"{cluster}'s ingress"),
                    ):
                        if opens and not allowed:
                            yield (
                                f"{who}: its code opens PostgreSQL, but no "
                                f"NetworkPolicy allows {what} on {POSTGRES_PORT}"
                            )
                        elif allowed and not opens:
                            yield (
                                f"{who}: NetworkPolicies allow {what} to PostgreSQL, "
                                "which its code never opens"
                            )
                path, secret_name = _presented_identity(cfg, component, files)
                certificate = certificates.get(secret_name or "")
                wanted = f"service:{component}"
                if component == "verifier":
                    # a group's own identity: only its workers look up each other's
                    # entries (services.verifier.group.peer_identities)
                    group = labels.get(GROUP_LABEL, "default")
                    wanted = f"service:verifier-{group}"
                if certificate is None:
                    yield f"{who}: its client certificate {path} is no Certificate's"
                elif certificate["spec"].get("commonName") != wanted:
                    yield (
                        f"{who}: presents {certificate['spec'].get('commonName')} "
                        f"({_name(certificate)}), not {wanted}"
                    )


def _workload_pods(
    objects: list[dict[str, Any]],
) -> Iterator[tuple[dict[str, Any], dict[str, str], dict[str, Any]]]:
    """(workload, its pods' labels, its pod spec) for every workload."""
    for obj in objects:
        for pod in _pod_specs(obj):
            yield obj, obj["spec"]["template"]["metadata"].get("labels") or {}, pod


def _service_backends(
    objects: list[dict[str, Any]], host: str, port: int
) -> list[tuple[dict[str, str], int]]:
    """The pods (labels) behind Service ``host``'s ``port``, with the container port
    it forwards to (a named targetPort resolved in each pod)."""
    service = next(
        (
            o
            for o in objects
            if o.get("kind") == "Service" and o["metadata"]["name"] == host
        ),
        None,
    )
    if service is None or not service["spec"].get("selector"):
        return []
    entry = next((p for p in service["spec"]["ports"] if p["port"] == port), None)
    if entry is None:
        return []
    backends = []
    for _, labels, pod in _workload_pods(objects):
        if not k8s_rules.matches({"matchLabels": service["spec"]["selector"]}, labels):
            continue
        target = entry.get("targetPort", port)
        if isinstance(target, str):
            named = {
                p.get("name"): p["containerPort"]
                for c in pod.get("containers", [])
                for p in c.get("ports", [])
            }
            if target not in named:
                continue
            target = named[target]
        backends.append((labels, int(target)))
    return backends


def check_calls(objects: list[dict[str, Any]]) -> Iterator[str]:
    """Every call a component's configuration makes (:func:`calls`) is allowed by the
    NetworkPolicies (the caller's egress and the callee's ingress), and no component's
    egress reaches another component's port its configuration does not call."""
    from certseal.errors import CertsealError

    try:
        cfg = overlay_config(objects)
    except (KeyError, CertsealError):
        return  # check_config says why
    callers: dict[str, list[tuple[str, dict[str, str]]]] = {}
    for obj, labels, pod in _workload_pods(objects):
        for container in pod.get("containers", []):
            component = _component(container)
            if component is not None:
                callers.setdefault(component, []).append((_name(obj), labels))
    called: set[tuple[str, str, int]] = set()
    for caller, setting, target in calls(cfg):
        host, _, port = target.rpartition(":")
        if not port.isdigit():
            continue  # check_config says why
        for labels, container_port in _service_backends(objects, host, int(port)):
            called.add((caller, _name_of(objects, labels), container_port))
            for who, source in callers.get(caller, []):
                egress, ingress = _allows(objects, source, labels, container_port)
                for allowed, what in (
                    (egress, "its egress"),
                    (ingress, f"{host}'s ingress"),
                ):
                    if not allowed:
                        yield (
                            f"{who}: {setting} calls {target}, but no NetworkPolicy "
                            f"allows {what} on {container_port}"
                        )
    for obj, labels, pod in _workload_pods(objects):
        callee = _name(obj)
        for container in pod.get("containers", []):
            if _component(container) is None:
                continue
            for port in container.get("ports", []):
                number = port["containerPort"]
                for caller, sources in callers.items():
                    for who, source in sources:
                        if who == callee or (caller, callee, number) in called:
                            continue
                        if _allows(objects, source, labels, number)[0]:
                            yield (
                                f"{who}: NetworkPolicies allow its egress to {callee} "
                                f"on {number}, which its configuration never calls"
                            )


def _name_of(objects: list[dict[str, Any]], labels: dict[str, str]) -> str:
    """The workload whose pods carry ``labels``."""
    for obj, pod_labels, _ in _workload_pods(objects):
        if pod_labels == labels:
            return _name(obj)
    return ""


def _component_code(component: str) -> str:
    return "\n".join(
        path.read_text() for path in (ROOT / "services" / component).rglob("*.py")
    )


@functools.cache
def outbox_topics() -> frozenset[str]:
    """The topics the outbox carries: those named (``topic=NAME``, a constant of
    :mod:`certseal.events`) by the components whose code writes outbox rows."""
    from certseal import events

    return frozenset(
        getattr(events, name)
        for component in COMPONENTS
        if "write_outbox" in (code := _component_code(component))
        for name in re.findall(r"\btopic=([A-Z][A-Z_]+)\b", code)
    )


@functools.cache
def relay_components() -> frozenset[str]:
    """The components that run an outbox relay (every ``ServiceProcess``)."""
    return frozenset(
        c for c in COMPONENTS if re.search(r"\bServiceProcess\b", _component_code(c))
    )


def check_relays(objects: list[dict[str, Any]]) -> Iterator[str]:
    """One outbox relay leads across every process of the database
    (certseal/storage/outbox.py) and publishes every service's rows, so the Kafka user
    of each component that runs a relay may write every topic the outbox carries."""
    users = {o["metadata"]["name"]: o for o in objects if o.get("kind") == "KafkaUser"}
    for component in sorted(relay_components()):
        user = users.get(f"certseal-{component}")
        if user is None:
            yield f"{component}: runs an outbox relay, but no KafkaUser certseal-{component}"
            continue
        acls = user["spec"]["authorization"]["acls"]
        for topic in sorted(outbox_topics()):
            if not any(
                acl["resource"]["type"] == "topic"
                and (
                    topic.startswith(acl["resource"]["name"])
                    if acl["resource"].get("patternType") == "prefix"
                    else topic == acl["resource"]["name"]
                )
                and {"Write", "All"} & set(acl.get("operations") or ())
                for acl in acls
            ):
                yield (
                    f"{_name(user)}: the outbox relay {component} runs may lead and "
                    f"publish {topic}, which it may not write"
                )


def check_alerts(objects: list[dict[str, Any]]) -> Iterator[str]:
    """Every alert has a severity, a summary and its entry in docs/operations.md."""
    operations = ROOT / "docs" / "operations.md"
    headings = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in operations.read_text().splitlines()
        if line.startswith("#")
    }
    for obj in objects:
        if obj.get("kind") != "PrometheusRule":
            continue
        for group in obj["spec"]["groups"]:
            for rule in group["rules"]:
                alert = rule.get("alert", "?")
                if "severity" not in (rule.get("labels") or {}):
                    yield f"alert {alert}: no severity label"
                annotations = rule.get("annotations") or {}
                anchor = str(annotations.get("runbook", "")).partition("#")[2]
                if not annotations.get("summary") or anchor not in headings:
                    yield f"alert {alert}: needs a summary and a runbook in operations.md"


def check_dockerfile(path: Path = ROOT / "deploy" / "Dockerfile") -> Iterator[str]:
    """Multi-stage, a pinned base, a non-root numeric user."""
    text = path.read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)", text, re.MULTILINE))
    bases = [
        re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), base)
        for base in re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    ]
    if len(bases) < 2:
        yield "Dockerfile: build and run stages expected (multi-stage)"
    for base in bases:
        if base in ("build", "runtime"):
            continue
        if not re.search(r":\d+\.\d+\.\d+", base) or base.endswith(":latest"):
            yield f"Dockerfile: base image {base} is not pinned to a release"
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    if not users or not users[-1].split(":")[0].isdigit() or users[-1].startswith("0"):
        yield "Dockerfile: the final stage must run as a numeric non-root USER"


CHECKS = (
    check_schemas,
    check_versions,
    check_rules,
    check_pods,
    check_topics,
    check_config,
    check_references,
    check_access,
    check_calls,
    check_relays,
    check_alerts,
)


def check_overlay(objects: list[dict[str, Any]]) -> list[str]:
    """Every problem in one rendered overlay."""
    return list(dict.fromkeys(p for check in CHECKS for p in check(objects)))


def main() -> int:
    """Check every overlay and the Dockerfile; 1 if anything is wrong."""
    try:
        versions()
    except ValueError as exc:  # the table the check reads is itself wrong
        print(f"docs/operations.md: {exc}")
        print("k8s-check: FAILED")
        return 1
    failed = False
    for overlay in sorted(p for p in OVERLAYS.iterdir() if p.is_dir()):
        objects = render(overlay)
        problems = check_overlay(objects)
        kinds = sorted({o["kind"] for o in objects})
        print(
            f"overlay {overlay.name}: {len(objects)} objects ({', '.join(kinds)}): "
            f"{len(problems) or 'no'} problem(s)"
        )
        for problem in problems:
            print(f"  {problem}")
        failed = failed or bool(problems)
    for problem in check_dockerfile():
        print(problem)
        failed = True
    print("k8s-check:", "FAILED" if failed else "OK")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
