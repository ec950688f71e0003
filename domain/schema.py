"""What every component's storage shares: the SQLAlchemy naming convention of the API
server's, the cache's and the metadata store's MetaData (so one Alembic tree names
constraints one way), and the size of the ``IN (...)`` lists they send. (No SQLAlchemy
import here.)"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

#: Ids per ``IN (...)`` list: well inside every backend's limit on bound parameters.
IN_LIST_SIZE = 500

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s__%(column_0_N_name)s",
    "uq": "uq_%(table_name)s__%(column_0_N_name)s",
    "ck": "ck_%(table_name)s__%(constraint_name)s",
    "fk": "fk_%(table_name)s__%(column_0_name)s__%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def in_chunks(values: Sequence[T], size: int = IN_LIST_SIZE) -> Iterator[Sequence[T]]:
    """``values`` in slices of at most ``size``: one ``IN (...)`` list each."""
    for start in range(0, len(values), size):
        yield values[start : start + size]
