"""Demo data for `make run`: two brands (one of them Humari), a superuser, an operator and a viewer.

Idempotent: passwords are generated and printed only when the users are first created.
"""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from task_core.choices import BrandRole
from task_core.models import Brand, BrandMembership

USERS = [
    ("admin", "admin@megahub.local", True, None),
    ("operator", "operator@humari.local", False, BrandRole.OPERATOR),
    ("viewer", "viewer@humari.local", False, BrandRole.VIEWER),
]


class Command(BaseCommand):
    help = "Create the demo brands and users (printing their passwords once)."

    def handle(self, *args, **options):
        humari, _ = Brand.objects.get_or_create(slug="humari", defaults={"name": "Humari"})
        Brand.objects.get_or_create(slug="acme", defaults={"name": "Acme"})
        User = get_user_model()
        created = []
        for username, email, superuser, role in USERS:
            if User.objects.filter(username=username).exists():
                continue
            password = secrets.token_urlsafe(12)
            if superuser:
                User.objects.create_superuser(username=username, email=email, password=password)
            else:
                user = User.objects.create_user(username=username, email=email, password=password, is_staff=True)
                BrandMembership.objects.create(user=user, brand=humari, role=role)
            created.append((username, password, role or "superuser"))
        if created:
            self.stdout.write(self.style.WARNING("Demo users (passwords are shown only this once):"))
            for username, password, role in created:
                self.stdout.write(f"  {username:<10} {password}   ({role}{', Humari' if role != 'superuser' else ''})")
        self.stdout.write(f"Brands: Humari (id {humari.pk}), Acme. Demo data ready.")
