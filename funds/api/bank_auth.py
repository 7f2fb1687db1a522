"""How a partner bank, as a machine client, is recognised: an API key of its own in the ``Authorization``
header (``Authorization: Api-Key <prefix>.<secret>``), checked against the stored hash; a throttle per key;
and every call logged with its answer's status (``CredentialUse``).

Only the bank views use these classes: a bank key opens nothing of the staff API, and a staff session
opens nothing of the bank API.
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from funds.bank_partners import credential_for_key
from funds.models import BankCredential, BankPartner, CredentialUse

KEYWORD = "Api-Key"


class BankClient:
    """The request's user for a bank call: the partner, authenticated, and nothing of a staff user."""

    is_authenticated = True
    is_active = True
    is_superuser = False
    is_staff = False
    agency = None

    def __init__(self, partner: BankPartner):
        self.partner = partner

    def __str__(self) -> str:
        return f"bank:{self.partner.code}"


class BankKeyAuthentication(BaseAuthentication):
    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].decode(errors="replace").lower() != KEYWORD.lower():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Authorization 头格式应为：Api-Key <密钥>。")
        credential = credential_for_key(parts[1].decode(errors="replace"))
        if credential is None:
            raise exceptions.AuthenticationFailed("接口密钥无效、已过期或已吊销。")
        BankCredential.objects.filter(pk=credential.pk).update(last_used_at=timezone.now())
        return BankClient(credential.partner), credential

    def authenticate_header(self, request) -> str:
        return KEYWORD


class IsBank(BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, BankClient) and isinstance(request.auth, BankCredential)


class BankKeyThrottle(SimpleRateThrottle):
    """Requests per key (the rate is ``REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']['bank']``)."""

    scope = "bank"

    def get_cache_key(self, request, view):
        if not isinstance(request.auth, BankCredential):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.prefix}


class BankAPIView(APIView):
    """The base of every bank endpoint: bank key only, throttled per key, every call logged."""

    authentication_classes = [BankKeyAuthentication]
    permission_classes = [IsBank]
    throttle_classes = [BankKeyThrottle]

    def partner(self) -> BankPartner:
        return self.request.user.partner

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        credential = getattr(request, "auth", None)
        if isinstance(credential, BankCredential):
            CredentialUse.objects.create(
                credential=credential,
                method=request.method[:10],
                path=request.get_full_path()[:200],
                status_code=response.status_code,
                remote_addr=(request.META.get("REMOTE_ADDR") or "")[:45],
            )
        return response


class BankKeyScheme(OpenApiAuthenticationExtension):
    target_class = "funds.api.bank_auth.BankKeyAuthentication"
    name = "bankApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "Api-Key <密钥编号>.<密钥>，由经办机构管理员签发给合作银行。",
        }


__all__ = ["BankAPIView", "BankClient", "BankKeyAuthentication", "BankKeyThrottle", "IsBank"]
