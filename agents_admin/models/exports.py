"""Background export jobs."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ExportJob(models.Model):
    """A large export written to a file by a worker; the console polls this row for progress.

    queued -> running -> completed -> expired (file deleted after EXPORT_RETENTION_HOURS), or -> failed (an
    error, a worker that stopped beating, or a task the broker lost twice). See services.exports.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        COMPLETED = "completed"
        FAILED = "failed"
        EXPIRED = "expired"

    class Format(models.TextChoices):
        JSONL = "jsonl", "JSON Lines"
        CSV = "csv", "CSV"
        MARKDOWN = "md", "Markdown"

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # What to export: {"thread_id": …} for one thread, or the thread filters (as the search form's query).
    params = models.JSONField(default=dict)
    format = models.CharField(max_length=8, choices=Format.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    messages_total = models.PositiveIntegerField(default=0)  # an estimate, from Thread.message_count
    messages_done = models.PositiveIntegerField(default=0)
    file_path = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Written with each batch of progress: a running job whose heartbeat is old lost its worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Set when the reconciler sent the task again because the broker seemed to have lost it (done once only).
    redispatched_at = models.DateTimeField(null=True, blank=True)
    # When the housekeeping sweep deleted the file of this completed job.
    expired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        # The sweeps look for (completed, finished before a cutoff) and for queued/running jobs.
        indexes = [models.Index(fields=["status", "finished_at"], name="exportjob_status_finished")]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.COMPLETED, self.Status.FAILED, self.Status.EXPIRED)

    @property
    def percent(self) -> int:
        if self.status == self.Status.COMPLETED:
            return 100
        if not self.messages_total:
            return 0
        return min(99, self.messages_done * 100 // self.messages_total)
