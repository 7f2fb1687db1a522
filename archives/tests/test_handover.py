"""交接: the outgoing keeper's custody is listed, checked and signed by both keepers before it moves.

Keepers 甲 (outgoing) and 乙 (incoming) are both clerks of township 320412101; the county's clerk opens the
hand-overs. Papers are filed under village 320412101201 and numbered in filing order, so a list sorted by archive
number is the order the test filed them in.
"""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agencies.errors import Conflict, DomainError, NotPermitted
from agencies.models import Role, User
from agencies.tests.factories import region_line
from archives import handover as services
from archives import lending, retention
from archives.models import ArchiveEvent, ArchiveItem, HandOver, HandOverStatus, LineState, LoanKind
from archives.tests.factories import placed_item

pytestmark = pytest.mark.django_db


@pytest.fixture
def line():
    return region_line()


@pytest.fixture
def clerk(line):
    return line.staff(Role.COUNTY_CLERK)


@pytest.fixture
def outgoing(line):
    return line.staff(Role.TOWNSHIP_CLERK, username="keeper_jia")


@pytest.fixture
def incoming(line):
    return line.staff(Role.TOWNSHIP_CLERK, username="keeper_yi")


def kept_by(line, keeper, count: int, **fields) -> list[ArchiveItem]:
    return [placed_item(line.village, keeper=keeper, title=f"登记表{n}", **fields) for n in range(count)]


def custody(keeper) -> set[int]:
    return set(ArchiveItem.objects.filter(keeper=keeper, destroyed_at__isnull=True).values_list("pk", flat=True))


def states(handover) -> dict[str, str]:
    return dict(handover.lines.values_list("item__archive_no", "state"))


def lend(clerk, item):
    return lending.loan_open(
        actor=clerk,
        item=item,
        kind=LoanKind.BORROW,
        borrower="审计员",
        purpose="专项审计",
        due_on=timezone.localdate() + dt.timedelta(days=10),
    )


def destroy(line, item) -> None:
    """Through the retention services: proposed by the county's clerk, decided by its approver."""
    [review] = retention.review_propose(actor=line.staff(Role.COUNTY_CLERK), items=[item], reason="保管期满")
    retention.review_decide(actor=line.staff(Role.COUNTY_APPROVER), review=review, decision="destroy", note="同意")


def test_hand_over_moves_custody_of_exactly_the_listed_items(line, clerk, outgoing, incoming):
    # given 甲 keeps 5 papers (one of them out on loan), 乙 already keeps 1, and 甲 once kept one since destroyed
    mine = kept_by(line, outgoing, 5)
    already = placed_item(line.village, keeper=incoming, title="乙的登记表")
    destroyed = placed_item(line.village, keeper=outgoing, kind="monthly_report", year=2015, title="2015年月报")
    destroy(line, destroyed)
    loan = lend(clerk, mine[0])

    # when the county's clerk opens the hand-over
    handover = services.handover_start(actor=clerk, from_keeper=outgoing, to_keeper=incoming, note="甲调岗")

    # then the list holds 甲's 5 papers, the lent one accounted for by its loan
    assert (handover.status, handover.region_code, handover.created_by) == (
        HandOverStatus.OPEN,
        line.township.code,
        clerk,
    )
    assert handover.lines.count() == 5
    assert set(handover.lines.values_list("item_id", flat=True)) == {item.pk for item in mine}
    lent_line = handover.lines.get(item=mine[0])
    assert (lent_line.state, lent_line.loan) == (LineState.ON_LOAN, loan)
    assert handover.lines.filter(state=LineState.PENDING).count() == 4

    # when 乙 finds the other 4 in the room and both sign
    assert services.handover_check_all_present(actor=incoming, handover=handover) == 4
    handover = services.handover_sign_outgoing(actor=outgoing, handover=handover)
    assert handover.status == HandOverStatus.SIGNED_BY_OUTGOING
    assert handover.from_signed_at is not None
    handover = services.handover_sign_incoming(actor=incoming, handover=handover)

    # then 乙 keeps 1 + 5 = 6 papers, 甲 none; the destroyed paper stays on 甲's record
    handover.refresh_from_db()
    assert handover.status == HandOverStatus.DONE
    assert handover.to_signed_at is not None
    assert custody(incoming) == {already.pk} | {item.pk for item in mine}
    assert custody(outgoing) == set()
    assert ArchiveItem.objects.get(pk=destroyed.pk).keeper == outgoing
    # one event per step, not per item
    events = ArchiveEvent.objects.filter(item__isnull=True, region_code=line.township.code)
    assert list(events.order_by("id").values_list("action", flat=True)) == [
        "handover_started",
        "handover_checked",
        "handover_signed_out",
        "handed_over",
    ]
    assert "5件档案转由" in events.get(action="handed_over").note
    assert "其中借出在外1件" in events.get(action="handed_over").note


def test_the_list_is_written_in_a_fixed_number_of_statements(line, clerk, outgoing, incoming):
    other = line.staff(Role.TOWNSHIP_CLERK, username="keeper_bing")
    kept_by(line, outgoing, 2)
    kept_by(line, other, 30)

    def statements(keeper) -> int:
        # Fresh rows, so that no keeper's agency is already cached by an earlier call.
        from_keeper, to_keeper = (User.objects.get(pk=user.pk) for user in (keeper, incoming))
        with CaptureQueriesContext(connection) as queries:
            handover = services.handover_start(actor=clerk, from_keeper=from_keeper, to_keeper=to_keeper)
            services.handover_check_all_present(actor=clerk, handover=handover)
        return len(queries)

    # 2 items or 30: the same statements
    assert statements(outgoing) == statements(other)
    assert HandOver.objects.get(from_keeper=other).lines.filter(state=LineState.PRESENT).count() == 30


def test_a_missing_item_is_refused_on_both_signatures(line, clerk, outgoing, incoming):
    first, second, third = kept_by(line, outgoing, 3)
    handover = services.handover_start(actor=clerk, from_keeper=outgoing, to_keeper=incoming)
    assert (
        services.handover_check(actor=incoming, handover=handover, archive_nos=[first.archive_no], state="missing") == 1
    )
    assert services.handover_check_all_present(actor=incoming, handover=handover) == 2

    # the outgoing keeper cannot sign while one is missing
    with pytest.raises(Conflict) as refused:
        services.handover_sign_outgoing(actor=outgoing, handover=handover)
    assert refused.value.code == "unaccounted"
    assert refused.value.message == f"还有1件档案未清点或缺失：{first.archive_no}。须全部在库或借出在外方可签字。"

    # 甲 finds it and signs; then 乙 cannot find it: the list changed, so 甲's signature no longer holds
    services.handover_check(actor=outgoing, handover=handover, archive_nos=[first.archive_no], state="present")
    services.handover_sign_outgoing(actor=outgoing, handover=handover)
    assert (
        services.handover_check(actor=incoming, handover=handover, archive_nos=[first.archive_no], state="missing") == 1
    )
    handover.refresh_from_db()
    assert (handover.status, handover.from_signed_at) == (HandOverStatus.OPEN, None)

    with pytest.raises(Conflict) as refused:
        services.handover_sign_incoming(actor=incoming, handover=handover)
    assert refused.value.code == "not_signed_out"
    with pytest.raises(Conflict) as refused:
        services.handover_sign_outgoing(actor=outgoing, handover=handover)
    assert refused.value.code == "unaccounted"

    # nothing moved
    assert custody(outgoing) == {first.pk, second.pk, third.pk}
    assert custody(incoming) == set()
    assert not ArchiveEvent.objects.filter(action="handed_over").exists()


def test_lines_not_checked_are_refused_naming_them(line, clerk, outgoing, incoming):
    first, second, third = kept_by(line, outgoing, 3)
    handover = services.handover_start(actor=clerk, from_keeper=outgoing, to_keeper=incoming)
    services.handover_check(actor=clerk, handover=handover, archive_nos=[second.archive_no], state="present")

    with pytest.raises(Conflict) as refused:
        services.handover_sign_outgoing(actor=outgoing, handover=handover)

    assert refused.value.message == (
        f"还有2件档案未清点或缺失：{first.archive_no}、{third.archive_no}。须全部在库或借出在外方可签字。"
    )
    handover.refresh_from_db()
    assert handover.status == HandOverStatus.OPEN


def test_an_item_out_on_loan_counts_as_accounted(line, clerk, outgoing, incoming):
    in_room, out = kept_by(line, outgoing, 2)
    loan = lend(clerk, out)
    handover = services.handover_start(actor=clerk, from_keeper=outgoing, to_keeper=incoming)

    assert services.handover_check_all_present(actor=incoming, handover=handover) == 1
    services.handover_sign_outgoing(actor=outgoing, handover=handover)
    services.handover_sign_incoming(actor=incoming, handover=handover)

    # the lent paper is now 乙's; its loan stays open and 乙 receives it back
    assert custody(incoming) == {in_room.pk, out.pk}
    loan.refresh_from_db()
    assert loan.returned_at is None
    assert lending.loan_return(actor=incoming, item=out).pk == loan.pk


def test_a_loan_returned_after_the_list_must_be_checked_present(line, clerk, outgoing, incoming):
    in_room, out = kept_by(line, outgoing, 2)
    lend(clerk, out)
    handover = services.handover_start(actor=clerk, from_keeper=outgoing, to_keeper=incoming)
    services.handover_check_all_present(actor=incoming, handover=handover)
    services.handover_sign_outgoing(actor=outgoing, handover=handover)

    # the paper comes back between the two signatures: its loan no longer accounts for it
    lending.loan_return(actor=clerk, item=out)
    with pytest.raises(Conflict) as refused:
        services.handover_sign_incoming(actor=incoming, handover=handover)
    assert refused.value.code == "unaccounted"
    assert refused.value.message == (f"有1件借出的档案已归还，尚未清点在库：{out.archive_no}。请清点后再签字。")
    assert custody(incoming) == set()

    # 乙 checks it present; 甲 signs the changed list again, then 乙
    services.handover_check(actor=incoming, handover=handover, archive_nos=[out.archive_no], state="present")
    services.handover_sign_outgoing(actor=outgoing, handover=handover)
    services.handover_sign_incoming(actor=incoming, handover=handover)
    assert custody(incoming) == {in_room.pk, out.pk}


def test_custody_gained_after_the_list_is_refused_until_refreshed(line, clerk, outgoing, incoming):
    first, second = kept_by(line, outgoing, 2)
    old = placed_item(line.village, keeper=outgoing, kind="monthly_report", year=2015, title="2015年月报")
    handover = services.handover_start(actor=clerk, from_keeper=outgoing, to_keeper=incoming)
    services.handover_check_all_present(actor=clerk, handover=handover)

    # a paper placed with 甲 after the list was made
    late = placed_item(line.village, keeper=outgoing, title="后来入库的登记表")
    with pytest.raises(Conflict) as refused:
        services.handover_sign_outgoing(actor=outgoing, handover=handover)
    assert refused.value.code == "inventory_stale"
    assert late.archive_no in refused.value.message
    assert "刷新清单" in refused.value.message

    # the refresh lists it, still to be checked
    assert services.handover_refresh(actor=outgoing, handover=handover) == 1
    assert states(handover)[late.archive_no] == LineState.PENDING
    with pytest.raises(Conflict) as refused:
        services.handover_sign_outgoing(actor=outgoing, handover=handover)
    assert refused.value.code == "unaccounted"

    # a listed paper destroyed meanwhile: refused until the refresh drops it
    destroy(line, old)
    services.handover_check_all_present(actor=incoming, handover=handover)
    with pytest.raises(Conflict) as refused:
        services.handover_sign_outgoing(actor=outgoing, handover=handover)
    assert refused.value.code == "inventory_stale"
    assert old.archive_no in refused.value.message
    assert services.handover_refresh(actor=incoming, handover=handover) == 0
    assert set(states(handover)) == {first.archive_no, second.archive_no, late.archive_no}

    services.handover_sign_outgoing(actor=outgoing, handover=handover)
    services.handover_sign_incoming(actor=incoming, handover=handover)
    assert custody(incoming) == {first.pk, second.pk, late.pk}


def test_only_the_keepers_themselves_sign(line, clerk, outgoing, incoming):
    items = kept_by(line, outgoing, 2)
    handover = services.handover_start(actor=clerk, from_keeper=outgoing, to_keeper=incoming)
    services.handover_check_all_present(actor=clerk, handover=handover)

    for actor in (incoming, clerk):
        with pytest.raises(NotPermitted) as refused:
            services.handover_sign_outgoing(actor=actor, handover=handover)
        assert refused.value.code == "not_from_keeper"
    services.handover_sign_outgoing(actor=outgoing, handover=handover)
    for actor in (outgoing, clerk):
        with pytest.raises(NotPermitted) as refused:
            services.handover_sign_incoming(actor=actor, handover=handover)
        assert refused.value.code == "not_to_keeper"

    handover.refresh_from_db()
    assert handover.status == HandOverStatus.SIGNED_BY_OUTGOING
    assert custody(outgoing) == {item.pk for item in items}


def test_signing_a_done_hand_over_again_moves_nothing(line, clerk, outgoing, incoming):
    items = kept_by(line, outgoing, 2)
    first = services.handover_start(actor=clerk, from_keeper=outgoing, to_keeper=incoming)
    services.handover_check_all_present(actor=clerk, handover=first)
    services.handover_sign_outgoing(actor=outgoing, handover=first)
    services.handover_sign_incoming(actor=incoming, handover=first)
    # later the papers go back to 甲 by a hand-over of their own
    back = services.handover_start(actor=clerk, from_keeper=incoming, to_keeper=outgoing)
    services.handover_check_all_present(actor=clerk, handover=back)
    services.handover_sign_outgoing(actor=incoming, handover=back)
    services.handover_sign_incoming(actor=outgoing, handover=back)

    # a retried signature of the first hand-over (a resubmitted form) is refused and takes nothing back
    with pytest.raises(Conflict) as refused:
        services.handover_sign_incoming(actor=incoming, handover=first)
    assert refused.value.code == "done"
    assert custody(outgoing) == {item.pk for item in items}
    assert custody(incoming) == set()
    assert ArchiveEvent.objects.filter(action="handed_over").count() == 2
    # nor can it be cancelled or checked any more
    with pytest.raises(Conflict):
        services.handover_cancel(actor=clerk, handover=first, reason="误操作")
    with pytest.raises(Conflict):
        services.handover_check_all_present(actor=clerk, handover=first)


def test_one_open_hand_over_per_keeper(line, clerk, outgoing, incoming):
    kept_by(line, outgoing, 1)
    third = line.staff(Role.TOWNSHIP_CLERK, username="keeper_bing")
    first = services.handover_start(actor=clerk, from_keeper=outgoing, to_keeper=incoming)
    services.handover_check_all_present(actor=clerk, handover=first)

    with pytest.raises(Conflict) as refused:
        services.handover_start(actor=clerk, from_keeper=outgoing, to_keeper=third)
    assert refused.value.code == "handover_open"
    assert f"交接#{first.pk}" in refused.value.message
    # still open once the outgoing keeper has signed
    first = services.handover_sign_outgoing(actor=outgoing, handover=first)
    with pytest.raises(Conflict) as refused:
        services.handover_start(actor=clerk, from_keeper=outgoing, to_keeper=third)
    assert refused.value.code == "handover_open"

    # cancelled, it gives way to a new one; cancelling again changes nothing
    with pytest.raises(DomainError) as refused:
        services.handover_cancel(actor=clerk, handover=first, reason=" ")
    assert refused.value.field == "reason"
    cancelled = services.handover_cancel(actor=outgoing, handover=first, reason="接收人改为丙")
    assert (cancelled.status, cancelled.note) == (HandOverStatus.CANCELLED, "取消：接收人改为丙")
    assert services.handover_cancel(actor=clerk, handover=first, reason="再次取消").note == "取消：接收人改为丙"
    assert ArchiveEvent.objects.filter(action="handover_cancelled").count() == 1
    second = services.handover_start(actor=clerk, from_keeper=outgoing, to_keeper=third)
    assert second.lines.count() == 1


def test_who_may_open_a_hand_over_and_between_whom(line, clerk, outgoing, incoming):
    kept_by(line, outgoing, 1)
    elsewhere = region_line(county="320413").staff(Role.COUNTY_CLERK)
    gone = line.staff(Role.TOWNSHIP_CLERK, username="keeper_left")
    gone.is_active = False
    gone.save()

    def refused(field, code, **keepers):
        with pytest.raises(DomainError) as refusal:
            services.handover_start(actor=clerk, **({"from_keeper": outgoing, "to_keeper": incoming} | keepers))
        assert (refusal.value.field, refusal.value.code) == (field, code)
        return refusal.value

    assert refused("from_keeper", "nothing_kept", from_keeper=incoming, to_keeper=outgoing).message == (
        f"{incoming} 名下没有保管的档案，无需交接。"
    )
    refused("to_keeper", "invalid", to_keeper=outgoing)
    refused("to_keeper", "out_of_scope", to_keeper=elsewhere)
    refused("to_keeper", "invalid", to_keeper=gone)
    refused("from_keeper", "out_of_scope", from_keeper=elsewhere)
    # a county keeper's papers cannot go to a township clerk, who could not open them; the other way round they can
    kept_by(line, clerk, 1)
    refused("to_keeper", "out_of_reach", from_keeper=clerk, to_keeper=incoming)
    with pytest.raises(NotPermitted):
        services.handover_start(actor=line.staff(Role.VILLAGE_AGENT), from_keeper=outgoing, to_keeper=incoming)
    # a township clerk may open one for its own keepers
    township = line.staff(Role.TOWNSHIP_CLERK)
    assert services.handover_start(actor=township, from_keeper=outgoing, to_keeper=incoming).lines.count() == 1
    assert not HandOver.objects.exclude(created_by=township).exists()


def test_checking_names_only_listed_items(line, clerk, outgoing, incoming):
    items = kept_by(line, outgoing, 2)
    handover = services.handover_start(actor=clerk, from_keeper=outgoing, to_keeper=incoming)
    unknown = [f"320412101-2024-01-{900000 + n}" for n in range(12)]

    with pytest.raises(DomainError) as refused:
        services.handover_check(
            actor=incoming, handover=handover, archive_nos=[items[0].archive_no, *unknown], state="present"
        )
    assert refused.value.code == "not_listed"
    assert refused.value.message == f"以下档号不在本次交接清单中：{'、'.join(unknown[:10])}等12件。"
    with pytest.raises(DomainError) as refused:
        services.handover_check(actor=incoming, handover=handover, archive_nos=[items[0].archive_no], state="on_loan")
    assert refused.value.field == "state"
    assert set(states(handover).values()) == {LineState.PENDING}

    # the same mark twice changes one line once
    nos = [items[0].archive_no, f" {items[0].archive_no} "]
    assert services.handover_check(actor=clerk, handover=handover, archive_nos=nos, state="present") == 1
    assert services.handover_check(actor=clerk, handover=handover, archive_nos=nos, state="present") == 0

    # outsiders may not check: another county's clerk, a village agent
    elsewhere = region_line(county="320413").staff(Role.COUNTY_CLERK)
    with pytest.raises(DomainError) as refused:
        services.handover_check_all_present(actor=elsewhere, handover=handover)
    assert refused.value.code == "out_of_scope"
    with pytest.raises(NotPermitted):
        services.handover_check_all_present(actor=line.staff(Role.VILLAGE_AGENT), handover=handover)
    assert states(handover)[items[1].archive_no] == LineState.PENDING
