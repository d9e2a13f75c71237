"""What the tests of the Kubernetes manifests (deploy/k8s) share: every overlay
rendered, the objects looked up by kind and name, and a copy of them broken on purpose
and checked again (deploy/k8s_check.py)."""

from __future__ import annotations

import copy
from collections.abc import Callable

from deploy import k8s_check


def render_overlays() -> dict[str, list[dict]]:
    """Every overlay's objects, by the overlay's name."""
    return {
        overlay.name: k8s_check.render(overlay)
        for overlay in sorted(k8s_check.OVERLAYS.iterdir())
    }


def find(objects: list[dict], kind: str, name: str) -> dict:
    """The object of ``kind`` called ``name``."""
    return next(
        o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name
    )


def broken(objects: list[dict], change: Callable[[list[dict]], None]) -> list[str]:
    """What k8s_check says of a copy of ``objects`` that ``change`` edited."""
    objects = copy.deepcopy(objects)
    change(objects)
    return k8s_check.check_overlay(objects)


def pod(objects: list[dict], kind: str, name: str) -> dict:
    """The pod template's spec of a workload."""
    return find(objects, kind, name)["spec"]["template"]["spec"]


def secret_sources(objects: list[dict], kind: str, name: str) -> list[dict]:
    """The sources of a workload's projected ``secrets`` volume."""
    volume = next(
        v for v in pod(objects, kind, name)["volumes"] if v["name"] == "secrets"
    )
    return volume["projected"]["sources"]


def policy(objects: list[dict], name: str) -> dict:
    """The spec of the NetworkPolicy ``name``."""
    return find(objects, "NetworkPolicy", name)["spec"]


def edit_file(objects: list[dict], name: str, old: str, new: str) -> None:
    """Replace ``old`` (which must be there) in the configuration file ``name``."""
    data = find(objects, "ConfigMap", "certseal-config")["data"]
    assert old in data[name]
    data[name] = data[name].replace(old, new)
