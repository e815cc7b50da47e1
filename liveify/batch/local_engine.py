"""The local engine: a pool of worker processes on this machine that survives workers dying.

`concurrent.futures.ProcessPoolExecutor` breaks as a whole when one worker dies, and
`multiprocessing.Pool` loses the dying worker's task; here the driver gives each worker one task
at a time over its own pipe and watches the worker's process, so a worker killed mid-task costs
that one attempt: the worker is replaced and the task is submitted again.

Workers are spawned (a fresh interpreter, as Ray's workers are: no state copied from the driver)
and split the cores: each gets cores / workers math threads, and with --gpus-per-album its own
share of the visible GPUs (CUDA_VISIBLE_DEVICES).
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import shutil
import subprocess
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import wait
from typing import Any

from liveify.batch.engine import EngineOptions, TaskOutcome, finished, run_attempt
from liveify.cores import usable_cores
from liveify.errors import ParameterError

#: Thread-pool sizes of the math libraries, read once when a worker imports them.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
STOP = None


def visible_gpus() -> list[str]:
    """GPU ids this process may use: CUDA_VISIBLE_DEVICES if set, else what nvidia-smi lists."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [gpu.strip() for gpu in visible.split(",") if gpu.strip() and gpu.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        listing = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=20, check=True)  # fmt: skip
        return [line.strip() for line in listing.stdout.splitlines() if line.strip()]
    return []


def gpu_shares(workers: int, gpus_per_worker: float, gpus: Sequence[str]) -> list[list[str]]:
    """The GPUs of each worker: worker i takes the GPUs its share [i*g, (i+1)*g) overlaps, so
    g = 0.5 puts two workers on each GPU and g = 2 gives each worker two."""
    slots = math.floor(len(gpus) / gpus_per_worker + 1e-9)
    if slots < 1:
        raise ParameterError(
            f"--gpus-per-album {gpus_per_worker:g}: {len(gpus)} GPUs visible here "
            "(CUDA_VISIBLE_DEVICES or nvidia-smi); run on a GPU machine or drop the option"
        )
    shares = []
    for index in range(min(workers, slots)):
        first = math.floor(index * gpus_per_worker + 1e-9)
        last = max(first, math.ceil((index + 1) * gpus_per_worker - 1e-9) - 1)
        shares.append(list(gpus[first : last + 1]))
    return shares


def _worker_main(connection, function: Callable[[Any, int], Any]) -> None:
    """A worker: run tasks from the pipe until told to stop or the driver goes away."""
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):
            return
        if message is STOP:
            return
        argument, attempt = message
        connection.send(run_attempt(function, argument, attempt))


@contextlib.contextmanager
def _environment(changes: dict[str, str]):
    """Set environment variables while a worker starts (spawned workers copy os.environ)."""
    before = {name: os.environ.get(name) for name in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _Worker:
    """One worker process and the driver's end of its pipe."""

    def __init__(self, context, function, environment: dict[str, str]):
        self.connection, child_end = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(child_end, function),
                                       daemon=True, name="liveify-batch-worker")  # fmt: skip
        with _environment(environment):
            self.process.start()
        child_end.close()

    def stop(self) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self.connection.send(STOP)
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.connection.close()


def _death(process) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            import signal

            return f"worker process killed by {signal.Signals(-code).name}"
    return f"worker process exited with status {code}"


def _worker_environments(options: EngineOptions, workers: int) -> list[dict[str, str]]:
    """Each worker's additions to its environment: its GPUs, and its share of the cores as math
    threads (the user's own settings win)."""
    environments: list[dict[str, str]] = [{} for _ in range(workers)]
    if options.gpus_per_task > 0:
        shares = gpu_shares(workers, options.gpus_per_task, visible_gpus())
        environments = [{"CUDA_VISIBLE_DEVICES": ",".join(share)} for share in shares]
    threads = str(max(1, usable_cores() // len(environments)))
    for environment in environments:
        environment.update({name: threads for name in THREAD_VARIABLES if name not in os.environ})
    return environments


def _hand_out(
    queue: deque, pool: list[_Worker | None], running: dict[int, tuple], start: Callable
) -> None:
    """Give each idle worker the next queued task, first replacing one that died between tasks
    (`start(index)` makes worker `index`)."""
    for index in range(len(pool)):
        if index in running or not queue:
            continue
        worker = pool[index]
        if worker is None or not worker.process.is_alive():
            if worker is not None:  # died between tasks
                worker.stop()
            worker = pool[index] = start(index)
        _key, argument, attempt, _errors = task = queue.popleft()
        worker.connection.send((argument, attempt))
        running[index] = task


def run_on_local_processes(
    function: Callable[[Any, int], Any], tasks: Sequence[tuple[str, Any]], options: EngineOptions
) -> Iterator[TaskOutcome]:
    """Run the tasks on `options.workers` local worker processes (see the module docstring)."""
    environments = _worker_environments(options, min(options.workers or usable_cores(), len(tasks)))
    context = multiprocessing.get_context("spawn")
    queue = deque((key, argument, 1, []) for key, argument in tasks)
    pool: list[_Worker | None] = [None] * len(environments)
    running: dict[int, tuple] = {}  # worker index -> (key, argument, attempt, errors)
    try:
        while queue or running:
            _hand_out(queue, pool, running, lambda i: _Worker(context, function, environments[i]))
            watched = [pool[i].connection for i in running] + [
                pool[i].process.sentinel for i in running
            ]
            wait(watched)
            for index in list(running):
                worker = pool[index]
                key, argument, attempt, errors = running[index]
                try:
                    if not worker.connection.poll():
                        if worker.process.is_alive():
                            continue
                        raise EOFError
                    reply = worker.connection.recv()
                except (EOFError, OSError):
                    worker.process.join()
                    errors = [*errors, f"attempt {attempt}: {_death(worker.process)}"]
                    worker.connection.close()
                    pool[index] = None
                    del running[index]
                    if attempt <= options.max_retries:
                        queue.appendleft((key, argument, attempt + 1, errors))
                    else:
                        yield TaskOutcome(key, None, attempt, errors)
                    continue
                del running[index]
                yield finished(key, reply, attempt, errors)
    finally:
        for worker in pool:
            if worker is not None:
                if running:  # interrupted: don't wait for renders nobody will collect
                    worker.process.kill()
                worker.stop()
