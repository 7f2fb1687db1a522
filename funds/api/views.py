"""Individual accounts over HTTP, addressed by the insurance number (保险编号) printed on every card and form.
A person outside the caller's scope answers 404, like one that does not exist."""

import logging
from dataclasses import dataclass

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from enrollment import idnumber
from enrollment.models import InsuredPerson
from funds import selectors
from funds.api import serializers as s
from funds.models import IndividualAccount, LedgerEntry

audit = logging.getLogger("portal.audit")

INSURANCE_NO = OpenApiParameter("insurance_no", str, OpenApiParameter.PATH, description="保险编号（不是参保人的 id）")


def _year(request: Request) -> int | None:
    serializer = s.YearQuerySerializer(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data["year"]


class _ByInsuranceNumber:
    # Read by the scope-matrix test: these routes are guarded by the person's scope and carry its insurance number.
    scope_model = InsuredPerson
    scope_lookup_field = "insurance_number"

    def account(self) -> IndividualAccount:
        return selectors.account_for_insurance_number(
            user=self.request.user, insurance_number=self.kwargs["insurance_no"]
        )


@dataclass(frozen=True)
class _AccountView:
    account: IndividualAccount
    summary: selectors.AccountSummary

    @property
    def id_number_masked(self) -> str:
        return idnumber.mask(self.account.person.id_number)

    @property
    def village_full_name(self) -> str:
        return self.account.person.village.full_name()

    @property
    def opened(self) -> bool:
        return self.account.pk is not None

    @property
    def pooling_region(self) -> str | None:
        return self.account.pooling_region.code if self.opened else None

    @property
    def pooling_region_name(self) -> str | None:
        return self.account.pooling_region.name if self.opened else None


@extend_schema(tags=["accounts"], parameters=[INSURANCE_NO])
class AccountView(_ByInsuranceNumber, APIView):
    """个人账户: balance by component (of one year with ``?year=``), movements by kind, interest by year."""

    @extend_schema(parameters=[s.YearQuerySerializer], responses=s.AccountSerializer)
    def get(self, request: Request, insurance_no: str) -> Response:
        account = self.account()
        year = _year(request)
        audit.info("account_read user=%s person=%s year=%s", request.user.pk, account.person.pk, year or "all")
        summary = selectors.account_summary(account=account, year=year)
        return Response(s.AccountSerializer(_AccountView(account, summary)).data)


@extend_schema(tags=["accounts"], parameters=[INSURANCE_NO])
class AccountEntriesView(_ByInsuranceNumber, ListAPIView):
    """个人账户明细: every entry, oldest first, with ``?year=`` for one year (by booking date)."""

    serializer_class = s.LedgerEntrySerializer
    filter_backends: list = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no person to look up
            return LedgerEntry.objects.none()
        account = self.account()
        year = _year(self.request)
        audit.info("account_entries_read user=%s person=%s year=%s", self.request.user.pk, account.person.pk, year)
        return selectors.account_entries(user=self.request.user, account=account, year=year)

    @extend_schema(parameters=[s.YearQuerySerializer])
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)
