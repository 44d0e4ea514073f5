"""Celery app wired to Django settings (CELERY_* namespace); tasks found in each app's tasks.py."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inventory_sync.settings")

# DjangoTask gives every task delay_on_commit(), so work is queued only after the
# transaction that caused it has committed.
app = Celery("inventory_sync", task_cls="celery.contrib.django.task:DjangoTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
