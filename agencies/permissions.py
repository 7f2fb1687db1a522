"""What each role may do, beside where (the scope). One table, read by services, views and the API."""

from enum import StrEnum

from agencies.errors import NotPermitted
from agencies.models import Role


class Action(StrEnum):
    SUBMIT_APPLICATION = "submit_application"
    TOWNSHIP_REVIEW = "township_review"
    COUNTY_APPROVE = "county_approve"
    LOAD_EMPLOYEE_REGISTER = "load_employee_register"
    RECORD_SPECIAL_GROUP = "record_special_group"
    # Contributions. No cash passes through clerks' hands: a counter payment is recorded from the bank's receipt.
    SET_CONTRIBUTION_POLICY = "set_contribution_policy"
    RECORD_TIER_CHOICE = "record_tier_choice"
    RECORD_COUNTER_PAYMENT = "record_counter_payment"
    POST_BANK_FILE_PAYMENT = "post_bank_file_payment"
    RECORD_SUBSIDY = "record_subsidy"
    # Benefits.
    SET_PENSION_PARAMETERS = "set_pension_parameters"
    SUBMIT_CLAIM = "submit_claim"
    MANAGE_AWARD = "manage_award"  # suspend, resume, stop; review back pay
    RUN_PAYROLL = "run_payroll"
    CONFIRM_RECIPIENTS = "confirm_recipients"
    RECORD_YEARLY_CHECK = "record_yearly_check"
    LOAD_DEATH_LIST = "load_death_list"
    RECORD_DEATH = "record_death"
    SETTLE_DEATH = "settle_death"
    RECOVER_OVERPAYMENT = "recover_overpayment"
    REQUEST_TRANSFER = "request_transfer"
    APPROVE_TRANSFER = "approve_transfer"
    # Money movement with the banks and finance.
    MANAGE_BANK_PARTNERS = "manage_bank_partners"  # register banks, issue and revoke their API keys
    ISSUE_BANK_BATCH = "issue_bank_batch"
    MANAGE_FUND_ACCOUNTS = "manage_fund_accounts"  # sweep, funding transfers, finance confirmations
    RECONCILE_FUNDS = "reconcile_funds"
    # District mergers: the city supervisor runs them (over both pooling regions).
    RUN_MERGER = "run_merger"
    # Archives: scans are attached where the paper is signed; the archive room's clerks keep, lend and hand over;
    # only an approver decides that a record whose retention has ended is destroyed.
    # The portal's supervision: time limits, targets, the offices' assessment, fund warnings, the monthly reports.
    SET_TIME_LIMITS = "set_time_limits"
    SET_TARGETS = "set_targets"
    ASSESS_OFFICES = "assess_offices"
    SET_FUND_WARNING = "set_fund_warning"
    PRODUCE_REPORTS = "produce_reports"
    READ_ARCHIVES = "read_archives"
    ATTACH_ARCHIVE_FILE = "attach_archive_file"
    KEEP_ARCHIVES = "keep_archives"
    DECIDE_DESTRUCTION = "decide_destruction"


ALLOWED: dict[Action, frozenset[str]] = {
    Action.SUBMIT_APPLICATION: frozenset({Role.VILLAGE_AGENT, Role.TOWNSHIP_CLERK, Role.COUNTY_CLERK}),
    Action.TOWNSHIP_REVIEW: frozenset({Role.TOWNSHIP_CLERK}),
    Action.COUNTY_APPROVE: frozenset({Role.COUNTY_APPROVER}),
    Action.LOAD_EMPLOYEE_REGISTER: frozenset({Role.COUNTY_CLERK, Role.COUNTY_APPROVER}),
    Action.RECORD_SPECIAL_GROUP: frozenset({Role.TOWNSHIP_CLERK, Role.COUNTY_CLERK}),
    Action.SET_CONTRIBUTION_POLICY: frozenset({Role.CITY_SUPERVISOR, Role.ADMINISTRATOR}),
    Action.RECORD_TIER_CHOICE: frozenset({Role.VILLAGE_AGENT, Role.TOWNSHIP_CLERK, Role.COUNTY_CLERK}),
    Action.RECORD_COUNTER_PAYMENT: frozenset({Role.TOWNSHIP_CLERK, Role.COUNTY_CLERK}),
    Action.POST_BANK_FILE_PAYMENT: frozenset({Role.COUNTY_FUND_OFFICER}),
    Action.RECORD_SUBSIDY: frozenset({Role.TOWNSHIP_CLERK, Role.COUNTY_CLERK}),
    Action.SET_PENSION_PARAMETERS: frozenset({Role.CITY_SUPERVISOR, Role.ADMINISTRATOR}),
    Action.SUBMIT_CLAIM: frozenset({Role.VILLAGE_AGENT, Role.TOWNSHIP_CLERK, Role.COUNTY_CLERK}),
    Action.MANAGE_AWARD: frozenset({Role.COUNTY_APPROVER}),
    Action.RUN_PAYROLL: frozenset({Role.COUNTY_FUND_OFFICER}),
    Action.CONFIRM_RECIPIENTS: frozenset({Role.VILLAGE_AGENT, Role.TOWNSHIP_CLERK}),
    Action.RECORD_YEARLY_CHECK: frozenset({Role.VILLAGE_AGENT, Role.TOWNSHIP_CLERK, Role.COUNTY_CLERK}),
    Action.LOAD_DEATH_LIST: frozenset({Role.COUNTY_CLERK, Role.COUNTY_APPROVER}),
    Action.RECORD_DEATH: frozenset({Role.TOWNSHIP_CLERK, Role.COUNTY_CLERK}),
    Action.SETTLE_DEATH: frozenset({Role.COUNTY_APPROVER}),
    Action.RECOVER_OVERPAYMENT: frozenset({Role.COUNTY_CLERK, Role.COUNTY_FUND_OFFICER}),
    Action.REQUEST_TRANSFER: frozenset({Role.TOWNSHIP_CLERK, Role.COUNTY_CLERK}),
    Action.APPROVE_TRANSFER: frozenset({Role.COUNTY_APPROVER}),
    Action.MANAGE_BANK_PARTNERS: frozenset({Role.ADMINISTRATOR}),
    Action.ISSUE_BANK_BATCH: frozenset({Role.COUNTY_FUND_OFFICER}),
    Action.MANAGE_FUND_ACCOUNTS: frozenset({Role.COUNTY_FUND_OFFICER}),
    Action.RECONCILE_FUNDS: frozenset({Role.COUNTY_FUND_OFFICER}),
    Action.RUN_MERGER: frozenset({Role.CITY_SUPERVISOR}),
    Action.SET_TIME_LIMITS: frozenset({Role.CITY_SUPERVISOR, Role.ADMINISTRATOR}),
    Action.SET_TARGETS: frozenset({Role.CITY_SUPERVISOR, Role.COUNTY_APPROVER}),
    Action.ASSESS_OFFICES: frozenset({Role.CITY_SUPERVISOR, Role.COUNTY_APPROVER}),
    Action.SET_FUND_WARNING: frozenset({Role.CITY_SUPERVISOR}),
    Action.PRODUCE_REPORTS: frozenset({Role.COUNTY_CLERK, Role.COUNTY_FUND_OFFICER, Role.CITY_SUPERVISOR}),
    Action.READ_ARCHIVES: frozenset(
        {Role.VILLAGE_AGENT, Role.TOWNSHIP_CLERK, Role.COUNTY_CLERK, Role.COUNTY_APPROVER, Role.CITY_SUPERVISOR}
    ),
    Action.ATTACH_ARCHIVE_FILE: frozenset({Role.VILLAGE_AGENT, Role.TOWNSHIP_CLERK, Role.COUNTY_CLERK}),
    Action.KEEP_ARCHIVES: frozenset({Role.TOWNSHIP_CLERK, Role.COUNTY_CLERK}),
    Action.DECIDE_DESTRUCTION: frozenset({Role.COUNTY_APPROVER}),
}


def can(user, action: Action) -> bool:
    if user is None or not user.is_authenticated:
        return False
    return user.role in ALLOWED[action]


def require(actor, action: Action) -> None:
    """Refuse (403) a service call by a role that may not do this."""
    if not can(actor, action):
        raise NotPermitted()
