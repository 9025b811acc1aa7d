"""Errors the services raise for bad input; the views turn them into a 4xx with a clear
message (JSON `{"error": {...}}` on the API, the form re-rendered on pages)."""
from desk.policy.abuse import MIN_REASON, check_reason


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


def require_reason(text: str | None, what: str) -> str:
    """The staff member's words for a decision (at least MIN_REASON characters), stripped,
    or a ValidationError saying what is missing: every decision says why."""
    problem = check_reason(text, what)
    if problem:
        raise ValidationError(problem, {"reason": "required"})
    return text.strip()


__all__ = ["MIN_REASON", "DeskError", "ValidationError", "AttachmentError", "NotFound", "require_reason"]
