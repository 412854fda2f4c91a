"""The persistence options of each resumable task type (resume policy, resume limit)."""

from dataclasses import dataclass

from .models import ResumePolicy


@dataclass(frozen=True)
class JobOptions:
    resume_policy: str = ResumePolicy.AUTO
    max_resumes: int = 10


DEFAULT_OPTIONS = JobOptions()
_OPTIONS: dict[str, JobOptions] = {}


def set_job_options(name: str, options: JobOptions) -> None:
    if options.resume_policy not in ResumePolicy.values:
        raise ValueError(f"Unknown resume policy {options.resume_policy!r} for task type {name}")
    _OPTIONS[name] = options


def job_options(name: str) -> JobOptions:
    """The options of a task type (the defaults for one declared with core's `task_type(resumable=True)`)."""
    return _OPTIONS.get(name, DEFAULT_OPTIONS)
