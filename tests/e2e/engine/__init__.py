"""Acceptance suite of the embedded engine: the real ``kfp.Client`` against a real
``headrace serve``, with pipelines of our own (``pipelines.py``).

What the suite reads, and so expects of the engine:

* ``run_details.task_details``: an entry per task that ran (one per iteration for a task
  in a loop), ``display_name`` = the IR's ``taskInfo.name``, tasks of a sub-pipeline carry
  the ``parent_task_id`` of its DAG task; ``outputs`` as the engine records them,
  ``{"parameters": {name: value}, "artifacts": {name: [{"uri", "type", "metadata"}]}}``, and
  ``inputs`` in the same shape; ``error.message`` on a failed task holds the exception's
  text; failed attempts of a retried task are listed in ``executor_detail.failed_main_jobs``.
* A cache hit is reported with the ``CACHED`` state, or as a finished task that never
  entered ``RUNNING`` (``support.is_cache_hit``).
* Tasks that a condition did not take, or that a failure made unreachable, are absent or
  ``SKIPPED``; never ``SUCCEEDED``.
* ``GET /apis/v1alpha1/runs/{run}/nodes/{task_id}/log`` serves the task's output, also while it
  runs; ``GET /apis/v2beta1/runs/{run}/nodes/{task_id}/artifacts/{output}:read`` answers
  ``{"data": <base64>}``.
* Output directories of container tasks exist before the command starts (KFP's launcher
  creates them): the container scripts write to their output paths without ``mkdir``.
* The task timeout comes from the platform spec, as kfp-kubernetes' ``set_timeout`` writes
  it (``platforms.kubernetes.deploymentSpec.executors.<exec>.activeDeadlineSeconds``).
"""
