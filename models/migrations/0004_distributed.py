from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0003_ledger')]

    initial = False

    operations = [
        ops.CreateModel(
            name='SharedFile',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('key', fields.CharField(unique=True, max_length=512)),
                ('content', fields.BinaryField()),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'shared_file', 'app': 'models', 'pk_attr': 'id', 'table_description': "A file every machine reads: a profile's storage state, a screenshot, a trace."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WorkerBeat',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, description='its lease holder name', max_length=128)),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('seen_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('sessions', fields.IntField(default=0, description='runs it plays now')),
                ('capacity', fields.IntField(default=0, description='runs it may play at once now')),
            ],
            options={'table': 'worker_beat', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A `python -m bot worker` process, as it last said it was alive.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='WarmupRun',
            name='played_by',
            field=fields.CharField(null=True, description='the process playing it: a write of any other is refused', max_length=128),
        ),
        ops.AddField(
            model_name='WarmupTask',
            name='scenario_text',
            field=fields.TextField(null=True, description="the scenario's YAML as it was when the task began", unique=False),
        ),
    ]
