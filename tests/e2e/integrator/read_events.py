"""An integrator's reader, built from ``protos/`` alone and the official CloudEvents
Python SDK (1.x or 2.x, whichever is installed): it imports nothing of certseal.

    python read_events.py GENERATED_DIR DUMP_JSON

GENERATED_DIR holds the classes a fresh ``protoc --python_out`` made from ``protos/``;
DUMP_JSON has what the platform delivered: Kafka records, webhook POSTs and gRPC feed
events. Every one is read with the SDK (which refuses a record that is not a valid
CloudEvent) and its data decoded with the generated classes; the result, as JSON on
stdout, is what the test compares with what was published.
"""

import base64
import json
import sys
from importlib.metadata import version

sys.path.insert(0, sys.argv[1])

from google.protobuf.json_format import MessageToDict, ParseDict

from certseal.v1 import events_pb2

SDK = version("cloudevents")
MAJOR = int(SDK.split(".")[0])
MESSAGES = {
    "certseal.licence-events.v1": events_pb2.LicenceEvent,
    "certseal.trust-events.v1": events_pb2.TrustEvent,
    "certseal.seal-events.v1": events_pb2.SealEvent,
    "certseal.licence-usage.v1": events_pb2.LicenceUsedEvent,
}
TOPIC_OF_TYPE = {
    "licence.used": "certseal.licence-usage.v1",
    "licence": "certseal.licence-events.v1",
    "key": "certseal.trust-events.v1",
    "seal": "certseal.seal-events.v1",
    "document": "certseal.seal-events.v1",
}

if MAJOR >= 2:
    from cloudevents.core.bindings import http as ce_http
    from cloudevents.core.bindings import kafka as ce_kafka
    from cloudevents.core.formats.json import JSONFormat
    from cloudevents.core.v1.event import CloudEvent

    def from_kafka(headers, key, value):
        message = ce_kafka.KafkaMessage(headers=headers, key=key, value=value)
        return ce_kafka.from_binary(message, JSONFormat())

    def from_http(headers, body):
        message = ce_http.HTTPMessage(headers=headers, body=body)
        return ce_http.from_http(message, JSONFormat())

    def attributes(event):
        return {**event.get_attributes()}, event.get_data()

    def build(attrs, data):
        return CloudEvent(attrs, data)

else:
    from cloudevents.http import CloudEvent
    from cloudevents.http import from_http as http_from_http
    from cloudevents.kafka import KafkaMessage
    from cloudevents.kafka import from_binary as kafka_from_binary

    def from_kafka(headers, key, value):
        message = KafkaMessage(headers=headers, key=key, value=value)
        return kafka_from_binary(message, data_unmarshaller=lambda b: b)

    def from_http(headers, body):
        return http_from_http(headers, body)

    def attributes(event):
        return dict(event.get_attributes()), event.get_data()

    def build(attrs, data):
        return CloudEvent(attrs, data)


def plain(attrs):
    def one(value):
        if isinstance(value, bytes):  # 1.x gives the Kafka key (partitionkey) as bytes
            return value.decode()
        return value.isoformat() if hasattr(value, "isoformat") else value

    return {k: one(v) for k, v in attrs.items()}


def uses(message):
    """The codes a usage record names (docs/events.md, "Usage records"): its ``uses``,
    or else its singular fields as one use (a one-code record, and every record from
    before ``uses``). Other messages: none."""
    if not isinstance(message, events_pb2.LicenceUsedEvent):
        return []
    if message.uses:
        return [MessageToDict(u) for u in message.uses]
    if not message.lineage:
        return []
    single = events_pb2.LicenceUse(
        lineage=message.lineage,
        identifier=message.identifier,
        verdict=message.verdict,
        code_kind=message.code_kind,
        nonce_hash=message.nonce_hash,
    )
    if message.HasField("code_expires_at"):
        single.code_expires_at.CopyFrom(message.code_expires_at)
    return [MessageToDict(single)]


def read(attrs, message):
    return {
        "attributes": plain(attrs),
        "data": MessageToDict(message),
        "uses": uses(message),
    }


def topic_of(ce_type):
    short = ce_type.removeprefix("cn.gov.certseal.")
    return TOPIC_OF_TYPE.get(short) or TOPIC_OF_TYPE[short.split(".")[0]]


def main():
    with open(sys.argv[2]) as file:
        dump = json.load(file)
    out = {"sdk": SDK, "kafka": [], "http": [], "feed": []}
    for record in dump["kafka"]:
        headers = {k: base64.b64decode(v) for k, v in record["headers"].items()}
        value = base64.b64decode(record["value"])
        event = from_kafka(headers, record["key"].encode(), value)
        attrs, data = attributes(event)
        raw = data if isinstance(data, bytes) else data.encode("utf-8")
        message = MESSAGES[record["topic"]].FromString(raw)
        out["kafka"].append(read(attrs, message))
    for post in dump["http"]:
        event = from_http(post["headers"], base64.b64decode(post["body"]))
        attrs, data = attributes(event)
        message = ParseDict(data, MESSAGES[topic_of(attrs["type"])]())
        out["http"].append(read(attrs, message))
    for item in dump["feed"]:
        raw = base64.b64decode(item["data"])
        event = build(
            {
                "specversion": "1.0",
                "id": item["id"],
                "type": item["type"],
                "source": item["source"],
                "subject": item["subject"],
                "datacontenttype": item["content_type"],
            },
            raw,
        )
        attrs, _ = attributes(event)
        message = MESSAGES[item["topic"]].FromString(raw)
        out["feed"].append(read(attrs, message))
    print(json.dumps(out))


main()
