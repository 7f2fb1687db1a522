"""Validation of API input by a serializer: one place for every app's views."""

from rest_framework.request import Request


def query_params(serializer_class, request: Request) -> dict:
    """The query string, validated (a 400 naming each bad field otherwise)."""
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def request_body(serializer_class, request: Request) -> dict:
    """The request body, validated (a 400 naming each bad field otherwise)."""
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
