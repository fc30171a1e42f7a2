from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0005_run_indexes')]

    initial = False

    operations = [
        ops.RemoveIndex(
            model_name='WarmupRun',
            name='warmup_run_finished_at',
            fields=None,
        ),
        ops.AddIndex(
            model_name='WarmupRun',
            index=Index(fields=['finished_at', 'status', 'started_at'], name='warmup_run_ended'),
        ),
    ]
