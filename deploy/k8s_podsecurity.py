"""The restricted Pod Security Standard, for every pod the manifests make.

The rules are Kubernetes' "Pod Security Standards", restricted profile (which includes
baseline), as the namespace's ``pod-security.kubernetes.io/enforce: restricted`` label
has the API server enforce them: no host namespaces, ports or paths, no privileged
containers, only the restricted volume types, ``allowPrivilegeEscalation: false``,
``runAsNonRoot: true`` and no ``runAsUser: 0``, a RuntimeDefault or Localhost seccomp
profile, every capability dropped (only NET_BIND_SERVICE may be added), only safe
sysctls, and no custom SELinux user or role or /proc mount.

The operators' pods count too: :func:`strimzi_pods` gives the pods Strimzi makes from a
Kafka and its KafkaNodePools (brokers and controllers, the entity operator, Cruise
Control and the Kafka Exporter) with the security contexts their ``template`` sections
set; Strimzi sets none by default. CloudNativePG's instance pods set a restricted-
compliant context themselves, whatever the Cluster says.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

Obj = dict[str, Any]
VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}


def restricted(who: str, pod: Obj) -> Iterator[str]:
    """Every way a pod spec breaks the restricted profile."""
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field):
            yield f"{who}: {field} is not allowed (restricted)"
    context = pod.get("securityContext") or {}
    for volume in pod.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= VOLUME_TYPES:
            yield f"{who}: volume {volume.get('name')} of type {', '.join(sorted(kinds))} is not allowed (restricted)"
    for sysctl in context.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            yield f"{who}: sysctl {sysctl.get('name')} is not allowed (restricted)"
    yield from _context_rules(who, context, pod_level=True)
    containers = [
        *(pod.get("initContainers") or []),
        *(pod.get("containers") or []),
        *(pod.get("ephemeralContainers") or []),
    ]
    for container in containers:
        where = f"{who} container {container.get('name')}"
        sc = container.get("securityContext") or {}
        yield from _context_rules(where, sc, pod_level=False)
        if sc.get("privileged"):
            yield f"{where}: privileged is not allowed (restricted)"
        if sc.get("allowPrivilegeEscalation") is not False:
            yield f"{where}: allowPrivilegeEscalation must be false (restricted)"
        if not (
            sc.get("runAsNonRoot") is True
            or (
                context.get("runAsNonRoot") is True
                and sc.get("runAsNonRoot") is not False
            )
        ):
            yield f"{where}: runAsNonRoot must be true, in the container or the pod (restricted)"
        profile = (sc.get("seccompProfile") or context.get("seccompProfile") or {}).get(
            "type"
        )
        if profile not in ("RuntimeDefault", "Localhost"):
            yield f"{where}: seccompProfile must be RuntimeDefault or Localhost (restricted)"
        capabilities = sc.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            yield f"{where}: capabilities must drop ALL (restricted)"
        added = set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}
        if added:
            yield f"{where}: capabilities {', '.join(sorted(added))} may not be added (restricted)"
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                yield f"{where}: hostPort {port['hostPort']} is not allowed (restricted)"


def _context_rules(who: str, sc: Obj, *, pod_level: bool) -> Iterator[str]:
    if sc.get("runAsUser") == 0:
        yield f"{who}: runAsUser 0 is not allowed (restricted)"
    if (sc.get("seccompProfile") or {}).get("type") == "Unconfined":
        yield f"{who}: seccompProfile Unconfined is not allowed (restricted)"
    options = sc.get("seLinuxOptions") or {}
    if options.get("user") or options.get("role"):
        yield f"{who}: a custom SELinux user or role is not allowed (restricted)"
    if not pod_level and sc.get("procMount", "Default") != "Default":
        yield f"{who}: procMount must be Default (restricted)"
    if (sc.get("windowsOptions") or {}).get("hostProcess"):
        yield f"{who}: hostProcess is not allowed (restricted)"


def _template(spec: Obj | None, part: str) -> Obj:
    return ((spec or {}).get("template") or {}).get(part) or {}


def _pod(
    pod_template: Obj, containers: list[tuple[str, Obj]], volumes: list[Obj]
) -> Obj:
    return {
        "securityContext": pod_template.get("securityContext"),
        "hostNetwork": pod_template.get("hostNetwork"),
        "containers": [
            {"name": name, "securityContext": container.get("securityContext")}
            for name, container in containers
        ],
        "volumes": volumes,
    }


def strimzi_pods(objects: list[Obj]) -> Iterator[tuple[str, Obj]]:
    """(who, pod spec) for every pod Strimzi runs for the Kafka resources: the node
    pools' Kafka pods (a node pool's template wins over the Kafka's), the entity
    operator, Cruise Control and the Kafka Exporter when configured."""
    data = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    config = [{"name": "config", "configMap": {"name": "config"}}]
    for kafka in objects:
        if kafka.get("kind") != "Kafka" or not kafka.get("apiVersion", "").startswith(
            "kafka.strimzi.io/"
        ):
            continue
        name, ns = kafka["metadata"]["name"], kafka["metadata"].get("namespace")
        spec = kafka.get("spec") or {}
        broker = spec.get("kafka") or {}
        for pool in objects:
            if pool.get("kind") != "KafkaNodePool":
                continue
            meta = pool["metadata"]
            if (meta.get("labels") or {}).get("strimzi.io/cluster") != name or meta.get(
                "namespace"
            ) != ns:
                continue
            pod = _template(pool.get("spec"), "pod") or _template(broker, "pod")
            container = _template(pool.get("spec"), "kafkaContainer") or _template(
                broker, "kafkaContainer"
            )
            yield (
                f"Kafka/{name} pods of KafkaNodePool/{meta['name']}",
                _pod(pod, [("kafka", container)], data + config),
            )
        operator = spec.get("entityOperator")
        if operator is not None:
            containers = []
            if "topicOperator" in operator:
                containers.append(
                    ("topic-operator", _template(operator, "topicOperatorContainer"))
                )
            if "userOperator" in operator:
                containers.append(
                    ("user-operator", _template(operator, "userOperatorContainer"))
                )
            yield (
                f"Kafka/{name} entity operator pod",
                _pod(_template(operator, "pod"), containers, config),
            )
        for part, container_part, container_name in (
            ("cruiseControl", "cruiseControlContainer", "cruise-control"),
            ("kafkaExporter", "container", "kafka-exporter"),
        ):
            if part in spec:
                yield (
                    f"Kafka/{name} {part} pod",
                    _pod(
                        _template(spec[part], "pod"),
                        [(container_name, _template(spec[part], container_part))],
                        config,
                    ),
                )
