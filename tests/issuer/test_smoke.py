from certseal.events import LICENCE_EVENTS
from certseal.v1 import events_pb2
from certseal.v1 import issuer_pb2 as pb
from tests.conftest import EventWatcher, issue_request


async def test_issue_get_and_event(stack, dept):
    async with EventWatcher(stack, LICENCE_EVENTS) as watcher:
        issued = (await dept.clients.issuer.IssueLicence(issue_request(dept))).licence
        assert issued.status == 1
        got = (
            await dept.clients.issuer.GetLicence(
                pb.GetLicenceRequest(identifier=issued.identifier)
            )
        ).licence
        assert got.holder.name == "张三丰"
        assert got.fields["address"].string_value == "深圳市福田区"
        records = await watcher.wait_for(
            lambda rs: any(r.key == issued.lineage.encode() for r in rs)
        )
        record = next(r for r in records if r.key == issued.lineage.encode())
        event = events_pb2.LicenceEvent.FromString(record.value)
        assert event.type == "licence.issued"
        assert "张" not in record.value.decode("utf-8", "replace")
        assert dict(record.headers)["ce_type"] == b"cn.gov.certseal.licence.issued"
