"""Where the tasks of a batch run: a process pool on this machine, or Ray.

Both engines run `function(argument, attempt)` for every task in worker processes and yield
each task's outcome as it finishes. A task whose worker dies (killed, out of memory, a crash in
native code, a lost node) is submitted again, up to `max_retries` more attempts; a task that
raises is not (the same input fails the same way) and its error is the outcome. Retries are the
driver's, on both engines, so every outcome knows its attempts and each attempt its number.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from liveify.errors import ParameterError

ENGINES = ("local", "ray")


@dataclass(frozen=True)
class EngineOptions:
    """How and where tasks run (the command's --engine, --workers, --address, --max-retries,
    --gpus-per-album)."""

    engine: str = "local"
    #: Tasks at once. Local: worker processes (default: the usable cores). Ray: the CPUs of an
    #: embedded instance, or at most this many tasks in flight on a cluster (default: no cap).
    workers: int | None = None
    #: Ray cluster: "auto" (a `ray start` cluster this machine belongs to) or "ray://host:port";
    #: None starts an embedded local instance for the run.
    address: str | None = None
    max_retries: int = 1
    #: GPUs each task asks for; fractions below 1 share a GPU between tasks.
    gpus_per_task: float = 0.0

    def __post_init__(self):
        if self.engine not in ENGINES:
            raise ParameterError(
                f"--engine must be one of {', '.join(ENGINES)}; got {self.engine!r}"
            )
        if self.workers is not None and self.workers < 1:
            raise ParameterError(f"--workers must be at least 1; got {self.workers}")
        if self.max_retries < 0:
            raise ParameterError(f"--max-retries must be 0 or more; got {self.max_retries}")
        gpus = self.gpus_per_task
        if gpus < 0 or (gpus > 1 and gpus != int(gpus)):
            raise ParameterError(
                f"--gpus-per-album {gpus:g}: give a fraction of one GPU (0.25, 0.5) or a whole "
                "number of GPUs"
            )
        if self.address is not None and self.engine != "ray":
            raise ParameterError("--address needs --engine ray")


@dataclass
class TaskOutcome:
    """A task's result: what `function` returned (None when it raised or every attempt died),
    how many attempts it took, and one line per attempt that died or raised."""

    key: str
    value: Any
    attempts: int
    errors: list[str] = field(default_factory=list)


def run_attempt(function: Callable[[Any, int], Any], argument: Any, attempt: int):
    """One attempt in a worker: ("ok", value) or ("raised", one line); a hard death is the
    engine's to notice."""
    try:
        return "ok", function(argument, attempt)
    except Exception as error:  # reported as the task's failure; the worker lives on
        return "raised", f"{type(error).__name__}: {error}"


def finished(key: str, reply: tuple[str, Any], attempt: int, errors: list[str]) -> TaskOutcome:
    """The outcome of an attempt that came back (returned or raised)."""
    kind, value = reply
    if kind == "ok":
        return TaskOutcome(key, value, attempt, errors)
    return TaskOutcome(key, None, attempt, [*errors, f"attempt {attempt}: {value}"])


def run_tasks(
    function: Callable[[Any, int], Any],
    tasks: Sequence[tuple[str, Any]],
    options: EngineOptions,
) -> Iterator[TaskOutcome]:
    """Run `function(argument, attempt)` for every (key, argument) in `tasks` on the engine of
    `options`; yields outcomes in the order tasks finish. `function` must be importable by name
    (a module-level function), since workers are other processes, possibly on other machines."""
    if not tasks:
        return iter(())
    if options.engine == "ray":
        from liveify.batch.ray_engine import run_on_ray

        return run_on_ray(function, tasks, options)
    from liveify.batch.local_engine import run_on_local_processes

    return run_on_local_processes(function, tasks, options)
