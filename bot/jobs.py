"""The bot's background work on the leading instance only: the planner tick, the outbox sender, leader jobs.

`install_jobs` (from bot.app) starts the leader task; `add_leader_job` adds periodic work that runs once across
instances; `notify_outbox` wakes the sender after a handler queued messages (docs/ARCHITECTURE.md, "Leader").
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bot.telegram_channel import TelegramChannel
from handlers.context import BotApplication, Context
from handlers.services import Services
from scheduler.calendar import WorkCalendar
from scheduler.digest import plan_digests
from scheduler.drain import Drain, DrainOptions
from scheduler.locks import LeaderLock
from scheduler.planner import DEFAULT_BATCH, PlanResult, plan_tick
from scheduler.policy import ReminderPolicy
from scheduler.reports import report_broadcasts

log = logging.getLogger(__name__)

# A periodic job of the leader (e.g. broadcast reports, the weekly digest): `await job(application)`.
LeaderJob = Callable[[BotApplication], Awaitable[Any]]
LEADER_LOCK = "leader"  # one lock: the planner and the sender run together on the leader


class Jobs:
    """The planner and sender of one Application; `application.bot_data.jobs`, read back by `jobs_of`."""

    def __init__(
        self,
        application: BotApplication,
        *,
        options: DrainOptions | None = None,
        lock_retry_seconds: float = 2.0,
        watch_seconds: float = 2.0,
    ) -> None:
        self.application = application
        self.options = options or DrainOptions()
        self.lock_retry_seconds = lock_retry_seconds
        self.watch_seconds = watch_seconds
        self.lock: LeaderLock | None = None
        self.sender: Drain | None = None  # the outbox drain while leading
        self.leading = False
        self.plan_ticks = 0
        self.last_tick_seconds = 0.0  # the last planner tick, reminders and digests (/metrics)
        self._stop_leading = asyncio.Event()
        self._calendar: WorkCalendar | None = None
        # SQLite has one writer at a time: the planner's batches and the sender's writes take turns in this
        # process (FIFO) rather than meeting in SQLite's busy handler, where a long tick starves the sender.
        self._write_turn: asyncio.Lock | None = None
        self.leader_jobs: list[tuple[str, float, LeaderJob]] = []

    @property
    def services(self) -> Services:
        return self.application.bot_data.services

    def wake(self) -> None:
        if self.sender is not None:
            self.sender.wake()

    def _running(self) -> bool:
        return bool(self.application.running)

    async def _pause(self, seconds: float, keep_going: Callable[[], bool]) -> None:
        """Sleep up to `seconds`, returning early once `keep_going()` turns false (checked every 0.2 s)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while keep_going():
            left = end - loop.time()
            if left <= 0:
                return
            await asyncio.sleep(min(left, 0.2))

    # -- leading -------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Until the Application stops: become the leader, lead, and after losing the lead, try again."""
        services = self.services
        self.lock = LeaderLock(services.db, LEADER_LOCK)
        while self._running():
            if not await self.lock.try_acquire():
                await self._pause(self.lock_retry_seconds, self._running)
                continue
            if self.lock.shared:
                log.info("this instance now plans and sends (it holds the leader lock)")
            failed = False
            try:
                await self._lead()
            except Exception:  # e.g. the database went away: step down, and try again in a moment
                log.exception("the planner and sender stopped on an error; trying again")
                failed = True
            finally:
                self.leading = False
                await self.lock.release()
            if failed:
                await self._pause(self.lock_retry_seconds, self._running)

    async def _lead(self) -> None:
        services = self.services
        self.leading = True
        self._stop_leading.clear()
        self._write_turn = asyncio.Lock() if services.db.dialect == "sqlite" else None
        self.sender = Drain(
            db=services.db,
            channel=TelegramChannel(self.application.bot),
            now=services.now,
            default_language=services.settings.default_language,
            options=self.options,
            write_turn=self._write_turn,
        )

        def keep_going() -> bool:
            return self._running() and not self._stop_leading.is_set()

        loops = [
            asyncio.create_task(self._plan_loop(keep_going), name="qmsbot-planner"),
            asyncio.create_task(self._watch(keep_going), name="qmsbot-lock-watch"),
        ]
        loops += [
            asyncio.create_task(self._job_loop(name, interval, job, keep_going), name=f"qmsbot-{name}")
            for name, interval, job in self.leader_jobs
        ]
        try:
            await self.sender.run(keep_going)
        finally:
            self._stop_leading.set()
            await asyncio.gather(*loops, return_exceptions=True)

    async def _job_loop(self, name: str, interval: float, job: LeaderJob, keep_going: Callable[[], bool]) -> None:
        while keep_going():
            try:
                await job(self.application)
            except Exception:  # one failing run must not stop the next ones
                log.exception("background job %s failed", name)
            await self._pause(interval, keep_going)

    async def _watch(self, keep_going: Callable[[], bool]) -> None:
        assert self.lock is not None
        if not self.lock.shared:
            return
        while keep_going():
            await self._pause(self.watch_seconds, keep_going)
            if keep_going() and not await self.lock.still_held():
                log.error("lost the leader lock: this instance stops planning and sending")
                self._stop_leading.set()
                if self.sender is not None:
                    self.sender.wake()

    # -- planning ------------------------------------------------------------------------------------

    async def _plan_loop(self, keep_going: Callable[[], bool]) -> None:
        interval = self.services.settings.plan_interval_seconds
        while keep_going():
            try:
                await self.plan_once()
            except Exception:  # one failing tick must not stop the next ones
                log.exception("planning tick failed")
            await self._pause(interval, keep_going)

    async def plan_once(self) -> PlanResult:
        """One planner tick: reminders, then the weekly digests that fell due; wakes the sender."""
        services = self.services
        settings = services.settings
        if self._calendar is None:
            self._calendar = WorkCalendar(settings.extra_days_off, settings.extra_working_days)
        started = time.monotonic()
        result = await plan_tick(
            services.db,
            policy=ReminderPolicy.from_settings(settings),
            calendar=self._calendar,
            now=services.now(),
            default_language=settings.default_language,
            turn=self._write_turn,
            batch_size=PLAN_BATCH if self._write_turn is not None else DEFAULT_BATCH,
        )
        queued_digests = await plan_digests(services.db, settings=settings, now=services.now())
        if result.evaluated > TRIM_AFTER_EVALUATED or queued_digests:
            release_memory()
        self.plan_ticks += 1
        self.last_tick_seconds = time.monotonic() - started
        log.debug("planning tick: %s", result)
        self.wake()
        return result


def install_jobs(
    application: BotApplication,
    *,
    options: DrainOptions | None = None,
    lock_retry_seconds: float = 2.0,
    watch_seconds: float = 2.0,
) -> Jobs:
    """Plan and send in the background once the Application runs (see the module text)."""
    jobs = Jobs(application, options=options, lock_retry_seconds=lock_retry_seconds, watch_seconds=watch_seconds)
    application.bot_data.jobs = jobs
    if application.job_queue is None:
        raise RuntimeError("the job queue is missing: install python-telegram-bot[job-queue]")
    # However late the job queue gets to it (a slow start), the leader must start: no misfire grace limit.
    application.job_queue.run_once(_start, when=0, name="qmsbot-start-leader", job_kwargs={"misfire_grace_time": None})
    jobs.leader_jobs.append(("broadcast reports", REPORT_INTERVAL_SECONDS, _report_broadcasts))
    return jobs


# Commitments per planner transaction in the bot on SQLite: smaller than the planner's default, so that each
# stretch the sender waits for (SQLite's write lock, the event loop) stays short; the tick takes a little longer.
# PostgreSQL keeps the default: there the sender's writes do not wait for the planner's.
PLAN_BATCH = 250
REPORT_INTERVAL_SECONDS = 2.0  # a broadcast's report follows its last delivery within this


async def _report_broadcasts(application: BotApplication) -> None:
    services = application.bot_data.services
    queued = await report_broadcasts(
        services.db, now=services.now(), default_language=services.settings.default_language
    )
    if queued:
        notify_outbox(application)


TRIM_AFTER_EVALUATED = 10_000  # a tick that looked at this many commitments leaves much freed memory behind


def release_memory() -> None:
    """Hand freed memory back to the system after a large tick or the digests, so that the next big piece of
    work starts from a small process rather than on top of the last one's high-water mark (glibc only)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


async def _start(context: Context) -> None:
    jobs = jobs_of(context.application)
    assert jobs is not None  # install_jobs set them before it queued this
    # Tracked by the Application: stop() waits for it, and it ends once the Application stops running.
    context.application.create_task(jobs.run(), name="qmsbot-leader")


def add_leader_job(
    application: BotApplication,
    name: str,
    interval: float,
    job: LeaderJob,
) -> None:
    """Run `await job(application)` on the leading instance only: when it starts leading, then every
    `interval` seconds (after `install_jobs`; jobs added later start at the next leadership)."""
    jobs = jobs_of(application)
    if jobs is None:
        raise RuntimeError("install_jobs(application) first")
    jobs.leader_jobs.append((name, interval, job))


def jobs_of(application: BotApplication) -> Jobs | None:
    jobs = application.bot_data.jobs
    return jobs if isinstance(jobs, Jobs) else None


def notify_outbox(application: BotApplication) -> None:
    """Messages were queued: let the sender look at the outbox now (a no-op on instances that do not lead)."""
    jobs = jobs_of(application)
    if jobs is not None:
        jobs.wake()
