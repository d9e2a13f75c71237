"""What the operators and the API server check beyond the schemas (``make k8s-check``).

- Namespaces: ``kubectl apply -k <overlay>`` (docs/operations.md, "Apply") puts an
  object without a namespace in the context's namespace; every namespaced object must
  carry the namespace the overlay's Namespace object creates.
- References resolve in that namespace: a Certificate's ``issuerRef``, the
  ``strimzi.io/cluster`` label, mounted or referenced ConfigMaps and Secrets, Service,
  PodDisruptionBudget and ServiceMonitor selectors and ServiceMonitor port names, a
  ScheduledBackup's cluster and a Cluster's backup ObjectStore.
- CloudNativePG's admission rule: the memory request is at least ``shared_buffers``
  (internal/webhook/v1/cluster_webhook.go, ``validateResources``, at every supported
  version).
- The restricted Pod Security Standard (Kubernetes, "Pod Security Standards",
  restricted profile) for every pod template, and for the pods Strimzi makes from the
  Kafka and KafkaNodePool resources (set through their ``template`` sections).
- kube-prometheus-stack selects ServiceMonitors and PrometheusRules by its Helm
  ``release`` label: every one carries it, with the one value the overlay sets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from deploy import k8s_schemas

Obj = dict[str, Any]
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet")
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "PriorityClass",
    "StorageClass",
    "CustomResourceDefinition",
    "ClusterIssuer",
    "IngressClass",
    "PersistentVolume",
}
BACKUP_PLUGIN = "barman-cloud.cloudnative-pg.io"


def _name(obj: Obj) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def _ns(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "")


def namespace_of(objects: list[Obj]) -> str:
    """The namespace the overlay creates (its one Namespace object), or ''."""
    names = [o["metadata"]["name"] for o in objects if o.get("kind") == "Namespace"]
    return names[0] if len(names) == 1 else ""


def namespaced(obj: Obj, versions: dict[str, tuple[str, str]]) -> bool:
    """Whether a kind lives in a namespace (custom kinds: their CRD's scope)."""
    kind = obj.get("kind", "")
    if kind in CLUSTER_SCOPED:
        return False
    custom = k8s_schemas.scope(obj.get("apiVersion", ""), kind, versions)
    return custom != "Cluster"


def check_namespaces(
    objects: list[Obj], versions: dict[str, tuple[str, str]]
) -> Iterator[str]:
    """Every namespaced object is in the overlay's namespace."""
    namespace = namespace_of(objects)
    if not namespace:
        yield "the overlay must create exactly one Namespace (docs/operations.md applies it)"
        return
    for obj in objects:
        if namespaced(obj, versions) and _ns(obj) != namespace:
            where = _ns(obj) or "no namespace (the context's, usually default)"
            yield f"{_name(obj)}: in {where}, not {namespace}"


# -- references ------------------------------------------------------------------------


def pod_templates(obj: Obj) -> Iterator[tuple[dict[str, str], Obj]]:
    """(labels, pod spec) of a workload's pod template."""
    kind = obj.get("kind")
    if kind == "CronJob":
        template = obj["spec"]["jobTemplate"]["spec"]["template"]
    elif kind in WORKLOADS:
        template = obj["spec"]["template"]
    else:
        return
    yield (template.get("metadata") or {}).get("labels") or {}, template["spec"]


def selects(selector: Obj | None, labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels, matchExpressions) selects ``labels``;
    an empty or missing selector selects nothing here (a mistake in these manifests)."""
    if not selector:
        return False
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        selector = {"matchLabels": selector}  # a Service's plain map
    return matches(selector, labels)


def matches(selector: Obj, labels: dict[str, str]) -> bool:
    """Whether a LabelSelector (matchLabels, matchExpressions) matches ``labels``, as
    the API server reads one: an empty selector matches every label set."""
    if not (selector.get("matchLabels") or {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        if not {
            "In": key in labels and labels[key] in values,
            "NotIn": labels.get(key) not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]:
            return False
    return True


def _produced_secrets(objects: list[Obj], extra: Iterable[str]) -> set[tuple[str, str]]:
    """(namespace, name) of every secret something in the overlay creates, and the
    ones docs/operations.md has the operator create in the overlay's namespace."""
    namespace = namespace_of(objects)
    made = {(namespace, name) for name in extra}
    for obj in objects:
        kind, ns, name = obj.get("kind"), _ns(obj), obj["metadata"]["name"]
        if kind == "Secret":
            made.add((ns, name))
        elif kind == "Certificate":
            made.add((ns, obj["spec"]["secretName"]))
        elif kind == "KafkaUser":
            made.add((ns, name))
        elif kind == "Kafka":
            made |= {(ns, f"{name}-cluster-ca-cert"), (ns, f"{name}-clients-ca-cert")}
        elif kind == "Cluster" and obj.get("apiVersion", "").startswith("postgresql."):
            made |= {(ns, f"{name}-app"), (ns, f"{name}-superuser"), (ns, f"{name}-ca")}
    return made


def _pod_references(pod: Obj) -> Iterator[tuple[str, str]]:
    """("ConfigMap" | "Secret", name) of everything a pod spec refers to."""
    for volume in pod.get("volumes") or []:
        if "configMap" in volume:
            yield "ConfigMap", volume["configMap"]["name"]
        if "secret" in volume:
            yield "Secret", volume["secret"]["secretName"]
        for source in (volume.get("projected") or {}).get("sources") or []:
            if "configMap" in source:
                yield "ConfigMap", source["configMap"]["name"]
            if "secret" in source:
                yield "Secret", source["secret"]["name"]
    for container in [
        *(pod.get("containers") or []),
        *(pod.get("initContainers") or []),
    ]:
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            if "configMapKeyRef" in source:
                yield "ConfigMap", source["configMapKeyRef"]["name"]
            if "secretKeyRef" in source:
                yield "Secret", source["secretKeyRef"]["name"]
        for env_from in container.get("envFrom") or []:
            if "configMapRef" in env_from:
                yield "ConfigMap", env_from["configMapRef"]["name"]
            if "secretRef" in env_from:
                yield "Secret", env_from["secretRef"]["name"]
    for secret in pod.get("imagePullSecrets") or []:
        yield "Secret", secret["name"]


def _index(objects: list[Obj], kind: str) -> dict[tuple[str, str], Obj]:
    return {
        (_ns(o), o["metadata"]["name"]): o for o in objects if o.get("kind") == kind
    }


def check_references(
    objects: list[Obj], operator_secrets: Iterable[str]
) -> Iterator[str]:
    """Every reference resolves in the referring object's namespace."""
    secrets = _produced_secrets(objects, operator_secrets)
    configmaps = set(_index(objects, "ConfigMap"))
    issuers = _index(objects, "Issuer")
    kafkas = _index(objects, "Kafka")
    clusters = {
        k: o
        for k, o in _index(objects, "Cluster").items()
        if o.get("apiVersion", "").startswith("postgresql.cnpg.io/")
    }
    stores = _index(objects, "ObjectStore")
    pods = [(_ns(o), labels, pod) for o in objects for labels, pod in pod_templates(o)]
    services = [o for o in objects if o.get("kind") == "Service"]
    for obj in objects:
        kind, ns, who = obj.get("kind"), _ns(obj), _name(obj)
        spec = obj.get("spec") or {}
        for _, pod in pod_templates(obj):
            for ref_kind, name in _pod_references(pod):
                known = configmaps if ref_kind == "ConfigMap" else secrets
                if (ns, name) not in known:
                    yield f"{who}: its {ref_kind} {name} does not exist in {ns or 'its namespace'}"
        if kind == "Certificate":
            ref = spec.get("issuerRef") or {}
            if (
                ref.get("kind", "Issuer") == "Issuer"
                and (ns, ref.get("name")) not in issuers
            ):
                yield f"{who}: its Issuer {ref.get('name')} does not exist in {ns or 'its namespace'}"
        if (
            obj.get("apiVersion", "").startswith("kafka.strimzi.io/")
            and kind != "Kafka"
        ):
            cluster = (obj["metadata"].get("labels") or {}).get("strimzi.io/cluster")
            if (ns, cluster) not in kafkas:
                yield (
                    f"{who}: strimzi.io/cluster {cluster} names no Kafka in "
                    f"{ns or 'its namespace'}"
                )
        if kind in ("Service", "PodDisruptionBudget") and not any(
            pns == ns and selects(spec.get("selector"), labels)
            for pns, labels, _ in pods
        ):
            yield f"{who}: its selector matches no pod in {ns or 'its namespace'}"
        if kind == "ServiceMonitor":
            yield from _check_monitor(obj, services)
        if (
            kind == "ScheduledBackup"
            and (ns, (spec.get("cluster") or {}).get("name")) not in clusters
        ):
            yield f"{who}: its cluster {spec.get('cluster')} does not exist in {ns}"
        if kind == "Cluster" and (ns, obj["metadata"]["name"]) in clusters:
            for plugin in spec.get("plugins") or []:
                store = (plugin.get("parameters") or {}).get("barmanObjectName")
                if plugin.get("name") == BACKUP_PLUGIN and (ns, store) not in stores:
                    yield f"{who}: its backup ObjectStore {store} does not exist in {ns}"
        if kind == "ObjectStore":
            credentials = ((spec.get("configuration") or {}).get("s3Credentials")) or {}
            for part in credentials.values():
                if (
                    isinstance(part, dict)
                    and "name" in part
                    and (ns, part["name"]) not in secrets
                ):
                    yield f"{who}: its Secret {part['name']} does not exist in {ns}"


def _check_monitor(monitor: Obj, services: list[Obj]) -> Iterator[str]:
    ns, who, spec = _ns(monitor), _name(monitor), monitor["spec"]
    chosen = spec.get("namespaceSelector") or {}
    namespaces = None if chosen.get("any") else set(chosen.get("matchNames") or [ns])
    selected = [
        s
        for s in services
        if (namespaces is None or _ns(s) in namespaces)
        and selects(spec.get("selector"), s["metadata"].get("labels") or {})
    ]
    if not selected:
        yield f"{who}: its selector matches no Service in {', '.join(sorted(namespaces or ['any namespace']))}"
        return
    for endpoint in spec.get("endpoints") or []:
        port = endpoint.get("port")
        for service in selected:
            names = {p.get("name") for p in service["spec"].get("ports") or []}
            if port is not None and port not in names:
                yield f"{who}: port {port} is not a port of {_name(service)}"


# -- CloudNativePG ---------------------------------------------------------------------

_SUFFIX: dict[str, int | Decimal] = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
    "m": Decimal("0.001"),
}


def quantity(value: Any) -> Decimal:
    """A Kubernetes resource quantity (``512Mi``, ``1G``, ``250m``, ``1e3``) in units;
    ValueError when it is not one."""
    text = str(value).strip()
    match = re.fullmatch(r"([+-]?[0-9.]+)(e[+-]?[0-9]+|E[+-]?[0-9]+|[a-zA-Z]*)", text)
    if not match:
        raise ValueError(f"not a quantity: {value!r}")
    number, suffix = Decimal(match.group(1)), match.group(2)
    if suffix[:1] in ("e", "E") and suffix[1:].lstrip("+-").isdigit():
        return number * Decimal(10) ** int(suffix[1:])
    if suffix not in _SUFFIX:
        raise ValueError(f"not a quantity: {value!r}")
    return number * Decimal(_SUFFIX[suffix])


def postgres_quantity(value: str) -> Decimal:
    """``shared_buffers`` as CloudNativePG reads it (parsePostgresQuantityValue): a bare
    number is MB, a unit must end in B, and MB, GB, kB mean Mi, Gi, Ki."""
    text = value.strip()
    if text.isdigit():
        text += "MB"
    if not text.endswith("B"):
        raise ValueError(f"shared_buffers {value!r} has no unit ending in B")
    text = text.removesuffix("B").replace(" ", "")
    if not text.isdigit():
        text = (text + "i").replace("ki", "Ki")
    return quantity(text)


def check_postgres(objects: list[Obj], newest_cnpg: str) -> Iterator[str]:
    """CloudNativePG's memory rule, and a supported backup method."""
    for obj in objects:
        if obj.get("kind") != "Cluster" or not obj.get("apiVersion", "").startswith(
            "postgresql.cnpg.io/"
        ):
            continue
        who, spec = _name(obj), obj["spec"]
        resources = spec.get("resources") or {}
        requests, limits = (
            resources.get("requests") or {},
            resources.get("limits") or {},
        )
        raw = ((spec.get("postgresql") or {}).get("parameters") or {}).get(
            "shared_buffers"
        )
        try:
            memory = quantity(requests.get("memory", 0))
            if (
                "memory" in requests
                and "memory" in limits
                and memory > quantity(limits["memory"])
            ):
                yield f"{who}: the memory request is greater than the limit"
            if raw and memory and postgres_quantity(str(raw)) > memory:
                yield (
                    f"{who}: the memory request {requests['memory']} is lower than "
                    f"shared_buffers {raw} (CloudNativePG refuses the Cluster)"
                )
        except ValueError as exc:
            yield f"{who}: {exc}"
        backup = spec.get("backup") or {}
        plugins = [
            p for p in spec.get("plugins") or [] if p.get("name") == BACKUP_PLUGIN
        ]
        if "barmanObjectStore" in backup and _at_least(newest_cnpg, "1.30"):
            yield (
                f"{who}: spec.backup.barmanObjectStore is deprecated from CloudNativePG "
                "1.30 and removed in 1.31: back up through the Barman Cloud plugin"
            )
        if not plugins and "barmanObjectStore" not in backup:
            yield f"{who}: no backup (the Barman Cloud plugin, {BACKUP_PLUGIN})"
        if plugins and not any(p.get("isWALArchiver") for p in plugins):
            yield f"{who}: the Barman Cloud plugin must be the WAL archiver (isWALArchiver)"
        for backup_obj in objects:
            bspec = backup_obj.get("spec") or {}
            if (
                backup_obj.get("kind") != "ScheduledBackup"
                or _ns(backup_obj) != _ns(obj)
                or (bspec.get("cluster") or {}).get("name") != obj["metadata"]["name"]
            ):
                continue
            plugin = (bspec.get("pluginConfiguration") or {}).get("name")
            if plugins and (bspec.get("method") != "plugin" or plugin != BACKUP_PLUGIN):
                yield (
                    f"{_name(backup_obj)}: {who} backs up through {BACKUP_PLUGIN}: "
                    f"method must be plugin, pluginConfiguration.name {BACKUP_PLUGIN}"
                )


def _at_least(version: str, wanted: str) -> bool:
    def parts(v: str) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", v)[:3])

    return parts(version) >= parts(wanted)
