"""The issuer's ranges that its commands' options share with its API, so that the
parser refuses every value outside with one message (a new user's trial 8:
``type add --validity-days 0`` said "between 1 and 36500 days" and ``-1`` "outside 0
to 4,294,967,295", the protobuf field's range). Pure constants: the commands import
them without the service."""

from __future__ import annotations

#: the longest default validity a licence type may give, in days
MAX_TYPE_VALIDITY_DAYS = 36500
#: a signing key's validity, in days: the longest, and the default (asked as 0)
MAX_KEY_VALIDITY_DAYS = 3650
DEFAULT_KEY_VALIDITY_DAYS = 730
#: events per republish call: the most, and the default (asked as 0)
MAX_REPUBLISH_EVENTS = 100_000
DEFAULT_REPUBLISH_EVENTS = 10_000
