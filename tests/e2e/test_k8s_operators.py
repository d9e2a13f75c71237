"""make k8s-check against the operators' real rules: each problem of issue 19,
reintroduced one at a time into the manifests (a copy of deploy/k8s, rendered with
kubectl's kustomize) or the rendered objects, makes the check fail naming it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from deploy import k8s_check, k8s_schemas
from deploy.k8s_versions import supported_versions
from tests.e2e.manifests import broken, find, render_overlays

K8S = k8s_check.K8S


@pytest.fixture(scope="module")
def rendered():
    return render_overlays()


def render_edited(tmp_path: Path, overlay: str, edits: dict[str, tuple[str, str]]):
    """Render ``overlay`` from a copy of deploy/k8s with ``edits`` (file -> (old,
    new)) made; each ``old`` must be there."""
    copy_root = tmp_path / "k8s"
    shutil.copytree(K8S, copy_root)
    for name, (old, new) in edits.items():
        path = copy_root / name
        text = path.read_text()
        assert old in text, f"{old!r} not in {name}"
        path.write_text(text.replace(old, new))
    return k8s_check.render(copy_root / "overlays" / overlay)


def test_both_overlays_pass_every_rule(rendered):
    for name, objects in rendered.items():
        assert k8s_check.check_overlay(objects) == [], name
        namespaces = {o["metadata"].get("namespace") for o in objects} - {None}
        assert namespaces == {"certseal"}


# -- namespaces and the references they break ------------------------------------------


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_objects_without_the_namespace_fail(tmp_path, overlay):
    objects = render_edited(
        tmp_path,
        overlay,
        {f"overlays/{overlay}/kustomization.yaml": ("namespace: certseal\n", "")},
    )
    problems = k8s_check.check_overlay(objects)
    group = "demo" if overlay == "dev" else "gz"
    wanted = [
        f"StatefulSet/verifier-{group}: in no namespace (the context's, usually "
        "default), not certseal",
        f"Certificate/verifier-tls-{group}: its Issuer certseal-platform-ca does not "
        "exist in its namespace",
        f"KafkaUser/certseal-verifier-{group}: strimzi.io/cluster certseal names no "
        "Kafka in its namespace",
        f"StatefulSet/verifier-{group}: its ConfigMap certseal-config does not exist in "
        "its namespace",
        f"StatefulSet/verifier-{group}: its Secret certseal-cluster-ca-cert does not "
        "exist in its namespace",
        "ServiceMonitor/verifier: its selector matches no Service in certseal",
    ]
    if overlay == "prod":
        wanted += [
            "PodDisruptionBudget/issuer: its selector matches no pod in its namespace",
            "KafkaUser/integrator-provincial-archive: in no namespace (the context's, "
            "usually default), not certseal",
        ]
    for problem in wanted:
        assert problem in problems


def test_unresolved_references_fail(rendered):
    def issuer(objects):
        find(objects, "Certificate", "seal-tls")["spec"]["issuerRef"]["name"] = "ca"

    assert "Certificate/seal-tls: its Issuer ca does not exist in certseal" in broken(
        rendered["prod"], issuer
    )

    def cluster_label(objects):
        topic = next(o for o in objects if o["kind"] == "KafkaTopic")
        topic["metadata"]["labels"]["strimzi.io/cluster"] = "kafka"

    assert any(
        "strimzi.io/cluster kafka names no Kafka in certseal" in p
        for p in broken(rendered["prod"], cluster_label)
    )

    def configmap(objects):
        pod = find(objects, "Deployment", "feed")["spec"]["template"]["spec"]
        pod["volumes"][0]["configMap"]["name"] = "certseal-settings"

    assert (
        "Deployment/feed: its ConfigMap certseal-settings does not exist in certseal"
        in broken(rendered["prod"], configmap)
    )

    def secret(objects):
        pod = find(objects, "Deployment", "feed")["spec"]["template"]["spec"]
        pod["volumes"][1]["projected"]["sources"][1]["secret"]["name"] = "keys"

    assert "Deployment/feed: its Secret keys does not exist in certseal" in broken(
        rendered["prod"], secret
    )

    def service_selector(objects):
        find(objects, "Service", "seal")["spec"]["selector"] = {
            "app.kubernetes.io/name": "sealer"
        }

    assert "Service/seal: its selector matches no pod in certseal" in broken(
        rendered["prod"], service_selector
    )

    def budget_selector(objects):
        budget = find(objects, "PodDisruptionBudget", "verifier")
        budget["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] = "verify"

    assert (
        "PodDisruptionBudget/verifier: its selector matches no pod in certseal"
        in broken(rendered["prod"], budget_selector)
    )

    def monitor_port(objects):
        find(objects, "ServiceMonitor", "issuer")["spec"]["endpoints"][0]["port"] = "m"

    assert "ServiceMonitor/issuer: port m is not a port of Service/issuer" in broken(
        rendered["prod"], monitor_port
    )

    def monitor_namespace(objects):
        find(objects, "ServiceMonitor", "feed")["spec"]["namespaceSelector"] = {
            "matchNames": ["monitoring"]
        }

    assert "ServiceMonitor/feed: its selector matches no Service in monitoring" in (
        broken(rendered["prod"], monitor_namespace)
    )


# -- operator versions -------------------------------------------------------------------


def test_the_kafka_version_must_be_one_every_named_strimzi_supports(rendered):
    def older(objects):
        find(objects, "Kafka", "certseal")["spec"]["kafka"]["version"] = "3.9.0"

    problems = broken(rendered["prod"], older)
    assert any(
        p.startswith("Kafka/certseal: Strimzi 0.48.0 does not support Kafka 3.9.0")
        for p in problems
    )
    assert any(p.startswith("Kafka/certseal: Strimzi 0.51.0") for p in problems)


def test_a_named_version_without_schemas_fails(rendered):
    table = supported_versions()
    table["strimzi"] = ("0.45.0", "0.51.0")
    problems = list(k8s_check.check_versions(rendered["prod"], table))
    assert any(
        "names strimzi 0.45.0, but deploy/crd-schemas/strimzi/0.45.0 holds no schemas"
        in p
        for p in problems
    )


def test_an_operator_that_no_longer_serves_the_api_version_refuses(
    rendered, monkeypatch
):
    """Strimzi 1.0 and later serve only kafka.strimzi.io/v1: v1beta2 is refused."""
    real = k8s_schemas.load

    def load(operator, version):
        records = real(operator, "0.51.0" if operator == "strimzi" else version)
        if operator == "strimzi" and version == "1.0.0":
            return {
                (api.replace("v1beta2", "v1"), kind): {
                    **r,
                    "apiVersion": api.replace("v1beta2", "v1"),
                }
                for (api, kind), r in records.items()
            }
        return real(operator, version)

    monkeypatch.setattr(k8s_schemas, "load", load)
    table = supported_versions()
    table["strimzi"] = ("0.48.0", "1.0.0")
    problems = list(k8s_check.check_schemas(rendered["prod"], table))
    assert (
        "Kafka/certseal: strimzi 1.0.0 does not serve kafka.strimzi.io/v1beta2 Kafka"
        in (problems)
    )


def test_the_supported_versions_table_is_read_from_the_docs():
    table = supported_versions()
    assert table["strimzi"] == ("0.48.0", "0.51.0")
    assert set(table) == {
        "kubernetes",
        "strimzi",
        "cloudnative-pg",
        "barman-cloud-plugin",
        "cert-manager",
        "prometheus-operator",
    }
    text = k8s_check.ROOT.joinpath("docs", "operations.md").read_text()
    row = next(ln for ln in text.splitlines() if ln.startswith("| cert-manager |"))
    with pytest.raises(ValueError, match="no row for cert-manager"):
        supported_versions(text.replace(row + "\n", ""))


def test_the_stored_schemas_say_where_they_come_from():
    table = supported_versions()
    for operator, pair in table.items():
        if operator == "kubernetes":
            continue
        for version in pair:
            records = k8s_schemas.load(operator, version)
            assert records, (operator, version)
            for record in records.values():
                assert record["licence"] == "Apache-2.0"
                assert record["source"].startswith("github.com/")
                assert version in record["tag"]


# -- the schemas, strictly ---------------------------------------------------------------


def test_schema_rules_fail(rendered):
    def unknown(objects):
        find(objects, "KafkaTopic", "certseal-licence-events-v1")["spec"][
            "partition"
        ] = 1

    assert any(
        "'partition' was unexpected" in p and "(strimzi 0.48.0)" in p
        for p in broken(rendered["prod"], unknown)
    )

    def required(objects):
        del find(objects, "Kafka", "certseal")["spec"]["kafka"]["listeners"]

    assert (
        "Kafka/certseal: spec.kafka: 'listeners' is a required property (strimzi 0.51.0)"
        in broken(rendered["prod"], required)
    )

    def enum(objects):
        find(objects, "Certificate", "issuer-tls")["spec"]["privateKey"][
            "algorithm"
        ] = "DSA"

    assert any(
        "spec.privateKey.algorithm: 'DSA' is not one of" in p
        for p in broken(rendered["prod"], enum)
    )

    def cel(objects):
        find(objects, "Cluster", "certseal-db")["spec"]["imageCatalogRef"] = {
            "apiGroup": "postgresql.cnpg.io",
            "kind": "ImageCatalog",
            "name": "postgresql",
            "major": 16,
        }

    assert (
        "Cluster/certseal-db: spec: breaks the CEL rule "
        "'!(has(self.imageCatalogRef) && has(self.imageName))' (cloudnative-pg 1.30.0)"
        in broken(rendered["prod"], cel)
    )

    def pattern(objects):
        find(objects, "ObjectStore", "certseal-backups")["spec"]["retentionPolicy"] = (
            "30 days"
        )
        find(objects, "ServiceMonitor", "feed")["spec"]["endpoints"][0]["interval"] = (
            "15 seconds"
        )

    problems = broken(rendered["prod"], pattern)
    assert any(
        p.startswith(
            "ObjectStore/certseal-backups: spec.retentionPolicy: '30 days' "
            "does not match"
        )
        for p in problems
    )
    assert any(
        "ServiceMonitor/feed: spec.endpoints.0.interval: '15 seconds' does not match"
        in p
        for p in problems
    )


# -- CloudNativePG -----------------------------------------------------------------------


def test_dev_memory_below_shared_buffers_fails(tmp_path):
    objects = render_edited(
        tmp_path,
        "dev",
        {
            "overlays/dev/small.yaml": (
                "  postgresql:\n    parameters:\n      shared_buffers: 128MB\n",
                "",
            )
        },
    )
    assert (
        "Cluster/certseal-db: the memory request 512Mi is lower than shared_buffers 1GB "
        "(CloudNativePG refuses the Cluster)" in k8s_check.check_overlay(objects)
    )


@pytest.mark.parametrize(
    ("shared_buffers", "memory", "refused"),
    [
        ("1GB", "1Gi", False),
        ("1025MB", "1Gi", True),
        ("131072", "128Gi", False),  # a bare number is MB
        ("262144kB", "256Mi", False),
        ("262145kB", "256Mi", True),
    ],
)
def test_the_shared_buffers_rule_reads_units_as_cloudnativepg(
    rendered, shared_buffers, memory, refused
):
    def change(objects):
        spec = find(objects, "Cluster", "certseal-db")["spec"]
        spec["postgresql"]["parameters"]["shared_buffers"] = shared_buffers
        spec["resources"]["requests"]["memory"] = memory
        spec["resources"]["limits"]["memory"] = memory

    problems = broken(rendered["prod"], change)
    assert any("lower than shared_buffers" in p for p in problems) == refused


def test_backups_through_the_plugin_only(rendered):
    def in_tree(objects):
        spec = find(objects, "Cluster", "certseal-db")["spec"]
        del spec["plugins"]
        spec["backup"] = {
            "barmanObjectStore": {
                "destinationPath": "s3://b/p",
                "s3Credentials": {"inheritFromIAMRole": True},
            }
        }

    assert any(
        "barmanObjectStore is deprecated from CloudNativePG 1.30" in p
        for p in broken(rendered["prod"], in_tree)
    )

    def no_store(objects):
        objects[:] = [o for o in objects if o["kind"] != "ObjectStore"]

    assert (
        "Cluster/certseal-db: its backup ObjectStore certseal-backups does not exist "
        "in certseal" in broken(rendered["prod"], no_store)
    )

    def in_tree_schedule(objects):
        del find(objects, "ScheduledBackup", "certseal-db-daily")["spec"]["method"]

    assert any(
        p.startswith("ScheduledBackup/certseal-db-daily: Cluster/certseal-db backs up")
        for p in broken(rendered["prod"], in_tree_schedule)
    )


# -- Pod Security, the operators' pods included ------------------------------------------


def test_strimzi_pods_without_the_restricted_context_fail(rendered):
    """Strimzi sets no security context: without the Kafka's templates its pods are
    refused in the restricted namespace."""

    def no_broker_template(objects):
        del find(objects, "Kafka", "certseal")["spec"]["kafka"]["template"]

    problems = broken(rendered["prod"], no_broker_template)
    for rule in (
        "allowPrivilegeEscalation must be false",
        "runAsNonRoot must be true, in the container or the pod",
        "seccompProfile must be RuntimeDefault or Localhost",
        "capabilities must drop ALL",
    ):
        assert (
            f"Kafka/certseal pods of KafkaNodePool/kafka container kafka: {rule} "
            "(restricted)" in problems
        )
    assert not any("entity operator" in p for p in problems)

    def no_operator_template(objects):
        del find(objects, "Kafka", "certseal")["spec"]["entityOperator"]["template"]

    problems = broken(rendered["dev"], no_operator_template)
    assert (
        "Kafka/certseal entity operator pod container user-operator: seccompProfile "
        "must be RuntimeDefault or Localhost (restricted)" in problems
    )
    assert (
        "Kafka/certseal entity operator pod container topic-operator: capabilities "
        "must drop ALL (restricted)" in problems
    )

    def pool_template_wins(objects):
        pool = find(objects, "KafkaNodePool", "kafka")
        pool["spec"]["template"] = {
            "kafkaContainer": {"securityContext": {"privileged": True}}
        }

    assert (
        "Kafka/certseal pods of KafkaNodePool/kafka container kafka: privileged is not "
        "allowed (restricted)" in broken(rendered["prod"], pool_template_wins)
    )


def test_our_pods_must_be_restricted(rendered):
    def unconfined(objects):
        pod = find(objects, "Deployment", "console")["spec"]["template"]["spec"]
        del pod["securityContext"]["seccompProfile"]

    assert (
        "Deployment/console container console: seccompProfile must be RuntimeDefault "
        "or Localhost (restricted)" in broken(rendered["prod"], unconfined)
    )

    def host_path(objects):
        pod = find(objects, "Deployment", "issuer")["spec"]["template"]["spec"]
        pod["volumes"].append({"name": "host", "hostPath": {"path": "/"}})

    assert any(
        "volume host of type hostPath is not allowed" in p
        for p in broken(rendered["prod"], host_path)
    )

    def capability(objects):
        container = find(objects, "StatefulSet", "verifier-gz")["spec"]["template"][
            "spec"
        ]["containers"][0]
        container["securityContext"]["capabilities"]["add"] = ["NET_ADMIN"]

    assert (
        "StatefulSet/verifier-gz container verifier: capabilities NET_ADMIN may not be "
        "added (restricted)" in broken(rendered["prod"], capability)
    )


# -- kube-prometheus-stack ---------------------------------------------------------------


def test_monitoring_without_the_release_label_fails(tmp_path):
    text = (K8S / "overlays" / "dev" / "kustomization.yaml").read_text()
    start = text.index("  # kube-prometheus-stack selects")
    end = text.index("        value: kube-prometheus-stack\n") + len(
        "        value: kube-prometheus-stack\n"
    )
    objects = render_edited(
        tmp_path, "dev", {"overlays/dev/kustomization.yaml": (text[start:end], "")}
    )
    assert (
        "ServiceMonitor/issuer: no release label; kube-prometheus-stack would ignore "
        "it (set it in the overlay)" in k8s_check.check_overlay(objects)
    )


def test_the_release_label_is_one_overlay_setting(rendered):
    def two(objects):
        find(objects, "ServiceMonitor", "seal")["metadata"]["labels"]["release"] = "p"

    assert any(
        p.startswith("monitoring objects disagree on the release label")
        for p in broken(rendered["prod"], two)
    )
