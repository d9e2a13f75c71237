"""The Kubernetes manifests agree with the code, and make k8s-check catches drift."""

import pytest

from deploy import k8s_check
from services.verifier.app import create_app
from tests.e2e.manifests import broken, find, policy, render_overlays, secret_sources


@pytest.fixture(scope="module")
def rendered():
    return render_overlays()


def test_every_overlay_passes(rendered):
    assert set(rendered) == {"dev", "prod"}
    for objects in rendered.values():
        assert k8s_check.check_overlay(objects) == []
    assert list(k8s_check.check_dockerfile()) == []


def test_the_manifests_carry_the_codes_topics_and_ports(rendered):
    from certseal.events import default_topics
    from services.config import Config

    prod = rendered["prod"]
    declared = {
        o["spec"]["topicName"]: o["spec"] for o in prod if o["kind"] == "KafkaTopic"
    }
    for spec in default_topics(12):
        assert declared[spec.name]["partitions"] == spec.partitions
        assert declared[spec.name]["replicas"] == 3
    defaults = Config()
    service_ports = {
        name: {
            p["name"]: p["port"] for p in find(prod, "Service", name)["spec"]["ports"]
        }
        for name in ("issuer", "seal", "feed")
    }
    assert service_ports["issuer"]["grpc"] == int(defaults.issuer.listen.split(":")[1])
    assert service_ports["seal"]["grpc"] == int(defaults.seal.listen.split(":")[1])
    assert service_ports["feed"]["grpc"] == int(defaults.feed.listen.split(":")[1])
    kafka = find(prod, "Kafka", "certseal")["spec"]["kafka"]
    assert kafka["config"]["default.replication.factor"] == 3
    assert kafka["config"]["min.insync.replicas"] == 2
    budgets = {
        o["metadata"]["name"] for o in prod if o["kind"] == "PodDisruptionBudget"
    }
    assert {"issuer", "seal", "feed", "console", "verifier"} <= budgets
    assert "PodDisruptionBudget" not in {o["kind"] for o in rendered["dev"]}


def test_verifier_workers_may_create_the_topics_faust_uses(rendered, tmp_path):
    """Each pod of group gz is a worker (--worker <pod>) whose Faust topics and
    consumer group fall under the prefix ACLs of the group's Kafka user."""
    from services.config import Config

    cfg = Config()
    cfg.verifier.group = "gz"
    cfg.verifier.worker = "verifier-gz-1"
    cfg.verifier.data_dir = str(tmp_path)
    state = create_app(cfg)
    faust_topics = {
        table.changelog_topic.get_topic_name() for table in state.app.tables.values()
    }
    assert "certseal-verifier-gz-verifier-gz-1-trust-list-changelog" in faust_topics
    user = find(rendered["prod"], "KafkaUser", "certseal-verifier-gz")
    prefixes = {
        (acl["resource"]["type"], acl["resource"]["name"])
        for acl in user["spec"]["authorization"]["acls"]
        if acl["resource"].get("patternType") == "prefix"
    }
    assert ("topic", "certseal-verifier-gz-") in prefixes
    assert ("group", "certseal-verifier-gz-") in prefixes
    assert all(t.startswith("certseal-verifier-gz-") for t in faust_topics)
    assert state.app.conf.id.startswith("certseal-verifier-gz-")
    statefulset = find(rendered["prod"], "StatefulSet", "verifier-gz")
    assert statefulset["spec"]["replicas"] == 2
    args = statefulset["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--worker") + 1] == "$(POD_NAME)"


def container(objects, name="issuer"):
    return find(objects, "Deployment", name)["spec"]["template"]["spec"]["containers"][
        0
    ]


def test_a_typo_in_a_field_fails(rendered):
    def typo(objects):
        container(objects)["securityContext"]["readOnlyRootFilesytem"] = True

    assert any("readOnlyRootFilesytem" in p for p in broken(rendered["dev"], typo))

    def typo_in_custom_resource(objects):
        find(objects, "Cluster", "certseal-db")["spec"]["instance"] = 2

    assert (
        "Cluster/certseal-db: spec: Additional properties are not allowed ('instance' "
        "was unexpected) (cloudnative-pg 1.26.0)"
        in broken(rendered["dev"], typo_in_custom_resource)
    )


def test_a_missing_probe_or_root_container_fails(rendered):
    def no_probe(objects):
        del container(objects)["readinessProbe"]

    assert "Deployment/issuer container issuer: no readinessProbe" in broken(
        rendered["prod"], no_probe
    )

    def root(objects):
        pod = find(objects, "Deployment", "seal")["spec"]["template"]["spec"]
        pod["securityContext"]["runAsUser"] = 0
        pod["containers"][0]["securityContext"]["runAsNonRoot"] = False

    problems = broken(rendered["prod"], root)
    assert "Deployment/seal: the pod must run as a non-root user (runAsNonRoot)" in (
        problems
    )
    assert any("container seal: must run as non-root" in p for p in problems)


def test_an_undeclared_or_different_topic_fails(rendered):
    def drop(objects):
        objects[:] = [
            o
            for o in objects
            if not (
                o["kind"] == "KafkaTopic"
                and o["spec"]["topicName"] == "certseal.webhook-dead-letters.v1"
            )
        ]

    assert (
        "topic certseal.webhook-dead-letters.v1 is used by the code but no KafkaTopic "
        "declares it" in broken(rendered["prod"], drop)
    )

    def fewer_partitions(objects):
        find(objects, "KafkaTopic", "certseal-licence-events-v1")["spec"][
            "partitions"
        ] = 6

    assert any(
        "certseal.licence-events.v1: 6 partitions" in p
        for p in broken(rendered["prod"], fewer_partitions)
    )

    def no_prefix_acl(objects):
        user = find(objects, "KafkaUser", "certseal-verifier-sz")
        user["spec"]["authorization"]["acls"] = [
            acl
            for acl in user["spec"]["authorization"]["acls"]
            if acl["resource"]["name"] != "certseal-verifier-sz-"
            or acl["resource"]["type"] != "group"
        ]

    assert (
        "verifier group sz: no Kafka user may create its workers' groups "
        "certseal-verifier-sz-* (prefix ACL)" in broken(rendered["prod"], no_prefix_acl)
    )

    def unnamed_worker(objects):
        spec = find(objects, "StatefulSet", "verifier-sz")["spec"]["template"]["spec"]
        args = spec["containers"][0]["args"]
        del args[args.index("--worker") : args.index("--worker") + 2]

    assert any(
        "StatefulSet/verifier-sz: a verifier pod needs --worker" in p
        for p in broken(rendered["prod"], unnamed_worker)
    )


def test_ports_and_secrets_must_match(rendered):
    def moved_port(objects):
        config = find(objects, "ConfigMap", "certseal-config")["data"]
        config["config.toml"] = config["config.toml"].replace(
            'listen = "0.0.0.0:50054"', 'listen = "0.0.0.0:50064"'
        )

    problems = broken(rendered["dev"], moved_port)
    assert "Service/feed: port grpc is 50054, the configuration listens on 50064" in (
        problems
    )

    def unknown_setting(objects):
        config = find(objects, "ConfigMap", "certseal-config")["data"]
        config["config.toml"] += "\n[consol]\nlisten = 'x'\n"

    assert any(
        "unknown section [consol]" in p
        for p in broken(rendered["dev"], unknown_setting)
    )

    def stray_secret(objects):
        pod = find(objects, "Deployment", "feed")["spec"]["template"]["spec"]
        pod["volumes"][1]["projected"]["sources"][0]["secret"]["name"] = "nope"

    assert "Deployment/feed: its Secret nope does not exist in certseal" in broken(
        rendered["dev"], stray_secret
    )

    def acl_on_a_typo(objects):
        user = find(objects, "KafkaUser", "integrator-provincial-archive")
        user["spec"]["authorization"]["acls"][0]["resource"]["name"] = (
            "certseal.licences"
        )

    assert (
        "KafkaUser/integrator-provincial-archive: its ACL names topic "
        "certseal.licences, which is not declared"
        in broken(rendered["prod"], acl_on_a_typo)
    )


def test_the_console_keeps_its_accounts_in_postgresql_as_service_console(rendered):
    for objects in rendered.values():
        sources = {
            s["secret"]["name"]
            for s in secret_sources(objects, "Deployment", "console")
        }
        assert {"certseal-db-app", "certseal-answers-key"} <= sources
        assert (
            "certseal-keys" not in sources
        )  # it reads neither the KEK nor the data key
        assert (
            find(objects, "Certificate", "console-client-tls")["spec"]["commonName"]
            == "service:console"
        )
    assert k8s_check.code_reads("console") == {
        "database.dsn_file",
        "secrets.answers_key_file",
    }
    assert k8s_check.code_reads("verifier") == {"verifier.index_key_files"}


def test_a_console_without_database_access_fails(rendered):
    def no_dsn(objects):
        sources = secret_sources(objects, "Deployment", "console")
        sources[:] = [s for s in sources if s["secret"]["name"] != "certseal-db-app"]

    assert broken(rendered["prod"], no_dsn) == [
        "Deployment/console: its code reads [database] dsn_file "
        "(/run/secrets/certseal/database.dsn), but nothing mounts it"
    ]

    def no_egress(objects):
        rules = policy(objects, "console")["egress"]
        rules[:] = [r for r in rules if "cnpg.io/cluster" not in str(r)]

    assert broken(rendered["dev"], no_egress) == [
        "Deployment/console: its code opens PostgreSQL, but no NetworkPolicy allows "
        "its egress on 5432"
    ]

    def not_admitted(objects):
        peer = policy(objects, "certseal-db")["ingress"][0]["from"][0]
        peer["podSelector"]["matchExpressions"][0]["values"].remove("console")

    assert broken(rendered["dev"], not_admitted) == [
        "Deployment/console: its code opens PostgreSQL, but no NetworkPolicy allows "
        "certseal-db's ingress on 5432"
    ]


def test_a_component_gets_no_secret_or_database_its_code_does_not_use(rendered):
    def verifier_with_the_database(objects):
        secret_sources(objects, "StatefulSet", "verifier-gz").append(
            {
                "secret": {
                    "name": "certseal-db-app",
                    "items": [{"key": "uri", "path": "database.dsn"}],
                }
            }
        )
        policy(objects, "verifier")["egress"].append(
            {
                "to": [
                    {"podSelector": {"matchLabels": {"cnpg.io/cluster": "certseal-db"}}}
                ],
                "ports": [{"protocol": "TCP", "port": 5432}],
            }
        )

    problems = broken(rendered["prod"], verifier_with_the_database)
    assert (
        "StatefulSet/verifier-gz: mounts /run/secrets/certseal/database.dsn (secret "
        "certseal-db-app), which its code never reads" in problems
    )
    assert (
        "StatefulSet/verifier-sz: NetworkPolicies allow its egress to PostgreSQL, "
        "which its code never opens" in problems
    )

    def seal_with_the_data_key(objects):
        keys = next(
            s["secret"]
            for s in secret_sources(objects, "Deployment", "seal")
            if s["secret"]["name"] == "certseal-keys"
        )
        keys["items"].append({"key": "data-key", "path": "data-key"})

    assert broken(rendered["dev"], seal_with_the_data_key) == [
        "Deployment/seal: mounts /run/secrets/certseal/data-key (secret "
        "certseal-keys), which its code never reads"
    ]

    def kek_from_the_wrong_key(objects):
        keys = next(
            s["secret"]
            for s in secret_sources(objects, "Deployment", "issuer")
            if s["secret"]["name"] == "certseal-keys"
        )
        keys["items"][0]["key"] = "data-key"

    assert broken(rendered["dev"], kek_from_the_wrong_key) == [
        "Deployment/issuer: /run/secrets/certseal/kek is certseal-keys's data-key, "
        "not certseal-keys's kek"
    ]


def test_the_index_key_is_mounted_into_the_issuer_and_verifiers_only(rendered):
    """The key sealing licences' restricted field values (certseal.indexkeys): the
    issuer and every verifier group hold it, nothing else does."""
    index_key = {
        "secret": {
            "name": "certseal-index-key",
            "items": [{"key": "index-key", "path": "index-key"}],
        }
    }
    for objects in rendered.values():
        for obj in objects:
            if obj.get("kind") not in ("Deployment", "StatefulSet"):
                continue
            sources = secret_sources(objects, obj["kind"], obj["metadata"]["name"])
            has = index_key in sources
            wanted = obj["metadata"]["name"] == "issuer" or obj["metadata"][
                "name"
            ].startswith("verifier-")
            assert has == wanted, obj["metadata"]["name"]
    assert k8s_check.code_reads("issuer") >= {"issuer.index_key_file"}
    assert "certseal-index-key" in k8s_check.OPERATOR_SECRETS

    def feed_with_the_index_key(objects):
        secret_sources(objects, "Deployment", "feed").append(index_key)

    assert broken(rendered["dev"], feed_with_the_index_key) == [
        "Deployment/feed: mounts /run/secrets/certseal/index-key (secret "
        "certseal-index-key), which its code never reads"
    ]

    def verifier_without_it(objects):
        sources = secret_sources(objects, "StatefulSet", "verifier-demo")
        sources.remove(index_key)

    assert broken(rendered["dev"], verifier_without_it) == [
        "StatefulSet/verifier-demo: its code reads [verifier] index_key_files "
        "(/run/secrets/certseal/index-key), but nothing mounts it"
    ]


def test_the_console_must_present_service_console(rendered):
    def as_a_department(objects):
        find(objects, "Certificate", "console-client-tls")["spec"]["commonName"] = (
            "dept:11440000MB2D12345L"
        )

    assert broken(rendered["prod"], as_a_department) == [
        "Deployment/console: presents dept:11440000MB2D12345L "
        "(Certificate/console-client-tls), not service:console"
    ]
