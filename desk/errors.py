"""Errors the services raise for bad input; the views turn them into a 4xx with a clear
message (JSON `{"error": {...}}` on the API, the form re-rendered on pages)."""


class DeskError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, fields: dict | None = None, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        if code:
            self.code = code
        if status:
            self.status = status

    def to_dict(self) -> dict:
        body = {"code": self.code, "message": self.message}
        if self.fields:
            body["fields"] = self.fields
        return {"error": body}


class ValidationError(DeskError):
    status = 422
    code = "invalid"


class AttachmentError(ValidationError):
    code = "attachment_rejected"


class NotFound(DeskError):
    status = 404
    code = "not_found"
