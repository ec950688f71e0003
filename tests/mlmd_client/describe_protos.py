"""Print the fields of every message and the RPCs of a set of ml_metadata protos as JSON.

``python describe_protos.py ml_metadata`` (in .venv-mlmd: ML-Metadata's own) or
``python describe_protos.py headrace`` (ours); the test compares the two.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def describe(store: Any, service: Any) -> dict[str, Any]:
    messages: dict[str, Any] = {}

    def walk(descriptor: Any) -> None:
        messages[descriptor.full_name] = {
            f.name: [f.number, f.type, _repeated(f)] for f in descriptor.fields
        }
        for nested in descriptor.nested_types:
            walk(nested)

    for module in (store, service):
        for descriptor in module.DESCRIPTOR.message_types_by_name.values():
            walk(descriptor)
    methods = service.DESCRIPTOR.services_by_name["MetadataStoreService"].methods
    return {
        "messages": messages,
        "rpcs": {m.name: [m.input_type.full_name, m.output_type.full_name] for m in methods},
    }


def _repeated(field: Any) -> bool:
    # protobuf 4 (ML-Metadata's pin) has only ``label``; newer versions deprecate it.
    if hasattr(field, "is_repeated"):
        return bool(field.is_repeated)
    return bool(field.label == field.LABEL_REPEATED)


def main() -> int:
    if sys.argv[1] == "ml_metadata":
        from ml_metadata.proto import metadata_store_pb2, metadata_store_service_pb2
    else:
        from metadata_store.proto import metadata_store_pb2, metadata_store_service_pb2
    json.dump(describe(metadata_store_pb2, metadata_store_service_pb2), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
