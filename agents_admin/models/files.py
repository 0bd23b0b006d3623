"""Uploaded files (the API's files), stored under MEDIA_ROOT."""

from __future__ import annotations

from django.db import models

from agents_admin import ids


class File(models.Model):
    """An uploaded file (message attachments, images); the bytes live in the default storage."""

    class Purpose(models.TextChoices):
        ASSISTANTS = "assistants"
        ASSISTANTS_OUTPUT = "assistants_output"
        VISION = "vision"

    id = models.CharField(primary_key=True, max_length=40, default=ids.new_file_id, editable=False)
    project = models.ForeignKey("Project", on_delete=models.CASCADE, related_name="files")
    filename = models.CharField(max_length=255)
    bytes = models.PositiveBigIntegerField()
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    content = models.FileField(upload_to="files/%Y/%m/", max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "-created_at"], name="file_project_created")]

    def __str__(self) -> str:
        return self.filename
