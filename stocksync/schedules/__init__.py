"""celery beat schedules: definitions, cron, firing, the stored overrides and the one acting
leader."""
