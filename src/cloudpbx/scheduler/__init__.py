"""Periodic jobs that several `cloudpbx serve` processes sharing one database run once per period (leases in the
`task_runs` table); the jobs themselves are registered by the composition root."""

from cloudpbx.scheduler.jobs import Every, Job, Monthly, Run, Schedule
from cloudpbx.scheduler.scheduler import Outcome, Scheduler

__all__ = ["Every", "Job", "Monthly", "Outcome", "Run", "Schedule", "Scheduler"]
