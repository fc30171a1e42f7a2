from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.entities import RunStatus, TaskStatus
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Profile',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=32)),
                ('tags', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('vars', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('options', fields.JSONField(default=dict, description='browser-context options', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('seed_state', fields.CharField(null=True, max_length=1024)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'profile', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A browser profile as last read from PROFILES_FILE.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WarmupTask',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('chat_id', fields.BigIntField(db_index=True)),
                ('user_id', fields.BigIntField(null=True)),
                ('target', fields.CharField(max_length=512)),
                ('scenario', fields.CharField(max_length=128)),
                ('status', fields.CharEnumField(default=TaskStatus.pending, description='pending: pending\nrunning: running\ncompleted: completed\nfailed: failed\ncancelled: cancelled\ninterrupted: interrupted', enum_type=TaskStatus, max_length=16)),
                ('progress_message_id', fields.BigIntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('started_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'warmup_task', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One `/warmup` command: a scenario played for a set of profiles.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WarmupRun',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('task', fields.ForeignKeyField('models.WarmupTask', source_field='task_id', db_constraint=True, to_field='id', related_name='runs', on_delete=OnDelete.CASCADE)),
                ('profile', fields.ForeignKeyField('models.Profile', source_field='profile_id', db_constraint=True, to_field='id', related_name='runs', on_delete=OnDelete.CASCADE)),
                ('status', fields.CharEnumField(default=RunStatus.queued, description='queued: queued\nrunning: running\nsucceeded: succeeded\nfailed: failed\ncancelled: cancelled\ninterrupted: interrupted', enum_type=RunStatus, max_length=16)),
                ('attempts', fields.IntField(default=0)),
                ('queued_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('started_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('failed_step', fields.CharField(null=True, max_length=255)),
                ('error', fields.TextField(null=True, unique=False)),
                ('screenshot_path', fields.CharField(null=True, max_length=1024)),
            ],
            options={'table': 'warmup_run', 'app': 'models', 'unique_together': (('task', 'profile'),), 'pk_attr': 'id', 'table_description': 'One profile inside one task.'},
            bases=['Model'],
        ),
    ]
