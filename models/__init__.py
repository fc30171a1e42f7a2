"""Tortoise models and the database set-up."""

from models.entities import (
    ACTIVE_TASK_STATUSES,
    COMMAND_LINE_CHAT,
    FINISHED_RUN_STATUSES,
    NoticeKind,
    OutboxMessage,
    Profile,
    ProfileLease,
    RunStatus,
    Schedule,
    SharedFile,
    TaskStatus,
    WarmupRun,
    WarmupTask,
    WorkerBeat,
)

__all__ = [
    "ACTIVE_TASK_STATUSES",
    "COMMAND_LINE_CHAT",
    "FINISHED_RUN_STATUSES",
    "NoticeKind",
    "OutboxMessage",
    "Profile",
    "ProfileLease",
    "RunStatus",
    "Schedule",
    "SharedFile",
    "TaskStatus",
    "WarmupRun",
    "WarmupTask",
    "WorkerBeat",
]
