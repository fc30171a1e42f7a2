from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Schedule',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('chat_id', fields.BigIntField(db_index=True)),
                ('user_id', fields.BigIntField(null=True)),
                ('target', fields.CharField(max_length=512)),
                ('scenario', fields.CharField(max_length=128)),
                ('cron', fields.CharField(max_length=128)),
                ('window_start', fields.CharField(null=True, description="HH:MM, bot's time", max_length=5)),
                ('window_end', fields.CharField(null=True, description="HH:MM, bot's time", max_length=5)),
                ('jitter_seconds', fields.IntField(default=0)),
                ('paused', fields.BooleanField(default=False)),
                ('language', fields.CharField(default='en', max_length=8)),
                ('next_run_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_run_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'schedule', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A warmup that starts by itself, by a cron expression, within an optional daily window.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Profile',
            name='session_expired',
            field=fields.BooleanField(default=False, description="the last run failed the scenario's logged_in check", db_default=False),
        ),
        ops.AddField(
            model_name='WarmupRun',
            name='trace_path',
            field=fields.CharField(null=True, max_length=1024),
        ),
        ops.AddField(
            model_name='WarmupTask',
            name='language',
            field=fields.CharField(default='en', description='for its messages', db_default='en', max_length=8),
        ),
        ops.AddField(
            model_name='WarmupTask',
            name='schedule',
            field=fields.ForeignKeyField('models.Schedule', source_field='schedule_id', null=True, db_constraint=True, to_field='id', related_name='tasks', on_delete=OnDelete.SET_NULL),
        ),
    ]
