"""Recount every brand's tasks by status (task_core.status_counts.rebuild)."""

from django.core.management.base import BaseCommand

from task_core import status_counts


class Command(BaseCommand):
    help = ("Recount the tasks of every brand by status from the tasks themselves. Run it once after "
            "upgrading, and after writing task rows outside the state machine (bulk SQL, a restore).")

    def handle(self, *args, **options):
        status_counts.rebuild()
        self.stdout.write("Status counts rebuilt.")
