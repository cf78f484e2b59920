"""Celery task definitions: thin wrappers over workers/ (run a job, deliver a webhook)."""
