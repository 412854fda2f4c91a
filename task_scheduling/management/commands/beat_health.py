"""`manage.py beat_health [--max-age SECONDS]`: exit 0 when Beat completed a tick recently, else 1."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from task_scheduling.heartbeat import seconds_since_last_tick


class Command(BaseCommand):
    help = "Exit 0 when Beat completed a tick (reaching the database) within --max-age seconds, else 1."

    def add_arguments(self, parser):
        parser.add_argument("--max-age", type=float, default=60.0,
                            help="seconds since the last completed tick that still count as alive (default 60)")

    def handle(self, *args, max_age: float, **options):
        age = seconds_since_last_tick()
        where = settings.SCHEDULING_BEAT_HEARTBEAT
        if age is None:
            raise CommandError(f"Beat has not completed a tick: no heartbeat file at {where}.")
        if age > max_age:
            raise CommandError(f"Beat's last completed tick was {age:.0f} s ago (limit {max_age:.0f} s; {where}).")
        self.stdout.write(f"Beat is alive: last completed tick {age:.1f} s ago.")
