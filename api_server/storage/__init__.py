"""Storage: SQLAlchemy rows and the queries over them. Queries take a session and never
commit; the service layer's unit of work (``Database.write``) does."""

from .engine import Database, build_engine, normalize_url
from .specs import SpecStore

__all__ = ["Database", "SpecStore", "build_engine", "normalize_url"]
