"""Demo data for `make run`: two brands (one of them Humari), a superuser, an operator and a viewer, and
whatever the other apps add on `demo_seeded` (task_scheduling: one demo schedule, so Beat fires something).

Idempotent: passwords are generated and printed only when the users are first created, or again with
`--reset-passwords` (new ones).
"""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from task_core.choices import BrandRole
from task_core.models import Brand, BrandMembership
from task_core.signals import demo_seeded

USERS = [
    ("admin", "admin@megahub.local", True, None),
    ("operator", "operator@humari.local", False, BrandRole.OPERATOR),
    ("viewer", "viewer@humari.local", False, BrandRole.VIEWER),
]


class Command(BaseCommand):
    help = "Create the demo brands and users (printing their passwords once) and the apps' demo data."

    def add_arguments(self, parser):
        parser.add_argument("--reset-passwords", action="store_true",
                            help="Give the existing demo users new passwords and print them.")

    def handle(self, *args, reset_passwords=False, **options):
        humari, _ = Brand.objects.get_or_create(slug="humari", defaults={"name": "Humari"})
        Brand.objects.get_or_create(slug="acme", defaults={"name": "Acme"})
        User = get_user_model()
        created = []
        for username, email, superuser, role in USERS:
            existing = User.objects.filter(username=username).first()
            if existing is not None:
                if reset_passwords:
                    password = secrets.token_urlsafe(12)
                    existing.set_password(password)
                    existing.save(update_fields=["password"])
                    created.append((username, password, role or "superuser"))
                continue
            password = secrets.token_urlsafe(12)
            if superuser:
                User.objects.create_superuser(username=username, email=email, password=password)
            else:
                user = User.objects.create_user(username=username, email=email, password=password, is_staff=True)
                BrandMembership.objects.create(user=user, brand=humari, role=role)
            created.append((username, password, role or "superuser"))
        if created:
            self.stdout.write(self.style.WARNING("Demo users (passwords are shown only this once; "
                                                 "`manage.py seed_demo --reset-passwords` makes new ones):"))
            for username, password, role in created:
                self.stdout.write(f"  {username:<10} {password}   ({role}{', Humari' if role != 'superuser' else ''})")
        users = {u.username: u for u in User.objects.filter(username__in=[u[0] for u in USERS])}
        for _receiver, line in demo_seeded.send(sender=self.__class__, brand=humari, users=users):
            if line:
                self.stdout.write(line)
        self.stdout.write(f"Brands: Humari (id {humari.pk}), Acme. Demo data ready.")
