"""Bank statements of the fund accounts (the service and the bank API), finance's confirmations and the
three-way reconciliation (三方对账), with hand-computed figures; differences kept by key, cleared with a reason,
and seen only within the pooling regions one covers."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import Http404
from django.test import Client
from django.urls import reverse

from agencies.errors import Conflict, DomainError, NotPermitted
from agencies.models import Role
from agencies.tests.factories import region_line
from funds.bank_partners import partner_register
from funds.fund_accounts import fund_account_bank_set, movement_post
from funds.models import (
    BankStatement,
    CredentialUse,
    DifferenceKind,
    DifferenceStatus,
    FinanceConfirmation,
    FundAccount,
    FundAccountKind,
    MovementKind,
    ReconciliationDifference,
    StatementLine,
)
from funds.reconciliation import (
    NotFound,
    StatementRejected,
    difference_clear,
    difference_get,
    finance_confirmation_record,
    fund_account_get,
    open_differences,
    reconcile,
    reconciliation_summary,
    statement_list,
    statement_receive,
)
from funds.statementfile import CREDIT, DEBIT, Entry, write
from funds.tests.bank_factories import make_key, make_partner

pytestmark = pytest.mark.django_db

D = Decimal
INCOME_NO, EXPENDITURE_NO, FISCAL_NO = "6228480000000001", "6228480000000002", "6228480000000003"
INCOME, EXPENDITURE, FISCAL = FundAccountKind.INCOME, FundAccountKind.EXPENDITURE, FundAccountKind.FISCAL
IA = "individual_account"
MARCH_5, MARCH_20, MARCH_31 = dt.date(2026, 3, 5), dt.date(2026, 3, 20), dt.date(2026, 3, 31)


@pytest.fixture
def line():
    return region_line()


@pytest.fixture
def officer(line):
    return line.staff(Role.COUNTY_FUND_OFFICER)


@pytest.fixture
def partner(line, officer):
    bank = make_partner(line)
    for kind, number in ((INCOME, INCOME_NO), (EXPENDITURE, EXPENDITURE_NO), (FISCAL, FISCAL_NO)):
        fund_account_bank_set(
            actor=officer, pooling_region=line.pooling_region, kind=kind, partner=bank, account_number=number
        )
    return bank


def account(line, kind) -> FundAccount:
    return FundAccount.objects.get(pooling_region=line.pooling_region, kind=kind)


def statement_file(day, opening, *entries) -> bytes:
    return write(
        statement_date=day,
        opening_balance=D(opening),
        entries=[Entry(D(amount), direction, "", reference) for amount, direction, reference in entries],
    )


def receive(partner, number, day, opening, *entries):
    return statement_receive(
        partner=partner, account_number=number, statement_date=day, data=statement_file(day, opening, *entries)
    )


def book(line, kind, amount, on, reference, movement=MovementKind.DEDUCTION, key=None):
    return movement_post(
        pooling_region=line.pooling_region,
        account_kind=kind,
        fund=IA,
        kind=movement,
        amount=D(amount),
        booked_on=on,
        reference=reference,
        idempotency_key=key or f"test:{kind}:{reference}:{on}:{amount}",
    )


def sweep_reference(line) -> str:
    return f"GJ{line.pooling_region.code}202603"


# --- the bank account numbers ---------------------------------------------------------------------------------------


def test_each_fund_account_is_given_its_bank_and_number(line, officer, partner):
    assert account(line, INCOME).account_number == INCOME_NO and account(line, FISCAL).bank_partner == partner
    with pytest.raises(Conflict, match="已登记为"):
        fund_account_bank_set(
            actor=officer, pooling_region=line.pooling_region, kind=FISCAL, partner=partner, account_number=INCOME_NO
        )
    elsewhere = region_line(county="320413")
    stranger = partner_register(
        actor=line.staff(Role.ADMINISTRATOR), code="ICBC1", name="工商银行", pooling_regions=[elsewhere.pooling_region]
    )
    with pytest.raises(DomainError, match="不是.*的合作银行"):
        fund_account_bank_set(
            actor=officer, pooling_region=line.pooling_region, kind=INCOME, partner=stranger, account_number="1"
        )
    with pytest.raises(NotPermitted):
        fund_account_bank_set(
            actor=line.staff(Role.COUNTY_CLERK),
            pooling_region=line.pooling_region,
            kind=INCOME,
            partner=partner,
            account_number="2",
        )
    # once the bank has sent a statement of it, the account keeps its number
    receive(partner, INCOME_NO, MARCH_5, "0.00", ("10.00", CREDIT, "R"))
    with pytest.raises(Conflict, match="已收到银行对账单"):
        fund_account_bank_set(
            actor=officer, pooling_region=line.pooling_region, kind=INCOME, partner=partner, account_number="3"
        )


# --- receiving a statement ------------------------------------------------------------------------------------------


def test_a_statement_is_received_once_and_another_file_for_the_day_is_a_conflict(line, partner):
    # given the income account's statement of 03-05: 1300.00 in, 2.50 out
    data = statement_file(MARCH_5, "0.00", ("1300.00", CREDIT, "DBATCH1"), ("2.50", DEBIT, ""))
    received = statement_receive(partner=partner, account_number=INCOME_NO, statement_date=MARCH_5, data=data)
    statement = received.statement
    assert received.created
    assert (statement.account, statement.opening_balance, statement.closing_balance, statement.line_count) == (
        account(line, INCOME),
        D("0.00"),
        D("1297.50"),
        2,
    )
    assert [(row.line_no, row.signed_amount, row.balance) for row in statement.lines.all()] == [
        (2, D("1300.00"), D("1300.00")),
        (3, D("-2.50"), D("1297.50")),
    ]
    # when the same file comes again: the same statement
    again = statement_receive(partner=partner, account_number=INCOME_NO, statement_date=MARCH_5, data=data)
    assert (again.statement.pk, again.created) == (statement.pk, False)
    # when another file for the day comes: a conflict, and nothing changes
    other = statement_file(MARCH_5, "0.00", ("1300.00", CREDIT, "DBATCH1"))
    with pytest.raises(Conflict) as conflict:
        statement_receive(partner=partner, account_number=INCOME_NO, statement_date=MARCH_5, data=other)
    assert conflict.value.status_code == 409 and "已接收" in conflict.value.message
    assert BankStatement.objects.count() == 1 and StatementLine.objects.count() == 2


def test_only_this_banks_fund_accounts_in_regions_it_serves_are_found(line, partner):
    data = statement_file(MARCH_5, "0.00", ("1.00", CREDIT, "R"))
    for number in ("6228480000009999", ""):
        with pytest.raises(NotFound) as missing:
            statement_receive(partner=partner, account_number=number, statement_date=MARCH_5, data=data)
        assert missing.value.status_code == 404
    # another bank serving the region does not hold these accounts
    other_bank = partner_register(
        actor=line.staff(Role.ADMINISTRATOR), code="ICBC1", name="工商银行", pooling_regions=[line.pooling_region]
    )
    with pytest.raises(NotFound):
        statement_receive(partner=other_bank, account_number=INCOME_NO, statement_date=MARCH_5, data=data)
    # nor does this bank once it no longer serves the region
    partner.pooling_regions.clear()
    with pytest.raises(NotFound):
        statement_receive(partner=partner, account_number=INCOME_NO, statement_date=MARCH_5, data=data)
    assert not BankStatement.objects.exists()


def test_a_bad_file_is_refused_with_every_error(line, partner):
    text = (
        "date,amount,direction,counterpart,reference,balance\n"
        "2026-03-05,1300.00,C,,DBATCH1,1300.00\n"
        "2026-03-06,10.00,X,,R2,1310.00\n"
        "2026-03-05,10,C,,R3,1320.00\n"
    )
    with pytest.raises(StatementRejected) as rejected:
        statement_receive(partner=partner, account_number=INCOME_NO, statement_date=MARCH_5, data=text.encode())
    assert rejected.value.status_code == 400 and rejected.value.error_count == 3
    assert [(e.line, e.field) for e in rejected.value.errors] == [(3, "date"), (3, "direction"), (4, "amount")]
    assert not BankStatement.objects.exists()
    with pytest.raises(DomainError, match="晚于今天"):
        receive(partner, INCOME_NO, dt.date.today() + dt.timedelta(days=2), "0.00", ("1.00", CREDIT, "R"))


def test_the_opening_balance_must_be_the_previous_closing(line, partner):
    receive(partner, INCOME_NO, MARCH_5, "0.00", ("1300.00", CREDIT, "DBATCH1"))
    # a day later the bank starts from 1200.00 instead of 1300.00
    with pytest.raises(StatementRejected) as rejected:
        receive(partner, INCOME_NO, dt.date(2026, 3, 6), "1200.00", ("50.00", CREDIT, "CT1"))
    [error] = rejected.value.errors
    assert (error.line, error.field) == (2, "balance")
    assert error.message == "期初余额1200.00元与2026-03-05对账单的期末余额1300.00元不符。"
    # a day without a statement between is a day without movement: the 20th starts from the 5th's 1300.00
    assert receive(partner, INCOME_NO, MARCH_20, "1300.00", ("500.00", CREDIT, "CT1")).created
    # a day sent late must end where the next one starts
    with pytest.raises(StatementRejected, match="错误") as late:
        receive(partner, INCOME_NO, dt.date(2026, 3, 10), "1300.00", ("9.00", CREDIT, "CT2"))
    assert late.value.errors[0].message == "期末余额1309.00元与2026-03-20对账单的期初余额1300.00元不符。"
    # a day without lines takes the balance of the day before
    empty = receive(partner, INCOME_NO, dt.date(2026, 3, 21), "0.00").statement
    assert (empty.opening_balance, empty.closing_balance, empty.line_count) == (D("1800.00"), D("1800.00"), 0)


def test_an_accounts_first_statement_needs_a_line(line, partner):
    with pytest.raises(StatementRejected) as rejected:
        receive(partner, FISCAL_NO, MARCH_5, "0.00")
    assert [(e.line, e.field) for e in rejected.value.errors] == [(0, "file")]


# --- the endpoint -----------------------------------------------------------------------------------------------------


def bank_client(line, partner) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Api-Key {make_key(line, partner)}")


URL = f"/api/v1/bank/statements/{INCOME_NO}/20260305"


def test_the_endpoint_is_where_the_bank_api_documents_it():
    assert reverse("bank-statement-upload", args=[INCOME_NO, "20260305"]) == URL


def test_the_bank_posts_a_statement_raw_or_as_a_form(line, partner):
    client = bank_client(line, partner)
    data = statement_file(MARCH_5, "0.00", ("1300.00", CREDIT, "DBATCH1"))

    created = client.post(URL, data=data, content_type="text/csv")
    assert created.status_code == 201, created.content
    body = created.json()
    assert {k: body[k] for k in ("account_number", "account_kind", "statement_date", "line_count")} == {
        "account_number": INCOME_NO,
        "account_kind": "income",
        "statement_date": "2026-03-05",
        "line_count": 1,
    }
    assert (body["opening_balance"], body["closing_balance"]) == ("0.00", "1300.00")
    assert body["pooling_region_code"] == line.pooling_region.code

    repeat = client.post(URL, data=data, content_type="application/octet-stream")
    assert (repeat.status_code, repeat.json()["id"]) == (200, body["id"])

    form = client.post(
        f"/api/v1/bank/statements/{INCOME_NO}/20260306",
        data={"file": SimpleUploadedFile("s.csv", statement_file(dt.date(2026, 3, 6), "1300.00", ("5.00", DEBIT, "")))},
    )
    assert form.status_code == 201 and form.json()["closing_balance"] == "1295.00"
    statement = BankStatement.objects.get(statement_date=dt.date(2026, 3, 6))
    assert statement.credential is not None and statement.credential.partner == partner
    assert CredentialUse.objects.filter(path=URL, status_code=201).count() == 1


def test_the_endpoint_refuses_with_400_404_409_413(line, partner, settings):
    client = bank_client(line, partner)
    bad = b"date,amount,direction,counterpart,reference,balance\n2026-03-05,1.0,C,,R,1.00\n"
    refused = client.post(URL, data=bad, content_type="text/csv")
    assert refused.status_code == 400
    assert refused.json()["errors"] == [
        {"line": 2, "field": "amount", "message": refused.json()["errors"][0]["message"]}
    ]
    assert refused.json()["error_count"] == 1 and refused.json()["code"] == "rejected"

    assert (
        client.post(f"/api/v1/bank/statements/{INCOME_NO}/20260231", data=b"x", content_type="text/csv").json()["field"]
        == "statement_date"
    )
    no_file = client.post(URL, data={"other": "x"})
    assert (no_file.status_code, no_file.json()["field"]) == (400, "file")

    missing = client.post("/api/v1/bank/statements/1234/20260305", data=bad, content_type="text/csv")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")

    good = statement_file(MARCH_5, "0.00", ("1.00", CREDIT, "R"))
    assert client.post(URL, data=good, content_type="text/csv").status_code == 201
    other = statement_file(MARCH_5, "0.00", ("2.00", CREDIT, "R"))
    conflict = client.post(URL, data=other, content_type="text/csv")
    assert (conflict.status_code, conflict.json()["code"]) == (409, "already_received")

    settings.BANK_FILE_MAX_BYTES = 10
    too_large = client.post(f"/api/v1/bank/statements/{INCOME_NO}/20260306", data=good, content_type="text/csv")
    assert (too_large.status_code, too_large.json()["code"]) == (413, "too_large")
    assert BankStatement.objects.count() == 1

    # a staff session opens nothing of the bank API
    staff = Client()
    staff.force_login(line.staff(Role.COUNTY_FUND_OFFICER))
    assert staff.post(URL, data=good, content_type="text/csv").status_code in (401, 403)


# --- finance's confirmations ----------------------------------------------------------------------------------------


def test_finance_confirms_a_transfer_the_books_hold(line, officer):
    book(line, INCOME, "1800.00", MARCH_5, "DBATCH1")
    reference = sweep_reference(line)
    with pytest.raises(DomainError, match="没有业务编号为") as unknown:
        finance_confirmation_record(
            actor=officer, pooling_region=line.pooling_region, reference=reference, amount="1800.00",
            confirmed_on=dt.date(2026, 4, 2),
        )  # fmt: skip
    assert unknown.value.field == "reference"
    book(line, INCOME, "-1800.00", MARCH_31, reference, MovementKind.SWEEP_OUT)
    confirmation = finance_confirmation_record(
        actor=officer,
        pooling_region=line.pooling_region,
        reference=reference,
        amount="1800.00",
        confirmed_on=dt.date(2026, 4, 2),
        document_number="财确2026-031",
    )
    assert (confirmation.amount, confirmation.recorded_by) == (D("1800.00"), officer)
    same = finance_confirmation_record(
        actor=officer,
        pooling_region=line.pooling_region,
        reference=reference,
        amount=D("1800.00"),
        confirmed_on=dt.date(2026, 4, 2),
        document_number="财确2026-031",
    )
    assert same.pk == confirmation.pk
    with pytest.raises(Conflict, match="已录入财政确认：1800.00元"):
        finance_confirmation_record(
            actor=officer,
            pooling_region=line.pooling_region,
            reference=reference,
            amount="1700.00",
            confirmed_on=dt.date(2026, 4, 2),
        )
    with pytest.raises(NotPermitted):
        finance_confirmation_record(
            actor=line.staff(Role.COUNTY_CLERK),
            pooling_region=line.pooling_region,
            reference=reference,
            amount="1800.00",
            confirmed_on=dt.date(2026, 4, 2),
        )
    assert FinanceConfirmation.objects.count() == 1


# --- the reconciliation -------------------------------------------------------------------------------------------------


def test_books_bank_and_finance_that_agree_match_everywhere(line, officer, partner):
    # given 1300.00 on 03-05, 500.00 on 03-20 and the sweep of 1800.00 on 03-31, in books, bank and finance
    reference = sweep_reference(line)
    book(line, INCOME, "1300.00", MARCH_5, "DBATCH1")
    book(line, INCOME, "500.00", MARCH_20, "CT001", MovementKind.COUNTER)
    book(line, INCOME, "-1800.00", MARCH_31, reference, MovementKind.SWEEP_OUT)
    receive(partner, INCOME_NO, MARCH_5, "0.00", ("1300.00", CREDIT, "DBATCH1"))
    receive(partner, INCOME_NO, MARCH_20, "1300.00", ("500.00", CREDIT, "CT001"))
    receive(partner, INCOME_NO, MARCH_31, "1800.00", ("1800.00", DEBIT, reference))
    finance_confirmation_record(
        actor=officer, pooling_region=line.pooling_region, reference=reference, amount="1800.00", confirmed_on=MARCH_31
    )

    result = reconcile(actor=officer, account=account(line, INCOME), date_from=dt.date(2026, 3, 1), date_to=MARCH_31)

    assert [(m.reference, m.on_date, m.amount) for m in result.matched] == [
        ("DBATCH1", MARCH_5, D("1300.00")),
        ("CT001", MARCH_20, D("500.00")),
        (reference, MARCH_31, D("-1800.00")),
    ]
    assert [(m.reference, m.amount, m.confirmation.amount) for m in result.finance_matched] == [
        (reference, D("-1800.00"), D("1800.00"))
    ]
    assert [(d.on_date, d.closing, d.books, d.agrees) for d in result.days] == [
        (MARCH_5, D("1300.00"), D("1300.00"), True),
        (MARCH_20, D("1800.00"), D("1800.00"), True),
        (MARCH_31, D("0.00"), D("0.00"), True),
    ]
    assert result.differences == [] and result.agrees and result.compared_through == MARCH_31
    assert not ReconciliationDifference.objects.exists()


@pytest.fixture
def march_with_differences(line, officer, partner):
    """Income in March 2026, books against bank:

    ========== ========== ================ ================ =========================
    day        reference  books            bank             so
    ========== ========== ================ ================ =========================
    03-05      DBATCH1    +1300.00         +1300.00         match
    03-05      DBATCH2    +200.00          +210.00          amount differs by +10.00
    03-05      (fee)                       −2.50            only in bank, −2.50
    03-20      CT002      +80.00           (no statement)   only in books, −80.00
    03-31      GJ…        −1580.00         −1580.00         match; finance says 1500.00
    ========== ========== ================ ================ =========================

    Balances: 03-05 bank 1507.50, books 1500.00 (+7.50); 03-31 bank −72.50, books 0.00 (−72.50).
    """
    reference = sweep_reference(line)
    book(line, INCOME, "1300.00", MARCH_5, "DBATCH1")
    book(line, INCOME, "200.00", MARCH_5, "DBATCH2")
    book(line, INCOME, "80.00", MARCH_20, "CT002", MovementKind.COUNTER)
    book(line, INCOME, "-1580.00", MARCH_31, reference, MovementKind.SWEEP_OUT)
    receive(
        partner,
        INCOME_NO,
        MARCH_5,
        "0.00",
        ("1300.00", CREDIT, "DBATCH1"),
        ("210.00", CREDIT, "DBATCH2"),
        ("2.50", DEBIT, ""),
    )
    receive(partner, INCOME_NO, MARCH_31, "1507.50", ("1580.00", DEBIT, reference))
    finance_confirmation_record(
        actor=officer, pooling_region=line.pooling_region, reference=reference, amount="1500.00", confirmed_on=MARCH_31
    )
    return account(line, INCOME)


def found(result) -> list[tuple]:
    return [
        (d.kind, d.on_date, d.reference, d.books_amount, d.bank_amount, d.finance_amount, d.difference)
        for d in result.differences
    ]


def test_every_kind_of_difference_is_found_with_its_amount(line, officer, march_with_differences):
    result = reconcile(actor=officer, account=march_with_differences, date_from=dt.date(2026, 3, 1), date_to=MARCH_31)
    reference = sweep_reference(line)
    assert [(m.reference, m.on_date, m.amount) for m in result.matched] == [
        ("DBATCH1", MARCH_5, D("1300.00")),
        (reference, MARCH_31, D("-1580.00")),
    ]
    assert sorted(found(result), key=lambda row: (row[1], row[0], row[2])) == [
        (DifferenceKind.AMOUNT_DIFFERS, MARCH_5, "DBATCH2", D("200.00"), D("210.00"), None, D("10.00")),
        (DifferenceKind.BALANCE_DIFFERS, MARCH_5, "", D("1500.00"), D("1507.50"), None, D("7.50")),
        (DifferenceKind.ONLY_IN_BANK, MARCH_5, "", None, D("-2.50"), None, D("-2.50")),
        (DifferenceKind.ONLY_IN_BOOKS, MARCH_20, "CT002", D("80.00"), None, None, D("-80.00")),
        (DifferenceKind.BALANCE_DIFFERS, MARCH_31, "", D("0.00"), D("-72.50"), None, D("-72.50")),
        (DifferenceKind.FINANCE_DIFFERS, MARCH_31, reference, D("-1580.00"), None, D("1500.00"), D("-80.00")),
    ]
    assert [(d.on_date, d.closing - d.books) for d in result.days] == [(MARCH_5, D("7.50")), (MARCH_31, D("-72.50"))]
    assert result.finance_matched == [] and not result.agrees
    assert all(d.status == DifferenceStatus.OPEN for d in result.differences)
    assert ReconciliationDifference.objects.filter(account=march_with_differences).count() == 6


def test_an_unconfirmed_transfer_waits_for_finance_on_both_accounts(line, officer, partner):
    # given the sweep of 1800.00 booked on income and fiscal, but no confirmation yet
    reference = sweep_reference(line)
    book(line, INCOME, "1800.00", MARCH_5, "DBATCH1")
    book(line, INCOME, "-1800.00", MARCH_31, reference, MovementKind.SWEEP_OUT)
    book(line, FISCAL, "1800.00", MARCH_31, reference, MovementKind.SWEEP_IN)
    period = {"date_from": dt.date(2026, 3, 1), "date_to": MARCH_31}
    on_income = reconcile(actor=officer, account=account(line, INCOME), **period)
    on_fiscal = reconcile(actor=officer, account=account(line, FISCAL), **period)
    # then without any statement only finance is compared: not confirmed, by the whole amount
    assert on_income.compared_through is None and on_income.matched == [] and on_income.days == []
    assert found(on_income) == [
        (DifferenceKind.NOT_CONFIRMED, MARCH_31, reference, D("-1800.00"), None, None, D("-1800.00"))
    ]
    assert found(on_fiscal) == [
        (DifferenceKind.NOT_CONFIRMED, MARCH_31, reference, D("1800.00"), None, None, D("-1800.00"))
    ]
    # when finance confirms 1800.00, the next run finds it resolved on both
    finance_confirmation_record(
        actor=officer, pooling_region=line.pooling_region, reference=reference, amount="1800.00", confirmed_on=MARCH_31
    )
    again = reconcile(actor=officer, account=account(line, FISCAL), **period)
    assert again.differences == [] and [d.kind for d in again.resolved] == [DifferenceKind.NOT_CONFIRMED]
    assert [m.reference for m in again.finance_matched] == [reference]
    assert ReconciliationDifference.objects.get(account=account(line, FISCAL)).status == DifferenceStatus.RESOLVED
    assert ReconciliationDifference.objects.get(account=account(line, INCOME)).status == DifferenceStatus.OPEN


def test_running_again_finds_the_same_differences_and_a_cleared_one_stays_cleared(
    line, officer, march_with_differences
):
    period = {"account": march_with_differences, "date_from": dt.date(2026, 3, 1), "date_to": MARCH_31}
    first = reconcile(actor=officer, **period)
    second = reconcile(actor=officer, **period)
    assert sorted(d.pk for d in second.differences) == sorted(d.pk for d in first.differences)
    assert ReconciliationDifference.objects.count() == 6

    # when the fee is cleared with its reason
    fee = ReconciliationDifference.objects.get(kind=DifferenceKind.ONLY_IN_BANK)
    with pytest.raises(DomainError, match="请填写处理说明") as no_reason:
        difference_clear(actor=officer, difference=fee, reason="  ")
    assert no_reason.value.field == "reason"
    cleared = difference_clear(actor=officer, difference=fee, reason="银行手续费，已报销")
    assert (cleared.status, cleared.reason, cleared.cleared_by) == (
        DifferenceStatus.CLEARED,
        "银行手续费，已报销",
        officer,
    )
    with pytest.raises(Conflict, match="银行手续费，已报销"):
        difference_clear(actor=officer, difference=fee, reason="again")

    # and the 10.00 missing from DBATCH2 is booked: the books now say 210.00
    book(line, INCOME, "10.00", MARCH_5, "DBATCH2", MovementKind.TRANSFER_IN)
    third = reconcile(actor=officer, **period)
    by_kind = {(d.kind, d.on_date): d for d in third.differences}
    # then the fee stays cleared, the amount difference is resolved, the 03-05 balance now differs by the fee
    assert by_kind[(DifferenceKind.ONLY_IN_BANK, MARCH_5)].status == DifferenceStatus.CLEARED
    assert (DifferenceKind.AMOUNT_DIFFERS, MARCH_5) not in by_kind
    assert [(d.kind, d.reference) for d in third.resolved] == [(DifferenceKind.AMOUNT_DIFFERS, "DBATCH2")]
    balance_0305 = by_kind[(DifferenceKind.BALANCE_DIFFERS, MARCH_5)]
    assert (balance_0305.books_amount, balance_0305.difference) == (D("1510.00"), D("-2.50"))
    assert balance_0305.pk in {d.pk for d in first.differences}
    with pytest.raises(Conflict, match="已自动消除"):
        difference_clear(
            actor=officer,
            difference=ReconciliationDifference.objects.get(kind=DifferenceKind.AMOUNT_DIFFERS),
            reason="已补记",
        )
    statuses = dict(ReconciliationDifference.objects.values_list("kind", "status").filter(on_date=MARCH_5))
    assert statuses == {
        DifferenceKind.AMOUNT_DIFFERS: DifferenceStatus.RESOLVED,
        DifferenceKind.BALANCE_DIFFERS: DifferenceStatus.OPEN,
        DifferenceKind.ONLY_IN_BANK: DifferenceStatus.CLEARED,
    }


def test_days_after_the_last_statement_are_not_compared_yet(line, officer, partner):
    book(line, INCOME, "1300.00", MARCH_5, "DBATCH1")
    book(line, INCOME, "99.00", dt.date(2026, 4, 3), "APRIL")
    receive(partner, INCOME_NO, MARCH_5, "0.00", ("1300.00", CREDIT, "DBATCH1"))
    result = reconcile(
        actor=officer, account=account(line, INCOME), date_from=dt.date(2026, 3, 1), date_to=dt.date(2026, 4, 30)
    )
    assert result.compared_through == MARCH_5
    assert result.differences == [] and [m.reference for m in result.matched] == ["DBATCH1"]
    assert result.books_balance == D("1399.00") and result.cached_balance_ok


def test_a_cached_balance_that_is_not_the_sum_of_the_movements_is_reported(line, officer, partner):
    book(line, INCOME, "1300.00", MARCH_5, "DBATCH1")
    FundAccount.objects.filter(pk=account(line, INCOME).pk).update(balance=D("1299.00"))
    result = reconcile(actor=officer, account=account(line, INCOME), date_from=MARCH_5, date_to=MARCH_5)
    assert (result.books_balance, result.cached_balance_ok, result.agrees) == (D("1300.00"), False, False)


def test_the_period_is_checked(line, officer, partner):
    with pytest.raises(DomainError, match="起始日期不能晚于截止日期"):
        reconcile(actor=officer, account=account(line, INCOME), date_from=MARCH_31, date_to=MARCH_5)
    with pytest.raises(DomainError, match="最多366天"):
        reconcile(
            actor=officer, account=account(line, INCOME), date_from=dt.date(2025, 1, 1), date_to=dt.date(2026, 1, 2)
        )


def test_the_summary_of_the_regions_accounts(line, officer, march_with_differences):
    reconcile(actor=officer, account=march_with_differences, date_from=dt.date(2026, 3, 1), date_to=MARCH_31)
    rows = reconciliation_summary(
        user=officer, pooling_region=line.pooling_region, date_from=dt.date(2026, 3, 1), date_to=MARCH_31
    )
    assert [row.kind for row in rows] == [INCOME, EXPENDITURE, FISCAL]
    income = rows[0]
    assert (income.books_opening, income.books_in, income.books_out, income.books_closing) == (
        D("0.00"),
        D("1580.00"),
        D("-1580.00"),
        D("0.00"),
    )
    assert (income.statements, income.last_statement.statement_date, income.bank_closing) == (
        2,
        MARCH_31,
        D("-72.50"),
    )
    assert (income.books_at_last_statement, income.balance_agrees) == (D("0.00"), False)
    # 10.00 − 2.50 − 80.00 + 7.50 − 72.50 − 80.00
    assert (income.open_differences, income.open_difference_total) == (6, D("-217.50"))
    expenditure = rows[1]
    assert (expenditure.statements, expenditure.last_statement, expenditure.balance_agrees) == (0, None, None)


# --- who may ---------------------------------------------------------------------------------------------------------


def test_an_officer_of_another_county_can_neither_see_nor_clear(line, officer, march_with_differences):
    reconcile(actor=officer, account=march_with_differences, date_from=dt.date(2026, 3, 1), date_to=MARCH_31)
    difference = ReconciliationDifference.objects.get(kind=DifferenceKind.ONLY_IN_BOOKS)
    assert open_differences(user=officer).count() == 6
    assert open_differences(user=officer, pooling_region=line.pooling_region).first().on_date == MARCH_5
    assert difference_get(user=officer, pk=difference.pk) == difference
    assert fund_account_get(user=officer, pk=march_with_differences.pk) == march_with_differences
    assert [s.statement_date for s in statement_list(user=officer, account=march_with_differences)] == [
        MARCH_31,
        MARCH_5,
    ]
    assert statement_list(user=officer, account=march_with_differences, date_to=MARCH_20).count() == 1

    stranger = region_line(county="320413").staff(Role.COUNTY_FUND_OFFICER)
    assert open_differences(user=stranger).count() == 0
    with pytest.raises(Http404):
        open_differences(user=stranger, pooling_region=line.pooling_region)
    with pytest.raises(Http404):
        difference_get(user=stranger, pk=difference.pk)
    with pytest.raises(Http404):
        fund_account_get(user=stranger, pk=march_with_differences.pk)
    with pytest.raises(Http404):
        statement_list(user=stranger, account=march_with_differences)
    with pytest.raises(Http404):
        reconciliation_summary(
            user=stranger, pooling_region=line.pooling_region, date_from=dt.date(2026, 3, 1), date_to=MARCH_31
        )
    with pytest.raises(NotFound) as hidden:
        difference_clear(actor=stranger, difference=difference, reason="不是我县的")
    assert hidden.value.status_code == 404
    with pytest.raises(NotPermitted):
        reconcile(actor=stranger, account=march_with_differences, date_from=MARCH_5, date_to=MARCH_31)
    # and a clerk of the county may look at nothing of it to clear
    with pytest.raises(NotPermitted):
        difference_clear(actor=line.staff(Role.COUNTY_CLERK), difference=difference, reason="看看")
    with pytest.raises(NotPermitted):
        reconcile(
            actor=line.staff(Role.COUNTY_CLERK), account=march_with_differences, date_from=MARCH_5, date_to=MARCH_31
        )
    difference.refresh_from_db()
    assert difference.status == DifferenceStatus.OPEN and difference.reason == ""


# --- at the same moment ---------------------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_statement_posted_twice_at_once_is_received_once():
    from funds.tests.test_fund_accounts import run_together

    line = region_line()
    officer = line.staff(Role.COUNTY_FUND_OFFICER)
    bank = make_partner(line)
    fund_account_bank_set(
        actor=officer, pooling_region=line.pooling_region, kind=INCOME, partner=bank, account_number=INCOME_NO
    )
    data = statement_file(MARCH_5, "0.00", ("1300.00", CREDIT, "DBATCH1"))
    other = statement_file(MARCH_5, "0.00", ("1200.00", CREDIT, "DBATCH1"))

    def post(body):
        return lambda: statement_receive(partner=bank, account_number=INCOME_NO, statement_date=MARCH_5, data=body)

    twins = run_together(post(data), post(data), post(data))
    assert sorted(r.created for r in twins) == [False, False, True]
    assert len({r.statement.pk for r in twins}) == 1

    rivals = run_together(post(other), post(other))
    assert all(isinstance(r, Conflict) for r in rivals)
    assert BankStatement.objects.count() == 1 and StatementLine.objects.count() == 1
