"""The browser's answer to a write refused by a freeze (数据封存): the database refused it in whatever view
or service it came from; here it becomes the clerk's message, with status 409, instead of a server error."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme

from agencies.freeze import frozen_refusal

_PAGE = """{% extends "base.html" %}{% load i18n %}
{% block title %}{% translate "数据已封存" %}{% endblock %}
{% block content %}<section class="frozen-refusal">
  <h1>{% translate "数据已封存" %}</h1>
  <p class="error">{{ message }}</p>
  <p><a href="{{ back }}">{% translate "返回" %}</a></p>
</section>{% endblock %}"""


class FrozenRefusalMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        refusal = frozen_refusal(exception)
        if refusal is None:
            return None
        if getattr(request, "htmx", False):
            # A fragment for the part of the page the request swaps.
            return HttpResponse(
                format_html('<p class="error" role="alert">{}</p>', refusal.message), status=refusal.status_code
            )
        back = request.headers.get("referer", "")
        if not back or not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
            back = request.path
        page = engines["django"].from_string(_PAGE)
        return HttpResponse(
            page.render({"message": refusal.message, "back": back}, request), status=refusal.status_code
        )
