"""What a verifier worker asks the broker before Faust starts: the cluster it points
at (an index kept for another cluster is dropped) and whether the platform's topics
have the partition counts ``[kafka] topic_partitions`` gives them."""

from __future__ import annotations

from certseal.events import (
    DIRECTORY_EVENTS,
    LICENCE_EVENTS,
    LICENCE_USAGE,
    TRUST_EVENTS,
    default_topics,
)
from certseal.kafka import cluster_id
from services.verifier.config import VerifierSettings


async def broker_cluster_id(config: VerifierSettings) -> str:
    """The id of the Kafka cluster the configuration points at."""
    return await cluster_id(config.kafka.settings("certseal-verifier"))


async def partition_mismatches(config: VerifierSettings) -> list[str]:
    """The topics a worker reads whose partition count on the broker is not the one
    ``[kafka] topic_partitions`` gives them (certseal.events.default_topics): the
    worker's tables must have their source topic's count (Faust refuses a changelog of
    another, and the trust list would then stay empty: every verdict UNKNOWN_ISSUER),
    and a partitioned group divides the licence topic's. A topic not made yet is not
    counted. ``"<topic> has N partitions, not M"`` each."""
    reads = (LICENCE_EVENTS, TRUST_EVENTS, DIRECTORY_EVENTS, LICENCE_USAGE)
    want = {
        spec.name: spec.partitions
        for spec in default_topics(config.kafka.topic_partitions)
        if spec.name in reads
    }
    admin = config.kafka.settings("certseal-verifier").admin()
    await admin.start()
    try:
        made = [t for t in want if t in set(await admin.list_topics())]
        # none made: nothing to ask (an empty list asks some brokers for every topic)
        described = await admin.describe_topics(made) if made else []
    finally:
        await admin.close()
    return [
        f"{d['topic']} has {len(d['partitions'])} partitions, not {want[d['topic']]}"
        for d in described
        if d["topic"] in want and len(d["partitions"]) != want[d["topic"]]
    ]
