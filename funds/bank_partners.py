"""Partner banks and their API credentials: registered by an administrator, keys shown once, stored hashed,
rotatable and revocable, every use logged (``CredentialUse``)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from agencies.errors import Conflict, DomainError
from agencies.models import PoolingRegion
from agencies.permissions import Action, require
from funds.models import BankCredential, BankPartner, FileEncoding

KEY_SEPARATOR = "."


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def partner_register(
    *, actor, code: str, name: str, pooling_regions: list[PoolingRegion], encoding: str = FileEncoding.UTF8
) -> BankPartner:
    require(actor, Action.MANAGE_BANK_PARTNERS)
    code = "".join(str(code or "").split())
    if not code or len(code) > 10 or not code.isalnum():
        raise DomainError("银行代码为1至10位字母或数字。", code="invalid", field="code")
    if not str(name or "").strip():
        raise DomainError("请填写银行名称。", code="required", field="name")
    if encoding not in FileEncoding.values:
        raise DomainError("文件编码只能是UTF-8或GBK。", code="invalid", field="encoding")
    if BankPartner.objects.filter(code=code).exists():
        raise Conflict(f"银行代码 {code} 已登记。", code="duplicate")
    with transaction.atomic():
        partner = BankPartner(code=code, name=name.strip(), encoding=encoding)
        partner._history_user = actor
        partner.save()
        partner.pooling_regions.set(pooling_regions)
    return partner


def partner_update(
    *, actor, partner: BankPartner, name: str, pooling_regions: list[PoolingRegion], encoding: str, active: bool
) -> BankPartner:
    require(actor, Action.MANAGE_BANK_PARTNERS)
    if encoding not in FileEncoding.values:
        raise DomainError("文件编码只能是UTF-8或GBK。", code="invalid", field="encoding")
    with transaction.atomic():
        partner.name = name.strip() or partner.name
        partner.encoding = encoding
        partner.active = active
        partner._history_user = actor
        partner.save()
        partner.pooling_regions.set(pooling_regions)
    return partner


@dataclass(frozen=True)
class IssuedKey:
    credential: BankCredential
    key: str  # shown once; only its hash is kept


def credential_issue(*, actor, partner: BankPartner, label: str = "") -> IssuedKey:
    require(actor, Action.MANAGE_BANK_PARTNERS)
    if not partner.active:
        raise Conflict(f"{partner.name}已停止合作，不能签发密钥。", code="inactive_partner")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    credential = BankCredential.objects.create(
        partner=partner, prefix=prefix, secret_sha256=_sha256(secret), label=label[:100], created_by=actor
    )
    return IssuedKey(credential, f"{prefix}{KEY_SEPARATOR}{secret}")


def credential_revoke(*, actor, credential: BankCredential) -> BankCredential:
    require(actor, Action.MANAGE_BANK_PARTNERS)
    if credential.revoked_at is None:
        credential.revoked_at = timezone.now()
        credential.revoked_by = actor
        credential.save(update_fields=["revoked_at", "revoked_by"])
    return credential


def credential_rotate(
    *, actor, credential: BankCredential, overlap: dt.timedelta = dt.timedelta(hours=24)
) -> IssuedKey:
    """A new key for the same bank; the old one keeps working for ``overlap`` so the bank can switch without a gap."""
    require(actor, Action.MANAGE_BANK_PARTNERS)
    if credential.revoked_at is not None:
        raise Conflict("该密钥已吊销，请直接签发新密钥。", code="revoked")
    with transaction.atomic():
        issued = credential_issue(actor=actor, partner=credential.partner, label=credential.label)
        expires = timezone.now() + overlap
        if credential.expires_at is None or credential.expires_at > expires:
            credential.expires_at = expires
            credential.save(update_fields=["expires_at"])
    return issued


def credential_for_key(key: str) -> BankCredential | None:
    """The live credential a presented key belongs to, or None. Compares hashes in constant time."""
    prefix, separator, secret = (key or "").strip().partition(KEY_SEPARATOR)
    if not separator or not prefix or not secret:
        return None
    credential = BankCredential.objects.select_related("partner").filter(prefix=prefix).first()
    if credential is None or not hmac.compare_digest(credential.secret_sha256, _sha256(secret)):
        return None
    now = timezone.now()
    if credential.revoked_at is not None or (credential.expires_at is not None and credential.expires_at <= now):
        return None
    if not credential.partner.active:
        return None
    return credential
