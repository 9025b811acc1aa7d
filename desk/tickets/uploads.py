"""Turning request files (multipart or base64 JSON) into Uploads, without trusting sizes."""
import base64
import binascii

from flask import current_app

from desk.errors import AttachmentError, ValidationError
from desk.tickets.attachments import Upload, human_size


def from_files(files) -> list[Upload]:
    limit = current_app.config["ATTACHMENT_MAX_BYTES"]
    uploads = []
    for storage in files or []:
        if not storage or not storage.filename:
            continue
        data = storage.stream.read(limit + 1)  # read one byte past the cap, never the whole of a huge file
        if len(data) > limit:
            raise AttachmentError(
                f"The file {storage.filename!r} is over {human_size(limit)}, the most an attachment may be. "
                "Nothing was sent; your message is still here.",
                {"attachments": "too large"}, status=413,
            )
        uploads.append(Upload(storage.filename, data))
    return uploads


def from_json(items) -> list[Upload]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise ValidationError("attachments must be a list of {filename, content_base64}.", {"attachments": "not a list"})
    uploads = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("filename"), str) \
                or not isinstance(item.get("content_base64"), str):
            raise ValidationError(f"attachments[{i}] needs filename and content_base64 strings.",
                                  {f"attachments[{i}]": "invalid"})
        try:
            data = base64.b64decode(item["content_base64"], validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError(f"attachments[{i}].content_base64 is not valid base64.",
                                  {f"attachments[{i}]": "bad base64"}) from None
        uploads.append(Upload(item["filename"], data))
    return uploads
