"""The bank API against its own OpenAPI document: schemathesis generates requests for every bank operation
(valid and invalid ones) from the schema the portal serves at /api/schema/, sends them through the WSGI app
with a valid bank key, and no answer may be a server error.

Most generated cases are aimed at real records (this bank's batch, a receipt of it, a person it serves), so the
services and the file codec see the generated input, not only the 404 of a random number.
"""

import datetime as dt
import zlib

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from agencies.tests.factories import region_line
from contributions.tests.factories import make_policy
from enrollment.tests.factories import make_person
from funds.api.bank_auth import BankKeyThrottle
from funds.batches import result_receive
from funds.tests.bank_factories import issue_deduct, make_key, make_partner, make_payers, result_file

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

BANK_PATHS = r"^/api/v1/bank/"


def _served_schema():
    """The document /api/schema/ serves, fetched through the WSGI app."""
    from config.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/schema/", application)


# Loaded when the module is collected: schemathesis 4.32's lazy ``from_fixture`` reads ``Node._nodeid``, which
# pytest 9 no longer has, so the schema is not taken from a fixture. Fetching it touches no database.
served = _served_schema()
schema = served.include(path_regex=BANK_PATHS)
# The result file alone, for the test that draws its own bytes.
result_schema = served.include(path_regex=r"^/api/v1/bank/batches/\{batch_no\}/result$")


@pytest.fixture
def wsgi_in_the_test_transaction(db):
    """Calls straight into the WSGI app, as Django's test client makes them: the end of a request must not
    close the connection that holds the test's transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def world(wsgi_in_the_test_transaction, monkeypatch) -> dict:
    # Hundreds of calls a minute with one key: the throttle is the subject of its own test, not of this one.
    monkeypatch.setattr(BankKeyThrottle, "THROTTLE_RATES", {"bank": "100000/min"})
    line = region_line()
    line.pooling_region.scheme_started_on = dt.date(2009, 7, 1)
    line.pooling_region.save()
    make_policy(line)
    partner = make_partner(line)
    make_payers(line, partner, [300, 500])
    batch = issue_deduct(line, partner)
    rejected = result_receive(partner=partner, batch_no=batch.batch_no, data=b"H|x\n", idempotency_key="seed")
    return {
        "key": make_key(line, partner),
        "batch_no": batch.batch_no,
        "receipt_id": rejected.receipt.pk,
        "insurance_no": make_person(line.village, name="柜面缴费人").insurance_number,
        "good_file": result_file(batch),
    }


def _draw(value) -> int:
    """A number fixed by the generated value, to choose with (so a failing case replays alike)."""
    return zlib.crc32(repr(value).encode())


def _aimed(value) -> bool:
    """Three cases in four go to a real record."""
    return _draw(value) % 4 != 0


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_bank_call_is_a_server_error(case, world):
    path = case.path_parameters or {}
    for name, real in (("batch_no", world["batch_no"]), ("receipt_id", world["receipt_id"])):
        if name in path and _aimed(path[name]):
            path[name] = real
    if isinstance(case.body, dict) and "insurance_no" in case.body and _aimed(case.body):
        case.body["insurance_no"] = world["insurance_no"]

    case.call_and_validate(headers={"Authorization": f"Api-Key {world['key']}"}, checks=[not_a_server_error])


@result_schema.parametrize()
@result_schema.given(noise=st.binary(max_size=64), where=st.integers(min_value=0), drop=st.integers(0, 24))
# Generated cases only: schemathesis refuses ``given`` beside the examples it would read from the schema.
@settings(
    max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), phases=[Phase.generate, Phase.shrink]
)
def test_no_result_file_is_a_server_error(case, world, noise, where, drop):
    # A good result file with a few bytes cut out and others put in: nearly right, it reaches every check
    # of the codec and the comparison with the issued lines, where a random body stops at the first line.
    path = case.path_parameters or {}
    if "batch_no" in path and _aimed(path["batch_no"]):
        path["batch_no"] = world["batch_no"]
    good = world["good_file"]
    cut = where % len(good)
    spoiled = good[:cut] + noise + good[cut + drop :]
    if isinstance(case.body, dict) and "file" in case.body:
        case.body["file"] = spoiled
    elif isinstance(case.body, bytes | str):
        case.body = spoiled
    if _aimed((where, noise)):
        case.headers = {**(case.headers or {}), "Idempotency-Key": f"fuzz-{_draw(spoiled)}"}

    # Each case against the batch as issued: the first file accepted would make every later one a conflict.
    with transaction.atomic():
        case.call_and_validate(headers={"Authorization": f"Api-Key {world['key']}"}, checks=[not_a_server_error])
        transaction.set_rollback(True)
