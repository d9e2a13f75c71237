"""Custom resources against the operators' own CRD schemas, strictly.

The schemas are the ``openAPIV3Schema`` of each CRD at the minimum and the newest
operator version of docs/operations.md's "Supported versions" table, kept in
deploy/crd-schemas/<operator>/<version>/<Kind>.json (deploy/crd_schemas.py extracts
them from the operators' release tags). A resource must pass every one of its kind:

- the structural schema as the API server applies it: types, required fields, enums,
  patterns, bounds (jsonschema, OpenAPI's ``nullable`` and ``x-kubernetes-int-or-string``
  understood);
- unknown fields refused, as ``kubectl apply --validate=strict`` refuses them (the API
  server would silently prune them), except where the schema preserves unknown fields;
- the CEL rules (``x-kubernetes-validations``), evaluated with cel-python; transition
  rules (those naming ``oldSelf``) apply to updates only and are skipped.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import celpy
import jsonschema

SCHEMAS = Path(__file__).resolve().parent / "crd-schemas"
_DNS_SUBDOMAIN = re.compile(
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
)


@functools.cache
def load(operator: str, version: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the stored record, for one operator version; empty when
    none is stored."""
    folder = SCHEMAS / operator / version
    found = {}
    for path in sorted(folder.glob("*.json")):
        record = json.loads(path.read_text())
        if "schema" in record:
            found[(record["apiVersion"], record["kind"])] = record
    return found


_SCHEMA_MAPS = ("properties", "patternProperties")


def _strict(schema: Any) -> Any:
    """The CRD schema as JSON Schema, refusing unknown fields."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    # a map of properties holds schemas by name, not keywords: each is made strict
    # once (walked as a schema too, every level of nesting doubled the work)
    out = {
        k: ({n: _strict(s) for n, s in v.items()} if k in _SCHEMA_MAPS else _strict(v))
        for k, v in schema.items()
        if not k.startswith("x-kubernetes")
    }
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [*out.get("anyOf", []), {"type": "integer"}, {"type": "string"}]
    preserve = schema.get("x-kubernetes-preserve-unknown-fields") or schema.get(
        "x-kubernetes-embedded-resource"
    )
    if (
        schema.get("type") == "object"
        and "additionalProperties" not in schema
        and not preserve
    ):
        out["additionalProperties"] = False
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    out.pop("nullable", None)
    out.pop("format", None)  # formats are advisory in Kubernetes' OpenAPI
    return out


@functools.cache
def _validator(operator: str, version: str, api_version: str, kind: str) -> Any:
    record = load(operator, version)[(api_version, kind)]
    schema = _strict(copy.deepcopy(record["schema"]))
    # apiVersion, kind and metadata are the API server's (ObjectMeta), not the CRD's
    schema.setdefault("properties", {})
    for field in ("apiVersion", "kind", "metadata"):
        schema["properties"][field] = {}
    return jsonschema.Draft7Validator(schema)


def _where(path: Any) -> str:
    return ".".join(str(p) for p in path) or "(root)"


def _cel_rules(schema: Any, value: Any, path: str) -> Iterator[tuple[str, str, Any]]:
    """(path, rule, value) of every CEL rule that applies to ``value``."""
    if not isinstance(schema, dict):
        return
    for rule in schema.get("x-kubernetes-validations", []):
        if "oldSelf" not in rule["rule"]:
            yield path, rule["rule"], value
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            sub = properties.get(key, extra if isinstance(extra, dict) else None)
            if sub is not None:
                yield from _cel_rules(sub, item, f"{path}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            yield from _cel_rules(schema["items"], item, f"{path}[{i}]")


@functools.cache
def _program(rule: str) -> Any:
    env = celpy.Environment()
    return env.program(env.compile(rule))


def check_cel(record: dict[str, Any], obj: dict[str, Any]) -> Iterator[str]:
    """The CEL rules ``obj`` breaks, with their paths."""
    for path, rule, value in _cel_rules(record["schema"], obj, ""):
        try:
            ok = _program(rule).evaluate({"self": celpy.json_to_cel(value)})
        except Exception as exc:  # a rule cel-python cannot evaluate is a problem too
            yield f"{path.lstrip('.')}: CEL rule {rule!r} could not be evaluated: {exc}"
            continue
        if not isinstance(ok, celpy.celtypes.BoolType):
            yield f"{path.lstrip('.')}: CEL rule {rule!r} could not be evaluated: {ok}"
        elif not bool(ok):
            yield f"{path.lstrip('.')}: breaks the CEL rule {rule!r}"


def validate(
    obj: dict[str, Any], operators: dict[str, tuple[str, str]]
) -> Iterator[str]:
    """Every problem of one custom resource under every stored schema of its kind.

    ``operators``: operator key -> (minimum, newest) version. A resource whose
    (apiVersion, kind) one of those versions does not serve is refused by it.
    """
    api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    group = api_version.rpartition("/")[0]
    for operator, versions in operators.items():
        for version in sorted(set(versions)):
            records = load(operator, version)
            if not any(a.rpartition("/")[0] == group for a, _ in records):
                continue  # not this operator's group
            who = f"{operator} {version}"
            name = str((obj.get("metadata") or {}).get("name", ""))
            if len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
                yield f"metadata.name: {name!r} is not a DNS subdomain (RFC 1123)"
            if (api_version, kind) not in records:
                yield f"{who} does not serve {api_version} {kind}"
                continue
            validator = _validator(operator, version, api_version, kind)
            for error in sorted(validator.iter_errors(obj), key=lambda e: list(e.path)):
                yield f"{_where(error.path)}: {error.message} ({who})"
            for problem in check_cel(records[(api_version, kind)], obj):
                yield f"{problem} ({who})"


def scope(api_version: str, kind: str, operators: dict[str, tuple[str, str]]) -> str:
    """``Namespaced`` or ``Cluster`` for a custom kind ('' if no schema knows it)."""
    for operator, versions in operators.items():
        for version in versions:
            record = load(operator, version).get((api_version, kind))
            if record is not None:
                return str(record["scope"])
    return ""


def missing_versions(operators: dict[str, tuple[str, str]]) -> Iterator[str]:
    """Versions the table names for which no schema is stored."""
    for operator, versions in operators.items():
        for version in sorted(set(versions)):
            if not load(operator, version):
                yield (
                    f"docs/operations.md names {operator} {version}, but "
                    f"deploy/crd-schemas/{operator}/{version} holds no schemas "
                    "(extract them with deploy/crd_schemas.py)"
                )
