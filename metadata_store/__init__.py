"""The metadata store: lineage of every run, ML-Metadata compatible.

Public interface for the composition root:

- ``MetadataStore(database)``: ML-Metadata's operations over a unit of work with
  ``read()``/``write()`` sessions (the API server's ``Database`` is one); its tables are in
  ``metadata_store.rows`` and created by the shared Alembic tree.
- ``start_server(store, host=..., port=...)``: the ``ml_metadata.MetadataStoreService`` gRPC
  server real ML-Metadata clients talk to.
- ``LineageRecorder(store)``: records runs and tasks; ``EngineLineage(recorder)`` is the
  embedded engine's lineage port (``record_many``, ``record``) over it.
"""

from .engine_lineage import EngineLineage
from .lineage import LineageRecorder, RecordedTask, TaskLineage
from .service import RunningServer, start_server
from .store import MetadataStore, UnitOfWork

__all__ = [
    "EngineLineage",
    "LineageRecorder",
    "MetadataStore",
    "RecordedTask",
    "RunningServer",
    "TaskLineage",
    "UnitOfWork",
    "start_server",
]
