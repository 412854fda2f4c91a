"""Our template model is ScheduleTemplate, no longer PeriodicTask (django-celery-beat's model's name).
The table is renamed, its rows kept; the API keeps its paths and field names."""

import uuid

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('task_core', '0001_initial'),
        ('task_scheduling', '0002_alter_scheduleevent_event_type'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RenameModel(old_name='PeriodicTask', new_name='ScheduleTemplate'),
        migrations.AlterModelOptions(
            name='scheduletemplate',
            options={'ordering': ['name', 'id'], 'verbose_name': 'schedule template'},
        ),
        migrations.AlterField(
            model_name='scheduletemplate',
            name='brand',
            field=models.ForeignKey(help_text='The brand that owns the template.', on_delete=django.db.models.deletion.CASCADE, related_name='schedule_templates', to='task_core.brand', verbose_name='brand'),
        ),
        migrations.AlterField(
            model_name='scheduletemplate',
            name='calendar',
            field=models.ForeignKey(blank=True, help_text='Exclusions: fires inside them are skipped and recorded.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='schedule_templates', to='task_scheduling.taskcalendar', verbose_name='calendar'),
        ),
        migrations.AlterField(
            model_name='scheduledrun',
            name='claim_token',
            field=models.UUIDField(db_index=True, default=uuid.uuid4, help_text='Which firing inserted this claim (to read back the ones it won).', verbose_name='claim token'),
        ),
    ]
