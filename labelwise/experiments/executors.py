"""Executors for grids of independent runs: local worker processes or a Ray cluster.

Every run of a grid is independent and deterministic given its spec, so a grid can run in any
order, anywhere, and give the same table. ``execute`` runs the specs with the chosen executor and,
given a results folder, saves each finished run as one JSON file keyed by a hash of its spec
(``<folder>/runs/<key>.json``), so an interrupted grid resumes without redoing finished runs.

A run function takes a spec (a frozen dataclass) and returns a dict of lists of row dicts (e.g.
``{"results": [...], "picks": [...]}``); it must be importable by name (module-level) so worker
processes and Ray workers can find it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

from labelwise.validation import LabelwiseError, check_positive_int

EXECUTORS = ("local", "ray")


def spec_key(spec) -> str:
    """A stable 16-hex-digit key of a run spec (its fields as sorted JSON)."""
    text = json.dumps(asdict(spec), sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


class RunStore:
    """Finished runs on disk: one JSON file per run under ``folder/runs/``.

    Files are written to a temporary name and renamed, so a run killed mid-write leaves nothing
    that looks finished.
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder) / "runs"

    def path(self, spec) -> Path:
        return self.folder / f"{spec_key(spec)}.json"

    def load(self, spec) -> dict | None:
        """The saved output of ``spec``, or None when it has not finished."""
        p = self.path(spec)
        if not p.exists():
            return None
        try:
            return json.loads(p.read_text())["output"]
        except (json.JSONDecodeError, KeyError):
            return None  # a damaged file counts as not finished

    def save(self, spec, output: dict) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        p = self.path(spec)
        tmp = p.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps({"spec": asdict(spec), "output": output}, default=_jsonable))
        tmp.replace(p)


#: the lock file of a results folder (removed by its holder when the run ends)
LOCK_NAME = ".labelwise.lock"


@contextmanager
def lock_folder(folder: str | Path, what: str = "--out"):
    """Hold an exclusive lock on results folder ``folder`` (created if missing) for the block.

    Two grids writing into one folder would each redo every run the other has not stored yet;
    the second one fails at once instead, with a :class:`LabelwiseError` naming the folder and
    the holder's pid. The lock is ``fcntl.flock`` on ``folder/.labelwise.lock``: the system drops
    it when the holder dies, even by ``kill -9``, so no stale lock outlives a run. The holder
    removes the file when the block ends (while still holding the lock), and a taker checks,
    once locked, that the file it locked is still the one under that name (else it retries on
    the new one): so removing it never lets two runs in. A file left by a killed run is taken
    over and removed by the next run. Without fcntl (Windows) nothing is locked.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    folder = Path(folder)
    path = folder / LOCK_NAME
    while True:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise LabelwiseError(f"cannot use {folder} as output folder: {exc.strerror}; "
                                 f"pass another {what}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise LabelwiseError(f"{folder} is in use by another labelwise run (pid {holder}): "
                                 f"wait for it to finish or pass another {what}") from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:  # its holder removed it between our open and our lock
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # still locked: nobody can be holding this file now
        os.close(fd)  # closing the descriptor releases the lock


def _jsonable(value):
    # numpy scalars in row dicts
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def limit_threads() -> None:
    """One BLAS/torch thread per worker: the grid is already parallel across processes.

    Also makes results independent of the executor (thread counts can change float sums).
    torch is not imported here (seconds per worker): when a run imports it later, it reads
    ``OMP_NUM_THREADS=1`` set here; when it is already imported, its thread count is set.
    """
    import sys

    from threadpoolctl import threadpool_limits

    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    threadpool_limits(1)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


#: where :func:`report_progress` sends (run index, done, total): a callable in this process
#: (in-process runs) or a multiprocessing queue (worker processes); None = nowhere
_PROGRESS: Callable | None = None
_PROGRESS_QUEUE = None
_RUN_INDEX: int = -1


def report_progress(done: int, total: int) -> None:
    """Tell the grid's progress display how far the current run is (e.g. labels so far out of
    the final budget). A run function may call it; it does nothing outside a grid."""
    if _PROGRESS is not None:
        _PROGRESS(_RUN_INDEX, done, total)
    elif _PROGRESS_QUEUE is not None:
        try:
            _PROGRESS_QUEUE.put_nowait((_RUN_INDEX, done, total))
        except Exception:  # a full or closed queue never stops a run
            pass


def _init_worker(queue, parent: int | None = None) -> None:
    global _PROGRESS_QUEUE
    _PROGRESS_QUEUE = queue
    if parent is not None:
        exit_with_parent(parent)


def exit_with_parent(parent: int, poll_seconds: float = 1.0) -> None:
    """End this worker process when process ``parent`` dies, even by ``kill -9``.

    A killed parent cannot shut its pool down, and its workers (each holding a data set and a
    model) would otherwise run on for good. On Linux the kernel sends SIGKILL when the parent
    dies (``prctl(PR_SET_PDEATHSIG)``); everywhere, a daemon thread also polls ``os.getppid()``
    and exits when this process has been re-parented (it covers the parent dying before prctl
    took effect, and systems without prctl).
    """
    import signal
    import sys
    import threading
    import time

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass  # no usable libc: the thread below still does the job
    if os.getppid() != parent:
        os._exit(1)  # the parent died before the watch started

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _call_limited(run_fn: Callable, spec, index: int = -1) -> dict:
    global _RUN_INDEX
    from labelwise.plugins import load_plugins

    load_plugins()  # a spawned worker sees the user's strategies and learners too
    limit_threads()
    _RUN_INDEX = index
    return run_fn(spec)


def _ray_call(run_fn: Callable, spec) -> dict:
    return _call_limited(run_fn, spec)


def _describe(spec) -> str:
    parts = [str(getattr(spec, a)) for a in ("dataset", "strategy", "seed") if hasattr(spec, a)]
    return " ".join(parts) or spec_key(spec)


def execute(
    specs: Sequence,
    run_fn: Callable,
    executor: str = "local",
    n_jobs: int | None = None,
    ray_address: str | None = None,
    store: str | Path | None = None,
    progress: bool = True,
) -> list[dict]:
    """Run ``run_fn(spec)`` for every spec and return the outputs in spec order.

    Args:
        specs: run specs (frozen dataclasses).
        run_fn: module-level function spec -> dict of row lists.
        executor: "local" (worker processes; in-process when ``n_jobs`` is 1) or "ray".
        n_jobs: local worker processes (default: one per core, at most one per run); for Ray, the
            CPUs of the local instance it starts (ignored with ``ray_address``).
        ray_address: address of a running Ray cluster ("auto", "ray://host:10001"); default:
            start a local Ray instance.
        store: results folder; finished runs are saved there as they finish and loaded instead of
            re-run (resume).
        progress: show a progress bar over the grid, and one per running run (local executor;
            fed by :func:`report_progress`).
    """
    if executor not in EXECUTORS:
        raise LabelwiseError(f"unknown executor {executor!r}; choose one of: "
                             f"{', '.join(EXECUTORS)}")
    if n_jobs is not None:
        check_positive_int(n_jobs, "n_jobs")
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    run_store = RunStore(store) if store is not None else None
    outputs: list[dict | None] = [None] * len(specs)
    todo = []
    for i, spec in enumerate(specs):
        done = run_store.load(spec) if run_store else None
        if done is not None:
            outputs[i] = done
        else:
            todo.append(i)

    # seed-major order: an interrupted grid has every setting and strategy for its first seeds
    todo.sort(key=lambda i: getattr(specs[i], "seed", 0))

    def finish(i: int, out: dict) -> None:
        outputs[i] = out
        if run_store is not None:
            run_store.save(specs[i], out)

    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), disable=not progress, transient=False) as bar:
        task = bar.add_task(f"runs ({len(specs) - len(todo)} resumed)", total=len(specs),
                            completed=len(specs) - len(todo))
        if todo and executor == "ray":
            _execute_ray(specs, todo, run_fn, finish, n_jobs, ray_address, bar, task)
        elif todo:
            n_jobs = n_jobs or min(os.cpu_count() or 1, len(todo))
            if n_jobs <= 1:
                from threadpoolctl import threadpool_limits

                global _PROGRESS, _RUN_INDEX
                run_task = bar.add_task("", total=None, visible=False)

                def show(i, done, total):
                    bar.update(run_task, completed=done, total=total, visible=True)

                with threadpool_limits(1):
                    torch_threads = _torch_threads(1)
                    _PROGRESS = show if progress else None
                    try:
                        for i in todo:
                            _RUN_INDEX = i
                            bar.update(task, description=_describe(specs[i]))
                            bar.reset(run_task, total=None, visible=False,
                                      description=f"  {_describe(specs[i])}")
                            finish(i, run_fn(specs[i]))
                            bar.advance(task)
                    finally:
                        _PROGRESS, _RUN_INDEX = None, -1
                        _torch_threads(torch_threads)
            else:
                _execute_processes(specs, todo, run_fn, finish, n_jobs, bar, task, progress)
    return outputs  # type: ignore[return-value]


def _torch_threads(n: int) -> int | None:
    """Set torch's thread count if torch is already imported; returns the previous count."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None or n is None:
        return None
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    return old


def _execute_processes(specs, todo, run_fn, finish, n_jobs, bar, task, progress=True) -> None:
    """Run ``todo`` in ``n_jobs`` spawned processes; workers send (index, done, total) through a
    queue, shown as one bar per running run."""
    import multiprocessing as mp
    import queue as queue_mod
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = mp.get_context("spawn")
    q = ctx.Queue() if progress else None
    run_tasks: dict[int, int] = {}

    def drain() -> None:
        while q is not None:
            try:
                i, done, total = q.get_nowait()
            except (queue_mod.Empty, OSError, EOFError):
                return
            if i not in futures_done and i >= 0:
                if i not in run_tasks:
                    run_tasks[i] = bar.add_task(f"  {_describe(specs[i])}", total=total)
                bar.update(run_tasks[i], completed=done, total=total)

    futures_done: set[int] = set()
    with ProcessPoolExecutor(n_jobs, mp_context=ctx, initializer=_init_worker,
                             initargs=(q, os.getpid())) as pool:
        pending = {pool.submit(_call_limited, run_fn, specs[i], i): i for i in todo}
        while pending:
            finished, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            drain()
            for fut in finished:
                i = pending.pop(fut)
                finish(i, fut.result())
                futures_done.add(i)
                if i in run_tasks:
                    bar.remove_task(run_tasks.pop(i))
                bar.update(task, description=f"done {_describe(specs[i])}")
                bar.advance(task)


def _execute_ray(specs, todo, run_fn, finish, n_jobs, ray_address, bar, task) -> None:
    from labelwise.distributed.remote import import_ray

    ray = import_ray()
    started = False
    if not ray.is_initialized():
        kwargs = {"address": ray_address} if ray_address else {"num_cpus": n_jobs or os.cpu_count()}
        ray.init(include_dashboard=False, log_to_driver=False, ignore_reinit_error=True,
                 configure_logging=False, **kwargs)
        started = True
    try:
        remote = ray.remote(num_cpus=1)(_ray_call)
        pending = {remote.remote(run_fn, specs[i]): i for i in todo}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                i = pending.pop(ref)
                finish(i, ray.get(ref))
                bar.update(task, description=f"done {_describe(specs[i])}")
                bar.advance(task)
    finally:
        if started:
            ray.shutdown()
