"""Who may act on which brand: a user's role in a brand, and the user behind a JWT read with it.

Apart from the selectors (which read the broker, and so the API's errors) so that the API's authentication,
which DRF imports while its own modules load, can import it.
"""

import weakref

from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, connections
from rest_framework_simplejwt.settings import api_settings as jwt_settings

from .choices import BrandRole
from .models import Brand, BrandMembership


def brand_role_for_user(*, user, brand_id: int) -> tuple[Brand | None, str | None]:
    """The brand and the user's role in it; superusers are admins of every active brand."""
    if user.is_superuser:
        brand = Brand.objects.filter(pk=brand_id, is_active=True).first()
        return brand, (BrandRole.ADMIN if brand else None)
    membership = (BrandMembership.objects.for_user(user).select_related("brand")
                  .filter(brand_id=brand_id).first())
    if membership is None:
        return None, None
    return membership.brand, membership.role


# Per open connection: the statement of `user_with_brand_role`, its fields and their converters.
_user_brand_statements: "weakref.WeakKeyDictionary[object, tuple]" = weakref.WeakKeyDictionary()


def _user_brand_statement(conn) -> tuple:
    """(sql, the user id field, user fields, brand fields, compiler, converters by column) of
    `user_with_brand_role` on `conn`; built once per connection (the converters are its backend's: SQLite's
    datetimes, booleans)."""
    statement = _user_brand_statements.get(conn)
    if statement is None:
        user_model, q = get_user_model(), conn.ops.quote_name
        user_fields, brand_fields = list(user_model._meta.concrete_fields), list(Brand._meta.concrete_fields)
        user_id_field = user_model._meta.get_field(jwt_settings.USER_ID_FIELD)
        columns = [f"u.{q(f.column)}" for f in user_fields] + [f"b.{q(f.column)}" for f in brand_fields]
        membership = BrandMembership._meta
        sql = (f"SELECT {', '.join(columns)}, m.{q(membership.get_field('role').column)} "
               f"FROM {q(user_model._meta.db_table)} u "
               f"LEFT JOIN {q(Brand._meta.db_table)} b ON b.{q(Brand._meta.pk.column)} = %s "
               f"AND b.{q(Brand._meta.get_field('is_active').column)} "
               f"LEFT JOIN {q(membership.db_table)} m ON m.{q(membership.get_field('user').column)} "
               f"= u.{q(user_model._meta.pk.column)} AND m.{q(membership.get_field('brand').column)} "
               f"= b.{q(Brand._meta.pk.column)} "
               f"WHERE u.{q(user_id_field.column)} = %s")
        compiler = user_model.objects.none().query.get_compiler(connection=conn)
        expressions = [f.get_col("u") for f in user_fields] + [f.get_col("b") for f in brand_fields]
        converters = compiler.get_converters(expressions)
        statement = _user_brand_statements[conn] = (sql, user_id_field, user_fields, brand_fields, compiler, converters)
    return statement


def user_with_brand_role(*, user_id, brand_id: int | None, using: str = DEFAULT_DB_ALIAS):
    """(user, brand, role) in one statement: the user whose JWT user id field is `user_id` (None when there
    is none) and what `brand_role_for_user(user=user, brand_id=brand_id)` would return (None, None without a
    `brand_id`). The API's authentication reads both at once (megahub/api/authentication.py): one round
    trip and no ORM compilation on every request."""
    conn = connections[using]
    sql, user_id_field, user_fields, brand_fields, compiler, converters = _user_brand_statement(conn)
    with conn.cursor() as cursor:
        cursor.execute(sql, [brand_id, user_id_field.get_db_prep_value(user_id, conn)])
        row = cursor.fetchone()
    if row is None:
        return None, None, None
    if converters:
        row = next(compiler.apply_converters([row], converters))
    n = len(user_fields)
    user = get_user_model().from_db(using, [f.attname for f in user_fields], row[:n])
    brand_row, role = row[n:-1], row[-1]
    if brand_row[0] is None:  # no active brand of that id
        return user, None, None
    brand = Brand.from_db(using, [f.attname for f in brand_fields], brand_row)
    if user.is_superuser:
        return user, brand, BrandRole.ADMIN
    return (user, brand, role) if role is not None else (user, None, None)
