"""The one place where a domain refusal becomes an API answer."""

from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback

from agencies.errors import DomainError
from agencies.freeze import frozen_refusal


def domain_exception_handler(exc, context):
    if not isinstance(exc, DomainError):
        # A write the database refused because the place is frozen for a merger (数据封存).
        refusal = frozen_refusal(exc)
        if refusal is None:
            return exception_handler(exc, context)
        set_rollback()
        exc = refusal
    body = {"detail": exc.message, "code": exc.code}
    if exc.field:
        body["field"] = exc.field
        body["errors"] = {exc.field: [exc.message]}
    return Response(body, status=exc.status_code)
