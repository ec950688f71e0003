"""What every component's tables share, so one Alembic tree names constraints one way:
the SQLAlchemy naming convention of the API server's, the cache's and the metadata
store's MetaData. (A dict of strings: no SQLAlchemy import here.)"""

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s__%(column_0_N_name)s",
    "uq": "uq_%(table_name)s__%(column_0_N_name)s",
    "ck": "ck_%(table_name)s__%(constraint_name)s",
    "fk": "fk_%(table_name)s__%(column_0_name)s__%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
