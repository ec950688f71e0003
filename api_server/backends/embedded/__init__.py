"""The embedded engine: runs a pipeline's tasks as local processes, durably.

The interpreter walks the pipeline spec's DAGs; each container task goes through
``environments`` (a virtual environment for kfp Python components), ``executor_input`` (the
ExecutorInput JSON the task reads and the outputs it writes back), ``placeholders`` (the
container's ``command``/``args`` resolved) and ``launcher`` (a process in its own group, its log
captured, killable as a tree).
"""
