"""The one place where a domain refusal becomes an API answer."""

from rest_framework.response import Response
from rest_framework.views import exception_handler

from agencies.errors import DomainError


def domain_exception_handler(exc, context):
    if isinstance(exc, DomainError):
        body = {"detail": exc.message, "code": exc.code}
        if exc.field:
            body["field"] = exc.field
            body["errors"] = {exc.field: [exc.message]}
        return Response(body, status=exc.status_code)
    return exception_handler(exc, context)
