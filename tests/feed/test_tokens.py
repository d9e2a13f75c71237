"""Position tokens name the Kafka cluster they were taken on: a token from a rebuilt
cluster (here a second embedded broker) is refused with FAILED_PRECONDITION saying what
to do, and doing it (earliest, dedupe on ids) delivers every event of the new cluster;
a token within one cluster's life still resumes with no gap."""

import copy
import datetime as dt

import grpc
import pytest
from aiokafka import AIOKafkaProducer

from certseal.events import LICENCE_EVENTS, cloudevent, new_event_id
from certseal.rpc import secure_channel
from certseal.v1 import events_pb2
from certseal.v1 import feed_pb2 as pb
from services.devstack import DevStack
from services.feed.app import FeedApp
from tests.feed.test_service import collect, entitle

DEPT = "91350100M000100Y43"


async def _publish(bootstrap: str, count: int) -> list[str]:
    """``count`` licence events of DEPT on the broker at ``bootstrap``; their ids."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    ids = []
    try:
        for _ in range(count):
            event_id = new_event_id()
            lineage = f"1.2.156.3.2.1.T001.{DEPT}.000001"  # one partition: in order
            record = cloudevent(
                topic=LICENCE_EVENTS,
                key=lineage,
                message=events_pb2.LicenceEvent(
                    event_id=event_id, type="licence.issued", lineage=lineage
                ),
                event_id=event_id,
                event_type="licence.issued",
                source=DEPT,
                time=dt.datetime.now(dt.UTC),
            )
            await producer.send_and_wait(
                record.topic,
                key=record.key,
                value=record.value,
                headers=[(k, v.encode()) for k, v in record.headers.items()],
            )
            ids.append(event_id)
    finally:
        await producer.stop()
    return ids


@pytest.fixture(scope="module")
async def two_feeds(stack, config, issuer, tmp_path_factory):
    """A feed on the stack's broker, and one on a second, new embedded broker."""
    first = FeedApp(config, listen="127.0.0.1:0")
    await first.start()
    rebuilt = DevStack(tmp_path_factory.mktemp("rebuilt"), copy.deepcopy(config))
    rebuilt.topic_partitions = stack.topic_partitions
    bootstrap = await rebuilt.start_broker()
    second = FeedApp(rebuilt.config, listen="127.0.0.1:0")
    await second.start()
    yield first, second, bootstrap
    await second.stop(grace=1)
    await first.stop(grace=1)
    rebuilt.stop()


def _channel_as(stack, app):
    def channel(identity: str) -> grpc.aio.Channel:
        ident = stack.ca.identity(identity)
        return secure_channel(
            f"localhost:{app.port}",
            str(stack.ca.ca_file),
            str(ident.cert_file),
            str(ident.key_file),
        )

    return channel


async def test_a_token_from_another_cluster_is_refused_and_earliest_loses_nothing(
    stack, two_feeds
):
    first, second, bootstrap = two_feeds
    on_first, on_second = _channel_as(stack, first), _channel_as(stack, second)
    await entitle(on_first, "integrator:rebuilt", [DEPT], ["licence.*"])
    old = await _publish(stack.config.kafka.bootstrap_servers, 5)
    received = await collect(on_first, "integrator:rebuilt", 5)
    assert [e.id for e in received] == old
    token = received[-1].token

    # the same cluster: the token resumes right after the last event
    more = await _publish(stack.config.kafka.bootstrap_servers, 2)
    resumed = await collect(
        on_first, "integrator:rebuilt", 2, pb.SubscribeRequest(token=token)
    )
    assert [e.id for e in resumed] == more

    # the cluster is rebuilt: 3 new events, at offsets the old token stands past or
    # inside; resuming mid-partition would deliver some of them and skip the rest
    new = await _publish(bootstrap, 3)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await collect(
            on_second,
            "integrator:rebuilt",
            1,
            pb.SubscribeRequest(token=token),
            within=10,
        )
    assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "Kafka cluster" in err.value.details()
    assert "subscribe again from earliest" in err.value.details()
    assert "drop events whose id you already hold" in err.value.details()

    # what the message says to do: earliest, with the integrator's dedupe on ids
    held = {e.id for e in received + resumed}
    replayed = await collect(
        on_second, "integrator:rebuilt", 3, pb.SubscribeRequest(earliest=True)
    )
    fresh = [e.id for e in replayed if e.id not in held]
    assert fresh == new
    # and a token taken on the new cluster resumes there
    newer = await _publish(bootstrap, 1)
    after = await collect(
        on_second,
        "integrator:rebuilt",
        1,
        pb.SubscribeRequest(token=replayed[-1].token),
    )
    assert [e.id for e in after] == newer
