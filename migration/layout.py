"""The merger data package's layout (``shared/specs/merger-package.md``), in one place for the writer, the
reader, the checks and the import."""

from enrollment.models import SpecialGroup

FORMAT = "merger-package/1"
MANIFEST = "manifest.json"

PERSONS = "persons.csv"
ACCOUNTS = "accounts.csv"
CONTRIBUTIONS = "contributions.csv"
RECIPIENTS = "recipients.csv"
TIER_CHOICES = "tier_choices.csv"

COLUMNS: dict[str, tuple[str, ...]] = {
    PERSONS: (
        "insurance_no",
        "id_number",
        "name",
        "gender",
        "birth_date",
        "hukou_type",
        "region_code",
        "address",
        "phone",
        "bank_code",
        "bank_account",
        "status",
        "enrolled_on",
        "special_groups",
        "military_years",
    ),
    ACCOUNTS: (
        "insurance_no",
        "personal",
        "gov_subsidy",
        "collective",
        "other_subsidy",
        "interest",
        "pooled",
        "balance",
        "last_interest_date",
    ),
    CONTRIBUTIONS: (
        "insurance_no",
        "year",
        "tier",
        "personal",
        "gov_subsidy",
        "collective",
        "other_subsidy",
        "paid_on",
        "channel",
    ),
    RECIPIENTS: (
        "insurance_no",
        "category",
        "start_month",
        "basic_pension",
        "account_pension",
        "monthly_total",
        "bank_code",
        "bank_account",
        "last_paid_month",
    ),
    TIER_CHOICES: ("insurance_no", "year", "tier"),
}
REQUIRED_FILES = (PERSONS, ACCOUNTS, CONTRIBUTIONS, RECIPIENTS)
OPTIONAL_FILES = (TIER_CHOICES,)
DATA_FILES = REQUIRED_FILES + OPTIONAL_FILES

ENCODINGS = ("utf-8", "gbk")

GENDERS = {"1": "M", "2": "F"}  # package → InsuredPerson.sex
HUKOU_TYPES = ("rural", "urban")
PERSON_STATUSES = ("contributing", "suspended", "receiving", "cancelled", "deceased")
CHANNELS = ("bank_deduction", "bank_counter", "government_paid", "back_payment")
RECIPIENT_CATEGORIES = {  # package → benefits.AwardCategory
    "monthly_pension": "monthly",
    "basic_pension_only": "basic_only",
    "urban_elderly_allowance": "urban_elderly",
}
SPECIAL_GROUPS = {  # package → enrollment.SpecialGroup
    "dibao": SpecialGroup.SUBSISTENCE,
    "tekun": SpecialGroup.EXTREME_POVERTY,
    "severe_disability": SpecialGroup.SEVERE_DISABILITY,
    "family_planning": SpecialGroup.FAMILY_PLANNING,
    "land_expropriated": SpecialGroup.LAND_EXPROPRIATED,
}

# The manifest's totals, each an exact sum over the files.
TOTALS = (
    "persons",
    "recipients",
    "account_balance",
    "pooled_account_balance",
    "contributions_personal",
    "contributions_subsidy",
)
