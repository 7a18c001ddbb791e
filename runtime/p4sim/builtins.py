"""The declarations of ``core.p4`` and ``v1model.p4`` that the subset uses.

``#include <core.p4>`` / ``#include <v1model.p4>`` are not read from disk: the
parser blanks them and these built-ins are always in scope.  Field lists and
member orders follow p4c's ``p4include/core.p4`` and ``p4include/v1model.p4``
(v1model version 20200408): error codes are numbered in declaration order,
core's first (NoError = 0, PacketTooShort = 1, ...), as p4c's bmv2 backend
numbers them.
"""
from __future__ import annotations

from .types import Bits, EnumT, ErrorT, StructT

CORE_ERRORS = ("NoError", "PacketTooShort", "NoMatch", "StackOutOfBounds", "HeaderTooShort",
               "ParserTimeout", "ParserInvalidArgument")
MATCH_KINDS = ("exact", "ternary", "lpm", "range", "optional", "selector")

PORT = Bits(9)
STANDARD_METADATA = StructT("standard_metadata_t", (
    ("ingress_port", PORT), ("egress_spec", PORT), ("egress_port", PORT),
    ("instance_type", Bits(32)), ("packet_length", Bits(32)),
    ("enq_timestamp", Bits(32)), ("enq_qdepth", Bits(19)),
    ("deq_timedelta", Bits(32)), ("deq_qdepth", Bits(19)),
    ("ingress_global_timestamp", Bits(48)), ("egress_global_timestamp", Bits(48)),
    ("mcast_grp", Bits(16)), ("egress_rid", Bits(16)), ("checksum_error", Bits(1)),
    ("parser_error", ErrorT()), ("priority", Bits(3)),
))

ENUMS = {
    "HashAlgorithm": EnumT("HashAlgorithm", ("crc32", "crc32_custom", "crc16", "crc16_custom", "random",
                                             "identity", "csum16", "xor16")),
    "CounterType": EnumT("CounterType", ("packets", "bytes", "packets_and_bytes")),
    "MeterType": EnumT("MeterType", ("packets", "bytes")),
    "CloneType": EnumT("CloneType", ("I2E", "E2E")),
}

TYPEDEFS = {"PortId_t": PORT, "EgressInstance_t": Bits(16), "ClassOfService_t": Bits(3),
            "CloneSessionId_t": Bits(32)}

# Extern object types: name -> constructor arity range.
EXTERNS = {"packet_in": (0, 0), "packet_out": (0, 0), "register": (1, 1), "counter": (2, 2),
           "direct_counter": (1, 1), "meter": (2, 2), "direct_meter": (1, 1)}

PACKAGES = ("V1Switch",)

# Free functions of core.p4 / v1model.p4 that the evaluator implements.
FUNCTIONS = ("mark_to_drop", "hash", "update_checksum", "verify_checksum", "update_checksum_with_payload",
             "verify_checksum_with_payload", "truncate", "random", "verify", "NoAction_fn")

BUILTIN_TYPE_NAMES = (set(ENUMS) | set(TYPEDEFS) | set(EXTERNS) | set(PACKAGES)
                      | {"standard_metadata_t"})

# bmv2 simple_switch constants (targets/simple_switch/simple_switch.h).
DROP_PORT = 511
PKT_INSTANCE_TYPE_NORMAL = 0
PKT_INSTANCE_TYPE_REPLICATION = 5
