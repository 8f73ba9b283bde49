"""The refresh scheduler (APScheduler 3): one job, one at a time, guarded by a database lock."""

from scheduler.jobs import refresh_job, register_jobs, start_background

__all__ = ["refresh_job", "register_jobs", "start_background"]
