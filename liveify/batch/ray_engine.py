"""The Ray engine: one Ray task per album (or per training pair), on a cluster or on this machine.

Ray is imported here only, when `--engine ray` is asked for: `import liveify` and every other
command run without it. With no address, Ray starts an embedded instance for the run and stops it
afterwards; with `--address auto` or `ray://host:port` the tasks go to that cluster, whose nodes
need Liveify installed and the catalogue's paths readable (a shared filesystem).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from liveify.batch.engine import EngineOptions, TaskOutcome, finished, run_attempt
from liveify.errors import LiveifyError, first_line, require


def import_ray():
    """The ray module, or a one-line MissingDependencyError saying which extra installs it."""
    return require("ray", "ray")


def _connect(ray, options: EngineOptions) -> bool:
    """Join the cluster of `options.address`, or start an embedded instance; True if this call
    started Ray (and so must shut it down). A running Ray in this process is used as it is."""
    if ray.is_initialized():
        return False
    try:
        if options.address:
            ray.init(address=options.address, logging_level=logging.WARNING)
        else:
            ray.init(num_cpus=options.workers, include_dashboard=False,
                     logging_level=logging.WARNING)  # fmt: skip
    except (ConnectionError, RuntimeError, ValueError) as error:
        where = f"the Ray cluster at {options.address}" if options.address else "a local Ray"
        raise LiveifyError(
            f"cannot start or join {where} ({first_line(error)}); start one with `ray start --head`, "
            "or check --address"
        ) from None
    return True


def _check_gpus(ray, gpus_per_task: float, started_here: bool) -> None:
    """An embedded instance without GPUs would leave GPU tasks waiting forever: refuse."""
    if gpus_per_task > 0 and started_here and ray.cluster_resources().get("GPU", 0) < gpus_per_task:
        raise LiveifyError(
            f"--gpus-per-album {gpus_per_task:g}: the local Ray instance found no GPU; run on a "
            "GPU machine, or join a cluster with GPU nodes (--address)"
        )


def run_on_ray(
    function: Callable[[Any, int], Any], tasks: Sequence[tuple[str, Any]], options: EngineOptions
) -> Iterator[TaskOutcome]:
    """Run the tasks as Ray tasks of 1 CPU (and `gpus_per_task` GPUs) each; see `run_tasks`."""
    ray = import_ray()
    from ray.exceptions import RayError, RayTaskError

    started_here = _connect(ray, options)
    in_flight: dict = {}
    try:
        _check_gpus(ray, options.gpus_per_task, started_here)
        # max_retries=0: a task whose worker died is resubmitted by this loop instead, so each
        # attempt knows its number and the report its count.
        remote = ray.remote(run_attempt).options(
            num_cpus=1, num_gpus=options.gpus_per_task, max_retries=0
        )
        in_flight_cap = options.workers if options.address else None
        queue = deque((key, argument, 1, []) for key, argument in tasks)
        while queue or in_flight:
            while queue and (in_flight_cap is None or len(in_flight) < in_flight_cap):
                key, argument, attempt, errors = task = queue.popleft()
                in_flight[remote.remote(function, argument, attempt)] = task
            (ready, *_), _ = ray.wait(list(in_flight), num_returns=1)
            key, argument, attempt, errors = in_flight.pop(ready)
            try:
                reply = ray.get(ready)
            except RayTaskError as error:  # raised outside `run_attempt`'s reach
                yield TaskOutcome(key, None, attempt, [*errors, f"attempt {attempt}: {error}"])
                continue
            except RayError as error:  # the worker or its node died
                errors = [
                    *errors,
                    f"attempt {attempt}: {type(error).__name__}: {first_line(error)}",
                ]
                if attempt <= options.max_retries:
                    queue.appendleft((key, argument, attempt + 1, errors))
                else:
                    yield TaskOutcome(key, None, attempt, errors)
                continue
            yield finished(key, reply, attempt, errors)
    finally:
        for unfinished in in_flight:  # interrupted: stop what nobody will collect
            ray.cancel(unfinished, force=True)
        if started_here:
            ray.shutdown()
