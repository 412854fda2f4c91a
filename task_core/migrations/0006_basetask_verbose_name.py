from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("task_core", "0005_brand_timezone")]

    operations = [
        migrations.AlterModelOptions(
            name="basetask",
            options={"ordering": ["-created_at", "-id"], "verbose_name": "task", "verbose_name_plural": "tasks"},
        ),
    ]
