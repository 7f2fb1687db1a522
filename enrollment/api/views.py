"""The register over HTTP. Each view validates its input, fetches through the scope (a record outside it
answers 404 whatever the method), calls one service or selector and shapes the answer. Refusals raised by
the services become 4xx in ``portal.api_errors``."""

import logging
import os

from django.db.models import QuerySet
from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agencies.api.validation import query_params, request_body
from agencies.errors import DomainError, NotPermitted
from agencies.models import Region
from agencies.scope import scope_prefix, scoped
from enrollment import selectors, services
from enrollment.api import serializers as s
from enrollment.checks import id_number_check
from enrollment.history import person_history
from enrollment.models import (
    Application,
    DualEnrollmentFlag,
    EmployeeRegisterLoad,
    InsuredPerson,
    SpecialGroupMembership,
)

# Reading a full record (identity number, bank account) is itself recorded: who read whose record.
audit = logging.getLogger("portal.audit")

UPLOAD_PARSERS = [MultiPartParser, FormParser, JSONParser]


# --- persons ----------------------------------------------------------------------------------------


@extend_schema(tags=["persons"])
class PersonViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """参保人. Created only by an approved registration application (POST /applications/), never here."""

    scope_model = InsuredPerson  # whose scope guards every route here (read by the scope-matrix test)
    lookup_value_converter = "int"
    filter_backends: list = []
    parser_classes = UPLOAD_PARSERS

    def get_serializer_class(self):
        return s.PersonDetailSerializer if self.action == "retrieve" else s.PersonListSerializer

    def get_queryset(self) -> QuerySet[InsuredPerson]:
        params = query_params(s.PersonQuerySerializer, self.request) if self.action == "list" else {}
        return selectors.person_search(user=self.request.user, q=params.get("q", ""), status=params.get("status", ""))

    def get_object(self) -> InsuredPerson:
        person = selectors.person_get(user=self.request.user, pk=self.kwargs["pk"])
        self.check_object_permissions(self.request, person)
        return person

    @extend_schema(parameters=[s.PersonQuerySerializer])
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        person = self.get_object()
        audit.info("person_read user=%s person=%s", request.user.pk, person.pk)
        return Response(s.PersonDetailSerializer(person).data)

    @extend_schema(responses=s.HistoryEntrySerializer(many=True))
    @action(detail=True, methods=["get"])
    def history(self, request: Request, pk=None) -> Response:
        """Who changed what, when and why (old and new values in full: reading it is logged)."""
        person = self.get_object()
        audit.info("person_history_read user=%s person=%s", request.user.pk, person.pk)
        page = self.paginate_queryset(person_history(person=person))
        return self.get_paginated_response(s.HistoryEntrySerializer(page, many=True).data)

    @extend_schema(responses=s.ApplicationListSerializer(many=True))
    @action(detail=True, methods=["get"])
    def applications(self, request: Request, pk=None) -> Response:
        person = self.get_object()
        applications = (
            selectors.application_queryset(user=request.user).filter(person=person).select_related("person__village")
        )
        page = self.paginate_queryset(applications)
        return self.get_paginated_response(s.ApplicationListSerializer(page, many=True).data)

    @extend_schema(request=s.ChangeInputSerializer, responses={201: s.ApplicationDetailSerializer})
    @action(detail=True, methods=["post"])
    def change(self, request: Request, pk=None) -> Response:
        """变更登记表: {changes: {字段: 新值}, reason, proof}. Name and identity number need proof."""
        person = self.get_object()
        data = request_body(s.ChangeInputSerializer, request)
        application = services.change_submit(
            actor=request.user, person=person, changes=data["changes"], reason=data["reason"], proof=data["proof"]
        )
        return _application_response(request, application, status.HTTP_201_CREATED)

    @extend_schema(request=s.CancelInputSerializer, responses={201: s.ApplicationDetailSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk=None) -> Response:
        """注销登记表, with proof."""
        person = self.get_object()
        data = request_body(s.CancelInputSerializer, request)
        application = services.cancellation_submit(
            actor=request.user,
            person=person,
            cancellation_reason=data["cancellation_reason"],
            event_date=data["event_date"],
            proof=data["proof"],
            reason=data["reason"],
        )
        return _application_response(request, application, status.HTTP_201_CREATED)

    @extend_schema(methods=["GET"], responses=s.SpecialGroupSerializer(many=True))
    @extend_schema(methods=["POST"], request=s.SpecialGroupInputSerializer, responses={201: s.SpecialGroupSerializer})
    @action(detail=True, methods=["get", "post"], url_path="special-groups")
    def special_groups(self, request: Request, pk=None) -> Response:
        person = self.get_object()
        if request.method == "POST":
            data = request_body(s.SpecialGroupInputSerializer, request)
            membership = services.special_group_record(actor=request.user, person=person, **data)
            return Response(s.SpecialGroupSerializer(membership).data, status=status.HTTP_201_CREATED)
        memberships = scoped(
            SpecialGroupMembership.objects.filter(person=person).select_related("recorded_by"), request.user
        )
        page = self.paginate_queryset(memberships)
        return self.get_paginated_response(s.SpecialGroupSerializer(page, many=True).data)


# --- applications -----------------------------------------------------------------------------------


def _application_response(
    request: Request, application: Application, code: int = status.HTTP_200_OK, *, reread: bool = True
) -> Response:
    """The application as it now stands (re-read through the scope after a service changed it), with its trail."""
    if reread:
        application = selectors.application_get(user=request.user, pk=application.pk)
    application.event_list = list(application.events.select_related("actor"))
    return Response(s.ApplicationDetailSerializer(application).data, status=code)


@extend_schema(tags=["applications"])
class ApplicationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """参保登记、变更、注销申请 and their way from village to township to county."""

    scope_model = Application
    lookup_value_converter = "int"
    filter_backends: list = []
    parser_classes = UPLOAD_PARSERS

    def get_serializer_class(self):
        if self.action == "create":
            return s.RegistrationInputSerializer
        return s.ApplicationDetailSerializer if self.action == "retrieve" else s.ApplicationListSerializer

    def get_queryset(self) -> QuerySet[Application]:
        user = self.request.user
        params = query_params(s.ApplicationQuerySerializer, self.request) if self.action == "list" else {}
        if params.get("worklist"):
            applications = selectors.application_worklist(user=user)
        else:
            applications = selectors.application_queryset(user=user)
        for field in ("kind", "status", "person"):
            if params.get(field):
                applications = applications.filter(**{field: params[field]})
        return applications.select_related("person__village")

    def get_object(self) -> Application:
        application = selectors.application_get(user=self.request.user, pk=self.kwargs["pk"])
        self.check_object_permissions(self.request, application)
        return application

    @extend_schema(parameters=[s.ApplicationQuerySerializer])
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        application = self.get_object()
        # A registration form carries the full identity number and bank account.
        audit.info("application_read user=%s application=%s", request.user.pk, application.pk)
        return _application_response(request, application, reread=False)

    @extend_schema(request=s.RegistrationInputSerializer, responses={201: s.ApplicationDetailSerializer})
    def create(self, request: Request, *args, **kwargs) -> Response:
        """参保登记表. Creates the person (pending) and the application, submitted to the township."""
        data = dict(request_body(s.RegistrationInputSerializer, request))
        # Fetched through the scope: a code outside it gets the same answer as a code that does not exist.
        village = scoped(Region.objects.all(), request.user).filter(code=data.pop("village").strip()).first()
        if village is None:
            raise DomainError("找不到该村（社区），或它不在您的管辖范围内。", code="not_found", field="village")
        application = services.registration_submit(
            actor=request.user,
            village=village,
            id_number=data.pop("id_number"),
            confirm_possible_duplicate=data.pop("confirm_possible_duplicate"),
            data=data,
        )
        return _application_response(request, application, status.HTTP_201_CREATED)

    @extend_schema(request=s.NoteInputSerializer, responses=s.ApplicationDetailSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk=None) -> Response:
        """乡镇审核通过, passed to the county."""
        application = self.get_object()
        data = request_body(s.NoteInputSerializer, request)
        services.application_accept(actor=request.user, application=application, note=data["note"])
        return _application_response(request, application)

    @extend_schema(request=s.ReasonInputSerializer, responses=s.ApplicationDetailSerializer)
    @action(detail=True, methods=["post"], url_path="return")
    def send_back(self, request: Request, pk=None) -> Response:
        """退回 to whoever entered it, with the reason."""
        application = self.get_object()
        data = request_body(s.ReasonInputSerializer, request)
        services.application_return(actor=request.user, application=application, reason=data["reason"])
        return _application_response(request, application)

    @extend_schema(request=None, responses=s.ApplicationDetailSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk=None) -> Response:
        """县级审批: the application takes effect on the person."""
        application = self.get_object()
        services.application_approve(actor=request.user, application=application)
        return _application_response(request, application)

    @extend_schema(request=s.ResubmitInputSerializer, responses=s.ApplicationDetailSerializer)
    @action(detail=True, methods=["post"])
    def resubmit(self, request: Request, pk=None) -> Response:
        """补正后重新提交 a returned application."""
        application = self.get_object()
        data = request_body(s.ResubmitInputSerializer, request)
        services.application_resubmit(actor=request.user, application=application, data=data["data"])
        return _application_response(request, application)

    @extend_schema(request=s.ReasonInputSerializer, responses=s.ApplicationDetailSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk=None) -> Response:
        """撤回 an open application; a withdrawn registration leaves no insured person."""
        application = self.get_object()
        data = request_body(s.ReasonInputSerializer, request)
        services.application_withdraw(actor=request.user, application=application, reason=data["reason"])
        return _application_response(request, application)

    @extend_schema(
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, 404: OpenApiResponse(description="无")}
    )
    @action(detail=True, methods=["get"])
    def proof(self, request: Request, pk=None) -> FileResponse:
        """The uploaded proof, served only through the scope (never from a public media URL)."""
        application = self.get_object()
        if not application.proof:
            raise Http404
        audit.info("application_proof_read user=%s application=%s", request.user.pk, application.pk)
        return FileResponse(
            application.proof.open("rb"), as_attachment=True, filename=os.path.basename(application.proof.name)
        )


# --- identity-number check --------------------------------------------------------------------------


@extend_schema(tags=["applications"])
class IdCheckView(APIView):
    """As the clerk types: is the number well formed, old enough, already registered, or maybe a duplicate?"""

    @extend_schema(parameters=[s.IdCheckQuerySerializer], responses=s.IdCheckResultSerializer)
    def get(self, request: Request) -> Response:
        if scope_prefix(request.user) is None:
            # Staff with no jurisdiction register nobody, so they have no business probing the register.
            raise NotPermitted()
        params = query_params(s.IdCheckQuerySerializer, request)
        result = id_number_check(
            user=request.user, raw=params["id_number"], village=params["village"] or None, name=params["name"]
        )
        return Response(s.IdCheckResultSerializer(result).data)


# --- employees' scheme register and dual enrolment --------------------------------------------------


@extend_schema(tags=["dual-enrollment"])
class EmployeeRegisterLoadViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """职工养老参保名单比对: upload the register, get the persons of this scheme found on it flagged."""

    scope_model = EmployeeRegisterLoad
    lookup_value_converter = "int"
    filter_backends: list = []
    parser_classes = [MultiPartParser, FormParser]

    def get_serializer_class(self):
        return s.EmployeeRegisterUploadSerializer if self.action == "create" else s.EmployeeRegisterLoadSerializer

    def get_queryset(self) -> QuerySet[EmployeeRegisterLoad]:
        return selectors.employee_register_loads(user=self.request.user)

    @extend_schema(request=s.EmployeeRegisterUploadSerializer, responses={201: s.EmployeeRegisterLoadSerializer})
    def create(self, request: Request, *args, **kwargs) -> Response:
        upload = request_body(s.EmployeeRegisterUploadSerializer, request)["file"]
        load = services.employee_register_load(actor=request.user, file_name=upload.name, content=upload.read())
        load = selectors.employee_register_loads(user=request.user).get(pk=load.pk)
        return Response(s.EmployeeRegisterLoadSerializer(load).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["dual-enrollment"])
class DualEnrollmentFlagViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """重复参保疑点 found by a comparison, to be resolved one by one."""

    scope_model = DualEnrollmentFlag
    lookup_value_converter = "int"
    filter_backends: list = []
    serializer_class = s.DualEnrollmentFlagSerializer

    def get_queryset(self) -> QuerySet[DualEnrollmentFlag]:
        params = query_params(s.DualEnrollmentQuerySerializer, self.request) if self.action == "list" else {}
        flags = selectors.dual_enrollment_flags(user=self.request.user, open_only=params.get("open", False))
        if params.get("load"):
            flags = flags.filter(load_id=params["load"])
        return flags

    @extend_schema(parameters=[s.DualEnrollmentQuerySerializer])
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=s.ResolveInputSerializer, responses=s.DualEnrollmentFlagSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk=None) -> Response:
        flag = self.get_object()
        data = request_body(s.ResolveInputSerializer, request)
        services.dual_enrollment_resolve(actor=request.user, flag=flag, resolution=data["resolution"])
        return Response(s.DualEnrollmentFlagSerializer(self.get_queryset().get(pk=flag.pk)).data)
