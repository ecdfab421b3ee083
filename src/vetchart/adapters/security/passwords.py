"""Password hashing (Argon2id, argon2-cffi) and guessability checks (zxcvbn).

Hashes run off the event loop, in a pool of worker processes that lower their own CPU
priority (``os.nice``): when the API is busy, request handling wins the CPU and hashing
uses what is left; on an idle server a hash gets a whole core. At most ``max_in_flight``
hashes are handed to the pool at once; the rest wait in a bounded queue (``queue_limit``
callers, each at most ``queue_timeout_seconds``) and beyond it are shed with
``Unavailable`` (503 with Retry-After) rather than stalling every other request.

The pool is ``concurrent.futures.ProcessPoolExecutor`` on the ``forkserver`` start method:
workers are forked from a small clean server process (this module preloaded), never from
the threaded API process, so starting one costs a fork rather than an interpreter. A thread
pool stands in where processes cannot be used (argon2-cffi releases the GIL while hashing;
on Linux the niceness of a thread is its own, so the threads are lowered the same way).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import (
    BrokenExecutor,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
)
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing.context import BaseContext
from types import ModuleType
from typing import Any, Literal, TypeVar

import structlog
from argon2 import PasswordHasher as Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from vetchart.domain.errors import Unavailable
from vetchart.domain.passwords import GuessabilityVerdict, Weakness

log = structlog.get_logger(__name__)

# zxcvbn's score 3 means "safely unguessable: moderate protection from offline attacks"
# (about 10^8 to 10^10 guesses); below it the password is made of predictable parts.
MIN_ZXCVBN_SCORE = 3
PATTERN_KINDS = {
    "repeat": "repeated characters",
    "sequence": "a sequence",
    "spatial": "a keyboard run",
}
# The longest input zxcvbn accepts (its own default limit).
ZXCVBN_MAX_LENGTH = 72

HASH_BYTES = 32
SALT_BYTES = 16
DUMMY_PASSWORD = "vetchart dummy password for unknown accounts"  # noqa: S105 - never a login
HASHING_BUSY = "Too many password checks are waiting; try again in a moment."
# A process pool whose workers have not all answered by then is given up for threads.
POOL_START_SECONDS = 60.0
# The highest niceness Linux has (lowest priority).
MAX_NICENESS = 19
# Shed reasons (the label of vetchart_password_hash_shed_total).
SHED_QUEUE_FULL = "queue_full"
SHED_TIMEOUT = "timeout"
SHED_POOL_BROKEN = "pool_broken"

HashExecutorKind = Literal["process", "thread"]
T = TypeVar("T")


# ------------------------------------------------------------------ in the workers
# Module-level functions: a process pool pickles them by name.


def lower_priority(increment: int) -> None:
    """Pool initializer: this worker yields the CPU to request handling."""
    if increment > 0:
        os.nice(increment)


def _lower_thread_priority(increment: int) -> None:
    # Linux gives each thread its own niceness; elsewhere os.nice would lower the whole
    # API process, so thread workers keep their priority there.
    if sys.platform == "linux":
        lower_priority(increment)


@lru_cache(maxsize=8)
def _argon2(time_cost: int, memory_kib: int, parallelism: int) -> Argon2:
    return Argon2(
        time_cost=time_cost,
        memory_cost=memory_kib,
        parallelism=parallelism,
        hash_len=HASH_BYTES,
        salt_len=SALT_BYTES,
        type=Type.ID,
    )


def hash_password(time_cost: int, memory_kib: int, parallelism: int, password: str) -> str:
    return _argon2(time_cost, memory_kib, parallelism).hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when the password matches; False for a mismatch or an unusable hash. The
    parameters come from the hash itself, so hashes of older parameters still verify."""
    try:
        return Argon2().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def worker_identity() -> tuple[int, int]:
    """(pid, niceness) of the worker that runs this: for tests and diagnostics."""
    return os.getpid(), os.getpriority(os.PRIO_PROCESS, 0)


# ------------------------------------------------------------------ in the API process


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity), not every CPU of the machine."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _main_script_imports() -> list[str]:
    """The modules a main *script* (``vetchart``, ``pytest``: run by path, not ``-m``) took
    names from. multiprocessing re-runs that script in every worker it starts; with these
    already imported by the fork server, the re-run is a few dictionary look-ups instead of
    importing the whole application again in each worker."""
    main = sys.modules.get("__main__")
    if main is None or getattr(main, "__spec__", None) is not None:
        return []
    if not getattr(main, "__file__", None):
        return []
    names: set[str] = set()
    for value in vars(main).values():
        name = (
            value.__name__ if isinstance(value, ModuleType) else getattr(value, "__module__", None)
        )
        if isinstance(name, str) and name in sys.modules and name not in {"__main__", "builtins"}:
            names.add(name)
    return sorted(names)


@dataclass(frozen=True)
class HashPoolStats:
    executor: str
    workers: int
    max_in_flight: int
    in_flight: int
    waiting: int
    completed: int
    shed: dict[str, int]


class Argon2Hasher:
    """The PasswordHasher port: Argon2id in a pool with a bounded queue in front of it."""

    def __init__(
        self,
        *,
        time_cost: int,
        memory_kib: int,
        parallelism: int,
        max_concurrency: int | None = None,
        workers: int | None = None,
        executor: HashExecutorKind = "process",
        nice: int = 10,
        queue_limit: int = 32,
        queue_timeout_seconds: float = 5.0,
    ) -> None:
        self._params = (time_cost, memory_kib, parallelism)
        self._argon2 = _argon2(*self._params)
        self._workers = workers or usable_cpus()
        self._max_in_flight = max_concurrency or self._workers
        self._kind: HashExecutorKind = executor
        self._nice = nice
        self._queue_limit = queue_limit
        self._queue_timeout = queue_timeout_seconds
        self._retry_after = max(1, math.ceil(queue_timeout_seconds))
        self._slots = asyncio.Semaphore(self._max_in_flight)
        self._waiting = 0
        self._in_flight = 0
        self._completed = 0
        self._shed = {SHED_QUEUE_FULL: 0, SHED_TIMEOUT: 0, SHED_POOL_BROKEN: 0}
        self._executor: Executor | None = None
        self._running_kind: HashExecutorKind = executor
        self._starting: asyncio.Lock | None = None
        # Unknown accounts verify against this hash: same parameters, same cost.
        self._dummy_hash = hash_password(*self._params, DUMMY_PASSWORD)

    @property
    def parameters(self) -> dict[str, int]:
        time_cost, memory_kib, parallelism = self._params
        return {"time_cost": time_cost, "memory_kib": memory_kib, "parallelism": parallelism}

    async def hash(self, password: str) -> str:
        return await self._run(hash_password, *self._params, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await self._run(verify_password, password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._argon2.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    async def verify_dummy(self, password: str) -> None:
        """A real verification, through the same queue and pool as any other."""
        await self.verify(self._dummy_hash, password)

    async def worker_identity(self) -> tuple[int, int]:
        """(pid, niceness) of a pool worker, through the same queue as a hash."""
        return await self._run(worker_identity)

    def stats(self) -> HashPoolStats:
        return HashPoolStats(
            executor=self._running_kind,
            workers=self._workers,
            max_in_flight=self._max_in_flight,
            in_flight=self._in_flight,
            waiting=self._waiting,
            completed=self._completed,
            shed=dict(self._shed),
        )

    async def aclose(self) -> None:
        """Stop the pool, waiting for the hashes it runs; a later hash starts a new one."""
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)

    # -------------------------------------------------------------- queue and pool

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        await self._enter()
        try:
            executor, submitted = await self._submit(fn, *args)
        except BaseException:
            self._slots.release()
            raise
        self._in_flight += 1
        result = asyncio.wrap_future(submitted)
        # The slot is freed when the worker is done, not when the caller stops waiting:
        # a cancelled request cannot push more hashes into the pool than max_in_flight.
        result.add_done_callback(self._leave)
        try:
            return await asyncio.shield(result)
        except BrokenExecutor as error:  # its worker died during this hash
            self._discard(executor, error)
            self._shed[SHED_POOL_BROKEN] += 1
            raise Unavailable(HASHING_BUSY, retry_after_seconds=self._retry_after) from error

    async def _submit(self, fn: Callable[..., T], *args: object) -> tuple[Executor, Future[T]]:
        executor = await self._ready_executor()
        try:
            return executor, executor.submit(fn, *args)
        except BrokenExecutor as error:  # a worker died since the last hash
            self._discard(executor, error)
        executor = await self._ready_executor()
        return executor, executor.submit(fn, *args)

    async def _enter(self) -> None:
        """Take a slot, or wait for one in the bounded queue, or shed."""
        if self._slots.locked() and self._waiting >= self._queue_limit:
            self._refuse(SHED_QUEUE_FULL)
        self._waiting += 1
        try:
            async with asyncio.timeout(self._queue_timeout):
                await self._slots.acquire()
        except TimeoutError:
            self._refuse(SHED_TIMEOUT)
        finally:
            self._waiting -= 1

    def _refuse(self, reason: str) -> None:
        self._shed[reason] += 1
        log.warning("passwords.hash_shed", reason=reason, waiting=self._waiting)
        raise Unavailable(HASHING_BUSY, retry_after_seconds=self._retry_after)

    def _leave(self, done: asyncio.Future[Any]) -> None:
        if not done.cancelled():
            done.exception()  # retrieved here too, in case the caller stopped waiting
        self._in_flight -= 1
        self._completed += 1
        self._slots.release()

    async def _ready_executor(self) -> Executor:
        """The pool, started by the first hash: its workers are spawned and warmed up in a
        thread, so the event loop never waits for a process to start."""
        if self._executor is not None:
            return self._executor
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._executor is None:
                self._executor = await asyncio.to_thread(self._start_executor)
        return self._executor

    def _start_executor(self) -> Executor:
        if self._kind == "process":
            pool: ProcessPoolExecutor | None = None
            try:
                pool = self._process_pool()
                # Spawn and warm up every worker now, off the event loop.
                for done in [pool.submit(worker_identity) for _ in range(self._workers)]:
                    done.result(timeout=POOL_START_SECONDS)
            except (
                OSError,  # TimeoutError included
                ImportError,
                NotImplementedError,
                BrokenProcessPool,
            ) as error:
                log.warning(
                    "passwords.process_pool_unavailable", error=repr(error), fallback="thread"
                )
                if pool is not None:
                    pool.shutdown(wait=False, cancel_futures=True)
            else:
                self._running_kind = "process"
                log.info("passwords.pool_started", executor="process", workers=self._workers)
                return pool
        self._running_kind = "thread"
        log.info("passwords.pool_started", executor="thread", workers=self._workers)
        return ThreadPoolExecutor(
            max_workers=self._workers,
            thread_name_prefix="argon2",
            initializer=_lower_thread_priority,
            initargs=(self._nice,),
        )

    def _process_pool(self) -> ProcessPoolExecutor:
        context: BaseContext
        if "forkserver" in multiprocessing.get_all_start_methods():
            forkserver = multiprocessing.get_context("forkserver")
            # The server imports these once; each worker is a fork of it, started warm.
            forkserver.set_forkserver_preload([__name__, *_main_script_imports()])
            context = forkserver
        else:
            context = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(
            max_workers=self._workers,
            mp_context=context,
            initializer=lower_priority,
            initargs=(self._nice,),
        )

    def _discard(self, executor: Executor, error: BaseException) -> None:
        """A worker died (killed, out of memory): the next hash starts a new pool."""
        log.error("passwords.pool_broken", error=repr(error))
        if self._executor is executor:
            self._executor = None
        executor.shutdown(wait=False, cancel_futures=True)


class _HashPoolCollector(Collector):
    """Queue depth, hashes in flight and shed hashes, read at scrape time."""

    def __init__(self, source: Callable[[], Argon2Hasher | None]) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        hasher = self._source()
        stats = hasher.stats() if hasher is not None else None
        waiting = GaugeMetricFamily(
            "vetchart_password_hash_queue_depth", "Password hashes waiting for a pool slot."
        )
        in_flight = GaugeMetricFamily(
            "vetchart_password_hash_in_flight", "Password hashes handed to the pool."
        )
        shed = CounterMetricFamily(
            "vetchart_password_hash_shed",
            "Password hashes refused (503) by reason: queue_full, timeout, pool_broken.",
            labels=["reason"],
        )
        if stats is not None:
            waiting.add_metric([], float(stats.waiting))
            in_flight.add_metric([], float(stats.in_flight))
            for reason, count in sorted(stats.shed.items()):
                shed.add_metric([reason], float(count))
        yield waiting
        yield in_flight
        yield shed


def hash_pool_collector(source: Callable[[], Argon2Hasher | None]) -> Collector:
    """A collector of the hashing queue of the hasher ``source`` returns at each scrape
    (None: none yet), for a registry made before the hasher is."""
    return _HashPoolCollector(source)


@lru_cache(maxsize=1)
def blocklist() -> frozenset[str]:
    """The common/breached password list shipped with zxcvbn (30,000 entries)."""
    return frozenset(FREQUENCY_LISTS["passwords"])


# Keyboard rows (QWERTY, QWERTZ, AZERTY) and the digit row. Neighbours on a row, and the
# end of a row with the start of the next, are "adjacent": a walk along them is a run.
KEYBOARD_ROWS = (
    ("1234567890-=", "qwertyuiop[]", "asdfghjkl;'", "zxcvbnm,./"),
    ("1234567890", "qwertzuiop", "asdfghjkl", "yxcvbnm"),
    ("1234567890", "azertyuiop", "qsdfghjklm", "wxcvbn"),
)
MIN_RUN = 4
# A password mostly made of keyboard runs is patterned, whatever zxcvbn scores it.
MAX_RUN_COVERAGE = 0.75


@lru_cache(maxsize=1)
def _adjacent_keys() -> frozenset[frozenset[str]]:
    pairs: set[frozenset[str]] = set()
    for layout in KEYBOARD_ROWS:
        for row in layout:
            pairs.update(frozenset(pair) for pair in itertools.pairwise(row))
        for upper, lower in itertools.pairwise(layout):
            pairs.add(frozenset((upper[-1], lower[0])))
    return frozenset(pairs)


def keyboard_run_coverage(password: str) -> float:
    """The share of characters that sit in walks of at least MIN_RUN adjacent keys."""
    text = [ch for ch in password.casefold() if not ch.isspace()]
    if not text:
        return 0.0
    adjacent = _adjacent_keys()
    covered = 0
    run = 1
    for previous, current in itertools.pairwise(text):
        if frozenset((previous, current)) in adjacent:
            run += 1
            continue
        covered += run if run >= MIN_RUN else 0
        run = 1
    covered += run if run >= MIN_RUN else 0
    return covered / len(text)


def zxcvbn_guessability(password: str, user_inputs: list[str]) -> GuessabilityVerdict:
    """Blocklisted or trivially patterned passwords, judged with zxcvbn's matchers.

    zxcvbn refuses input longer than ``ZXCVBN_MAX_LENGTH`` (its matchers are super-linear:
    seconds of CPU for a patterned 256-character string), so a longer password is judged
    in consecutive pieces of at most that length. Guessing the whole means guessing every
    piece, so one strong piece makes the whole strong; it is refused only when no piece is.
    The blocklist is always compared against the whole password.
    """
    folded = password.casefold()
    if folded in blocklist():
        return GuessabilityVerdict(Weakness.BLOCKLISTED, "a common password")
    if keyboard_run_coverage(password) >= MAX_RUN_COVERAGE:
        return GuessabilityVerdict(Weakness.PATTERNED, "a keyboard run")
    kinds: list[str] = []
    for start in range(0, max(len(password), 1), ZXCVBN_MAX_LENGTH):
        piece = password[start : start + ZXCVBN_MAX_LENGTH]
        result = zxcvbn(piece, user_inputs=user_inputs, max_length=ZXCVBN_MAX_LENGTH)
        if result["score"] >= MIN_ZXCVBN_SCORE:
            return GuessabilityVerdict(None)
        kinds.extend(
            PATTERN_KINDS[m["pattern"]] for m in result["sequence"] if m["pattern"] in PATTERN_KINDS
        )
    if kinds:
        return GuessabilityVerdict(Weakness.PATTERNED, ", ".join(dict.fromkeys(kinds)))
    return GuessabilityVerdict(Weakness.BLOCKLISTED, "made of common passwords or words")
