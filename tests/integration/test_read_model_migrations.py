"""Migrations of the read models' tables keep what the relay had applied.

0014 moves a patient's next visits from the summary row to the day sheet: lines applied
before it gain the appointment's remaining fields from the appointments table, and the
read models then equal a recomputation with no rebuild; going back marks the summaries
as needing one. 0026 clears the patient's name from the stored last visits (answers take
it from the row): again no rebuild; going back puts the row's name back.
"""

import contextlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, text

from tests import database
from tests.appointment_factories import AppointmentFactory
from tests.factories import TenantFactory, dispatch_as_system
from tests.patient_factories import PatientFactory
from tests.provider_factories import ProviderFactory
from tests.read_model_helpers import assert_read_models_match, catch_up
from vitalbridge import create_app
from vitalbridge.appointment.messages import CheckInAppointment, CompleteAppointment

BEFORE = "0013_provider_days"
BEFORE_UNNAMED_VISITS = "0025_clinic_metrics"
FILLED = ("cancel_reason", "created_by_key_id", "updated_by_key_id", "created_at",
          "updated_at")


def _lines(engine):
    with engine.connect() as conn:
        return conn.execute(text(
            f"SELECT appointment_id, {', '.join(FILLED)} FROM day_sheet "
            "ORDER BY appointment_id")).all()


def _unbuilt_summaries(engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(text(
            "SELECT count(*) FROM read_model_checkpoints "
            "WHERE read_model = 'patient_summaries' AND built_at IS NULL"))


@contextlib.contextmanager
def clinic_at_head(server_url):
    """A fresh database migrated to head, with one provider and one patient; yields the
    app (inside its context), the owner engine and (tenant, provider, patient)."""
    with database.fresh_database(server_url) as url:
        app = create_app(database_url=url, env="testing")
        owner = create_engine(url)
        try:
            with app.app_context():
                app.extensions["alembic"].upgrade()
                tenant = TenantFactory()
                made = (tenant, ProviderFactory(tenant_id=tenant.id),
                        PatientFactory(tenant_id=tenant.id))
                yield app, owner, made
        finally:
            owner.dispose()
            app.extensions["vitalbridge"].db.dispose()


def test_day_sheet_lines_gain_their_fields_and_summaries_stay_built(server_url):
    with clinic_at_head(server_url) as (app, owner, (tenant, provider, patient)):
        start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
        for hours in (0, 1):
            AppointmentFactory(tenant_id=tenant.id, provider_id=provider.id,
                               patient_id=patient.id, start=start + timedelta(hours=hours))
        catch_up(app)
        applied = _lines(owner)
        assert len(applied) == 2
        assert all(line.created_at for line in applied)
        app.extensions["alembic"].downgrade(BEFORE)
        assert _unbuilt_summaries(owner) == 1  # their pending visits are gone
        with owner.begin() as conn:  # what a relay at 0013 had written
            conn.execute(text("UPDATE read_model_checkpoints SET built_at = now()"))
        app.extensions["alembic"].upgrade()
        assert _lines(owner) == applied
        assert _unbuilt_summaries(owner) == 0
        assert_read_models_match(app, tenant.id)


def _last_visit_names(engine):
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT last_visit ->> 'patient_name', display_name FROM patient_summaries "
            "WHERE last_visit IS NOT NULL")).all()


def test_stored_last_visits_lose_the_patients_name_and_need_no_rebuild(server_url):
    with clinic_at_head(server_url) as (app, owner, (tenant, provider, patient)):
        visit = AppointmentFactory(
            tenant_id=tenant.id, provider_id=provider.id, patient_id=patient.id,
            start=(datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0))
        for step in (CheckInAppointment, CompleteAppointment):
            dispatch_as_system(step(appointment_id=visit.id), tenant.id)
        catch_up(app)
        [(stored, name)] = _last_visit_names(owner)
        assert stored is None
        app.extensions["alembic"].downgrade(BEFORE_UNNAMED_VISITS)
        assert _last_visit_names(owner) == [(name, name)]  # as a relay before 0026 wrote
        app.extensions["alembic"].upgrade()
        assert _last_visit_names(owner) == [(None, name)]
        assert_read_models_match(app, tenant.id)
