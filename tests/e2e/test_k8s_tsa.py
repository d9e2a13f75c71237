"""The platform's RFC 3161 TSA in the manifests, against the code.

Every seal pod serves the TSA (``[seal] tsa_listen``) with the operator's key (Secret
certseal-tsa, mounted into seal pods only) and asks it through the seal Service
(``[seal] tsa_url``) when it makes a PAdES B-T signature. make k8s-check must catch
each of these going wrong.
"""

import copy

import pytest

from deploy import k8s_check
from tests.e2e.manifests import broken, edit_file, find, render_overlays, secret_sources

TSA_PORT = 8318


@pytest.fixture(scope="module")
def rendered():
    return render_overlays()


def tsa_secret(objects):
    return next(
        s
        for s in secret_sources(objects, "Deployment", "seal")
        if s.get("secret", {}).get("name") == "certseal-tsa"
    )


def rules_on(policy, direction, port):
    return [
        rule
        for rule in policy["spec"][direction]
        if any(p.get("port") == port for p in rule.get("ports", []))
    ]


def test_every_overlay_serves_and_calls_the_tsa(rendered):
    for name, objects in rendered.items():
        assert k8s_check.check_overlay(objects) == [], name
        cfg = k8s_check.overlay_config(objects)
        assert cfg.seal.tsa_listen.endswith(f":{TSA_PORT}")
        assert ("seal", "[seal] tsa_url", f"seal:{TSA_PORT}") in k8s_check.calls(cfg)
        service = find(objects, "Service", "seal")
        assert {"name": "tsa", "port": TSA_PORT, "targetPort": "tsa"}.items() <= next(
            p for p in service["spec"]["ports"] if p["name"] == "tsa"
        ).items()
        container = find(objects, "Deployment", "seal")["spec"]["template"]["spec"][
            "containers"
        ][0]
        assert {"name": "tsa", "containerPort": TSA_PORT} in container["ports"]
        # ingress on the TSA port: the seal pods alone
        policy = find(objects, "NetworkPolicy", "seal")
        (ingress,) = rules_on(policy, "ingress", TSA_PORT)
        assert ingress["from"] == [
            {"podSelector": {"matchLabels": {"app.kubernetes.io/component": "seal"}}}
        ]
    assert {
        "seal.tsa_key_file",
        "seal.tsa_cert_file",
        "seal.tsa_trusted_ca_files",
    } <= k8s_check.code_reads("seal")
    assert "certseal-tsa" in k8s_check.OPERATOR_SECRETS


def test_the_tsa_key_is_the_seal_services_alone(rendered):
    objects = rendered["dev"]
    for obj in objects:
        if obj.get("kind") in ("Deployment", "StatefulSet"):
            names = {
                s["secret"]["name"]
                for s in secret_sources(objects, obj["kind"], obj["metadata"]["name"])
                if "secret" in s
            }
            assert ("certseal-tsa" in names) == (obj["metadata"]["name"] == "seal")

    def without_it(objects):
        secret_sources(objects, "Deployment", "seal").remove(tsa_secret(objects))

    problems = broken(objects, without_it)
    assert (
        "Deployment/seal: its code reads [seal] tsa_key_file "
        "(/run/secrets/certseal/tsa/tsa.key), but nothing mounts it"
    ) in problems
    assert len(problems) == 3  # the key, the certificate and the trusted root

    def the_issuer_with_it(objects):
        secret_sources(objects, "Deployment", "issuer").append(
            copy.deepcopy(tsa_secret(objects))
        )

    assert (
        "Deployment/issuer: mounts /run/secrets/certseal/tsa/tsa.key (secret "
        "certseal-tsa), which its code never reads"
    ) in broken(objects, the_issuer_with_it)

    def from_another_secret(objects):
        tsa_secret(objects)["secret"]["name"] = "certseal-seal-ca"

    assert (
        "Deployment/seal: /run/secrets/certseal/tsa/tsa.key is certseal-seal-ca's "
        "tsa.key, not certseal-tsa's tsa.key"
    ) in broken(objects, from_another_secret)


def test_the_tsa_port_must_be_served_and_allowed(rendered):
    objects = rendered["dev"]

    def no_ingress(objects):
        policy = find(objects, "NetworkPolicy", "seal")
        for rule in rules_on(policy, "ingress", TSA_PORT):
            policy["spec"]["ingress"].remove(rule)

    assert broken(objects, no_ingress) == [
        f"Deployment/seal: [seal] tsa_url calls seal:{TSA_PORT}, but no "
        f"NetworkPolicy allows seal's ingress on {TSA_PORT}"
    ]

    def no_egress(objects):
        policy = find(objects, "NetworkPolicy", "seal")
        for rule in rules_on(policy, "egress", TSA_PORT):
            policy["spec"]["egress"].remove(rule)

    assert broken(objects, no_egress) == [
        f"Deployment/seal: [seal] tsa_url calls seal:{TSA_PORT}, but no "
        f"NetworkPolicy allows its egress on {TSA_PORT}"
    ]

    def no_service_port(objects):
        service = find(objects, "Service", "seal")
        service["spec"]["ports"] = [
            p for p in service["spec"]["ports"] if p["name"] != "tsa"
        ]

    assert (
        f"seal: [seal] tsa_url seal:{TSA_PORT} is not a Service port in this overlay"
    ) in broken(objects, no_service_port)

    def listens_elsewhere(objects):
        edit_file(
            objects,
            "config.toml",
            'tsa_listen = "0.0.0.0:8318"',
            'tsa_listen = "0.0.0.0:8319"',
        )

    assert (
        f"Deployment/seal: port tsa is {TSA_PORT}, the configuration listens on 8319"
    ) in broken(objects, listens_elsewhere)


def test_an_outside_tsa_is_no_cluster_call():
    assert k8s_check.in_cluster("https://tsa.example.com/tsr") == ""
    assert k8s_check.in_cluster("") == ""
    assert k8s_check.in_cluster("http://seal:8318/") == "seal:8318"
    assert k8s_check.in_cluster("http://seal.certseal.svc:8318") == "seal:8318"
    assert (
        k8s_check.in_cluster("https://seal.certseal.svc.cluster.local/") == "seal:443"
    )
    assert k8s_check.in_cluster("http://seal/") == "seal:80"
