"""Names reach the verifiers through directory events: a department's onboarding and a
licence type's registration are published through the outbox, and what a database
from before directory events holds is announced once at start."""

from __future__ import annotations

import json
import secrets

from certseal.events import DIRECTORY_EVENTS
from certseal.storage.pool import connect as pg_connect
from certseal.timestamps import utcnow
from certseal.v1 import events_pb2, licence_pb2
from certseal.v1 import issuer_pb2 as pb
from tests.conftest import EventWatcher, fresh_uscc


def directory(records, key: str) -> list[tuple[events_pb2.DirectoryEvent, dict]]:
    return [
        (
            events_pb2.DirectoryEvent.FromString(r.value),
            {k: v.decode() for k, v in r.headers},
        )
        for r in records
        if r.key == key.encode()
    ]


async def test_onboarding_and_registration_publish_names(stack, config, operator):
    code = fresh_uscc()
    type_code = code + f"{secrets.randbelow(1000):03d}"
    async with EventWatcher(stack, DIRECTORY_EVENTS) as watcher:
        await operator.admin.OnboardDepartment(
            pb.OnboardDepartmentRequest(
                code=code,
                name="示例交警支队",
                roles=[licence_pb2.DEPARTMENT_ROLE_ISSUER],
            )
        )
        await operator.admin.RegisterLicenceType(
            pb.RegisterLicenceTypeRequest(
                type_code=type_code,
                name="机动车驾驶证",
                default_validity_days=365,
                issuer_codes=[code],
                fields=[
                    licence_pb2.FieldSpec(
                        name="class",
                        type=licence_pb2.FIELD_TYPE_STRING,
                        public=True,
                        title="准驾车型",
                    ),
                    licence_pb2.FieldSpec(
                        name="points", type=licence_pb2.FIELD_TYPE_INTEGER
                    ),
                ],
            )
        )
        records = await watcher.wait_for(
            lambda rs: (
                directory(rs, f"department:{code}")
                and directory(rs, f"licence-type:{type_code}")
            )
        )
    [(dept, headers)] = directory(records, f"department:{code}")
    assert (dept.type, dept.kind, dept.code, dept.name) == (
        "department.onboarded",
        "department",
        code,
        "示例交警支队",
    )
    assert dept.entry_version == 1 and dept.actor == "operator:admin"
    assert headers["ce_type"] == "cn.gov.certseal.department.onboarded"
    assert headers["ce_id"] == dept.event_id
    assert headers["ce_subject"] == f"department:{code}"
    assert headers["ce_source"] == f"/departments/{config.platform.code}"
    [(kind, headers)] = directory(records, f"licence-type:{type_code}")
    assert (kind.type, kind.name) == ("licence_type.registered", "机动车驾驶证")
    # which are public: the titles an offline trust bundle may carry (polish 3)
    assert [(f.name, f.title, f.public) for f in kind.fields] == [
        ("class", "准驾车型", True),
        ("points", "points", False),
    ]
    assert headers["ce_type"] == "cn.gov.certseal.licence_type.registered"


async def test_entries_from_before_the_upgrade_are_announced_once(
    stack, config, issuer
):
    # rows as the previous version wrote them: no directory event, announced unset
    code, type_code = fresh_uscc(), fresh_uscc() + "007"
    conn = await pg_connect(config.database.dsn())
    try:
        await conn.execute(
            "insert into departments (code, name, roles, created_at) "
            "values ($1, '旧部门', '{issuer}', $2)",
            code,
            utcnow(),
        )
        await conn.execute(
            """insert into licence_types (type_code, name, fields,
                   default_validity_days, issuer_codes, created_at)
               values ($1, '旧证照', $2, 365, $3, $4)""",
            type_code,
            [
                json.loads(
                    '{"name": "class", "kind": "string", "required": false, '
                    '"public": true, "personal": false, "title": "准驾车型"}'
                )
            ],
            [code],
            utcnow(),
        )
        async with EventWatcher(stack, DIRECTORY_EVENTS) as watcher:
            assert await issuer.service.directory.announce_directory() >= 2
            assert await issuer.service.directory.announce_directory() == 0
            records = await watcher.wait_for(
                lambda rs: (
                    directory(rs, f"department:{code}")
                    and directory(rs, f"licence-type:{type_code}")
                )
            )
        [(dept, _)] = directory(records, f"department:{code}")
        assert dept.name == "旧部门"
        [(kind, _)] = directory(records, f"licence-type:{type_code}")
        assert kind.name == "旧证照" and kind.fields[0].title == "准驾车型"
        flags = await conn.fetch(
            "select announced from departments where code = $1 union all "
            "select announced from licence_types where type_code = $2",
            code,
            type_code,
        )
        assert [r["announced"] for r in flags] == [True, True]
    finally:
        await conn.execute("delete from licence_types where type_code = $1", type_code)
        await conn.execute("delete from departments where code = $1", code)
        await conn.close()
