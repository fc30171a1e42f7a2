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
    TaskStatus,
    WarmupRun,
    WarmupTask,
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
    "TaskStatus",
    "WarmupRun",
    "WarmupTask",
]
