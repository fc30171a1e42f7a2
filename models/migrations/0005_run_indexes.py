from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0004_distributed')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='WarmupRun',
            index=Index(fields=['profile_id', 'id'], name='warmup_run_profile_latest'),
        ),
        ops.AddIndex(
            model_name='WarmupRun',
            index=Index(fields=['finished_at'], name='warmup_run_finished_at'),
        ),
    ]
