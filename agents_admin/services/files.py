"""Uploaded files (for message attachments and image content). Bytes go to the default storage."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from agents_admin import validation
from agents_admin.errors import InvalidInput, LimitExceeded
from agents_admin.models import File, Project


def file_create(*, project: Project, upload: UploadedFile, purpose: str, filename: str | None = None) -> File:
    if purpose not in File.Purpose.values:
        raise InvalidInput(f"purpose must be one of {', '.join(File.Purpose.values)}.", param="purpose")
    name = validation.validate_name(filename or upload.name or "", param="filename", max_length=255, required=True)
    size = upload.size or 0
    if size > settings.API_MAX_FILE_BYTES:
        raise LimitExceeded(f"The file is larger than {settings.API_MAX_FILE_BYTES:,} bytes.", param="file")
    with transaction.atomic():
        record = File(project=project, filename=name, bytes=size, purpose=purpose)
        # Stored under the file's id, never under the client's name (no path tricks, no collisions).
        record.content.save(record.id, upload, save=False)
        record.save()
    return record


def file_delete(*, file: File) -> None:
    """Delete the row, then the bytes once the transaction commits (a rollback keeps both)."""
    storage, name = file.content.storage, file.content.name
    with transaction.atomic():
        file.delete()
        if name:
            transaction.on_commit(lambda: storage.delete(name))


def files_check_attachments(*, project: Project, attachments: Any, param: str = "attachments") -> None:
    """Every ``file_id`` in message attachments must name a file of the project; raises InvalidInput."""
    if attachments is None:
        return
    if not isinstance(attachments, list):
        raise InvalidInput("attachments must be a list.", param=param)
    wanted: dict[str, str] = {}
    for index, item in enumerate(attachments):
        if not isinstance(item, dict):
            raise InvalidInput("Each attachment must be an object.", param=f"{param}[{index}]")
        tools = item.get("tools", [])
        if not isinstance(tools, list):
            raise InvalidInput("tools must be a list.", param=f"{param}[{index}].tools")
        for number, tool in enumerate(tools):
            kind = tool.get("type") if isinstance(tool, dict) else None
            if kind != "file_search":
                # Never accepted and then ignored: only file search reads attachments here.
                raise InvalidInput(
                    f"Attachments can be given the 'file_search' tool only, not '{kind}' (it needs a service "
                    "this one does not host).",
                    param=f"{param}[{index}].tools[{number}].type",
                    code="unsupported_tool",
                )
        file_id = item.get("file_id")
        if file_id is not None:
            if not isinstance(file_id, str):
                raise InvalidInput("file_id must be a string.", param=f"{param}[{index}].file_id")
            wanted.setdefault(file_id, f"{param}[{index}].file_id")
    known = _existing(project, wanted)
    for file_id, where in wanted.items():
        if file_id not in known:
            raise InvalidInput(f"No file found with id '{file_id}'.", param=where)


def files_check_content(*, project: Project, content: Any, param: str = "content") -> None:
    """Every ``image_file`` block of message content must name a file of the project; raises InvalidInput."""
    if not isinstance(content, list):
        return
    wanted: dict[str, str] = {}
    for index, block in enumerate(content):
        if isinstance(block, dict) and block.get("type") == "image_file":
            file_id = (
                (block.get("image_file") or {}).get("file_id") if isinstance(block.get("image_file"), dict) else None
            )
            if isinstance(file_id, str):
                wanted.setdefault(file_id, f"{param}[{index}].image_file.file_id")
    known = _existing(project, wanted)
    for file_id, where in wanted.items():
        if file_id not in known:
            raise InvalidInput(f"No file found with id '{file_id}'.", param=where)


def _existing(project: Project, ids: Iterable[str]) -> set[str]:
    return set(File.objects.filter(project=project, pk__in=list(ids)).values_list("pk", flat=True))
