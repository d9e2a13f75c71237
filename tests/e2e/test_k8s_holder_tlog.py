"""The manifests for the holder side and the transparency log, against the code.

The issuer seals licence files through the seal service as service:issuer, the seal
service asks one verifier group for a licence's status as service:seal, the console
redeems authorisation codes at the issuer, and the verifier groups follow the
transparency log (services/tlog), which runs as its own component with its own key.
make k8s-check must catch each of these going wrong.
"""

import copy

import pytest

from certseal.checkpoints import NoteVerifier
from deploy import k8s_check
from tests.e2e.manifests import (
    broken,
    edit_file,
    find,
    pod,
    policy,
    render_overlays,
    secret_sources,
)


@pytest.fixture(scope="module")
def rendered():
    return render_overlays()


def test_both_overlays_pass(rendered):
    for objects in rendered.values():
        assert k8s_check.check_overlay(objects) == []


def test_the_holder_side_calls_are_configured_and_wired(rendered):
    targets = {
        "dev": {"verifier-demo:50052"},
        "prod": {"verifier-gz:50052"},
    }
    for name, objects in rendered.items():
        cfg = k8s_check.overlay_config(objects)
        assert cfg.issuer.seal_target == "seal:50053"
        assert cfg.console.issuer_target == "issuer:50051"
        assert {cfg.seal.verifier_target} == targets[name]
        assert cfg.verifier.log_target == "tlog:50056"
        assert NoteVerifier.parse(cfg.verifier.log_key).name == cfg.tlog.origin
        for component, secret in (
            ("issuer", "issuer-client-tls"),
            ("seal", "seal-client-tls"),
        ):
            certificate = find(objects, "Certificate", secret)["spec"]
            assert certificate["commonName"] == f"service:{component}"
            assert certificate["usages"] == ["client auth"]
            cert_file, key_file = getattr(cfg, component).identity(cfg.tls)
            mounted = {
                f"/run/secrets/certseal/{item['path']}": (
                    s["secret"]["name"],
                    item["key"],
                )
                for s in secret_sources(objects, "Deployment", component)
                for item in s["secret"]["items"]
            }
            assert mounted[cert_file] == (secret, "tls.crt")
            assert mounted[key_file] == (secret, "tls.key")
        assert ("issuer", "[issuer] seal_target", "seal:50053") in k8s_check.calls(cfg)


def test_a_missing_or_wrong_client_certificate_fails(rendered):
    def no_issuer_client(objects):
        objects[:] = [
            o for o in objects if o["metadata"]["name"] != "issuer-client-tls"
        ]

    problems = broken(rendered["dev"], no_issuer_client)
    assert (
        "Deployment/issuer: its client certificate "
        "/run/secrets/certseal/issuer-client/tls.crt is no Certificate's" in problems
    )

    def seal_as_the_issuer(objects):
        find(objects, "Certificate", "seal-client-tls")["spec"]["commonName"] = (
            "service:issuer"
        )

    assert broken(rendered["prod"], seal_as_the_issuer) == [
        "Deployment/seal: presents service:issuer (Certificate/seal-client-tls), "
        "not service:seal"
    ]


def test_each_verifier_group_presents_its_own_identity(rendered):
    # only a group's own workers may look up its entries (VerifierPeer), and its
    # offline bundles are accepted only for it
    groups = {"dev": ["demo"], "prod": ["gz", "sz"]}
    for name, objects in rendered.items():
        for group in groups[name]:
            certificate = find(objects, "Certificate", f"verifier-tls-{group}")
            assert certificate["spec"]["commonName"] == f"service:verifier-{group}"

    for wrong in ("service:verifier", "service:verifier-sz"):

        def shared_identity(objects, wrong=wrong):
            find(objects, "Certificate", "verifier-tls-gz")["spec"]["commonName"] = (
                wrong
            )

        assert broken(rendered["prod"], shared_identity) == [
            f"StatefulSet/verifier-gz: presents {wrong} (Certificate/verifier-tls-gz), "
            "not service:verifier-gz"
        ]


def test_a_call_the_network_policies_do_not_allow_fails(rendered):
    def issuer_cannot_reach_seal(objects):
        rules = policy(objects, "issuer")["egress"]
        rules[:] = [r for r in rules if "50053" not in str(r)]

    assert broken(rendered["dev"], issuer_cannot_reach_seal) == [
        "Deployment/issuer: [issuer] seal_target calls seal:50053, but no "
        "NetworkPolicy allows its egress on 50053"
    ]

    def verifier_cannot_reach_the_log(objects):
        rules = policy(objects, "verifier")["egress"]
        rules[:] = [r for r in rules if "50056" not in str(r)]

    problems = broken(rendered["prod"], verifier_cannot_reach_the_log)
    assert problems == [
        f"StatefulSet/verifier-{group}: [verifier] log_target calls tlog:50056, but "
        "no NetworkPolicy allows its egress on 50056"
        for group in ("gz", "sz")
    ]

    def log_closed_to_callers(objects):
        policy(objects, "tlog")["ingress"][0]["from"] = [
            {"podSelector": {"matchLabels": {"app.kubernetes.io/component": "issuer"}}}
        ]

    assert broken(rendered["dev"], log_closed_to_callers) == [
        "StatefulSet/verifier-demo: [verifier] log_target calls tlog:50056, but no "
        "NetworkPolicy allows tlog's ingress on 50056"
    ]

    def console_cannot_redeem(objects):
        rules = policy(objects, "console")["egress"]
        rules[:] = [r for r in rules if "50051" not in str(r)]

    assert broken(rendered["dev"], console_cannot_redeem) == [
        "Deployment/console: [console] issuer_target calls issuer:50051, but no "
        "NetworkPolicy allows its egress on 50051"
    ]


def test_egress_to_a_component_nobody_calls_fails(rendered):
    def seal_reaches_every_group(objects):
        rule = policy(objects, "seal")["egress"][3]
        del rule["to"][0]["podSelector"]["matchLabels"][
            "certseal.gov.cn/verifier-group"
        ]

    assert broken(rendered["prod"], seal_reaches_every_group) == [
        "Deployment/seal: NetworkPolicies allow its egress to StatefulSet/verifier-sz "
        "on 50052, which its configuration never calls"
    ]

    def feed_reaches_the_log(objects):
        policy(objects, "feed")["egress"].append(
            {
                "to": [
                    {
                        "podSelector": {
                            "matchLabels": {"app.kubernetes.io/component": "tlog"}
                        }
                    }
                ],
                "ports": [{"protocol": "TCP", "port": 50056}],
            }
        )

    assert broken(rendered["dev"], feed_reaches_the_log) == [
        "Deployment/feed: NetworkPolicies allow its egress to Deployment/tlog on "
        "50056, which its configuration never calls"
    ]


def test_unset_or_wrong_targets_fail(rendered):
    def no_seal_target(objects):
        edit_file(
            objects, "config.toml", 'seal_target = "seal:50053"\ncert_file', "cert_file"
        )

    # and the egress kept for it is then egress nothing uses
    assert broken(rendered["dev"], no_seal_target) == [
        "[issuer] seal_target is empty: the issuer could not make licence files",
        "Deployment/issuer: NetworkPolicies allow its egress to Deployment/seal on "
        "50053, which its configuration never calls",
    ]

    def status_from_a_missing_group(objects):
        edit_file(objects, "site.toml", "verifier-demo:50052", "verifier-xx:50052")

    assert broken(rendered["dev"], status_from_a_missing_group) == [
        "seal: [seal] verifier_target verifier-xx:50052 is not a Service port in this "
        "overlay",
        "Deployment/seal: NetworkPolicies allow its egress to StatefulSet/verifier-demo "
        "on 50052, which its configuration never calls",
    ]

    def log_on_the_wrong_port(objects):
        edit_file(objects, "site.toml", "tlog:50056", "tlog:50057")

    assert broken(rendered["prod"], log_on_the_wrong_port) == [
        "verifier: [verifier] log_target tlog:50057 is not a Service port in this "
        "overlay",
        *(
            f"StatefulSet/verifier-{group}: NetworkPolicies allow its egress to "
            "Deployment/tlog on 50056, which its configuration never calls"
            for group in ("gz", "sz")
        ),
    ]


def test_the_log_key_must_parse_and_name_the_logs_origin(rendered):
    def no_key(objects):
        edit_file(objects, "site.toml", 'log_key = "', 'log_key = "x')

    problems = broken(rendered["dev"], no_key)
    assert len(problems) == 1 and problems[0].startswith("[verifier] log_key: ")

    def another_origin(objects):
        edit_file(
            objects,
            "site.toml",
            'origin = "prod.certseal.example/transparency-log"',
            'origin = "other.example/log"',
        )

    assert broken(rendered["prod"], another_origin) == [
        "[verifier] log_key is prod.certseal.example/transparency-log's, not the "
        "log's ([tlog] origin other.example/log)"
    ]


def test_every_component_layers_the_sites_settings(rendered):
    def issuer_without_site(objects):
        args = pod(objects, "Deployment", "issuer")["containers"][0]["args"]
        args[:] = args[:3]

    assert broken(rendered["dev"], issuer_without_site) == [
        "Deployment/issuer: loads ['/etc/certseal/config.toml'], not "
        "['/etc/certseal/config.toml', '/etc/certseal/site.toml'] (the files "
        "certseal-config layers)"
    ]

    def no_site_file(objects):
        del find(objects, "ConfigMap", "certseal-config")["data"]["site.toml"]

    problems = broken(rendered["dev"], no_site_file)
    assert "Deployment/tlog: certseal-config has no /etc/certseal/site.toml" in problems
    assert (
        "StatefulSet/verifier-demo: certseal-config has no /etc/certseal/site.toml"
        in (problems)
    )


def test_the_log_runs_like_every_component(rendered):
    for objects in rendered.values():
        cfg = k8s_check.overlay_config(objects)
        service = {
            p["name"]: p["port"]
            for p in find(objects, "Service", "tlog")["spec"]["ports"]
        }
        assert service == {"grpc": 50056, "metrics": 9514}
        assert cfg.tlog.listen.endswith(":50056") and cfg.tlog.metrics_listen.endswith(
            ":9514"
        )
        assert (
            find(objects, "Certificate", "tlog-tls")["spec"]["commonName"]
            == "service:tlog"
        )
        assert find(objects, "ServiceMonitor", "tlog")
        acls = find(objects, "KafkaUser", "certseal-tlog")["spec"]["authorization"][
            "acls"
        ]
        written = {a["resource"]["name"] for a in acls if "Write" in a["operations"]}
        # the relay that leads publishes every service's outbox rows
        assert written == {
            "certseal.licence-events.v1",
            "certseal.trust-events.v1",
            "certseal.directory-events.v1",
            "certseal.seal-events.v1",
        }
        assert not any("Read" in a["operations"] for a in acls)
    assert k8s_check.code_reads("tlog") == {
        "database.dsn_file",
        "tlog.signing_key_file",
    }
    assert "certseal-log-key" in k8s_check.OPERATOR_SECRETS
    assert find(rendered["prod"], "PodDisruptionBudget", "tlog")


def test_the_log_key_is_the_logs_alone(rendered):
    log_key = {
        "secret": {
            "name": "certseal-log-key",
            "items": [{"key": "log.key", "path": "tlog/log.key"}],
        }
    }
    for objects in rendered.values():
        for obj in objects:
            if obj.get("kind") in ("Deployment", "StatefulSet"):
                has = log_key in secret_sources(
                    objects, obj["kind"], obj["metadata"]["name"]
                )
                assert has == (obj["metadata"]["name"] == "tlog"), obj["metadata"][
                    "name"
                ]

    def without_it(objects):
        secret_sources(objects, "Deployment", "tlog").remove(log_key)

    assert broken(rendered["dev"], without_it) == [
        "Deployment/tlog: its code reads [tlog] signing_key_file "
        "(/run/secrets/certseal/tlog/log.key), but nothing mounts it"
    ]

    def the_seal_with_it(objects):
        secret_sources(objects, "Deployment", "seal").append(copy.deepcopy(log_key))

    assert broken(rendered["dev"], the_seal_with_it) == [
        "Deployment/seal: mounts /run/secrets/certseal/tlog/log.key (secret "
        "certseal-log-key), which its code never reads"
    ]


def test_the_log_needs_its_policy_monitor_and_database(rendered):
    def unmonitored(objects):
        objects[:] = [
            o
            for o in objects
            if not (o["kind"] == "ServiceMonitor" and o["metadata"]["name"] == "tlog")
        ]

    assert broken(rendered["dev"], unmonitored) == [
        "tlog: no ServiceMonitor scrapes it"
    ]

    def not_admitted(objects):
        peer = policy(objects, "certseal-db")["ingress"][0]["from"][0]
        peer["podSelector"]["matchExpressions"][0]["values"].remove("tlog")

    assert broken(rendered["dev"], not_admitted) == [
        "Deployment/tlog: its code opens PostgreSQL, but no NetworkPolicy allows "
        "certseal-db's ingress on 5432"
    ]


def test_every_relay_may_write_every_outbox_topic(rendered):
    """One outbox relay leads across the issuer, seal, feed and log processes and
    publishes every service's rows: each of their Kafka users may write them all."""
    assert k8s_check.outbox_topics() == {
        "certseal.licence-events.v1",
        "certseal.trust-events.v1",
        "certseal.directory-events.v1",
        "certseal.seal-events.v1",
    }
    assert k8s_check.relay_components() == {"issuer", "seal", "feed", "tlog"}

    def seal_writes_its_own_only(objects):
        acls = find(objects, "KafkaUser", "certseal-seal")["spec"]["authorization"][
            "acls"
        ]
        acls[:] = [
            a
            for a in acls
            if a["resource"]["name"] in ("certseal.seal-events.v1", "certseal.")
        ]

    assert broken(rendered["prod"], seal_writes_its_own_only) == [
        f"KafkaUser/certseal-seal: the outbox relay seal runs may lead and publish "
        f"{topic}, which it may not write"
        for topic in (
            "certseal.directory-events.v1",
            "certseal.licence-events.v1",
            "certseal.trust-events.v1",
        )
    ]

    def no_log_user(objects):
        objects[:] = [o for o in objects if o["metadata"]["name"] != "certseal-tlog"]

    problems = broken(rendered["dev"], no_log_user)
    assert "tlog: runs an outbox relay, but no KafkaUser certseal-tlog" in problems
