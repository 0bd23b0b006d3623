"""Files (message attachments, image content, documents for vector stores)."""

from __future__ import annotations

from django.conf import settings
from django.http import FileResponse
from django.http.response import HttpResponseBase

from agents_admin.api.base import Call, ok
from agents_admin.api.errors import ApiError, invalid, not_found
from agents_admin.api.serializers import deleted_json, file_json
from agents_admin.models import File
from agents_admin.services.files import file_create, file_delete

# Room for the multipart envelope and the small form fields around the file itself.
_MULTIPART_OVERHEAD = 1024 * 1024


def get_file(call: Call, file_id: str) -> File:
    file = File.objects.filter(project=call.project, pk=file_id).first()
    if file is None:
        raise not_found("file", file_id)
    return file


def upload(call: Call) -> HttpResponseBase:
    """Upload a file (multipart/form-data: ``file``, ``purpose``, optional ``filename``)."""
    request = call.request
    if not (request.content_type or "").startswith("multipart/form-data"):
        raise invalid("Upload files as multipart/form-data with a 'file' part.", param="file")
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.API_MAX_FILE_BYTES + _MULTIPART_OVERHEAD:
        raise ApiError(413, "too_large", f"Files can be at most {settings.API_MAX_FILE_BYTES:,} bytes.", param="file")
    upload_file = request.FILES.get("file")
    if upload_file is None:
        raise invalid("The 'file' part is missing.", param="file")
    if (upload_file.size or 0) > settings.API_MAX_FILE_BYTES:
        raise ApiError(413, "too_large", f"Files can be at most {settings.API_MAX_FILE_BYTES:,} bytes.", param="file")
    if "\x00" in request.POST.get("filename", "") + (upload_file.name or ""):
        raise invalid("The file name must not contain NUL characters.", param="filename")
    record = file_create(
        project=call.project,
        upload=upload_file,
        purpose=request.POST.get("purpose", ""),
        filename=request.POST.get("filename") or None,
    )
    return ok(file_json(record))


def list_(call: Call) -> HttpResponseBase:
    """List files (not paged, as in the service; ``purpose`` filters)."""
    files = File.objects.filter(project=call.project).order_by("-created_at", "-id")
    purpose = call.query.get("purpose")
    if purpose:
        files = files.filter(purpose=purpose)
    return ok({"object": "list", "data": [file_json(f) for f in files[:10_000]]})


def retrieve(call: Call, file_id: str) -> HttpResponseBase:
    """Get a file's description."""
    return ok(file_json(get_file(call, file_id)))


def delete(call: Call, file_id: str) -> HttpResponseBase:
    """Delete a file."""
    file_delete(file=get_file(call, file_id))
    return ok(deleted_json(file_id, "file"))


def content(call: Call, file_id: str) -> HttpResponseBase:
    """Download a file's bytes."""
    file = get_file(call, file_id)
    response = FileResponse(file.content.open("rb"), content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="{file.id}"'
    return response
