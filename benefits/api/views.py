"""Benefits over HTTP. Each view validates its input, fetches through ``benefits.selectors`` (a record outside
the caller's scope answers 404 whatever the method), calls one service and shapes the answer. Refusals raised
by the services become 4xx in ``portal.api_errors``.

Parameters and payroll runs belong to a pooling region: parameters are seen by anyone whose jurisdiction
touches the region, a payroll run only by those whose jurisdiction holds the whole of it. A transfer is seen
by both sides.
"""

import logging

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agencies.api.validation import query_params, request_body
from agencies.errors import Conflict, DomainError, NotPermitted
from agencies.models import PoolingRegion, Region, Role
from agencies.permissions import Action, can
from agencies.scope import covered_pooling_regions, scoped
from benefits import calc, payroll, selectors, services, tasks
from benefits.api import serializers as s
from benefits.models import (
    Arrear,
    Award,
    Claim,
    DeathListLoad,
    Overpayment,
    PayrollRun,
    PayrollStatus,
    PensionParameters,
    Transfer,
)
from enrollment import selectors as enrollment_selectors
from enrollment.models import InsuredPerson

# Reading a full record (identity number, bank account) is itself recorded: who read whose record.
audit = logging.getLogger("portal.audit")

UPLOAD_PARSERS = [MultiPartParser, FormParser, JSONParser]


def _person(request: Request, data: dict) -> InsuredPerson:
    """The person named by id or insurance number, through the scope: a stranger is "not found"."""
    persons = enrollment_selectors.person_queryset(user=request.user)
    if data.get("person"):
        found, field = persons.filter(pk=data["person"]).first(), "person"
    else:
        found, field = persons.filter(insurance_number=data["insurance_number"].strip()).first(), "insurance_number"
    if found is None:
        raise DomainError("找不到该参保人，或其不在您的管辖范围内。", code="not_found", field=field)
    return found


def _covered_pooling_region(request: Request, code: str) -> PoolingRegion:
    """A pooling region the caller's jurisdiction holds whole (its parameters and payroll are the region's)."""
    code = (code or "").strip()
    for region in covered_pooling_regions(user=request.user):
        if region.code == code:
            return region
    raise DomainError("找不到该统筹区，或它不全在您的管辖范围内。", code="not_found", field="pooling_region")


def _village(request: Request, code: str) -> Region:
    found = scoped(Region.objects.all(), request.user).filter(code=(code or "").strip()).first()
    if found is None:
        raise DomainError("找不到该村（社区），或它不在您的管辖范围内。", code="not_found", field="to_village")
    return found


class _Base(viewsets.GenericViewSet):
    lookup_value_converter = "int"
    filter_backends: list = []
    # Serializers by action; "default" for the rest.
    serializers: dict = {}

    def get_serializer_class(self):
        return self.serializers.get(self.action, self.serializers["default"])


# --- parameters ------------------------------------------------------------------------------------------------


@extend_schema(tags=["benefit-parameters"])
class PensionParametersViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, _Base):
    """待遇计发参数 of the pooling regions the caller's jurisdiction touches. A city supervisor enters a new set
    from a month on; every award of the region is recalculated from that month, back pay listed for review."""

    scope_model = PensionParameters  # read by the scope-matrix test
    serializers = {"default": s.PensionParametersSerializer, "create": s.PensionParametersInputSerializer}

    def get_queryset(self) -> QuerySet[PensionParameters]:
        rows = selectors.parameters_queryset(user=self.request.user)
        if self.action == "list":
            params = query_params(s.PoolingRegionQuerySerializer, self.request)
            if params.get("pooling_region"):
                rows = rows.filter(pooling_region__code=params["pooling_region"].strip())
        return rows

    def get_object(self) -> PensionParameters:
        return selectors.parameters_get(user=self.request.user, pk=self.kwargs["pk"])

    @extend_schema(parameters=[s.PoolingRegionQuerySerializer])
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=s.PensionParametersInputSerializer, responses={201: s.PensionParametersSetSerializer})
    def create(self, request: Request, *args, **kwargs) -> Response:
        data = dict(request_body(s.PensionParametersInputSerializer, request))
        pooling_region = _covered_pooling_region(request, data.pop("pooling_region"))
        valid_from = data.pop("valid_from")
        note = data.pop("note")
        values = {name: value for name, value in data.items() if value not in (None, "")}
        row, recalculation = services.pension_parameters_set(
            actor=request.user, pooling_region=pooling_region, valid_from=valid_from, values=values, note=note
        )
        row = selectors.parameters_get(user=request.user, pk=row.pk)
        row.recalculation_done = recalculation
        return Response(s.PensionParametersSetSerializer(row).data, status=status.HTTP_201_CREATED)


# --- claims ----------------------------------------------------------------------------------------------------


def _claim_response(request: Request, claim: Claim, code: int = status.HTTP_200_OK) -> Response:
    """The claim as it now stands (re-read through the scope after a service changed it), with its trail."""
    claim = selectors.claim_get(user=request.user, pk=claim.pk)
    claim.event_list = list(claim.events.select_related("actor"))
    claim.award_pk = (
        selectors.award_queryset(user=request.user).filter(claim=claim).values_list("pk", flat=True).first()
    )
    return Response(s.ClaimDetailSerializer(claim).data, status=code)


def _award_response(request: Request, award: Award, code: int = status.HTTP_200_OK) -> Response:
    """The award with its live periods, the periods recalculations replaced, and its trail."""
    award = selectors.award_get(user=request.user, pk=award.pk)
    award.live_period_list = list(selectors.live_periods(award))
    award.replaced_period_list = list(award.periods.filter(replaced_by__isnull=False).order_by("valid_from", "id"))
    award.event_list = list(award.events.select_related("actor"))
    return Response(s.AwardDetailSerializer(award).data, status=code)


@extend_schema(tags=["benefit-claims"])
class ClaimViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, _Base):
    """待遇申请表: the village (or township) enters it, the township reviews, the county approves. Whoever
    entered a claim cannot review or approve it."""

    scope_model = Claim
    serializers = {
        "default": s.ClaimDetailSerializer,
        "list": s.ClaimListSerializer,
        "create": s.ClaimInputSerializer,
    }

    def get_queryset(self) -> QuerySet[Claim]:
        claims = selectors.claim_queryset(user=self.request.user)
        if self.action == "list":
            params = query_params(s.ClaimQuerySerializer, self.request)
            for field in ("status", "category", "person"):
                if params.get(field):
                    claims = claims.filter(**{field: params[field]})
        return claims

    def get_object(self) -> Claim:
        return selectors.claim_get(user=self.request.user, pk=self.kwargs["pk"])

    @extend_schema(parameters=[s.ClaimQuerySerializer])
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        claim = self.get_object()
        audit.info("claim_read user=%s claim=%s", request.user.pk, claim.pk)  # the full bank account
        return _claim_response(request, claim)

    @extend_schema(request=s.ClaimInputSerializer, responses={201: s.ClaimDetailSerializer})
    def create(self, request: Request, *args, **kwargs) -> Response:
        """A claim for a person (by id or insurance number); refused with every missing condition listed."""
        data = request_body(s.ClaimInputSerializer, request)
        claim = services.claim_submit(
            actor=request.user,
            person=_person(request, data),
            category=data["category"],
            bank_code=data["bank_code"],
            bank_account=data["bank_account"],
        )
        return _claim_response(request, claim, status.HTTP_201_CREATED)

    @extend_schema(request=s.ClaimNoteInputSerializer, responses=s.ClaimDetailSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk=None) -> Response:
        """乡镇审核通过, passed to the county."""
        claim = self.get_object()
        data = request_body(s.ClaimNoteInputSerializer, request)
        services.claim_accept(actor=request.user, claim=claim, note=data["note"])
        return _claim_response(request, claim)

    @extend_schema(request=s.ClaimReasonInputSerializer, responses=s.ClaimDetailSerializer)
    @action(detail=True, methods=["post"], url_path="return")
    def send_back(self, request: Request, pk=None) -> Response:
        """退回 to whoever entered it, with the reason."""
        claim = self.get_object()
        data = request_body(s.ClaimReasonInputSerializer, request)
        services.claim_return(actor=request.user, claim=claim, reason=data["reason"])
        return _claim_response(request, claim)

    @extend_schema(request=None, responses={201: s.AwardDetailSerializer})
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk=None) -> Response:
        """县级审批: interest settled up to the start month, the account pension fixed, the award made."""
        claim = self.get_object()
        award = services.claim_approve(actor=request.user, claim=claim)
        return _award_response(request, award, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.ClaimDetailSerializer)
    @action(detail=True, methods=["post"])
    def resubmit(self, request: Request, pk=None) -> Response:
        """A returned claim sent again by whoever entered it (eligibility checked again)."""
        claim = self.get_object()
        services.claim_resubmit(actor=request.user, claim=claim)
        return _claim_response(request, claim)

    @extend_schema(request=s.ClaimReasonInputSerializer, responses=s.ClaimDetailSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk=None) -> Response:
        """撤回 an open claim (by whoever entered it)."""
        claim = self.get_object()
        data = request_body(s.ClaimReasonInputSerializer, request)
        services.claim_withdraw(actor=request.user, claim=claim, reason=data["reason"])
        return _claim_response(request, claim)

    @extend_schema(parameters=[s.EligibilityQuerySerializer], responses=s.EligibilitySerializer)
    @action(detail=False, methods=["get"])
    def eligibility(self, request: Request) -> Response:
        """Whether a person qualifies for a category today (or ``on``), and if not, exactly what is missing."""
        params = query_params(s.EligibilityQuerySerializer, request)
        person = _person(request, params)
        result = services.claim_eligibility(
            person=person, category=params["category"], on=params["on"] or timezone.localdate()
        )
        body = {
            "person": person.pk,
            "category": result.category,
            "eligible": result.eligible,
            "years_paid": result.years_paid,
            "years_required": result.years_required,
            "eligible_from": result.eligible_from,
            "missing": result.missing,
        }
        return Response(s.EligibilitySerializer(body).data)


# --- awards ----------------------------------------------------------------------------------------------------


@extend_schema(tags=["benefit-awards"])
class AwardViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _Base):
    """养老金待遇, made by approving a claim (POST /claims/{id}/approve/): suspended, resumed and stopped by the
    county; confirmed each month by the village agent; checked once a year."""

    scope_model = Award
    serializers = {"default": s.AwardDetailSerializer, "list": s.AwardListSerializer}

    def get_queryset(self) -> QuerySet[Award]:
        awards = selectors.award_queryset(user=self.request.user)
        if self.action == "list":
            params = query_params(s.AwardQuerySerializer, self.request)
            for field in ("status", "category", "person"):
                if params.get(field):
                    awards = awards.filter(**{field: params[field]})
        return awards

    def get_object(self) -> Award:
        return selectors.award_get(user=self.request.user, pk=self.kwargs["pk"])

    @extend_schema(parameters=[s.AwardQuerySerializer])
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        award = self.get_object()
        audit.info("award_read user=%s award=%s", request.user.pk, award.pk)  # the full bank account
        return _award_response(request, award)

    @extend_schema(request=s.AwardStopInputSerializer, responses=s.AwardDetailSerializer)
    @action(detail=True, methods=["post"])
    def suspend(self, request: Request, pk=None) -> Response:
        """暂停发放 from a month until resumed."""
        award = self.get_object()
        data = request_body(s.AwardStopInputSerializer, request)
        services.award_suspend(
            actor=request.user, award=award, from_month=data["from_month"], reason=data["reason"], note=data["note"]
        )
        return _award_response(request, award)

    @extend_schema(request=s.AwardNoteInputSerializer, responses=s.AwardDetailSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk=None) -> Response:
        """恢复发放; the months missed in confirmed payrolls are paid as back pay with the next payroll."""
        award = self.get_object()
        data = request_body(s.AwardNoteInputSerializer, request)
        services.award_resume(actor=request.user, award=award, note=data["note"])
        return _award_response(request, award)

    @extend_schema(request=s.AwardStopInputSerializer, responses=s.AwardDetailSerializer)
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, pk=None) -> Response:
        """终止发放 from a month."""
        award = self.get_object()
        data = request_body(s.AwardStopInputSerializer, request)
        services.award_stop(
            actor=request.user, award=award, from_month=data["from_month"], reason=data["reason"], note=data["note"]
        )
        return _award_response(request, award)

    @extend_schema(request=s.ConfirmationInputSerializer, responses={201: s.ConfirmationSerializer})
    @action(detail=True, methods=["post"])
    def confirmations(self, request: Request, pk=None) -> Response:
        """The month's confirmation by the village agent; a stop report suspends the award from the next month.
        Sending the same confirmation again answers the one recorded."""
        award = self.get_object()
        data = request_body(s.ConfirmationInputSerializer, request)
        confirmation = services.monthly_confirmation_record(
            actor=request.user,
            award=award,
            month=data["month"],
            alive=data["alive"],
            stop_reason=data["stop_reason"],
            note=data["note"],
        )
        return Response(s.ConfirmationSerializer(confirmation).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.YearlyCheckInputSerializer, responses={201: s.YearlyCheckSerializer})
    @action(detail=True, methods=["post"], url_path="yearly-checks")
    def yearly_checks(self, request: Request, pk=None) -> Response:
        """年检: the year's eligibility check and how it was done."""
        award = self.get_object()
        data = request_body(s.YearlyCheckInputSerializer, request)
        check = services.yearly_check_record(actor=request.user, award=award, **data)
        return Response(s.YearlyCheckSerializer(check).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=s.PaymentSerializer(many=True))
    @action(detail=True, methods=["get"])
    def payments(self, request: Request, pk=None) -> Response:
        """What each payroll paid the award, newest month first."""
        award = self.get_object()
        page = self.paginate_queryset(selectors.award_lines(user=request.user, award=award))
        return self.get_paginated_response(s.PaymentSerializer(page, many=True).data)


@extend_schema(tags=["benefit-awards"])
class Turning60View(GenericAPIView):
    """Who turns 60 in a month (next month unless ``?month=``) in the caller's villages: whether they qualify,
    what is missing, and what they would get."""

    serializer_class = s.Turning60Serializer
    filter_backends: list = []

    @extend_schema(parameters=[s.Turning60QuerySerializer], responses=s.Turning60Serializer(many=True))
    def get(self, request: Request) -> Response:
        params = query_params(s.Turning60QuerySerializer, request)
        month = params["month"] or calc.add_months(calc.month_of(timezone.localdate()), 1)
        rows = selectors.turning_60(user=request.user, month=month)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(s.Turning60Serializer(page, many=True).data)


# --- back pay --------------------------------------------------------------------------------------------------


@extend_schema(tags=["benefit-awards"])
class ArrearViewSet(mixins.ListModelMixin, _Base):
    """待遇补发 awaiting review: months already paid at an old amount, found by a recalculation."""

    scope_model = Arrear
    serializers = {"default": s.ArrearSerializer, "approve": s.ArrearApproveInputSerializer}

    def get_queryset(self) -> QuerySet[Arrear]:
        return selectors.arrears_pending(user=self.request.user)

    @extend_schema(request=s.ArrearApproveInputSerializer, responses=s.ArrearApproveResultSerializer)
    @action(detail=False, methods=["post"])
    def approve(self, request: Request) -> Response:
        """The county approves listed back pay; the next payroll pays it. Ids no longer pending (approved
        already, or never listed for the caller) are returned, not refused: approving twice changes nothing."""
        ids = request_body(s.ArrearApproveInputSerializer, request)["ids"]
        pending = list(selectors.arrears_pending(user=request.user).filter(pk__in=ids))
        approved = services.arrears_review(actor=request.user, arrears=pending)
        found = {arrear.pk for arrear in pending}
        body = {"approved": approved, "not_pending": sorted(set(ids) - found)}
        return Response(s.ArrearApproveResultSerializer(body).data)


# --- payroll ---------------------------------------------------------------------------------------------------


def _payroll_confirm(*, actor, run: PayrollRun) -> None:
    """Queue the confirmation (``benefits.tasks.payroll_confirm``) once this request commits. Who may confirm and
    whether the month is still open are answered now, not left to a worker nobody is watching."""
    if not can(actor, Action.RUN_PAYROLL):
        raise NotPermitted()
    payroll.require_covers(actor, run.pooling_region)
    if run.status == PayrollStatus.CONFIRMED:
        raise Conflict(f"{run.pooling_region.name}{run.month:%Y年%m月}的发放已确认。", code="payroll_confirmed")
    run_id, actor_id = run.pk, actor.pk
    # Without a broker the task runs in-process here, and a refusal comes back at once.
    transaction.on_commit(lambda: tasks.payroll_confirm.delay(run_id, actor_id))


def _run_response(request: Request, run: PayrollRun, code: int = status.HTTP_200_OK) -> Response:
    run = selectors.payroll_run_get(user=request.user, pk=run.pk)
    run.category_totals = [
        {"category": category, **totals} for category, totals in sorted(run.totals_by_category.items())
    ]
    run.timetable_dates = payroll.timetable(run)
    return Response(s.PayrollRunDetailSerializer(run).data, status=code)


@extend_schema(tags=["payroll"])
class PayrollRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, _Base):
    """月度发放 of a pooling region: prepared (and prepared again) as a draft, then confirmed and locked. Only
    those whose jurisdiction holds the whole region see its runs."""

    scope_model = PayrollRun
    serializers = {
        "default": s.PayrollRunDetailSerializer,
        "list": s.PayrollRunListSerializer,
        "create": s.PayrollPrepareInputSerializer,
        "lines": s.PayrollLineSerializer,
        "payout": s.PayoutRowSerializer,
    }

    def get_queryset(self) -> QuerySet[PayrollRun]:
        return selectors.payroll_run_queryset(user=self.request.user)

    def get_object(self) -> PayrollRun:
        return selectors.payroll_run_get(user=self.request.user, pk=self.kwargs["pk"])

    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        return _run_response(request, self.get_object())

    @extend_schema(request=s.PayrollPrepareInputSerializer, responses={201: s.PayrollRunDetailSerializer})
    def create(self, request: Request, *args, **kwargs) -> Response:
        """试算: compute (or compute again) the month's draft. Refused once the month is confirmed."""
        data = request_body(s.PayrollPrepareInputSerializer, request)
        run = payroll.payroll_prepare(
            actor=request.user,
            pooling_region=_covered_pooling_region(request, data["pooling_region"]),
            month=data["month"],
        )
        return _run_response(request, run, status.HTTP_201_CREATED)

    @extend_schema(parameters=[s.PayrollLineQuerySerializer], responses=s.PayrollLineSerializer(many=True))
    @action(detail=True, methods=["get"])
    def lines(self, request: Request, pk=None) -> Response:
        """发放明细: the month's pension, back pay and offsets, line by line."""
        run = self.get_object()
        params = query_params(s.PayrollLineQuerySerializer, request)
        lines = selectors.payroll_lines(user=request.user, run=run)
        if params.get("kind"):
            lines = lines.filter(kind=params["kind"])
        page = self.paginate_queryset(lines)
        return self.get_paginated_response(s.PayrollLineSerializer(page, many=True).data)

    @extend_schema(request=None, responses={202: s.PayrollRunDetailSerializer})
    @action(detail=True, methods=["post"])
    def confirm(self, request: Request, pk=None) -> Response:
        """确认: queued after this request commits; the worker fixes back pay and offsets, debits the account
        parts and makes the funding request, and the month is locked. Follow ``status`` and ``progress_done`` on
        the run until it reads "confirmed". A confirmation killed half way is finished by confirming again."""
        run = self.get_object()
        _payroll_confirm(actor=request.user, run=run)
        return _run_response(request, run, status.HTTP_202_ACCEPTED)

    @extend_schema(responses=s.PayoutRowSerializer(many=True))
    @action(detail=True, methods=["get"])
    def payout(self, request: Request, pk=None) -> Response:
        """发放名单: one row per award with the net amount to credit. Bank accounts in full for the county fund
        officer (who sends them to the bank), masked for everyone else."""
        run = self.get_object()
        page = self.paginate_queryset(selectors.payout_list(user=request.user, run=run))
        persons = {
            person["pk"]: person
            for person in enrollment_selectors.person_queryset(user=request.user)
            .filter(pk__in=[row["person_id"] for row in page])
            .values("pk", "name", "insurance_number")
        }
        in_full = request.user.role == Role.COUNTY_FUND_OFFICER
        if in_full:
            audit.info("payout_read user=%s run=%s", request.user.pk, run.pk)
        rows = [
            {
                **row,
                "person_name": persons.get(row["person_id"], {}).get("name", ""),
                "insurance_number": persons.get(row["person_id"], {}).get("insurance_number"),
                "bank_account": row["bank_account"] if in_full else s.mask_bank_account(row["bank_account"]),
            }
            for row in page
        ]
        return self.get_paginated_response(s.PayoutRowSerializer(rows, many=True).data)


# --- deaths ----------------------------------------------------------------------------------------------------


@extend_schema(tags=["deaths"])
class DeathListLoadViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, _Base):
    """民政死亡火化名单比对: upload the list, get each recipient on it stopped from the month after death and
    what was paid since made an overpayment. A list with a bad row is refused whole, every row's problem listed."""

    scope_model = DeathListLoad
    parser_classes = [MultiPartParser, FormParser]
    serializers = {
        "default": s.DeathListLoadDetailSerializer,
        "list": s.DeathListLoadSerializer,
        "create": s.DeathListUploadSerializer,
    }

    def get_queryset(self) -> QuerySet[DeathListLoad]:
        return selectors.death_list_loads(user=self.request.user)

    def get_object(self) -> DeathListLoad:
        return selectors.death_list_load_get(user=self.request.user, pk=self.kwargs["pk"])

    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        load = self.get_object()
        load.death_list = list(load.deaths.select_related("person").order_by("person__region_code", "id"))
        return Response(s.DeathListLoadDetailSerializer(load).data)

    @extend_schema(
        request=s.DeathListUploadSerializer,
        responses={201: s.DeathListLoadDetailSerializer, 400: s.DeathListErrorSerializer},
    )
    def create(self, request: Request, *args, **kwargs) -> Response:
        upload = request_body(s.DeathListUploadSerializer, request)["file"]
        try:
            load = services.death_list_load(actor=request.user, file_name=upload.name, content=upload.read())
        except services.RowErrors as refused:
            # Every bad row in one answer, for the clerk to correct the file and load it again.
            body = {"detail": refused.message, "code": refused.code, "errors": refused.errors}
            return Response(s.DeathListErrorSerializer(body).data, status=status.HTTP_400_BAD_REQUEST)
        load = selectors.death_list_load_get(user=request.user, pk=load.pk)
        load.death_list = list(load.deaths.select_related("person").order_by("person__region_code", "id"))
        return Response(s.DeathListLoadDetailSerializer(load).data, status=status.HTTP_201_CREATED)


def _death_record_body(request: Request, record, person: InsuredPerson) -> dict:
    record.award_list = list(selectors.award_queryset(user=request.user).filter(person=person).order_by("id"))
    record.overpayment_list = list(
        selectors.overpayment_queryset(user=request.user).filter(person=person).order_by("id")
    )
    return s.DeathRecordSerializer(record).data


@extend_schema(tags=["deaths"])
class DeathRecordView(APIView):
    """A single death learned (family's report, village): the award is paid for the month of death and
    stopped from the next; whatever was paid for later months becomes an overpayment. Sending the same
    death again answers the one recorded."""

    @extend_schema(request=s.DeathRecordInputSerializer, responses={201: s.DeathRecordSerializer})
    def post(self, request: Request) -> Response:
        data = request_body(s.DeathRecordInputSerializer, request)
        person = _person(request, data)
        record = services.death_record(
            actor=request.user, person=person, died_on=data["died_on"], source=data["source"]
        )
        return Response(_death_record_body(request, record, person), status=status.HTTP_201_CREATED)


@extend_schema(tags=["deaths"])
class DeathSettlementView(APIView):
    """死亡待遇结算: interest settled, open overpayments offset against the account, the rest paid to the heir
    (identity and proof recorded), the funeral grant where the region has one; the person cancelled."""

    parser_classes = UPLOAD_PARSERS

    @extend_schema(request=s.DeathSettlementInputSerializer, responses={201: s.DeathSettlementSerializer})
    def post(self, request: Request) -> Response:
        data = dict(request_body(s.DeathSettlementInputSerializer, request))
        person = _person(request, data)
        settlement = services.death_settlement_record(
            actor=request.user,
            person=person,
            heir_name=data["heir_name"],
            heir_id_number=data["heir_id_number"],
            heir_relation=data["heir_relation"],
            heir_bank_code=data["heir_bank_code"],
            heir_bank_account=data["heir_bank_account"],
            proof=data["proof"],
        )
        return Response(s.DeathSettlementSerializer(settlement).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["deaths"])
class OtherPensionStopView(APIView):
    """Someone found receiving an employees' pension: stopped from that month, the basic pension paid since to
    be recovered, the balance less government subsidies refunded, the person cancelled."""

    @extend_schema(request=s.OtherPensionStopInputSerializer, responses={201: s.OtherPensionStopSerializer})
    def post(self, request: Request) -> Response:
        data = request_body(s.OtherPensionStopInputSerializer, request)
        refund, overpayment = services.other_pension_stop(
            actor=request.user, person=_person(request, data), employee_pension_from=data["employee_pension_from"]
        )
        if overpayment is not None:  # as it stands after the offset against the account
            overpayment = selectors.overpayment_get(user=request.user, pk=overpayment.pk)
        body = {"refund": refund, "overpayment": overpayment}
        return Response(s.OtherPensionStopSerializer(body).data, status=status.HTTP_201_CREATED)


# --- overpayments ----------------------------------------------------------------------------------------------


def _overpayment_response(request: Request, overpayment: Overpayment, code: int = status.HTTP_200_OK) -> Response:
    overpayment = selectors.overpayment_get(user=request.user, pk=overpayment.pk)
    overpayment.step_list = list(overpayment.steps.select_related("recorded_by"))
    return Response(s.OverpaymentDetailSerializer(overpayment).data, status=code)


@extend_schema(tags=["overpayments"])
class OverpaymentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _Base):
    """多发待遇 and their recovery: repayment, instalments, offset against the account or later benefits;
    fraud referred on."""

    scope_model = Overpayment
    serializers = {"default": s.OverpaymentDetailSerializer, "list": s.OverpaymentListSerializer}

    def get_queryset(self) -> QuerySet[Overpayment]:
        params = query_params(s.OverpaymentQuerySerializer, self.request) if self.action == "list" else {}
        rows = selectors.overpayment_queryset(user=self.request.user, open_only=params.get("open", False))
        if params.get("person"):
            rows = rows.filter(person=params["person"])
        return rows

    def get_object(self) -> Overpayment:
        return selectors.overpayment_get(user=self.request.user, pk=self.kwargs["pk"])

    @extend_schema(parameters=[s.OverpaymentQuerySerializer])
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        return _overpayment_response(request, self.get_object())

    @extend_schema(request=s.RecoveryInputSerializer, responses={201: s.RecoveryStepSerializer})
    @action(detail=True, methods=["post"])
    def recoveries(self, request: Request, pk=None) -> Response:
        """One step of recovery, by its voucher number: the same voucher again answers the step recorded."""
        overpayment = self.get_object()
        data = request_body(s.RecoveryInputSerializer, request)
        step = services.overpayment_recover(actor=request.user, overpayment=overpayment, **data)
        return Response(s.RecoveryStepSerializer(step).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.OffsetInputSerializer, responses=s.OverpaymentDetailSerializer)
    @action(detail=True, methods=["post"])
    def offset(self, request: Request, pk=None) -> Response:
        """后续待遇抵扣: deduct so much from each later payroll until recovered; "0" stops it."""
        overpayment = self.get_object()
        data = request_body(s.OffsetInputSerializer, request)
        services.overpayment_offset_set(actor=request.user, overpayment=overpayment, per_month=data["per_month"])
        return _overpayment_response(request, overpayment)

    @extend_schema(request=s.ReferInputSerializer, responses=s.OverpaymentDetailSerializer)
    @action(detail=True, methods=["post"])
    def refer(self, request: Request, pk=None) -> Response:
        """移交 (fraud): the overpayment leaves the recovery worklist with the reason."""
        overpayment = self.get_object()
        data = request_body(s.ReferInputSerializer, request)
        services.overpayment_refer(actor=request.user, overpayment=overpayment, note=data["note"])
        return _overpayment_response(request, overpayment)


# --- transfers -------------------------------------------------------------------------------------------------


def _transfer_response(request: Request, transfer: Transfer, code: int = status.HTTP_200_OK) -> Response:
    transfer = selectors.transfer_get(user=request.user, pk=transfer.pk)
    return Response(s.TransferSerializer(transfer).data, status=code)


@extend_schema(tags=["transfers"])
class TransferViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, _Base):
    """关系转移 with the whole account balance. Within the scheme: the receiving side requests, the sending side
    approves and pays, the receiving side books. To and from the employees' scheme at retirement age."""

    scope_model = Transfer
    serializers = {
        "default": s.TransferSerializer,
        "create": s.TransferRequestInputSerializer,
        "to_employees": s.ToEmployeesInputSerializer,
        "from_employees": s.FromEmployeesInputSerializer,
    }

    def get_queryset(self) -> QuerySet[Transfer]:
        transfers = selectors.transfer_queryset(user=self.request.user)
        if self.action == "list":
            params = query_params(s.TransferQuerySerializer, self.request)
            for field in ("kind", "status"):
                if params.get(field):
                    transfers = transfers.filter(**{field: params[field]})
        return transfers

    def get_object(self) -> Transfer:
        return selectors.transfer_get(user=self.request.user, pk=self.kwargs["pk"])

    @extend_schema(parameters=[s.TransferQuerySerializer])
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=s.TransferRequestInputSerializer, responses={201: s.TransferSerializer})
    def create(self, request: Request, *args, **kwargs) -> Response:
        """The receiving side requests the transfer of a person of another pooling region whose hukou moved here."""
        data = request_body(s.TransferRequestInputSerializer, request)
        transfer = services.transfer_request(
            actor=request.user,
            id_number=data["id_number"],
            to_village=_village(request, data["to_village"]),
            hukou_moved_on=data["hukou_moved_on"],
            reference=data["reference"],
        )
        return _transfer_response(request, transfer, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.TransferSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk=None) -> Response:
        """The sending side approves and pays: interest to the month, the whole balance out, the account closed."""
        transfer = self.get_object()
        services.transfer_approve(actor=request.user, transfer=transfer)
        return _transfer_response(request, transfer)

    @extend_schema(request=None, responses=s.TransferSerializer)
    @action(detail=True, methods=["post"])
    def book(self, request: Request, pk=None) -> Response:
        """The receiving side books: the account reopened here with every component, the years adding up."""
        transfer = self.get_object()
        services.transfer_book(actor=request.user, transfer=transfer)
        return _transfer_response(request, transfer)

    @extend_schema(request=s.ToEmployeesInputSerializer, responses={201: s.TransferSerializer})
    @action(detail=False, methods=["post"], url_path="to-employees")
    def to_employees(self, request: Request) -> Response:
        """15 or more employee years: the resident account merges into the employees' scheme (then approved)."""
        data = request_body(s.ToEmployeesInputSerializer, request)
        transfer = services.transfer_to_employees(
            actor=request.user,
            person=_person(request, data),
            employee_years=data["employee_years"],
            reference=data["reference"],
        )
        return _transfer_response(request, transfer, status.HTTP_201_CREATED)

    @extend_schema(request=s.FromEmployeesInputSerializer, responses={201: s.TransferSerializer})
    @action(detail=False, methods=["post"], url_path="from-employees")
    def from_employees(self, request: Request) -> Response:
        """Fewer than 15 employee years: the employees' account merges here and its years count. The same
        letter again answers the transfer already booked."""
        data = request_body(s.FromEmployeesInputSerializer, request)
        transfer = services.transfer_from_employees(
            actor=request.user,
            person=_person(request, data),
            employee_years=data["employee_years"],
            amount=data["amount"],
            reference=data["reference"],
        )
        return _transfer_response(request, transfer, status.HTTP_201_CREATED)
