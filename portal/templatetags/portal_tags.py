"""Small template helpers for the browser side: the role table and masking, so templates never repeat them."""

from django import template

from agencies.permissions import Action, can
from enrollment import idnumber
from enrollment.api.serializers import mask_bank_account

register = template.Library()


@register.filter(name="can")
def can_filter(user, action: str) -> bool:
    """``{% if user|can:"county_approve" %}``: reads the one permission table in agencies.permissions."""
    return can(user, Action(action))


@register.filter
def masked(number: str | None) -> str:
    """Identity numbers in lists: area and check kept, birth date and sequence hidden."""
    return idnumber.mask(number or "")


@register.filter
def masked_account(account: str | None) -> str:
    """Bank accounts in lists and exports: only the last four digits, through the project's one bank-account
    mask (the one the API's lists use), so every page hides the same digits."""
    return mask_bank_account(account or "")


@register.filter
def lookup(mapping: dict, key):
    """``{{ labels|lookup:code }}``: the label for a stored code, or the code itself if it has none."""
    return mapping.get(key, key)
