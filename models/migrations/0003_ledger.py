from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.entities import NoticeKind
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0002_operator_tools')]

    initial = False

    operations = [
        ops.CreateModel(
            name='OutboxMessage',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('chat_id', fields.BigIntField()),
                ('kind', fields.CharEnumField(description='run_failed: run_failed\ntask_interrupted: task_interrupted\nresume_refused: resume_refused\nschedule_failed: schedule_failed', enum_type=NoticeKind, max_length=32)),
                ('task_id', fields.IntField(null=True, db_index=True)),
                ('language', fields.CharField(default='en', max_length=8)),
                ('payload', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('attempts', fields.IntField(default=0, description='sends Telegram did not take')),
            ],
            options={'table': 'outbox_message', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A notification for one chat, waiting until Telegram takes it.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ProfileLease',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('profile', fields.OneToOneField('models.Profile', source_field='profile_id', db_constraint=True, to_field='id', related_name='lease', on_delete=OnDelete.CASCADE)),
                ('owner', fields.CharField(description='the process that holds it', max_length=128)),
                ('run', fields.ForeignKeyField('models.WarmupRun', source_field='run_id', null=True, db_constraint=True, to_field='id', related_name='leases', on_delete=OnDelete.SET_NULL)),
                ('acquired_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'profile_lease', 'app': 'models', 'pk_attr': 'id', 'table_description': "The one run that may play a profile now, held for the run's whole attempt series."},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='WarmupTask',
            name='progress_final',
            field=fields.BooleanField(default=False, description="the progress message shows the task's final state", db_default=False),
        ),
    ]
