"""What each role may do, beside where (the scope). One table, read by services, views and the API."""

from enum import StrEnum

from agencies.models import Role


class Action(StrEnum):
    SUBMIT_APPLICATION = "submit_application"
    TOWNSHIP_REVIEW = "township_review"
    COUNTY_APPROVE = "county_approve"
    LOAD_EMPLOYEE_REGISTER = "load_employee_register"
    RECORD_SPECIAL_GROUP = "record_special_group"


ALLOWED: dict[Action, frozenset[str]] = {
    Action.SUBMIT_APPLICATION: frozenset({Role.VILLAGE_AGENT, Role.TOWNSHIP_CLERK, Role.COUNTY_CLERK}),
    Action.TOWNSHIP_REVIEW: frozenset({Role.TOWNSHIP_CLERK}),
    Action.COUNTY_APPROVE: frozenset({Role.COUNTY_APPROVER}),
    Action.LOAD_EMPLOYEE_REGISTER: frozenset({Role.COUNTY_CLERK, Role.COUNTY_APPROVER}),
    Action.RECORD_SPECIAL_GROUP: frozenset({Role.TOWNSHIP_CLERK, Role.COUNTY_CLERK}),
}


def can(user, action: Action) -> bool:
    if user is None or not user.is_authenticated:
        return False
    return user.role in ALLOWED[action]
