"""The tables: profiles, warmup tasks, the runs of one profile inside a task, the profile
leases that keep a profile to one run at a time, the outbox of notifications, and, for
the distributed mode, the workers' heartbeats and the files every machine reads."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class TaskStatus(StrEnum):
    pending = "pending"
    running = "running"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"
    interrupted = "interrupted"


class RunStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"
    interrupted = "interrupted"


FINISHED_RUN_STATUSES = frozenset(
    {RunStatus.succeeded, RunStatus.failed, RunStatus.cancelled, RunStatus.interrupted}
)
ACTIVE_TASK_STATUSES = frozenset({TaskStatus.pending, TaskStatus.running})
COMMAND_LINE_CHAT = 0
"""The chat id of tasks started by `python -m bot try`: there is no chat to tell."""


class Profile(Model):
    """A browser profile as last read from PROFILES_FILE.

    Removing a profile from the file keeps its row (its runs refer to it) and marks
    it inactive.
    """

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=32, unique=True)
    tags = fields.JSONField(default=list)
    vars = fields.JSONField(default=dict)
    options = fields.JSONField(default=dict, description="browser-context options")
    seed_state = fields.CharField(max_length=1024, null=True)
    active = fields.BooleanField(default=True)
    session_expired = fields.BooleanField(
        default=False,
        db_default=False,
        description="the last run failed the scenario's logged_in check",
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    runs: fields.ReverseRelation[WarmupRun]

    class Meta:
        table = "profile"
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class WarmupTask(Model):
    """One `/warmup` command: a scenario played for a set of profiles."""

    id = fields.IntField(primary_key=True)
    chat_id = fields.BigIntField(db_index=True)
    user_id = fields.BigIntField(null=True)
    target = fields.CharField(max_length=512)
    scenario = fields.CharField(max_length=128)
    scenario_text = fields.TextField(
        null=True, description="the scenario's YAML as it was when the task began"
    )
    status = fields.CharEnumField(TaskStatus, default=TaskStatus.pending, max_length=16)
    progress_message_id = fields.BigIntField(null=True)
    progress_final = fields.BooleanField(
        default=False,
        db_default=False,
        description="the progress message shows the task's final state",
    )
    language = fields.CharField(
        max_length=8, default="en", db_default="en", description="for its messages"
    )
    schedule: fields.ForeignKeyNullableRelation[Schedule] = fields.ForeignKeyField(
        "models.Schedule", related_name="tasks", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)

    runs: fields.ReverseRelation[WarmupRun]

    class Meta:
        table = "warmup_task"
        ordering = ("-id",)


class WarmupRun(Model):
    """One profile inside one task."""

    id = fields.IntField(primary_key=True)
    task: fields.ForeignKeyRelation[WarmupTask] = fields.ForeignKeyField(
        "models.WarmupTask", related_name="runs", on_delete=fields.CASCADE
    )
    profile: fields.ForeignKeyRelation[Profile] = fields.ForeignKeyField(
        "models.Profile", related_name="runs", on_delete=fields.CASCADE
    )
    status = fields.CharEnumField(RunStatus, default=RunStatus.queued, max_length=16)
    attempts = fields.IntField(default=0)
    queued_at = fields.DatetimeField(auto_now_add=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)
    failed_step = fields.CharField(max_length=255, null=True)
    error = fields.TextField(null=True)
    screenshot_path = fields.CharField(max_length=1024, null=True)
    trace_path = fields.CharField(max_length=1024, null=True)
    played_by = fields.CharField(
        max_length=128,
        null=True,
        description="the process playing it: a write of any other is refused",
    )

    class Meta:
        table = "warmup_run"
        ordering = ("id",)
        unique_together = (("task", "profile"),)
        indexes = (
            # A profile's latest run, found by one index seek whatever the history's
            # length (/profiles reads it for every profile of the fleet).
            Index(fields=("profile_id", "id"), name="warmup_run_profile_latest"),
            # /stats counts the runs that ended in a period, out of months of history:
            # by day and result and by run time from the index alone, never the table.
            Index(fields=("finished_at", "status", "started_at"), name="warmup_run_ended"),
        )


class Schedule(Model):
    """A warmup that starts by itself, by a cron expression, within an optional daily window."""

    id = fields.IntField(primary_key=True)
    chat_id = fields.BigIntField(db_index=True)
    user_id = fields.BigIntField(null=True)
    target = fields.CharField(max_length=512)
    scenario = fields.CharField(max_length=128)
    cron = fields.CharField(max_length=128)
    window_start = fields.CharField(max_length=5, null=True, description="HH:MM, bot's time")
    window_end = fields.CharField(max_length=5, null=True, description="HH:MM, bot's time")
    jitter_seconds = fields.IntField(default=0)
    paused = fields.BooleanField(default=False)
    language = fields.CharField(max_length=8, default="en")
    next_run_at = fields.DatetimeField(null=True)
    last_run_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    tasks: fields.ReverseRelation[WarmupTask]

    class Meta:
        table = "schedule"
        ordering = ("id",)


class ProfileLease(Model):
    """The one run that may play a profile now, held for the run's whole attempt series.

    The holder renews `expires_at` while it plays; a lease whose holder died simply expires
    and is taken over. A row exists only while a lease is held. The same row keeps a
    profile to one run between the bot and `python -m bot try` on one disk, and between
    workers on many machines.
    """

    id = fields.IntField(primary_key=True)
    profile: fields.OneToOneRelation[Profile] = fields.OneToOneField(
        "models.Profile", related_name="lease", on_delete=fields.CASCADE
    )
    owner = fields.CharField(max_length=128, description="the process that holds it")
    run: fields.ForeignKeyNullableRelation[WarmupRun] = fields.ForeignKeyField(
        "models.WarmupRun", related_name="leases", null=True, on_delete=fields.SET_NULL
    )
    acquired_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "profile_lease"


class NoticeKind(StrEnum):
    run_failed = "run_failed"
    task_interrupted = "task_interrupted"
    resume_refused = "resume_refused"
    schedule_failed = "schedule_failed"


class OutboxMessage(Model):
    """A notification for one chat, waiting until Telegram takes it.

    Written in the same transaction as the status change that caused it and deleted only
    once Telegram accepted it (or refused it for good), so neither a crash nor an outage
    of Telegram loses it. The payload holds facts, not words: the bot words it in
    `language` when it sends it.
    """

    id = fields.IntField(primary_key=True)
    chat_id = fields.BigIntField()
    kind = fields.CharEnumField(NoticeKind, max_length=32)
    task_id = fields.IntField(null=True, db_index=True)
    language = fields.CharField(max_length=8, default="en")
    payload = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)
    attempts = fields.IntField(default=0, description="sends Telegram did not take")

    class Meta:
        table = "outbox_message"
        ordering = ("id",)


class WorkerBeat(Model):
    """A `python -m bot worker` process, as it last said it was alive."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=128, unique=True, description="its lease holder name")
    started_at = fields.DatetimeField()
    seen_at = fields.DatetimeField(db_index=True)
    sessions = fields.IntField(default=0, description="runs it plays now")
    capacity = fields.IntField(default=0, description="runs it may play at once now")

    class Meta:
        table = "worker_beat"
        ordering = ("name",)


class SharedFile(Model):
    """A file every machine reads: a profile's storage state, a screenshot, a trace.

    Only in the distributed mode; in one process they stay files under DATA_DIR.
    """

    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=512, unique=True)
    content = fields.BinaryField()
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "shared_file"
