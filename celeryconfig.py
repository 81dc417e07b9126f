"""Celery configuration for stocksync workers: at-least-once delivery made safe.

The broker is the Redis that stocksync resolves (``STOCKSYNC_REDIS_URL``, or the embedded one
started under the data directory). It is not named here: importing this module starts nothing,
and ``workers.app`` resolves the broker when Celery first reads this configuration. Every task
is idempotent, so redelivery is harmless; results are not stored — counters in Redis and rows
in PostgreSQL say when work is done.
"""

from stocksync.config import get_settings

_settings = get_settings()

broker_connection_retry_on_startup = True
# A message not acknowledged this long after delivery (its worker was killed) is delivered
# again. Settings refuse a task time limit or retry wait that could reach it.
_visibility = _settings.visibility_timeout_s
broker_transport_options = {
    "visibility_timeout": _visibility,
    # sweep for abandoned messages often enough that recovery takes about one timeout
    "unacked_restore_interval": max(1, min(10, _visibility // 20)),
    "unacked_restore_throttle": 1 if _visibility < 600 else 10,
}

task_default_queue = "stocksync"
task_acks_late = True
task_reject_on_worker_lost = True
task_acks_on_failure_or_timeout = True
task_ignore_result = True
task_store_errors_even_if_ignored = False
task_soft_time_limit = _settings.task_soft_time_limit_s
task_time_limit = _settings.task_time_limit_s
task_serializer = "json"
accept_content = ["json"]

worker_prefetch_multiplier = 1
worker_concurrency = _settings.worker_concurrency
worker_cancel_long_running_tasks_on_connection_loss = True
worker_hijack_root_logger = False
worker_send_task_events = True  # Flower sees received/started/succeeded/failed
# No extra "sent" event per message: it cost about a third of dispatch time for large runs.
task_send_sent_event = False

timezone = "Asia/Shanghai"
enable_utc = True

# celery beat: schedules live in the database (workers/beat.py); only the leader sends.
beat_scheduler = "workers.beat:StocksyncScheduler"
beat_max_loop_interval = 5  # seconds: how often beat renews its lease and rechecks
