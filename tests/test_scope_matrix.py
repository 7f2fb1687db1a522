"""The scope matrix: for every role and every URL of the portal, records of another jurisdiction are
invisible and untouchable.

The URL list is read from the resolver, so an endpoint added later is covered without editing this file:
every route that takes an object id is called with the id of a foreign object (or the field its view names in
``scope_lookup_field``, such as an insurance number) for every method and must
answer 404 (or 405), leaving the database as it was; every route without an id is fetched and must not
show a foreign record. A route whose object type cannot be worked out fails the test until it is named in
``ROUTE_MODELS`` below.
"""

import datetime as dt
import io
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models
from django.forms.models import model_to_dict
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from agencies.models import Region, Role
from agencies.tests.factories import RegionLine, UserFactory, region_line
from archives import handover as archive_handover
from archives import lending as archive_lending
from archives import retention as archive_retention
from archives import services as archive_services
from archives.models import (
    ArchiveEvent,
    ArchiveFile,
    ArchiveItem,
    ArchiveLocation,
    HandOver,
    HandOverLine,
    Loan,
    RetentionReview,
)
from archives.tests.factories import png_upload
from benefits import payroll as benefit_payroll
from benefits import services as benefit_services
from benefits.models import (
    Arrear,
    Award,
    AwardEvent,
    AwardPeriod,
    Claim,
    DeathListLoad,
    DeathRecord,
    DeathSettlement,
    LineKind,
    MonthlyConfirmation,
    Overpayment,
    PayrollLine,
    PayrollRun,
    PensionParameters,
    Recalculation,
    RecoveryStep,
    Transfer,
    YearlyCheck,
    YearsCredit,
)
from benefits.tests.factories import make_award, make_contributor, make_parameters
from contributions import services as contribution_services
from contributions.models import (
    CollectiveSubsidy,
    Contribution,
    ContributionPolicy,
    Donation,
    InterestRate,
    TierChoice,
)
from contributions.tests.factories import make_policy
from enrollment import idnumber, services
from enrollment.models import (
    Application,
    ApplicationEvent,
    DualEnrollmentFlag,
    EmployeeRegisterLoad,
    InsuredPerson,
    SpecialGroupMembership,
)
from enrollment.tests.factories import make_person
from funds.bank_partners import credential_issue, partner_register
from funds.batches import receipt_settle, result_receive
from funds.fund_accounts import fund_account_bank_set, income_sweep, month_end
from funds.models import (
    BankBatch,
    BankBatchLine,
    BankCredential,
    BankPartner,
    BankStatement,
    Component,
    CredentialUse,
    EntryKind,
    FinanceConfirmation,
    FundAccount,
    FundMovement,
    IndividualAccount,
    MovementKind,
    ReconciliationDifference,
    ResultLine,
    ResultReceipt,
    StatementLine,
)
from funds.reconciliation import finance_confirmation_record, reconcile, statement_receive
from funds.services import Posting, account_open, ledger_post
from funds.statementfile import CREDIT, DEBIT, Entry
from funds.statementfile import write as statement_file
from funds.tests.bank_factories import issue_deduct, result_file
from migration.models import ArchiveSurveyItem, MergerPackage, MergerProject, MergerStep, PackageOrigin, Step
from migration.models import TestLoad as MergerTestLoad
from migration.services import project_create
from migration.survey import survey_item_add
from portal.models import ReportFile, ReportSet, SummaryRun
from portal.reports import report_produce

pytestmark = pytest.mark.django_db

# Routes that are nobody's data: sign-in, the API description, the admin (covered by its own test below).
# The bank API answers partner banks, not staff: a staff session opens nothing there, and its partner scope (a bank
# sees only its own batches in the pooling regions it serves) has its own tests in funds/tests/test_bank_api.py.
SKIPPED_PREFIXES = (
    "admin/",
    "api/schema/",
    "api/docs/",
    "login/",
    "logout/",
    "static/",
    "media/",
    "api/v1/bank/",
)

# Routes whose object type the resolver cannot tell (plain function views): url name → model.
ROUTE_MODELS: dict[str, type[models.Model]] = {}

FOREIGN_NAME = "境外某甲"
FOREIGN_APPLICANT = "境外某乙"


@dataclass
class Route:
    pattern: str  # e.g. "api/v1/persons/<pk>/history/"
    name: str
    callback: object
    kwargs: tuple[str, ...]

    def model(self) -> type[models.Model] | None:
        if self.name in ROUTE_MODELS:
            return ROUTE_MODELS[self.name]
        view = getattr(self.callback, "cls", None) or getattr(self.callback, "view_class", None)
        for holder in (view, self.callback):
            explicit = getattr(holder, "scope_model", None)
            if explicit is not None:
                return explicit
        if view is not None:
            queryset = getattr(view, "queryset", None)
            if queryset is not None:
                return queryset.model
            meta = getattr(getattr(view, "serializer_class", None), "Meta", None)
            if meta is not None and getattr(meta, "model", None) is not None:
                return meta.model
            if getattr(view, "model", None) is not None:
                return view.model
        return None

    def lookup_value(self, instance: models.Model):
        """What fills the route's kwarg: the object's pk, unless the view names another field of it
        (``scope_lookup_field``, e.g. the insurance number the account API is addressed by)."""
        view = getattr(self.callback, "cls", None) or getattr(self.callback, "view_class", None)
        for holder in (view, self.callback):
            field = getattr(holder, "scope_lookup_field", None)
            if field is not None:
                return getattr(instance, field)
        return instance.pk

    def path_for(self, value) -> str:
        path = self.pattern
        for kwarg in self.kwargs:
            # Replace "<int:pk>" / "<pk>" / "(?P<pk>[^/.]+)" forms alike.
            for form in (f"<int:{kwarg}>", f"<str:{kwarg}>", f"<{kwarg}>", f"<path:{kwarg}>"):
                path = path.replace(form, str(value))
            if f"(?P<{kwarg}>" in path:
                start = path.index(f"(?P<{kwarg}>")
                depth, end = 0, start
                for end in range(start, len(path)):
                    depth += path[end] == "("
                    depth -= path[end] == ")"
                    if depth == 0:
                        break
                path = path[:start] + str(value) + path[end + 1 :]
        return "/" + path.lstrip("^").rstrip("$").replace("\\.", ".").replace("\\", "")


def _walk(patterns, prefix: str = "", namespace: str = "") -> list[Route]:
    routes: list[Route] = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            space = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            routes += _walk(entry.url_patterns, prefix + str(entry.pattern), space)
        elif isinstance(entry, URLPattern):
            pattern = prefix + str(entry.pattern)
            if pattern.lstrip("^").startswith(SKIPPED_PREFIXES):
                continue
            kwargs = tuple(entry.pattern.regex.groupindex)
            if "format" in kwargs:  # DRF's ".json" suffix routes repeat the plain ones
                continue
            routes.append(Route(pattern, f"{namespace}{entry.name or ''}", entry.callback, kwargs))
    return routes


ROUTES = _walk(get_resolver().url_patterns)
OBJECT_ROUTES = [route for route in ROUTES if route.kwargs]
LIST_ROUTES = [route for route in ROUTES if not route.kwargs]


@dataclass
class World:
    home: RegionLine
    foreign: RegionLine
    objects: dict[type[models.Model], models.Model]
    # The same kinds of record at home, for pages that must show them (and tests that act on them).
    home_objects: dict[type[models.Model], models.Model] = field(default_factory=dict)


def _proof() -> SimpleUploadedFile:
    return SimpleUploadedFile("death.pdf", b"%PDF-1.4 foreign proof", content_type="application/pdf")


# The benefits records are made for both lines under these names, prefixed 境外 abroad and 本地 at home.
RECIPIENT, DECEASED, CLAIMANT, MOVER, HEIR, DEATH_LIST = "领取甲", "领取乙", "申请丙", "转移丁", "继承人", "死亡名单"


def _benefits(line: RegionLine, label: str) -> dict[type[models.Model], models.Model]:
    """One of every benefits record for a line of places, made through the services as the year 2024 went:
    parameters from January; two recipients paid from March (payrolls of March and April confirmed); one of
    them on a death list as dead in March, so April was overpaid, partly repaid, then settled with the heir;
    the central minimum raised from April, so the other is owed back pay; a monthly confirmation and a
    yearly check; an open claim with deemed years; a move to the employees' scheme."""
    staff = {role: line.staff(role) for role in Role.values}
    InterestRate.objects.get_or_create(
        pooling_region=line.pooling_region, year=2024, defaults={"rate": Decimal("0.01500")}
    )
    parameters = make_parameters(line, valid_from=dt.date(2024, 1, 1))
    contributor = {"years": 15, "last_year": 2023, "booked_on": dt.date(2023, 12, 31)}
    recipient = make_contributor(line, name=label + RECIPIENT, birth_date=dt.date(1964, 1, 10), **contributor)
    deceased = make_contributor(line, name=label + DECEASED, birth_date=dt.date(1964, 1, 20), **contributor)
    claimant = make_contributor(line, name=label + CLAIMANT, birth_date=dt.date(1964, 1, 25), **contributor)
    mover = make_person(line.village, name=label + MOVER, birth_date=dt.date(1980, 6, 1))
    award = make_award(line, recipient, claimed_on=dt.date(2024, 2, 5), approved_on=dt.date(2024, 2, 20))
    make_award(line, deceased, claimed_on=dt.date(2024, 2, 5), approved_on=dt.date(2024, 2, 20))
    officer = staff[Role.COUNTY_FUND_OFFICER]
    for month in (dt.date(2024, 3, 1), dt.date(2024, 4, 1)):
        run = benefit_payroll.payroll_prepare(actor=officer, pooling_region=line.pooling_region, month=month)
        run = benefit_payroll.payroll_confirm(actor=officer, run=run)
    load = benefit_services.death_list_load(
        actor=staff[Role.COUNTY_CLERK],
        file_name=f"{label}{DEATH_LIST}.csv",
        content=f"身份证号,死亡日期\n{deceased.id_number},2024-03-15\n".encode(),
        today=dt.date(2024, 5, 10),
    )
    overpayment = Overpayment.objects.get(person=deceased)
    step = benefit_services.overpayment_recover(
        actor=staff[Role.COUNTY_CLERK],
        overpayment=overpayment,
        method="repayment",
        amount="10.00",
        on=dt.date(2024, 5, 20),
        reference=f"{label}退回1",
    )
    settlement = benefit_services.death_settlement_record(
        actor=staff[Role.COUNTY_APPROVER],
        person=deceased,
        heir_name=label + HEIR,
        heir_id_number=idnumber.make(line.county.code[:6], dt.date(1990, 1, 1), 15),
        heir_relation="子",
        proof=_proof(),
        today=dt.date(2024, 5, 25),
    )
    _, recalculation = benefit_services.pension_parameters_set(
        actor=staff[Role.CITY_SUPERVISOR],
        pooling_region=line.pooling_region,
        valid_from=dt.date(2024, 4, 1),
        values={"central_minimum": "143"},
    )
    confirmation = benefit_services.monthly_confirmation_record(
        actor=staff[Role.VILLAGE_AGENT], award=award, month=dt.date(2024, 5, 1), alive=True
    )
    check = benefit_services.yearly_check_record(
        actor=staff[Role.VILLAGE_AGENT], award=award, year=2024, channel="office", checked_on=dt.date(2024, 5, 6)
    )
    credit = benefit_services.years_credit_record(
        actor=staff[Role.COUNTY_APPROVER], person=claimant, kind="deemed", years=2, reference=f"{label}服役年限"
    )
    claim = benefit_services.claim_submit(actor=staff[Role.VILLAGE_AGENT], person=claimant, today=dt.date(2024, 2, 5))
    transfer = benefit_services.transfer_to_employees(
        actor=staff[Role.COUNTY_CLERK], person=mover, employee_years=16, reference=f"{label}联系函1"
    )
    return {
        PensionParameters: parameters,
        Claim: claim,
        Award: award,
        AwardPeriod: award.periods.order_by("valid_from", "id").first(),
        AwardEvent: award.events.order_by("id").first(),
        Recalculation: recalculation,
        Arrear: Arrear.objects.get(award=award),
        PayrollRun: run,
        PayrollLine: run.lines.get(award=award, kind=LineKind.PENSION),
        MonthlyConfirmation: confirmation,
        YearlyCheck: check,
        DeathListLoad: load,
        DeathRecord: DeathRecord.objects.get(person=deceased),
        Overpayment: overpayment,
        RecoveryStep: step,
        DeathSettlement: settlement,
        Transfer: transfer,
        YearsCredit: credit,
    }


# The bank records are made for both lines: a bank and two payers by these names, prefixed 境外 or 本地.
BANK_NAME, PAYER, POOR_PAYER = "合作银行", "代扣戊", "代扣己"


def _bank(line: RegionLine, label: str, code: str) -> dict[type[models.Model], models.Model]:
    """A partner bank of the line's pooling region with a key and one call made with it; a DEDUCT batch of 2024
    for two payers, a malformed result file rejected, then the bank's file accepted and settled (300 deducted,
    500 refused for insufficient funds), which books the income account."""
    partner = partner_register(
        actor=line.staff(Role.ADMINISTRATOR), code=code, name=label + BANK_NAME, pooling_regions=[line.pooling_region]
    )
    credential = credential_issue(actor=line.staff(Role.ADMINISTRATOR), partner=partner, label=label).credential
    use = CredentialUse.objects.create(
        credential=credential, method="GET", path="/api/v1/bank/batches/", status_code=200
    )
    agent = line.staff(Role.VILLAGE_AGENT)
    for i, (name, tier) in enumerate(((PAYER, "300"), (POOR_PAYER, "500"))):
        payer = make_person(
            line.village,
            name=label + name,
            birth_date=dt.date(1975, 4, 1 + i),
            bank_code=code,
            bank_account=f"62284800{i + 1:011d}",
        )
        contribution_services.tier_choice_record(actor=agent, person=payer, year=2024, amount=tier)
    batch = issue_deduct(line, partner, year=2024)
    poor = batch.lines.get(name=label + POOR_PAYER)
    result_receive(partner=partner, batch_no=batch.batch_no, data=b"H|bad\n", idempotency_key="bad")
    receipt = result_receive(
        partner=partner, batch_no=batch.batch_no, data=result_file(batch, {poor.seq: "1001"}), idempotency_key="ok"
    ).receipt
    receipt = receipt_settle(receipt_id=receipt.pk)
    return {
        BankPartner: partner,
        BankCredential: credential,
        CredentialUse: use,
        BankBatch: BankBatch.objects.get(pk=batch.pk),
        BankBatchLine: poor,
        ResultReceipt: receipt,
        ResultLine: ResultLine.objects.get(receipt=receipt, seq=poor.seq),
        FundAccount: FundAccount.objects.get(pooling_region=line.pooling_region, kind="income"),
    }


# The foreign fund accounts' numbers and finance's document number, markers of the fund pages.
FOREIGN_INCOME_NO, FOREIGN_FISCAL_NO, FOREIGN_FINANCE_DOC = "95588000000071", "95588000000073", "境外财确001"


def _funds(line: RegionLine, partner: BankPartner) -> dict[type[models.Model], models.Model]:
    """The line's income and fiscal accounts named at its bank; the month of the settled deduction swept; the
    bank's statement of that day with a fee the books do not hold; finance's confirmation of the sweep short by
    1.00; the month reconciled, so its differences are open."""
    officer = line.staff(Role.COUNTY_FUND_OFFICER)
    region = line.pooling_region
    for kind, number in (("income", FOREIGN_INCOME_NO), ("fiscal", FOREIGN_FISCAL_NO)):
        fund_account_bank_set(actor=officer, pooling_region=region, kind=kind, partner=partner, account_number=number)
    income = FundAccount.objects.get(pooling_region=region, kind="income")
    deduction = FundMovement.objects.filter(account=income, kind=MovementKind.DEDUCTION).order_by("id").first()
    day = deduction.booked_on
    sweep = income_sweep(pooling_region=region, month=day, actor=officer)
    data = statement_file(
        statement_date=day,
        opening_balance=Decimal("0.00"),
        entries=[Entry(deduction.amount, CREDIT, "", deduction.reference), Entry(Decimal("1.00"), DEBIT, "", "")],
    )
    statement = statement_receive(
        partner=partner, account_number=FOREIGN_INCOME_NO, statement_date=day, data=data
    ).statement
    confirmation = finance_confirmation_record(
        actor=officer,
        pooling_region=region,
        reference=sweep.reference,
        amount=sweep.total - Decimal("1.00"),
        confirmed_on=sweep.booked_on,
        document_number=FOREIGN_FINANCE_DOC,
    )
    reconcile(actor=officer, account=income, date_from=day.replace(day=1), date_to=month_end(day))
    return {
        FundMovement: FundMovement.objects.get(account=income, reference=sweep.reference),
        BankStatement: statement,
        StatementLine: statement.lines.order_by("line_no").last(),
        FinanceConfirmation: confirmation,
        ReconciliationDifference: ReconciliationDifference.objects.filter(account=income, status="open")
        .order_by("id")
        .first(),
    }


# The merger records are made for both cities: a project joining the line's pooling region into a neighbour's.
MERGER_NAME = "并轨项目"


def _merger(line: RegionLine, label: str, county: str) -> dict[type[models.Model], models.Model]:
    """A project by the line's city supervisor (the line's pooling region into a neighbouring county's, same city),
    a package kept for it and a test-load of that package."""
    neighbour = region_line(county=county, township="101", village="201", city=line.city.code[:4])
    supervisor = line.staff(Role.CITY_SUPERVISOR)
    project = project_create(
        actor=supervisor,
        name=label + MERGER_NAME,
        source_pooling_region=line.pooling_region,
        target_pooling_region=neighbour.pooling_region,
        cutover_date=dt.date(2027, 1, 1),
        source_tiers_until=dt.date(2027, 6, 30),
        deemed_years_until=dt.date(2027, 1, 1),
    )
    package = MergerPackage.objects.create(
        project=project,
        origin=PackageOrigin.UPLOAD,
        file=SimpleUploadedFile(f"{label}.zip", b"PK\x05\x06" + b"\x00" * 18),
        file_name=f"{label}数据包.zip",
        size=22,
        sha256=label.encode().hex().ljust(64, "0")[:64],
        created_by=supervisor,
    )
    load = MergerTestLoad.objects.create(project=project, package=package, started_by=supervisor)
    return {
        MergerProject: project,
        MergerStep: MergerStep.objects.get(project=project, step=Step.EXPORT),
        MergerPackage: package,
        MergerTestLoad: load,
    }


# The archive records are made abroad under these names: an item's title, a borrower, a surveyed lot.
ARCHIVE_TITLE, BORROWER, SURVEY_LOT = "档案题名", "借阅人", "移交档案"


def _archives(line: RegionLine, label: str, person: InsuredPerson, project: MergerProject) -> dict:
    """The line's county clerk files a paper for the person (2024) and places it with a scan; it is lent out; a
    2012 monthly report, due for review since 2023, is proposed for destruction; the clerk's custody is being
    handed over to a colleague; the merger's survey lists a lot still to be handed over."""
    clerk = line.staff(Role.COUNTY_CLERK)
    item = archive_services.item_create(
        actor=clerk,
        kind=archive_services.kind_by_code("contribution_roll"),
        region=line.village,
        year=2024,
        title=label + ARCHIVE_TITLE,
        person=person,
        fields={"借阅说明": label + "表单内容"},
    )
    item = archive_services.paper_place(actor=clerk, item=item, room="一号库房", cabinet="A01", box="001", position="1")
    scan = archive_services.file_attach(actor=clerk, item=item, upload=png_upload())
    loan = archive_lending.loan_open(
        actor=clerk,
        item=item,
        kind="borrow",
        borrower=label + BORROWER,
        purpose="核对缴费",
        due_on=dt.date.today() + dt.timedelta(days=7),
    )
    report = archive_services.item_create(
        actor=clerk,
        kind=archive_services.kind_by_code("monthly_report"),
        region=line.county,
        year=2012,
        title=label + "2012年月报",
    )
    review = archive_retention.review_propose(actor=clerk, items=[report], reason="保管期满，无继续保存价值")[0]
    successor = line.staff(Role.COUNTY_CLERK, username=f"archivist_{line.county.code}")
    handover = archive_handover.handover_start(actor=clerk, from_keeper=clerk, to_keeper=successor)
    lot = survey_item_add(
        actor=line.staff(Role.CITY_SUPERVISOR),
        project=project,
        kind=label + SURVEY_LOT,
        region_code=line.village.code,
        place="原社保所档案室",
        years="2010-2015",
        quantity=12,
    )
    return {
        ArchiveItem: item,
        ArchiveLocation: item.location,
        ArchiveFile: scan,
        Loan: loan,
        RetentionReview: review,
        HandOver: handover,
        HandOverLine: handover.lines.get(item=item),
        ArchiveEvent: item.events.order_by("id").first(),
        ArchiveSurveyItem: lot,
    }


@pytest.fixture
def world() -> World:
    home = region_line(county="320412", township="101", village="201")
    foreign = region_line(county="320115", township="101", village="201")  # another city altogether
    foreign.village.name = "境外村"
    foreign.village.save()
    foreign_agent = foreign.staff(Role.VILLAGE_AGENT)
    foreign_county = foreign.staff(Role.COUNTY_CLERK)
    person = make_person(foreign.village, name=FOREIGN_NAME, phone="13000000001", bank_account="6222000011112222")
    application = services.cancellation_submit(
        actor=foreign_agent,
        person=person,
        cancellation_reason="death",
        event_date=dt.date(2025, 1, 1),
        proof=_proof(),
    )
    applicant = services.registration_submit(
        actor=foreign_agent,
        village=foreign.village,
        id_number=idnumber.make("320115", dt.date(1980, 2, 2), 7),
        data={"name": FOREIGN_APPLICANT},
    )
    membership = services.special_group_record(
        actor=foreign.staff(Role.TOWNSHIP_CLERK), person=person, group="dibao", certified_on=dt.date(2024, 1, 1)
    )
    # Money on the foreign person's account, so its account routes have something to hide.
    account = account_open(person=person, opened_on=dt.date(2024, 3, 5))
    ledger_post(
        account=account,
        postings=[Posting(Component.PERSONAL, EntryKind.CONTRIBUTION, Decimal("300.00"))],
        booked_on=dt.date(2024, 3, 5),
        reference="contribution:foreign",
        idempotency_key="contribution:foreign",
    )
    # The foreign pooling region's policy and rate, and the foreign person's tier, payment and subsidies.
    foreign_policy = make_policy(foreign)
    foreign_rate = contribution_services.interest_rate_set(
        actor=foreign.staff(Role.CITY_SUPERVISOR), pooling_region=foreign.pooling_region, year=2024, rate="1.5%"
    )
    tier_choice = contribution_services.tier_choice_record(actor=foreign_agent, person=person, year=2024, amount="300")
    contribution = contribution_services.contribution_post(
        actor=foreign.staff(Role.TOWNSHIP_CLERK),
        person=person,
        year=2024,
        amount="230",  # 300 less 代缴 70 (低保)
        paid_on=dt.date(2024, 3, 6),
        channel="counter",
        bank_code="314",
        bank_reference="FOREIGN-2024",
    )
    collective = contribution_services.collective_subsidy_record(
        actor=foreign.staff(Role.TOWNSHIP_CLERK), village=foreign.village, year=2024, amount_per_person="50"
    )
    donation = contribution_services.donation_record(
        actor=foreign.staff(Role.TOWNSHIP_CLERK),
        person=person,
        year=2024,
        donor="境外资助方",
        amount="100",
        received_on=dt.date(2024, 4, 1),
    )
    load = services.employee_register_load(
        actor=foreign_county, file_name="境外名单.csv", content=f"身份证号\n{person.id_number}\n".encode()
    )
    foreign_benefits = _benefits(foreign, "境外")
    home_benefits = _benefits(home, "本地")
    foreign_bank = _bank(foreign, "境外", "F001")
    foreign_funds = _funds(foreign, foreign_bank[BankPartner])
    make_policy(home, valid_from=dt.date(2024, 1, 1))  # the tiers the home payers choose (earlier years are paid)
    home_bank = _bank(home, "本地", "H001")
    foreign_merger = _merger(foreign, "境外", "320116")
    foreign_archives = _archives(foreign, "境外", person, foreign_merger[MergerProject])
    SummaryRun.objects.create(month=dt.date(2024, 3, 1), finished_at=timezone.now())  # reports need a summarized month
    foreign_report = report_produce(
        actor=foreign.staff(Role.CITY_SUPERVISOR),
        region=foreign.county,
        month=dt.date(2024, 3, 1),
        report_set=ReportSet.ENROLMENT,
    )
    return World(
        home=home,
        foreign=foreign,
        objects={
            InsuredPerson: person,
            Application: application,
            ApplicationEvent: application.events.first(),
            SpecialGroupMembership: membership,
            EmployeeRegisterLoad: load,
            DualEnrollmentFlag: load.flags.get(),
            Region: foreign.village,
            IndividualAccount: account,
            ContributionPolicy: foreign_policy,
            InterestRate: foreign_rate,
            TierChoice: tier_choice,
            Contribution: contribution,
            CollectiveSubsidy: collective,
            Donation: donation,
            **foreign_benefits,
            **foreign_bank,
            **foreign_funds,
            **foreign_merger,
            **foreign_archives,
            ReportFile: foreign_report,
            "applicant": applicant,
        },
        home_objects={**home_benefits, **home_bank},
    )


def _snapshot(world: World) -> dict:
    state = {}
    for model, instance in world.objects.items():
        if isinstance(model, str):
            continue
        state[model.__name__] = model_to_dict(model.objects.get(pk=instance.pk), exclude=["proof"])
        state[f"{model.__name__}.count"] = model.objects.count()
    return state


def _foreign_markers(world: World) -> list[str]:
    person = world.objects[InsuredPerson]
    benefits = [f"境外{name}" for name in (RECIPIENT, DECEASED, CLAIMANT, MOVER, HEIR, DEATH_LIST)]
    recipients = [world.objects[Award].person, world.objects[DeathRecord].person, world.objects[Claim].person]
    payers = BankBatchLine.objects.filter(batch=world.objects[BankBatch])
    bank = [f"境外{BANK_NAME}", world.objects[BankBatch].batch_no, *(f"境外{name}" for name in (PAYER, POOR_PAYER))]
    funds = [FOREIGN_INCOME_NO, FOREIGN_FISCAL_NO, FOREIGN_FINANCE_DOC, world.objects[FinanceConfirmation].reference]
    merger = [f"境外{MERGER_NAME}", world.objects[MergerPackage].file_name]
    archives = [
        world.objects[ArchiveItem].archive_no,
        *(f"境外{name}" for name in (ARCHIVE_TITLE, BORROWER, SURVEY_LOT, "2012年月报", "表单内容")),
    ]
    return [
        *bank,
        *funds,
        *merger,
        *archives,
        *(payer.id_number for payer in payers),
        FOREIGN_NAME,
        FOREIGN_APPLICANT,
        person.id_number,
        person.insurance_number,
        "境外村",
        "境外名单",
        *benefits,
        *(recipient.id_number for recipient in recipients),
    ]


def _text_of(response) -> str:
    """What a response shows: a page, or the text inside an exported .xlsx (zipped XML, so read it unzipped)."""
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    if raw[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            raw = b"".join(archive.read(name) for name in archive.namelist() if name.endswith(".xml"))
    return raw.decode("utf-8", errors="replace")


ROLES = [role for role, _ in Role.choices]


def _client_for(world: World, role: str) -> Client:
    client = Client()
    client.force_login(world.home.staff(role))
    return client


def test_every_object_route_knows_its_model():
    unknown = [f"{route.pattern} ({route.name})" for route in OBJECT_ROUTES if route.model() is None]
    assert not unknown, f"name these routes' models in ROUTE_MODELS: {unknown}"
    assert OBJECT_ROUTES, "the portal has object routes to check"


@pytest.mark.parametrize("role", ROLES)
def test_foreign_objects_answer_404_on_every_route_and_method(world, role):
    client = _client_for(world, role)
    before = _snapshot(world)
    failures = []
    for route in OBJECT_ROUTES:
        value = route.lookup_value(world.objects[route.model()])
        assert value is not None, f"{route.pattern}: the foreign object has no value for its kwarg"
        path = route.path_for(value)
        for method in ("get", "post", "put", "patch", "delete"):
            response = getattr(client, method)(path)
            if response.status_code not in (404, 405):
                failures.append(f"{method.upper()} {path} → {response.status_code}")
    assert not failures, "\n".join(failures)
    assert _snapshot(world) == before


@pytest.mark.parametrize("role", ROLES)
def test_lists_never_show_foreign_records(world, role):
    client = _client_for(world, role)
    markers = _foreign_markers(world)
    person = world.objects[InsuredPerson]
    checked = 0
    leaks = []
    for route in LIST_ROUTES:
        for query in ("", f"?q={person.id_number}", f"?q={FOREIGN_NAME}", "?q=jwmj", "?worklist=1"):
            response = client.get(route.path_for(None) + query)
            if response.status_code != 200:
                continue
            checked += 1
            body = _text_of(response)
            # A search box shows back what was typed; only what the query did not carry counts as a leak.
            shown = [marker for marker in markers if marker in body and marker not in query]
            leaks += [f"{route.pattern}{query} shows {marker}" for marker in shown]
    assert not leaks, "\n".join(leaks)
    assert checked >= 5  # the person list, application list, regions, home page and more answered


@pytest.mark.parametrize("role", ROLES)
def test_registration_in_a_foreign_village_creates_nothing(world, role):
    client = _client_for(world, role)
    persons_before = InsuredPerson.objects.count()
    data = {
        "village": world.foreign.village.code,
        "id_number": idnumber.make("320115", dt.date(1970, 7, 7), 9),
        "name": "越权登记",
    }
    for route in LIST_ROUTES:
        client.post(route.path_for(None), data)
    assert InsuredPerson.objects.count() == persons_before
    assert not InsuredPerson.objects.filter(name="越权登记").exists()


def test_admin_pages_are_scoped(world):
    admin_user = UserFactory(
        username="city_admin",
        role=Role.ADMINISTRATOR,
        agency=world.home.agency("city"),
        is_staff=True,
        is_superuser=True,
    )
    make_person(world.home.village, name="本地某丙")
    client = Client()
    client.force_login(admin_user)

    listing = client.get("/admin/enrollment/insuredperson/").content.decode()
    assert "本地某丙" in listing
    assert FOREIGN_NAME not in listing
    foreign_page = client.get(f"/admin/enrollment/insuredperson/{world.objects[InsuredPerson].pk}/change/")
    assert foreign_page.status_code == 302  # the admin's "no such object" answer, never the record
    assert FOREIGN_NAME not in client.get(foreign_page["Location"], follow=True).content.decode()


MERGER_PAGES = ("project_detail", "events", "mapping", "survey")


def test_merger_pages_answer_the_city_supervisor_only(world):
    """At home: the city supervisor opens every merger page; a county clerk, a township clerk and a supervisor of
    another city get 403 on the lists and 404 on the project's pages (the project's place is the city)."""
    from django.urls import reverse

    merger = _merger(world.home, "本地", "320411")
    project, package, load = merger[MergerProject], merger[MergerPackage], merger[MergerTestLoad]
    urls = [reverse(f"migration:{name}", args=[project.pk]) for name in MERGER_PAGES]
    urls += [
        reverse("migration:step_progress", args=[merger[MergerStep].pk]),
        reverse("migration:package_download", args=[package.pk]),
        reverse("migration:testload_detail", args=[load.pk]),
    ]
    lists = [reverse("migration:project_list"), reverse("migration:project_create")]

    supervisor = _client_for(world, Role.CITY_SUPERVISOR)
    for url in urls + lists:
        assert supervisor.get(url).status_code == 200, url
    assert "本地并轨项目" in supervisor.get(lists[0]).content.decode()

    outsiders = {
        Role.COUNTY_CLERK: _client_for(world, Role.COUNTY_CLERK),
        Role.TOWNSHIP_CLERK: _client_for(world, Role.TOWNSHIP_CLERK),
        "other city": Client(),
    }
    outsiders["other city"].force_login(world.foreign.staff(Role.CITY_SUPERVISOR))
    for who, client in outsiders.items():
        for url in lists:
            response = client.get(url)
            if who == "other city":
                assert response.status_code == 200 and "本地并轨项目" not in response.content.decode(), (who, url)
            else:
                assert response.status_code == 403, (who, url)
        for url in urls:
            assert client.get(url).status_code == 404, (who, url)
        assert client.post(reverse("migration:freeze_apply", args=[project.pk])).status_code == 404, who
