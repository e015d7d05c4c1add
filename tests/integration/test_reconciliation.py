"""Reconciliation (``flask reconcile``): a clean clinic reports nothing; each discrepancy
planted behind the buses is reported, announced once, counted, exit 1; ``--repair``
puts each right and the next run is clean."""

from __future__ import annotations

import uuid

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from tests.api.test_appointments import at, book
from tests.api.test_appointments import other_provider as other_provider
from tests.api.test_appointments import patient as patient
from tests.api.test_appointments import provider as provider
from tests.conftest import bearer
from tests.factories import ApiKeyFactory
from tests.patient_factories import PatientFactory
from tests.read_model_helpers import assert_read_models_match, catch_up
from tests.schedule_factories import LeaveRequestFactory
from vitalbridge.messaging.messages import Role
from vitalbridge.messaging.reconcile import ReadModelCheck


@pytest.fixture
def clinic_life(app, client, tenant, provider, other_provider, patient):
    """Bookings, approved leave that cancelled one, a deactivated provider whose key and
    booking went with it; every reaction delivered."""
    key = tenant.admin_key
    in_leave = book(client, key, provider, patient, at(10)).json["id"]
    book(client, key, provider, patient, at(15))
    of_deactivated = book(client, key, other_provider, patient, at(11, day=1)).json["id"]
    with app.app_context():
        leave = LeaveRequestFactory(tenant_id=tenant.id, provider_id=provider.id,
                                    start=at(9), end=at(12))
        provider_key = ApiKeyFactory(tenant_id=tenant.id, role=Role.PROVIDER,
                                     provider_id=other_provider.id)
        quiet_patient = PatientFactory(tenant_id=tenant.id)
    assert client.post(f"/api/v1/leave-requests/{leave.id}/approve",
                       headers=bearer(key)).status_code == 200
    assert client.post(f"/api/v1/providers/{other_provider.id}/deactivate",
                       headers=bearer(key)).status_code == 200
    catch_up(app)
    return {"in_leave": in_leave, "of_deactivated": of_deactivated,
            "provider_key": str(provider_key.id),
            "quiet_patient": str(quiet_patient.id)}


def reconcile(app, tenant, *args):
    result = app.test_cli_runner().invoke(args=["reconcile", "--tenant", tenant.slug, *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def announced(owner_engine):
    """(check, subject id) of every reconciliation.discrepancy_found event."""
    with owner_engine.connect() as conn:
        return [(e["data"]["check"], e["data"]["subject_id"]) for e in conn.execute(text(
            "SELECT envelope FROM outbox WHERE type = 'reconciliation.discrepancy_found' "
            "ORDER BY seq")).scalars()]


def reported(output, tenant):
    """(check, subject id) of every discrepancy line the CLI printed."""
    lines = [line.removeprefix(f"{tenant.slug}: ") for line in output.splitlines()
             if line.startswith(f"{tenant.slug}: ") and " found (" not in line]
    return {(parts[0], parts[2].rstrip(":")) for parts in (line.split(" ") for line in lines)}


def gauge(check):
    return REGISTRY.get_sample_value("vitalbridge_reconciliation_discrepancies",
                                     {"check": check})


def plant(owner_engine, tenant, life):
    """Five discrepancies made behind the buses (and what they drag along)."""
    with owner_engine.begin() as conn:
        conn.execute(text("UPDATE patient_summaries SET display_name = 'Tampered' "
                          "WHERE patient_id = :p"), {"p": life["quiet_patient"]})
        conn.execute(text("UPDATE appointments SET status = 'booked', cancel_reason = NULL, "
                          "version = version + 1 WHERE id = ANY(CAST(:a AS uuid[]))"),
                     {"a": [life["in_leave"], life["of_deactivated"]]})
        conn.execute(text("UPDATE api_keys SET revoked_at = NULL WHERE id = :k"),
                     {"k": life["provider_key"]})
        conn.execute(text("""
            INSERT INTO parked_deliveries (tenant_id, subscriber, event_id, aggregate_id, seq,
                                           attempts, last_error, dead_at)
            SELECT tenant_id, 'tenant.revoke_provider_keys', id, aggregate_id, seq, 8,
                   'RuntimeError', now()
              FROM outbox WHERE type = 'provider.deactivated' AND tenant_id = :t"""),
            {"t": tenant.id})
        return str(conn.scalar(text("SELECT id FROM outbox WHERE type = 'provider.deactivated' "
                                    "AND tenant_id = :t"), {"t": tenant.id}))


def test_a_clean_clinic_reports_nothing(app, tenant, clinic_life, owner_engine):
    result = reconcile(app, tenant)
    assert result.exit_code == 0, result.output
    assert "0 discrepancies found, 0 remaining" in result.output
    assert announced(owner_engine) == []
    assert gauge("appointment_in_approved_leave") == 0


def test_planted_discrepancies_are_reported_announced_once_counted_and_repaired(
        app, tenant, clinic_life, owner_engine):
    life = clinic_life
    deactivated_event = plant(owner_engine, tenant, life)
    expected = {
        ("read_model.patient_summaries", life["quiet_patient"]),
        ("appointment_in_approved_leave", life["in_leave"]),
        ("future_appointment_of_deactivated_provider", life["of_deactivated"]),
        ("read_model.day_sheet", life["in_leave"]),
        ("active_key_of_deactivated_provider", life["provider_key"]),
        ("stuck_delivery", f"tenant.revoke_provider_keys:{deactivated_event}"),
    }
    first = reconcile(app, tenant)
    assert first.exit_code == 1
    assert expected <= reported(first.output, tenant)
    for check, _ in expected:
        assert gauge(check) >= 1
    assert "Tampered" not in first.output  # names of columns, never their values
    assert "row differs in display_name" in first.output
    assert expected <= set(announced(owner_engine))

    second = reconcile(app, tenant)
    assert second.exit_code == 1
    assert "0 new" in second.output
    once = announced(owner_engine)
    assert len(once) == len(set(once)), "a persisting discrepancy is announced once"

    repaired = reconcile(app, tenant, "--repair")
    assert repaired.exit_code == 0, repaired.output
    assert "[repaired]" in repaired.output
    catch_up(app)  # the retried delivery, and the reactions to the repairs' events
    clean = reconcile(app, tenant)
    assert clean.exit_code == 0, clean.output
    assert "0 discrepancies found" in clean.output
    assert gauge("appointment_in_approved_leave") == 0
    assert_read_models_match(app, tenant.id)
    with owner_engine.connect() as conn:
        cancelled = conn.execute(text(
            "SELECT DISTINCT status, cancel_reason FROM appointments "
            "WHERE id = ANY(CAST(:a AS uuid[]))"),
            {"a": [life["in_leave"], life["of_deactivated"]]}).all()
        revoked = conn.scalar(text("SELECT revoked_at FROM api_keys WHERE id = :k"),
                              {"k": life["provider_key"]})
        parked = conn.scalar(text("SELECT count(*) FROM parked_deliveries"))
        still_open = conn.scalar(text("SELECT count(*) FROM reconciliation_discrepancies "
                                      "WHERE resolved_at IS NULL"))
        repairs = conn.execute(text(
            "SELECT command, actor_role FROM audit_log WHERE request_id = 'reconcile' "
            "AND command <> 'RecordDiscrepancies' ORDER BY command")).all()
    assert [tuple(row) for row in cancelled] == [("cancelled", "provider_unavailable")]
    assert revoked is not None
    assert parked == 0
    assert still_open == 0
    assert {tuple(row) for row in repairs} == {
        ("CancelAppointment", "system"), ("RevokeApiKey", "system"),
        ("RetryStuckDelivery", "system")}


def test_a_discrepancy_that_comes_back_is_announced_again(app, tenant, clinic_life,
                                                          owner_engine):
    tamper = text("UPDATE patient_summaries SET birth_date = birth_date - 1 "
                  "WHERE patient_id = :p")
    with owner_engine.begin() as conn:
        conn.execute(tamper, {"p": clinic_life["quiet_patient"]})
    assert reconcile(app, tenant, "--repair").exit_code == 0
    assert reconcile(app, tenant).exit_code == 0  # closed: a full check no longer finds it
    with owner_engine.begin() as conn:
        conn.execute(tamper, {"p": clinic_life["quiet_patient"]})
    assert reconcile(app, tenant).exit_code == 1
    assert announced(owner_engine) == [("read_model.patient_summaries",
                                        clinic_life["quiet_patient"])] * 2


def test_a_sample_finds_a_changed_row(app, tenant, clinic_life, owner_engine):
    with owner_engine.begin() as conn:
        conn.execute(text("UPDATE day_sheet SET status = 'completed' WHERE appointment_id = "
                          "(SELECT appointment_id FROM day_sheet LIMIT 1)"))
    result = reconcile(app, tenant, "--sample", "100")
    assert result.exit_code == 1
    assert "read_model.day_sheet day_sheet" in result.output
    assert "row differs in status" in result.output


def test_the_walk_in_pages_finds_missing_and_extra_rows_across_page_edges(
        app, tenant, owner_engine):
    with app.app_context():
        patients = sorted(str(PatientFactory(tenant_id=tenant.id).id) for _ in range(7))
    catch_up(app)
    orphan = str(uuid.uuid4())
    with owner_engine.begin() as conn:
        conn.execute(text("DELETE FROM patient_summaries WHERE patient_id = :p"),
                     {"p": patients[3]})
        conn.execute(text("INSERT INTO patient_summaries SELECT tenant_id, :o, patient, "
                          "birth_date, display_name, last_visit, last_visit_start, "
                          "cancelled_starts, no_show_starts, provider_ids, computed_at "
                          "FROM patient_summaries WHERE patient_id = :p"),
                     {"o": orphan, "p": patients[5]})
    svc = app.extensions["vitalbridge"]
    check = ReadModelCheck(svc.db, svc.queries, svc.read_model("patient_summaries"),
                           tenant.id, settle_seconds=0, page_size=2)
    drift = {(d.key, d.kind) for d in check.drift()}
    assert drift == {(patients[3], "missing"), (orphan, "extra")}
    assert check.repair([patients[3], orphan])
    assert check.drift() == []
