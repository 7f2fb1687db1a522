"""Shapes of the register in the API: input serializers check types only (the rules are the services'),
output serializers mask identity numbers and bank accounts wherever a list shows them."""

import os
from typing import Any

from django.conf import settings
from django.core.validators import FileExtensionValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from enrollment import idnumber
from enrollment.models import (
    Application,
    ApplicationEvent,
    ApplicationStatus,
    CancellationReason,
    DualEnrollmentFlag,
    EmployeeRegisterLoad,
    InsuredPerson,
    PersonStatus,
    SpecialGroup,
    SpecialGroupMembership,
)

# Scans and photos of paper proof; nothing a browser would run if the file were ever served back.
PROOF_EXTENSIONS = ["pdf", "jpg", "jpeg", "png", "tif", "tiff", "bmp", "ofd"]
# Generous bounds on free text: the services give the precise limits and messages.
TEXT_LIMIT = 500

EVENT_ACTIONS = {
    "submit": "提交",
    "accept": "乡镇审核通过",
    "return": "退回",
    "approve": "县级审批通过",
    "resubmit": "补正后重新提交",
    "withdraw": "撤回",
}


def mask_bank_account(account: str) -> str:
    """Only the last four digits, as on a bank's own receipts."""
    if not account:
        return ""
    if len(account) <= 4:
        return "*" * len(account)
    return f"****{account[-4:]}"


def _text_values(value: dict) -> dict[str, str]:
    """{field: value} from a client, values as text: the services clean strings, not numbers or lists."""
    if any(isinstance(v, bool) or not isinstance(v, str | int) for v in value.values()):
        raise serializers.ValidationError("每一项的值都须为文字。")
    return {str(k): str(v) for k, v in value.items()}


def _check_upload_size(upload) -> None:
    limit = settings.PORTAL_MAX_UPLOAD_BYTES
    if upload is not None and upload.size > limit:
        raise serializers.ValidationError(f"文件过大，最大{limit // (1024 * 1024)}MB。")


def _text(**kwargs) -> serializers.CharField:
    return serializers.CharField(required=False, allow_blank=True, default="", max_length=TEXT_LIMIT, **kwargs)


class ProofField(serializers.FileField):
    default_validators = [
        FileExtensionValidator(PROOF_EXTENSIONS, message="证明材料须为PDF、OFD或图片（jpg、png、tif、bmp）。")
    ]

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("default", None)
        kwargs.setdefault("allow_empty_file", False)
        kwargs.setdefault("error_messages", {"empty": "上传的证明材料是空文件。"})
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        upload = super().to_internal_value(data)
        _check_upload_size(upload)
        return upload


def _enum_schema(choices: type) -> dict:
    return {
        "type": "string",
        "enum": list(choices.values),
        "description": "；".join(f"{value} {label}" for value, label in choices.choices),
    }


# Persons and applications both have a "status" with different values: named components keep the schema
# from guessing names for the two enums.
@extend_schema_field(_enum_schema(PersonStatus), component_name="PersonStatusEnum")
class PersonStatusField(serializers.CharField):
    pass


@extend_schema_field(_enum_schema(ApplicationStatus), component_name="ApplicationStatusEnum")
class ApplicationStatusField(serializers.CharField):
    pass


# --- persons ----------------------------------------------------------------------------------------


class PersonListSerializer(serializers.ModelSerializer):
    """One row of a list: identity number and bank account masked."""

    id_number_masked = serializers.SerializerMethodField()
    bank_account_masked = serializers.SerializerMethodField()
    sex_display = serializers.CharField(source="get_sex_display", read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    village_name = serializers.CharField(source="village.name", read_only=True)
    status = PersonStatusField(read_only=True)

    class Meta:
        model = InsuredPerson
        fields = [
            "id",
            "insurance_number",
            "name",
            "sex",
            "sex_display",
            "birth_date",
            "id_number_masked",
            "bank_account_masked",
            "village",
            "village_name",
            "region_code",
            "status",
            "status_display",
            "enrolled_on",
            "cancelled_on",
        ]
        read_only_fields = fields

    def get_id_number_masked(self, person: InsuredPerson) -> str:
        return idnumber.mask(person.id_number)

    def get_bank_account_masked(self, person: InsuredPerson) -> str:
        return mask_bank_account(person.bank_account)


class PersonDetailSerializer(serializers.ModelSerializer):
    """The full record: its reading is logged by the view."""

    sex_display = serializers.CharField(source="get_sex_display", read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    village_code = serializers.CharField(source="village.code", read_only=True)
    village_full_name = serializers.CharField(source="village.full_name", read_only=True)
    status = PersonStatusField(read_only=True)

    class Meta:
        model = InsuredPerson
        fields = [
            "id",
            "insurance_number",
            "id_number",
            "name",
            "sex",
            "sex_display",
            "birth_date",
            "village",
            "village_code",
            "village_full_name",
            "region_code",
            "status",
            "status_display",
            "phone",
            "address",
            "social_security_card_number",
            "bank_code",
            "bank_account",
            "enrolled_on",
            "cancelled_on",
            "created_at",
        ]
        read_only_fields = fields


class PersonQuerySerializer(serializers.Serializer):
    q = serializers.CharField(
        required=False, allow_blank=True, max_length=50, help_text="身份证号或保险编号（前几位）、姓名拼音首字母或姓名"
    )
    status = serializers.ChoiceField(
        choices=InsuredPerson._meta.get_field("status").choices,
        required=False,
        allow_blank=True,
        error_messages={"invalid_choice": "参保状态“{input}”不存在。"},
    )


class FieldChangeSerializer(serializers.Serializer):
    field = serializers.CharField()
    label = serializers.CharField()
    old = serializers.JSONField(allow_null=True)
    new = serializers.JSONField(allow_null=True)
    old_display = serializers.CharField()
    new_display = serializers.CharField()


class HistoryEntrySerializer(serializers.Serializer):
    history_id = serializers.IntegerField()
    at = serializers.DateTimeField()
    user_id = serializers.IntegerField(allow_null=True)
    user_name = serializers.CharField()
    type = serializers.CharField(help_text="+ 创建，~ 修改，- 删除")
    type_display = serializers.CharField()
    reason = serializers.CharField()
    changes = FieldChangeSerializer(many=True)


class ChangeInputSerializer(serializers.Serializer):
    changes = serializers.JSONField(
        help_text='{"字段": "新值"}：name、id_number、phone、address、social_security_card_number、bank_code、'
        "bank_account。multipart 提交时为 JSON 字符串。",
    )
    reason = _text()
    proof = ProofField(help_text="变更姓名或身份证号时必须上传")

    def validate_changes(self, value: Any) -> dict[str, str]:
        if not isinstance(value, dict) or not value:
            raise serializers.ValidationError("请填写要变更的内容，格式为 {字段: 新值}。")
        return _text_values(value)


class CancelInputSerializer(serializers.Serializer):
    cancellation_reason = serializers.ChoiceField(
        choices=CancellationReason.choices,
        error_messages={"required": "请选择注销原因。", "invalid_choice": "请选择注销原因。"},
    )
    event_date = serializers.DateField(required=False, allow_null=True, default=None)
    proof = ProofField(help_text="死亡证明、法院宣告、丧失国籍证明或其他养老待遇证明")
    reason = _text()


class SpecialGroupSerializer(serializers.ModelSerializer):
    group_display = serializers.CharField(source="get_group_display", read_only=True)
    recorded_by_name = serializers.CharField(source="recorded_by.display_name", read_only=True)

    class Meta:
        model = SpecialGroupMembership
        fields = [
            "id",
            "person",
            "group",
            "group_display",
            "certifying_department",
            "certificate_number",
            "certified_on",
            "ends_on",
            "recorded_by",
            "recorded_by_name",
            "recorded_at",
        ]
        read_only_fields = fields


class SpecialGroupInputSerializer(serializers.Serializer):
    group = serializers.ChoiceField(
        choices=SpecialGroup.choices,
        error_messages={"required": "请选择特殊群体类别。", "invalid_choice": "请选择特殊群体类别。"},
    )
    certified_on = serializers.DateField(required=False, allow_null=True, default=None)
    ends_on = serializers.DateField(required=False, allow_null=True, default=None)
    certifying_department = _text(help_text="不填则按类别取认定部门")
    certificate_number = _text()


# --- applications -----------------------------------------------------------------------------------


class ApplicationEventSerializer(serializers.ModelSerializer):
    action_display = serializers.SerializerMethodField()
    actor_name = serializers.CharField(source="actor.display_name", read_only=True)

    class Meta:
        model = ApplicationEvent
        fields = ["id", "action", "action_display", "from_status", "to_status", "actor", "actor_name", "note", "at"]
        read_only_fields = fields

    def get_action_display(self, event: ApplicationEvent) -> str:
        return EVENT_ACTIONS.get(event.action, event.action)


class ApplicationListSerializer(serializers.ModelSerializer):
    """One row of a list: the person's identity number masked, the form's content left out."""

    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    person_name = serializers.CharField(source="person.name", read_only=True)
    person_id_number_masked = serializers.SerializerMethodField()
    village_name = serializers.CharField(source="person.village.name", read_only=True)
    created_by_name = serializers.CharField(source="created_by.display_name", read_only=True)
    reviewed_by_name = serializers.CharField(source="reviewed_by.display_name", read_only=True, default="")
    decided_by_name = serializers.CharField(source="decided_by.display_name", read_only=True, default="")
    status = ApplicationStatusField(read_only=True)

    class Meta:
        model = Application
        fields = [
            "id",
            "kind",
            "kind_display",
            "status",
            "status_display",
            "person",
            "person_name",
            "person_id_number_masked",
            "village_name",
            "region_code",
            "return_reason",
            "created_by",
            "created_by_name",
            "created_at",
            "reviewed_by",
            "reviewed_by_name",
            "reviewed_at",
            "decided_by",
            "decided_by_name",
            "decided_at",
        ]
        read_only_fields = fields

    def get_person_id_number_masked(self, application: Application) -> str:
        return idnumber.mask(application.person.id_number)


class ApplicationDetailSerializer(ApplicationListSerializer):
    """The whole form with its trail; its reading is logged by the view."""

    cancellation_reason_display = serializers.CharField(source="get_cancellation_reason_display", read_only=True)
    has_proof = serializers.SerializerMethodField()
    proof_name = serializers.SerializerMethodField()
    events = ApplicationEventSerializer(many=True, read_only=True, source="event_list")

    class Meta(ApplicationListSerializer.Meta):
        fields = [
            *ApplicationListSerializer.Meta.fields,
            "changes",
            "reason",
            "cancellation_reason",
            "cancellation_reason_display",
            "event_date",
            "has_proof",
            "proof_name",
            "events",
        ]
        read_only_fields = fields

    def get_has_proof(self, application: Application) -> bool:
        return bool(application.proof)

    def get_proof_name(self, application: Application) -> str:
        return os.path.basename(application.proof.name) if application.proof else ""


class ApplicationQuerySerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=Application._meta.get_field("kind").choices,
        required=False,
        allow_blank=True,
        error_messages={"invalid_choice": "业务类型“{input}”不存在。"},
    )
    status = serializers.ChoiceField(
        choices=Application._meta.get_field("status").choices,
        required=False,
        allow_blank=True,
        error_messages={"invalid_choice": "申请状态“{input}”不存在。"},
    )
    person = serializers.IntegerField(required=False, min_value=1, help_text="参保人ID")
    worklist = serializers.BooleanField(required=False, default=False, help_text="1：只列出我的待办")


class RegistrationInputSerializer(serializers.Serializer):
    village = serializers.CharField(
        max_length=12,
        help_text="户籍所在村（社区）的12位区划代码",
        error_messages={"required": "请选择户籍所在的村（社区）。", "blank": "请选择户籍所在的村（社区）。"},
    )
    id_number = _text()
    name = _text()
    phone = _text()
    address = _text()
    social_security_card_number = _text()
    bank_code = _text()
    bank_account = _text()
    confirm_possible_duplicate = serializers.BooleanField(
        required=False, default=False, help_text="已核对：本村同名同出生日期的参保人不是同一人"
    )


class NoteInputSerializer(serializers.Serializer):
    note = _text()


class ReasonInputSerializer(serializers.Serializer):
    reason = _text()


class ResubmitInputSerializer(serializers.Serializer):
    data = serializers.JSONField(
        required=False,
        allow_null=True,
        default=None,
        help_text="补正内容：参保登记为 {字段: 值}（姓名、电话、住址、社保卡号、银行），变更登记为新的变更内容",
    )

    def validate_data(self, value: Any) -> dict[str, str] | None:
        if value in (None, "", {}):
            return None
        if not isinstance(value, dict):
            raise serializers.ValidationError("补正内容须为 {字段: 值} 的对象。")
        return _text_values(value)


# --- identity-number check --------------------------------------------------------------------------


class IdCheckQuerySerializer(serializers.Serializer):
    id_number = serializers.CharField(required=False, allow_blank=True, default="", max_length=40)
    village = serializers.CharField(required=False, allow_blank=True, default="", max_length=12)
    name = serializers.CharField(required=False, allow_blank=True, default="", max_length=50)


class IdCheckErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class RegisteredHolderSerializer(serializers.Serializer):
    in_scope = serializers.BooleanField()
    person_id = serializers.IntegerField(allow_null=True, help_text="仅限本辖区")
    name = serializers.CharField(help_text="仅限本辖区")
    insurance_number = serializers.CharField(help_text="仅限本辖区")
    region_name = serializers.CharField()
    status = serializers.CharField()
    status_display = serializers.CharField()


class PossibleDuplicateSerializer(serializers.Serializer):
    person_id = serializers.IntegerField()
    name = serializers.CharField()
    id_number_masked = serializers.CharField()
    insurance_number = serializers.CharField()
    birth_date = serializers.DateField()
    status = serializers.CharField()
    status_display = serializers.CharField()


class IdCheckResultSerializer(serializers.Serializer):
    number = serializers.CharField()
    valid = serializers.BooleanField()
    error = IdCheckErrorSerializer(allow_null=True)
    birth_date = serializers.DateField(allow_null=True)
    sex = serializers.CharField()
    sex_display = serializers.CharField()
    age = serializers.IntegerField(allow_null=True)
    registered = RegisteredHolderSerializer(allow_null=True)
    possible_duplicates = PossibleDuplicateSerializer(many=True)


# --- employees' scheme register ---------------------------------------------------------------------


class EmployeeRegisterLoadSerializer(serializers.ModelSerializer):
    loaded_by_name = serializers.CharField(source="loaded_by.display_name", read_only=True)

    class Meta:
        model = EmployeeRegisterLoad
        fields = [
            "id",
            "region_code",
            "file_name",
            "file_sha256",
            "rows_read",
            "rows_invalid",
            "matches",
            "loaded_by",
            "loaded_by_name",
            "loaded_at",
        ]
        read_only_fields = fields


class EmployeeRegisterUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        allow_empty_file=False,
        help_text="职工养老参保名单：.xlsx 或 UTF-8/GBK 编码的 .csv，含“身份证号”列（可选“单位名称”列）",
        error_messages={"required": "请选择要上传的名单文件。", "empty": "文件是空的。"},
    )

    def validate_file(self, upload):
        _check_upload_size(upload)
        return upload


class DualEnrollmentFlagSerializer(serializers.ModelSerializer):
    person_name = serializers.CharField(source="person.name", read_only=True)
    person_id_number_masked = serializers.SerializerMethodField()
    person_insurance_number = serializers.CharField(source="person.insurance_number", read_only=True)
    person_status = PersonStatusField(source="person.status", read_only=True)
    village_name = serializers.CharField(source="person.village.name", read_only=True)
    is_open = serializers.SerializerMethodField()

    class Meta:
        model = DualEnrollmentFlag
        fields = [
            "id",
            "load",
            "person",
            "person_name",
            "person_id_number_masked",
            "person_insurance_number",
            "person_status",
            "village_name",
            "employer",
            "is_open",
            "resolved_at",
            "resolution",
        ]
        read_only_fields = fields

    def get_person_id_number_masked(self, flag: DualEnrollmentFlag) -> str:
        return idnumber.mask(flag.person.id_number)

    def get_is_open(self, flag: DualEnrollmentFlag) -> bool:
        return flag.resolved_at is None


class DualEnrollmentQuerySerializer(serializers.Serializer):
    open = serializers.BooleanField(required=False, default=False, help_text="1：只列出未处理的疑点")
    load = serializers.IntegerField(required=False, min_value=1, help_text="比对批次ID")


class ResolveInputSerializer(serializers.Serializer):
    resolution = _text()
