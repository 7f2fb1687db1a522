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


# --- custody outside the jurisdiction of whoever acts or receives ------------------------------------------------


@pytest.fixture
def moved(line, outgoing):
    """甲 kept 3 papers of township 320412101 and was then moved to township 320412102: 甲 keeps them still."""
    papers = kept_by(line, outgoing, 3)
    other = region_line(township="102")
    outgoing.agency = other.agency("township")
    outgoing.save()
    return other, papers


def test_a_clerk_of_the_keepers_new_township_cannot_list_the_old_townships_papers(line, outgoing, moved):
    other, papers = moved
    there = other.staff(Role.TOWNSHIP_CLERK)
    receiver = other.staff(Role.TOWNSHIP_CLERK, username="keeper_ding")

    with pytest.raises(DomainError) as refused:
        services.handover_start(actor=there, from_keeper=outgoing, to_keeper=receiver)

    assert (refused.value.code, refused.value.field) == ("out_of_scope", "from_keeper")
    assert "名下有3件档案不在您的管辖范围内" in refused.value.message
    assert not HandOver.objects.exists()
    assert custody(outgoing) == {item.pk for item in papers}


def test_a_receiver_who_could_not_open_the_papers_is_refused_and_one_who_can_receives_them(
    line, clerk, outgoing, moved
):
    other, papers = moved
    # one more paper 甲 took on in the new township: the count names only the old township's three
    placed_item(other.village, keeper=outgoing, title="乙镇登记表")
    receiver_there = other.staff(Role.TOWNSHIP_CLERK, username="keeper_ding")

    # the county's clerk may list them all, but not for a clerk of the new township
    with pytest.raises(DomainError) as refused:
        services.handover_start(actor=clerk, from_keeper=outgoing, to_keeper=receiver_there)
    assert (refused.value.code, refused.value.field) == ("out_of_reach", "to_keeper")
    assert f"名下有3件档案不在接收人{receiver_there}的管辖范围内" in refused.value.message
    assert not HandOver.objects.exists()

    # a county keeper can open every one of them, and receives them
    county_keeper = line.staff(Role.COUNTY_CLERK, username="county_keeper")
    started = services.handover_start(actor=clerk, from_keeper=outgoing, to_keeper=county_keeper)
    services.handover_check_all_present(actor=clerk, handover=started)
    services.handover_sign_outgoing(actor=outgoing, handover=started)
    services.handover_sign_incoming(actor=county_keeper, handover=started)
    assert custody(county_keeper) == {item.pk for item in papers} | set(
        ArchiveItem.objects.filter(title="乙镇登记表").values_list("pk", flat=True)
    )


def test_the_refresh_and_the_incoming_signature_check_the_reach_again(line, clerk, outgoing, incoming):
    kept_by(line, outgoing, 2)
    started = services.handover_start(actor=clerk, from_keeper=outgoing, to_keeper=incoming)
    services.handover_check_all_present(actor=clerk, handover=started)
    services.handover_sign_outgoing(actor=outgoing, handover=started)
    # a paper of another township comes into 甲's custody after the list was made (placed by the county's clerk)
    other = region_line(township="102")
    foreign = placed_item(other.village, actor=clerk, title="外镇登记表")
    ArchiveItem.objects.filter(pk=foreign.pk).update(keeper=outgoing)

    # 乙 could not open it: neither the county clerk's refresh nor 乙's own signature takes it
    with pytest.raises(DomainError) as refused:
        services.handover_refresh(actor=clerk, handover=started)
    assert refused.value.code == "out_of_reach"
    assert f"名下有1件档案不在接收人{incoming}的管辖范围内" in refused.value.message
    with pytest.raises(DomainError) as refused:
        services.handover_sign_incoming(actor=incoming, handover=started)
    assert refused.value.code == "out_of_scope"
    assert "名下有1件档案不在您的管辖范围内" in refused.value.message
    assert started.lines.count() == 2
    assert custody(incoming) == set()
    assert foreign.pk in custody(outgoing)


# --- a keeper who has left: 监交 -----------------------------------------------------------------------------------


def test_a_keeper_who_has_left_is_handed_over_under_a_clerks_supervision(line, clerk, outgoing, incoming):
    papers = kept_by(line, outgoing, 3)
    # 甲 leaves: the account is no longer active, and 甲 still keeps the papers
    gone = outgoing
    gone.is_active = False
    gone.save()

    # the county's clerk opens the hand-over of the papers 甲 left behind
    started = services.handover_start(actor=clerk, from_keeper=gone, to_keeper=incoming, note="甲离职")
    assert started.lines.count() == 3
    services.handover_check_all_present(actor=incoming, handover=started)

    # 乙 cannot sign for 甲 (one person would sign both sides), nor can a village agent or another county's clerk
    with pytest.raises(NotPermitted) as refused:
        services.handover_sign_outgoing(actor=incoming, handover=started)
    assert refused.value.message == "移交人已离岗或调离，须由接收人以外的档案管理员监交并代为签字。"
    elsewhere = region_line(county="320413").staff(Role.COUNTY_CLERK)
    for outsider in (line.staff(Role.VILLAGE_AGENT), elsewhere):
        with pytest.raises(NotPermitted):
            services.handover_sign_outgoing(actor=outsider, handover=started)

    # the clerk signs for 甲 as supervisor, then 乙 signs and receives everything
    signed = services.handover_sign_outgoing(actor=clerk, handover=started)
    assert signed.status == HandOverStatus.SIGNED_BY_OUTGOING
    note = ArchiveEvent.objects.get(action="handover_signed_out").note
    assert (
        note
        == f"交接#{started.pk}（{gone}→{incoming}）移交人签字，清单3件（移交人已离岗或调离，监交人 {clerk} 代为签字）"
    )
    services.handover_sign_incoming(actor=incoming, handover=started)
    assert custody(incoming) == {item.pk for item in papers}
    assert custody(gone) == set()


def test_a_keeper_at_work_still_signs_alone_and_a_receiver_must_be_at_work(line, clerk, outgoing, incoming):
    kept_by(line, outgoing, 1)
    started = services.handover_start(actor=clerk, from_keeper=outgoing, to_keeper=incoming)
    services.handover_check_all_present(actor=clerk, handover=started)
    with pytest.raises(NotPermitted) as refused:
        services.handover_sign_outgoing(actor=clerk, handover=started)
    assert refused.value.message == f"只有移交人{outgoing}本人才能签字移交。"
    services.handover_cancel(actor=clerk, handover=started, reason="改期")

    incoming.is_active = False
    incoming.save()
    with pytest.raises(DomainError) as refused:
        services.handover_start(actor=clerk, from_keeper=outgoing, to_keeper=incoming)
    assert (refused.value.field, refused.value.code) == ("to_keeper", "invalid")


# --- a paper placed with the outgoing keeper while the incoming keeper signs ---------------------------------------


def test_a_paper_placed_between_the_check_and_the_move_rolls_the_signature_back(
    line, clerk, outgoing, incoming, monkeypatch
):
    papers = kept_by(line, outgoing, 2)
    started = services.handover_start(actor=clerk, from_keeper=outgoing, to_keeper=incoming)
    services.handover_check_all_present(actor=clerk, handover=started)
    services.handover_sign_outgoing(actor=outgoing, handover=started)
    late: list[ArchiveItem] = []
    checked = services._require_accounted

    def check_then_a_paper_arrives(handover):
        # The check passes; then a paper reaches 甲 before the custody moves. (On PostgreSQL another clerk's placing
        # waits on the keepers' rows, locked with the hand-over; placed here, in the signing transaction itself, it
        # stands for any way a paper could slip in.)
        checked(handover)
        late.append(placed_item(line.village, keeper=outgoing, title="签字时入库的登记表"))

    monkeypatch.setattr(services, "_require_accounted", check_then_a_paper_arrives)

    with pytest.raises(Conflict) as refused:
        services.handover_sign_incoming(actor=incoming, handover=started)

    assert refused.value.code == "inventory_stale"
    assert late[0].archive_no in refused.value.message
    # the move was taken back: 甲 keeps the listed papers, and the hand-over still awaits 乙
    started.refresh_from_db()
    assert started.status == HandOverStatus.SIGNED_BY_OUTGOING
    assert custody(outgoing) == {item.pk for item in papers}
    assert custody(incoming) == set()
    assert not ArchiveEvent.objects.filter(action="handed_over").exists()


def test_a_keeper_who_moved_township_hands_over_at_the_county_unseen_by_the_new_township(line, clerk, outgoing):
    # given: 甲 kept three papers of 湖塘镇's village, then moved to the next township's office
    papers = kept_by(line, outgoing, 3)
    other = region_line(county=line.county.code[:6], township="102", village="201")
    outgoing.agency = other.agency("township")
    outgoing.save()
    successor = line.staff(Role.COUNTY_CLERK, username="county_successor")

    # when: the county's clerk opens the hand-over to another county clerk
    started = services.handover_start(actor=clerk, from_keeper=outgoing, to_keeper=successor)

    # then: it is filed at the county, which holds both offices and the papers; the new township's clerk cannot open
    # it, and 甲 (who can no longer open the papers) is signed for by the clerk
    assert started.region_code == line.county.code
    neighbour = other.staff(Role.TOWNSHIP_CLERK, username="new_township_clerk")
    assert not scoped_handovers(neighbour).filter(pk=started.pk).exists()
    assert scoped_handovers(clerk).filter(pk=started.pk).exists()
    services.handover_check_all_present(actor=clerk, handover=started)
    services.handover_sign_outgoing(actor=clerk, handover=started)
    services.handover_sign_incoming(actor=successor, handover=started)
    assert custody(successor) == {item.pk for item in papers}
    assert HandOver.objects.get(pk=started.pk).status == HandOverStatus.DONE


def scoped_handovers(user):
    from agencies.scope import scoped

    return scoped(HandOver.objects.all(), user)
