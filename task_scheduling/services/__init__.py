"""Writes of task_scheduling, one module per concern: calendars, templates, schedules, events, next runs
and orphans. Status changes of schedules go through task_scheduling.state_machine; firing and run
outcomes are in firing.py and outcomes.py."""
