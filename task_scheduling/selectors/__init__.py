"""Reads of task_scheduling, one module per concern: templates, schedules, calendars, executions, the
summary, cron previews and validation, orphans."""
