"""Experiments: create, read, list, archive (cascading), delete (cascading)."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from api_server.backends import RunBackend
from api_server.storage import experiments as store
from api_server.storage import recurring_runs as recurring_store
from api_server.storage import runs as run_store
from domain.errors import AlreadyExists, FailedPrecondition, NotFound
from domain.resources import Experiment, Page
from domain.states import RecurringRunStatus, StorageState

from . import validation
from .context import ListQuery, ServiceContext
from .memo import Memo

logger = logging.getLogger(__name__)

DEFAULT_EXPERIMENT_NAME = "Default"


class ExperimentService:
    def __init__(self, ctx: ServiceContext, backend: RunBackend) -> None:
        self.ctx = ctx
        self.backend = backend
        # Experiment id -> namespace. A namespace never changes, so run creation can skip
        # reading the experiment; its availability is still checked (claim_for_run).
        self._namespaces: Memo[str, str] = Memo()

    def namespace_for_new_run(self, experiment_id: str) -> str:
        """The namespace of the experiment a run is being created in. Read once per
        experiment; whether it still exists and is available is decided by the claim
        (``claim_for_run``) that run creation makes at the end of its transaction."""
        known = self._namespaces.get(experiment_id)
        if known is not None:
            return known
        with self.ctx.db.read() as session:
            experiment = self.resolve_for_run(session, experiment_id, lock=False)
        self._namespaces.put(experiment.experiment_id, experiment.namespace)
        return experiment.namespace

    def create(
        self, display_name: str | None, description: str | None, namespace: str | None
    ) -> Experiment:
        """Create an experiment; names are unique within a namespace (409 otherwise)."""
        experiment = Experiment(
            experiment_id=self.ctx.new_id(),
            display_name=validation.required_name("display_name", display_name),
            description=validation.description("description", description),
            namespace=validation.namespace(namespace),
            storage_state=StorageState.AVAILABLE.value,
            created_at=self.ctx.clock(),
            last_run_created_at=None,
        )
        with self.ctx.db.write() as session:
            if store.find_by_name(session, experiment.namespace, experiment.display_name):
                raise AlreadyExists(
                    f"experiment {experiment.display_name!r} already exists"
                    f" in namespace {experiment.namespace!r}"
                )
            store.insert(session, experiment)
        logger.info("experiment created", extra={"experiment_id": experiment.experiment_id})
        return experiment

    def get(self, experiment_id: str) -> Experiment:
        with self.ctx.db.read() as session:
            return self.require(session, experiment_id)

    @staticmethod
    def require(session: Session, experiment_id: str, *, for_update: bool = False) -> Experiment:
        experiment = store.get(session, experiment_id, for_update=for_update)
        if experiment is None:
            raise NotFound(f"experiment {experiment_id!r} does not exist")
        return experiment

    def list(self, query: ListQuery, namespace: str | None) -> Page[Experiment]:
        ns = validation.namespace(namespace) if namespace is not None else None
        options = self.ctx.list_options(query, store.FIELDS, {"namespace": ns})
        with self.ctx.db.read() as session:
            items, total, token = store.list_experiments(
                session, options, namespace=ns, secret=self.ctx.page_token_secret
            )
        return Page(items, total, token)

    def archive(self, experiment_id: str) -> None:
        """Archive an experiment, its runs, and disable its recurring runs."""
        now = self.ctx.clock()
        with self.ctx.db.write() as session:
            self.require(session, experiment_id, for_update=True)
            store.set_storage_state(session, experiment_id, StorageState.ARCHIVED.value)
            run_store.set_storage_state_for_experiment(
                session, experiment_id, StorageState.ARCHIVED.value
            )
            recurring_store.set_for_experiment(
                session,
                experiment_id,
                {"status": RecurringRunStatus.DISABLED.value, "updated_at": now},
            )
        logger.info("experiment archived", extra={"experiment_id": experiment_id})

    def unarchive(self, experiment_id: str) -> None:
        """Make an experiment and its runs available again. Recurring runs stay disabled
        until enabled explicitly: a schedule never restarts by itself."""
        with self.ctx.db.write() as session:
            self.require(session, experiment_id, for_update=True)
            store.set_storage_state(session, experiment_id, StorageState.AVAILABLE.value)
            run_store.set_storage_state_for_experiment(
                session, experiment_id, StorageState.AVAILABLE.value
            )
        logger.info("experiment unarchived", extra={"experiment_id": experiment_id})

    def delete(self, experiment_id: str) -> None:
        """Delete an experiment with its runs and recurring runs, in one transaction;
        runs still active are then stopped by the backend."""
        with self.ctx.db.write() as session:
            self.require(session, experiment_id, for_update=True)
            active = run_store.active_ids_for_experiment(session, experiment_id)
            run_store.delete_for_experiment(session, experiment_id)
            recurring_store.delete_for_experiment(session, experiment_id)
            store.delete(session, experiment_id)
        for run_id in active:
            self.backend.terminate(run_id)
        logger.info("experiment deleted", extra={"experiment_id": experiment_id})

    def resolve_for_run(
        self, session: Session, experiment_id: str | None, *, lock: bool = True
    ) -> Experiment:
        """The experiment a new run or recurring run goes in: the given one (must exist and
        be available), or the namespace-less "Default" (see ``ensure_default``).

        With ``lock`` the row is locked now, which keeps an archive from slipping in
        between this check and the insert. Run creation passes ``lock=False`` and locks
        at the end instead (``claim_for_run``): an exclusive lock taken after inserting a
        run would deadlock with other creators' foreign-key share locks on MariaDB/MySQL.
        """
        if experiment_id:
            experiment = self.require(session, experiment_id, for_update=lock)
        else:
            experiment = self.default_experiment(session, lock=lock)
        if experiment.storage_state == StorageState.ARCHIVED.value:
            raise FailedPrecondition(
                f"experiment_id: experiment {experiment.experiment_id!r} is archived;"
                " unarchive it first"
            )
        return experiment

    def ensure_default(self) -> Experiment:
        """The "Default" experiment, created unless it exists in a transaction of its own.

        Called before the transaction of a run created without an experiment: creators
        racing to be first then all find one committed row, and none of them holds a lock
        from a failed insert while it creates its run.
        """
        with self.ctx.db.read() as session:
            found = store.find_by_name(session, "", DEFAULT_EXPERIMENT_NAME)
            if found is not None:
                return found
        with self.ctx.db.write() as session:
            return self.default_experiment(session, lock=False)

    def default_experiment(self, session: Session, *, lock: bool = True) -> Experiment:
        """The "Default" experiment, locked; created here if it vanished since
        ``ensure_default``."""
        found = store.find_by_name(session, "", DEFAULT_EXPERIMENT_NAME, for_update=lock)
        if found is not None:
            return found
        store.insert_if_absent(session, self._new_default())
        found = store.find_by_name(session, "", DEFAULT_EXPERIMENT_NAME, for_update=lock)
        assert found is not None  # inserted above, or by a racing writer that committed
        return found

    def _new_default(self) -> Experiment:
        return Experiment(
            experiment_id=self.ctx.new_id(),
            display_name=DEFAULT_EXPERIMENT_NAME,
            description="All runs created without specifying an experiment are grouped here.",
            namespace="",
            storage_state=StorageState.AVAILABLE.value,
            created_at=self.ctx.clock(),
            last_run_created_at=None,
        )
