"""The project's one domain error, turned into a 4xx with the message in one place for the API
(``portal.api_errors``) and one for the browser (the views show it next to its field)."""


class DomainError(Exception):
    """A refusal a clerk can act on. ``message`` is Chinese and says what to do; ``field`` names the form field."""

    status_code = 400

    def __init__(self, message: str, *, code: str = "invalid", field: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field


class NotPermitted(DomainError):
    """The user's role may not do this (where is the scope's business, and answers 404)."""

    status_code = 403

    def __init__(self, message: str = "您的岗位无权办理此项业务。", *, code: str = "not_permitted"):
        super().__init__(message, code=code)


class Conflict(DomainError):
    """The record is not in a state that allows this, or someone else got there first."""

    status_code = 409
