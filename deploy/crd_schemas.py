"""Extract the operators' CRD schemas that ``make k8s-check`` validates against.

Reads each operator's CRD files at its release tags from a local git clone (one per
operator repository) and writes, per operator, version and kind, the served version's
``openAPIV3Schema`` with its descriptions removed (they are most of the bytes and none
of the rules) to ``deploy/crd-schemas/<operator>/<version>/<Kind>.json``, with the
source repository, tag, path and licence. Only the kinds the manifests use are kept.

    python -m deploy.crd_schemas strimzi=/path/to/strimzi-kafka-operator ...

The versions are the minimum and newest of the supported-versions table in
docs/operations.md ("Supported versions"), which ``make k8s-check`` reads.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

OUT = Path(__file__).resolve().parent / "crd-schemas"

#: operator -> (repository, licence, {kind: path at the tag}, tag format)
SOURCES: dict[str, tuple[str, str, dict[str, str], str]] = {
    "strimzi": (
        "github.com/strimzi/strimzi-kafka-operator",
        "Apache-2.0",
        {
            "Kafka": "packaging/install/cluster-operator/040-Crd-kafka.yaml",
            "KafkaTopic": "packaging/install/cluster-operator/043-Crd-kafkatopic.yaml",
            "KafkaUser": "packaging/install/cluster-operator/044-Crd-kafkauser.yaml",
            "KafkaNodePool": "packaging/install/cluster-operator/045-Crd-kafkanodepool.yaml",
        },
        "{}",
    ),
    "cloudnative-pg": (
        "github.com/cloudnative-pg/cloudnative-pg",
        "Apache-2.0",
        {
            "Cluster": "config/crd/bases/postgresql.cnpg.io_clusters.yaml",
            "ScheduledBackup": "config/crd/bases/postgresql.cnpg.io_scheduledbackups.yaml",
        },
        "v{}",
    ),
    "barman-cloud-plugin": (
        "github.com/cloudnative-pg/plugin-barman-cloud",
        "Apache-2.0",
        {"ObjectStore": "config/crd/bases/barmancloud.cnpg.io_objectstores.yaml"},
        "v{}",
    ),
    "cert-manager": (
        "github.com/cert-manager/cert-manager",
        "Apache-2.0",
        {
            "Issuer": "deploy/crds/{crd}issuers.yaml",
            "Certificate": "deploy/crds/{crd}certificates.yaml",
        },
        "v{}",
    ),
    "prometheus-operator": (
        "github.com/prometheus-operator/prometheus-operator",
        "Apache-2.0",
        {
            "ServiceMonitor": "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml",
            "PrometheusRule": "example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml",
        },
        "v{}",
    ),
}


def _git_show(repo: Path, tag: str, path: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "show", f"{tag}:{path}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _crd_path(repo: Path, tag: str, path: str) -> str:
    """cert-manager renamed its CRD files (crd-X.yaml, later cert-manager.io_X.yaml)."""
    if "{crd}" not in path:
        return path
    for prefix in ("cert-manager.io_", "crd-"):
        candidate = path.replace("{crd}", prefix)
        listed = subprocess.run(
            ["git", "-C", str(repo), "ls-tree", "--name-only", tag, candidate],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        if listed.strip():
            return candidate
    raise SystemExit(f"no CRD file for {path} at {tag}")


def _strip(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _strip(v) for k, v in schema.items() if k != "description"}
    if isinstance(schema, list):
        return [_strip(v) for v in schema]
    return schema


def _untemplate(text: str) -> str:
    """cert-manager's CRD files are Helm templates: drop the template lines."""
    return "\n".join(
        line for line in text.splitlines() if "{{" not in line and "}}" not in line
    )


def extract(
    operator: str, repo: Path, version: str, api_versions: dict[str, str]
) -> None:
    """Write the schemas of ``operator`` at ``version`` (kind -> served apiVersion)."""
    source, licence, kinds, tag_format = SOURCES[operator]
    tag = tag_format.format(version)
    licence_text = _git_show(repo, tag, "LICENSE")
    if "Apache License" not in licence_text or "Version 2.0" not in licence_text:
        raise SystemExit(f"{operator} {tag}: LICENSE is not Apache-2.0")
    folder = OUT / operator / version
    folder.mkdir(parents=True, exist_ok=True)
    for kind, path in kinds.items():
        path = _crd_path(repo, tag, path)
        docs = [
            d for d in yaml.safe_load_all(_untemplate(_git_show(repo, tag, path))) if d
        ]
        crd = next(d for d in docs if d.get("kind") == "CustomResourceDefinition")
        group = crd["spec"]["group"]
        wanted = api_versions[kind].rpartition("/")[2]
        served = [v for v in crd["spec"]["versions"] if v["name"] == wanted]
        if not served or not served[0].get("served", True):
            raise SystemExit(f"{operator} {tag}: {kind} does not serve {wanted}")
        record = {
            "source": source,
            "tag": tag,
            "path": path,
            "licence": licence,
            "apiVersion": f"{group}/{wanted}",
            "kind": kind,
            "scope": crd["spec"]["scope"],
            "schema": _strip(served[0]["schema"]["openAPIV3Schema"]),
        }
        (folder / f"{kind}.json").write_text(
            json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"
        )
        print(f"{operator} {version} {kind}: {path}")
    if operator == "strimzi":  # the Kafka versions spec.kafka.version may name
        versions = yaml.safe_load(_git_show(repo, tag, "kafka-versions.yaml"))
        record = {
            "source": source,
            "tag": tag,
            "path": "kafka-versions.yaml",
            "licence": licence,
            "supported": [str(v["version"]) for v in versions if v.get("supported")],
        }
        (folder / "kafka-versions.json").write_text(json.dumps(record) + "\n")


API_VERSIONS = {
    "Kafka": "kafka.strimzi.io/v1beta2",
    "KafkaTopic": "kafka.strimzi.io/v1beta2",
    "KafkaUser": "kafka.strimzi.io/v1beta2",
    "KafkaNodePool": "kafka.strimzi.io/v1beta2",
    "Cluster": "postgresql.cnpg.io/v1",
    "ScheduledBackup": "postgresql.cnpg.io/v1",
    "ObjectStore": "barmancloud.cnpg.io/v1",
    "Issuer": "cert-manager.io/v1",
    "Certificate": "cert-manager.io/v1",
    "ServiceMonitor": "monitoring.coreos.com/v1",
    "PrometheusRule": "monitoring.coreos.com/v1",
}


def main(argv: list[str]) -> int:
    """``operator=git-dir`` arguments; the versions come from docs/operations.md."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from deploy.k8s_versions import supported_versions

    repos = dict(arg.split("=", 1) for arg in argv)
    for operator, (low, high) in supported_versions().items():
        if operator not in SOURCES:
            continue
        for version in sorted({low, high}):
            extract(operator, Path(repos[operator]), version, API_VERSIONS)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
