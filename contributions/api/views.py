"""Contributions over HTTP. Each view validates its input, fetches through the scope (a record outside it
answers 404 whatever the method), calls one service or selector and shapes the answer. Refusals raised by
the services become 4xx in ``portal.api_errors``.

Policies and interest rates have no region code of their own: they are scoped through their pooling region
(``agencies.scope.visible_pooling_region_ids``), the others by their region code.
"""

import logging

from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agencies.api.validation import query_params, request_body
from agencies.errors import DomainError
from agencies.models import PoolingRegion, Region
from agencies.scope import scoped
from contributions import selectors, services
from contributions.api import serializers as s
from contributions.models import (
    Channel,
    CollectiveSubsidy,
    Contribution,
    ContributionPolicy,
    Donation,
    InterestRate,
    TierChoice,
)
from enrollment.models import InsuredPerson, PersonStatus

audit = logging.getLogger("portal.audit")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _pooling_region(request: Request, code: str) -> PoolingRegion:
    found = selectors.pooling_region_get(user=request.user, code=code)
    if found is None:
        raise DomainError("找不到该统筹区，或它不在您的管辖范围内。", code="not_found", field="pooling_region")
    return found


def _person(request: Request, pk: int) -> InsuredPerson:
    persons = scoped(InsuredPerson.objects.select_related("village"), request.user).exclude(status=PersonStatus.VOID)
    found = persons.filter(pk=pk).first()
    if found is None:
        raise DomainError("找不到该参保人，或其不在您的管辖范围内。", code="not_found", field="person")
    return found


def _village(request: Request, code: str) -> Region:
    found = scoped(Region.objects.all(), request.user).filter(code=(code or "").strip()).first()
    if found is None:
        raise DomainError("找不到该村（社区），或它不在您的管辖范围内。", code="not_found", field="village")
    return found


class _Base(viewsets.GenericViewSet):
    lookup_value_converter = "int"
    filter_backends: list = []


# --- policy ------------------------------------------------------------------------------------------------


@extend_schema(tags=["contribution-policy"])
class PolicyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, _Base):
    """缴费政策 of the pooling regions the caller's jurisdiction touches; set by a city supervisor."""

    scope_model = ContributionPolicy  # read by the scope-matrix test
    serializer_class = s.PolicySerializer

    def get_queryset(self) -> QuerySet[ContributionPolicy]:
        policies = selectors.policy_queryset(user=self.request.user)
        if self.action == "list":
            params = query_params(s.PolicyQuerySerializer, self.request)
            if params.get("pooling_region"):
                policies = policies.filter(pooling_region__code=params["pooling_region"])
            if params.get("on"):
                on = params["on"]
                policies = policies.filter(valid_from__lte=on).exclude(valid_to__lt=on)
        return policies

    def get_object(self) -> ContributionPolicy:
        return selectors.policy_get(user=self.request.user, pk=self.kwargs["pk"])

    @extend_schema(parameters=[s.PolicyQuerySerializer])
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=s.PolicyInputSerializer, responses={201: s.PolicySerializer})
    def create(self, request: Request, *args, **kwargs) -> Response:
        data = request_body(s.PolicyInputSerializer, request)
        policy = services.policy_create(
            actor=request.user,
            pooling_region=_pooling_region(request, data["pooling_region"]),
            valid_from=data["valid_from"],
            valid_to=data["valid_to"],
            tiers=[(t["amount"], t["government_subsidy"]) for t in data["tiers"]],
            hardship_shares=data["hardship_shares"],
            window=(
                data["window_start_month"],
                data["window_start_day"],
                data["window_end_month"],
                data["window_end_day"],
            ),
            allow_outside_window=data["allow_outside_window"],
            back_payment_max_years=data["back_payment_max_years"],
            shares=(data["province_share"], data["city_share"], data["county_share"]),
        )
        policy = selectors.policy_get(user=request.user, pk=policy.pk)
        return Response(s.PolicySerializer(policy).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["contribution-policy"])
class InterestRateViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, _Base):
    """记账利率 per pooling region and year. POST sets (or corrects, until the year is settled) a year's rate."""

    scope_model = InterestRate
    serializer_class = s.InterestRateSerializer

    def get_queryset(self) -> QuerySet[InterestRate]:
        rates = selectors.interest_rate_queryset(user=self.request.user)
        if self.action == "list":
            params = query_params(s.PolicyQuerySerializer, self.request)
            if params.get("pooling_region"):
                rates = rates.filter(pooling_region__code=params["pooling_region"])
        return rates

    def get_object(self) -> InterestRate:
        return selectors.interest_rate_get(user=self.request.user, pk=self.kwargs["pk"])

    @extend_schema(parameters=[s.PolicyQuerySerializer])
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=s.InterestRateInputSerializer, responses={201: s.InterestRateSerializer})
    def create(self, request: Request, *args, **kwargs) -> Response:
        data = request_body(s.InterestRateInputSerializer, request)
        rate = services.interest_rate_set(
            actor=request.user,
            pooling_region=_pooling_region(request, data["pooling_region"]),
            year=data["year"],
            rate=data["rate"],
            rounding=data["rounding"],
        )
        rate = selectors.interest_rate_get(user=request.user, pk=rate.pk)
        return Response(s.InterestRateSerializer(rate).data, status=status.HTTP_201_CREATED)


# --- tier choices ------------------------------------------------------------------------------------------


@extend_schema(tags=["tier-choices"])
class TierChoiceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, _Base):
    """缴费档次选择: one by one, or a village at a time through the .xlsx template."""

    scope_model = TierChoice
    serializer_class = s.TierChoiceSerializer
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def get_queryset(self) -> QuerySet[TierChoice]:
        choices = selectors.tier_choice_queryset(user=self.request.user).order_by("-year", "region_code", "id")
        if self.action == "list":
            params = query_params(s.YearQuerySerializer, self.request)
            for field in ("year", "person"):
                if params.get(field):
                    choices = choices.filter(**{field: params[field]})
        return choices

    def get_object(self) -> TierChoice:
        return selectors.tier_choice_get(user=self.request.user, pk=self.kwargs["pk"])

    @extend_schema(parameters=[s.YearQuerySerializer])
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=s.TierChoiceInputSerializer, responses={201: s.TierChoiceSerializer})
    def create(self, request: Request, *args, **kwargs) -> Response:
        data = request_body(s.TierChoiceInputSerializer, request)
        choice = services.tier_choice_record(
            actor=request.user, person=_person(request, data["person"]), year=data["year"], amount=data["amount"]
        )
        choice = selectors.tier_choice_get(user=request.user, pk=choice.pk)
        return Response(s.TierChoiceSerializer(choice).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[s.TemplateQuerySerializer],
        responses={(200, XLSX): OpenApiTypes.BINARY, 400: OpenApiResponse(description="参数有误")},
    )
    @action(detail=False, methods=["get"])
    def template(self, request: Request) -> HttpResponse:
        """The village's active persons with their current choice and a drop-down of the year's tiers (.xlsx)."""
        params = query_params(s.TemplateQuerySerializer, request)
        village = _village(request, params["village"])
        content = services.tier_choices_template(actor=request.user, year=params["year"], village=village)
        # The sheet carries full identity numbers (the import matches on them): who downloaded it is recorded.
        audit.info("tier_template_download user=%s village=%s year=%s", request.user.pk, village.code, params["year"])
        response = HttpResponse(content, content_type=XLSX)
        response["Content-Disposition"] = f'attachment; filename="tiers-{village.code}-{params["year"]}.xlsx"'
        return response

    @extend_schema(
        request={"multipart/form-data": s.TierImportInputSerializer},
        responses={201: s.TierImportResultSerializer, 400: s.TierImportResultSerializer},
    )
    @action(detail=False, methods=["post"], url_path="import", parser_classes=[MultiPartParser, FormParser])
    def import_file(self, request: Request) -> Response:
        """A filled template: all rows saved, or none (400 with every row's problem)."""
        data = request_body(s.TierImportInputSerializer, request)
        upload = data["file"]
        result = services.tier_choices_import(
            actor=request.user, year=data["year"], file_name=upload.name, content=upload.read()
        )
        body = s.TierImportResultSerializer(
            {**result.__dict__, "ok": result.ok, "errors": [e.__dict__ for e in result.errors]}
        ).data
        return Response(body, status=status.HTTP_201_CREATED if result.ok else status.HTTP_400_BAD_REQUEST)


# --- contributions -----------------------------------------------------------------------------------------


@extend_schema(tags=["contributions"])
class ContributionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, _Base):
    """缴费记录. POST records a bank-counter payment from the bank's receipt (township or county clerk)."""

    scope_model = Contribution
    serializer_class = s.ContributionSerializer

    def get_queryset(self) -> QuerySet[Contribution]:
        contributions = selectors.contribution_queryset(user=self.request.user)
        if self.action == "list":
            params = query_params(s.ContributionQuerySerializer, self.request)
            for field in ("year", "person", "kind"):
                if params.get(field):
                    contributions = contributions.filter(**{field: params[field]})
        return contributions

    def get_object(self) -> Contribution:
        return selectors.contribution_get(user=self.request.user, pk=self.kwargs["pk"])

    @extend_schema(parameters=[s.ContributionQuerySerializer])
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=s.ContributionInputSerializer, responses={201: s.ContributionSerializer})
    def create(self, request: Request, *args, **kwargs) -> Response:
        data = request_body(s.ContributionInputSerializer, request)
        contribution = services.contribution_post(
            actor=request.user,
            person=_person(request, data["person"]),
            year=data["year"],
            amount=data["amount"],
            paid_on=data["paid_on"],
            channel=Channel.COUNTER,
            bank_code=data["bank_code"],
            bank_reference=data["bank_reference"],
            kind=data["kind"],
        )
        contribution = selectors.contribution_get(user=request.user, pk=contribution.pk)
        return Response(s.ContributionSerializer(contribution).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["contributions"])
class CollectiveSubsidyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, _Base):
    """集体补助 per village and year. POSTing the same again credits those who paid since."""

    scope_model = CollectiveSubsidy
    serializer_class = s.CollectiveSubsidySerializer

    def get_queryset(self) -> QuerySet[CollectiveSubsidy]:
        subsidies = selectors.collective_subsidy_queryset(user=self.request.user)
        if self.action == "list":
            params = query_params(s.YearQuerySerializer, self.request)
            if params.get("year"):
                subsidies = subsidies.filter(year=params["year"])
        return subsidies

    def get_object(self) -> CollectiveSubsidy:
        return selectors.collective_subsidy_get(user=self.request.user, pk=self.kwargs["pk"])

    @extend_schema(parameters=[s.YearQuerySerializer])
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=s.CollectiveSubsidyInputSerializer, responses={201: s.CollectiveSubsidySerializer})
    def create(self, request: Request, *args, **kwargs) -> Response:
        data = request_body(s.CollectiveSubsidyInputSerializer, request)
        subsidy = services.collective_subsidy_record(
            actor=request.user,
            village=_village(request, data["village"]),
            year=data["year"],
            amount_per_person=data["amount_per_person"],
            decision=data["decision"],
        )
        subsidy = selectors.collective_subsidy_get(user=request.user, pk=subsidy.pk)
        return Response(s.CollectiveSubsidySerializer(subsidy).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["contributions"])
class DonationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, _Base):
    """社会资助 to one person for a year."""

    scope_model = Donation
    serializer_class = s.DonationSerializer

    def get_queryset(self) -> QuerySet[Donation]:
        donations = selectors.donation_queryset(user=self.request.user)
        if self.action == "list":
            params = query_params(s.YearQuerySerializer, self.request)
            for field in ("year", "person"):
                if params.get(field):
                    donations = donations.filter(**{field: params[field]})
        return donations

    def get_object(self) -> Donation:
        return selectors.donation_get(user=self.request.user, pk=self.kwargs["pk"])

    @extend_schema(parameters=[s.YearQuerySerializer])
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=s.DonationInputSerializer, responses={201: s.DonationSerializer})
    def create(self, request: Request, *args, **kwargs) -> Response:
        data = request_body(s.DonationInputSerializer, request)
        donation = services.donation_record(
            actor=request.user,
            person=_person(request, data["person"]),
            year=data["year"],
            donor=data["donor"],
            amount=data["amount"],
            received_on=data["received_on"],
        )
        donation = selectors.donation_get(user=request.user, pk=donation.pk)
        return Response(s.DonationSerializer(donation).data, status=status.HTTP_201_CREATED)


# --- renewal -----------------------------------------------------------------------------------------------


@extend_schema(tags=["renewal"])
class RenewalListView(APIView):
    """续保名单: who paid last year and not yet this year, in the caller's jurisdiction."""

    @extend_schema(parameters=[s.RenewalQuerySerializer], responses=s.RenewalPersonSerializer(many=True))
    def get(self, request: Request) -> Response:
        params = query_params(s.RenewalQuerySerializer, request)
        village = _village(request, params["village"]) if params["village"] else None
        persons = selectors.renewal_list(
            user=request.user, year=params["year"], village=village, age_band=params["age_band"] or None
        )
        paginator = self._paginator()
        page = paginator.paginate_queryset(persons, request, view=self)
        return paginator.get_paginated_response(s.RenewalPersonSerializer(page, many=True).data)

    @staticmethod
    def _paginator():
        from rest_framework.settings import api_settings

        return api_settings.DEFAULT_PAGINATION_CLASS()


@extend_schema(tags=["renewal"])
class RenewalRatesView(APIView):
    """续保率 per village and age band (16–44 target 70%, 45–59 target 100%)."""

    @extend_schema(parameters=[s.RatesQuerySerializer], responses=s.RenewalRateSerializer(many=True))
    def get(self, request: Request) -> Response:
        params = query_params(s.RatesQuerySerializer, request)
        rates = selectors.renewal_rates(user=request.user, year=params["year"])
        rows = [{**rate.__dict__, "met": rate.met} for rate in rates]
        return Response(s.RenewalRateSerializer(rows, many=True).data)
