"""Property: the read models equal a recomputation from the command tables, however the
events reach them.

A hypothesis state machine plays one clinic (a fresh tenant per example): it issues
commands of every domain through the command bus as the tenant's system principal,
and delivers the outbox to the read models itself, the way no relay would but every
relay may in part: across aggregates in any order (each aggregate's own events in
their order, as the relay keeps them), cut into batches of any size, with events
repeated, some of them past the inbox that would otherwise drop a repeat. The
appointment domain's reactions (approved leave, a deactivated provider) run through
a relay of their own, which feeds nothing else, so that the cancellations they make
reach the read models shuffled too. Now and then the real relay delivers everything
in order, or a rebuild recomputes the read models, as in production.

Whenever everything is delivered, every read model must equal, row for row, what it
would hold if computed from the command tables now (tests.read_model_helpers).
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine, text

from tests.appointment_factories import next_monday
from tests.factories import TenantFactory, dispatch_as_system
from tests.patient_factories import PatientFactory
from tests.provider_factories import ProviderFactory
from tests.read_model_helpers import assert_read_models_match, catch_up, rebuild
from tests.schedule_factories import WorkingHoursFactory
from vitalbridge.appointment import subscribers as appointment_reactions
from vitalbridge.appointment.messages import (
    CancelAppointment,
    CheckInAppointment,
    CompleteAppointment,
    CreateAppointment,
    MarkNoShow,
    RescheduleAppointment,
)
from vitalbridge.db import service_engine
from vitalbridge.messaging.errors import DomainError
from vitalbridge.messaging.messages import Ack, Command, Principal
from vitalbridge.messaging.read_models import ReadModel, apply_batch, subscriber_of
from vitalbridge.messaging.relay import Relay
from vitalbridge.messaging.signals import EventSignals
from vitalbridge.messaging.subscribers import HandleEvent, connect, run_batch
from vitalbridge.messaging.uow import CommandContext, UnitOfWork
from vitalbridge.patient.messages import UpdatePatient
from vitalbridge.provider.messages import DeactivateProvider, UpdateProvider
from vitalbridge.schedule.calendar import WeeklyRule
from vitalbridge.schedule.messages import (
    ApproveLeaveRequest,
    ProviderState,
    RemoveDateOverride,
    SetDateOverride,
    SetWorkingHours,
    SubmitLeaveRequest,
)

NY = ZoneInfo("America/New_York")
MONDAY = next_monday(2)  # naive midnight; every slot lies in that week, well ahead
DAYS, SLOTS_A_DAY = 3, 8  # Mon-Wed, 09:00-13:00 in half hours: few slots, many clashes
NAMES = ("Ada", "Grace", "Edsger", "Barbara", "Donald", "Frances")
TIMEZONES = ("America/New_York", "Asia/Tokyo", "Europe/London")  # Tokyo moves local dates
SPECIALTIES = ("Cardiology", "Dermatology")
INDEX = st.integers(min_value=0, max_value=10_000)  # picks one of a list, modulo its length
REASONS = ("check-up", None)
# (provider, patient, slot, reason) indexes of a few bookings at once: one rule among
# twenty would otherwise book about once an example.
BOOKINGS = st.lists(st.tuples(INDEX, INDEX, INDEX, INDEX), min_size=1, max_size=4)
LIFECYCLE = (CancelAppointment, CheckInAppointment, CheckInAppointment, CompleteAppointment,
             CompleteAppointment, MarkNoShow)  # check-in and complete twice: they need a pair

_EVENTS = text("SELECT envelope FROM outbox WHERE tenant_id = :tenant AND type = ANY(:types)"
               " ORDER BY seq")
_HANDLED = text("SELECT event_id::text FROM inbox WHERE tenant_id = :tenant"
                " AND subscriber = :subscriber")
_MARK_HANDLED = text("INSERT INTO inbox (tenant_id, subscriber, event_id)"
                     " SELECT :tenant, :subscriber, unnest(CAST(:events AS uuid[]))"
                     " ON CONFLICT DO NOTHING")
_UNDELIVERED = text("SELECT count(*) FROM outbox WHERE delivered_at IS NULL")


def local(day: date, at: time) -> datetime:
    """A New York wall-clock instant."""
    return datetime.combine(day, at, NY)


def slot(index: int) -> tuple[datetime, datetime]:
    """The half-hour slot ``index`` (modulo the slots there are)."""
    index %= DAYS * SLOTS_A_DAY
    day = (MONDAY + timedelta(days=index // SLOTS_A_DAY)).date()
    start = local(day, time(9)) + timedelta(minutes=30 * (index % SLOTS_A_DAY))
    return start, start + timedelta(minutes=30)


def pick(items: list[Any], index: int) -> Any:
    return items[index % len(items)]


@dataclass
class ProviderFacts:
    """What the schedule and provider domains hold of a provider, as the edge would ask
    them when it builds CreateAppointment / RescheduleAppointment."""

    id: uuid.UUID
    active: bool = True
    weekdays: frozenset[int] = frozenset(range(5))
    overrides: dict[date, tuple[tuple[time, time], ...]] = field(default_factory=dict)
    leave: list[tuple[datetime, datetime]] = field(default_factory=list)

    @property
    def state(self) -> ProviderState:
        return ProviderState.ACTIVE if self.active else ProviderState.INACTIVE

    def booking_facts(self, start: datetime, end: datetime) -> dict[str, Any]:
        """The resolved facts of a booking over ``[start, end)``."""
        day = start.astimezone(NY).date()
        if day in self.overrides:
            intervals = self.overrides[day]
        else:
            intervals = ((time(9), time(17)),) if day.weekday() in self.weekdays else ()
        return {"provider_active": self.active,
                "working": tuple((local(day, a), local(day, b)) for a, b in intervals),
                "leave": tuple(self.leave)}


def interleave(events: list[dict], rng: random.Random) -> list[dict]:
    """``events`` in a random order across aggregates, each aggregate's in its own order.

    A random permutation says which aggregate comes next; that aggregate's earliest
    event not yet placed takes the place.
    """
    lanes: dict[str, deque[dict]] = defaultdict(deque)
    for envelope in events:
        lanes[envelope["aggregate_id"]].append(envelope)
    turns = [envelope["aggregate_id"] for envelope in events]
    rng.shuffle(turns)
    return [lanes[aggregate].popleft() for aggregate in turns]


def batches_of(stream: list[dict], rng: random.Random) -> Iterator[list[dict]]:
    """Cut ``stream`` into batches of 1 to 8 events."""
    while stream:
        size = rng.randint(1, 8)
        yield stream[:size]
        stream = stream[size:]


def reactions_relay(app: Flask) -> Relay:
    """A relay that delivers to the appointment domain's reactions only.

    What it delivers is marked delivered, so the real relay never hands those events
    to the read models in order: they get them from the machine's shuffled delivery.
    """
    svc = app.extensions["vitalbridge"]
    signals = EventSignals()
    for subscriber in appointment_reactions.SUBSCRIBERS:
        connect(subscriber, signals, svc.db)
    return Relay(engine=service_engine(svc.settings.relay_url, pool_size=2), signals=signals)


class ReadModelMachine(RuleBasedStateMachine):
    """One clinic's commands, delivered to the read models shuffled and repeated."""

    def __init__(self, app: Flask, owner_engine: Engine) -> None:
        super().__init__()
        self.app, self.owner_engine = app, owner_engine
        self.svc = app.extensions["vitalbridge"]
        self.models: tuple[ReadModel, ...] = self.svc.read_models
        self.types = sorted({kind for model in self.models for kind in model.event_types})
        self.context = app.app_context()
        self.context.push()
        self.reactions = reactions_relay(app)
        self.providers: list[ProviderFacts] = []
        self.patients: list[uuid.UUID] = []
        self.appointments: dict[uuid.UUID, ProviderFacts] = {}
        self.tenant_id: uuid.UUID | None = None
        self.rng = random.Random(0)

    # Commands -----------------------------------------------------------------------

    def dispatch(self, command: Command) -> Ack | None:
        """Run ``command`` as the clinic's system principal; None if a rule refused it."""
        try:
            return dispatch_as_system(command, self.tenant_id)
        except DomainError:
            return None

    @initialize(providers=st.integers(2, 3), patients=st.integers(2, 4), bookings=BOOKINGS,
                seed=st.integers(0, 2**32 - 1))
    def open_clinic(self, providers: int, patients: int, bookings: list[tuple[int, ...]],
                    seed: int) -> None:
        """A fresh tenant (examples must not see each other's rows) with its people and
        a first few bookings."""
        self.tenant_id = TenantFactory().id
        self.rng = random.Random(seed)  # the final delivery's shuffles (teardown draws none)
        for _ in range(providers):
            self.new_provider()
        for _ in range(patients):
            self.new_patient()
        self.book(bookings)

    def new_provider(self) -> None:
        made = ProviderFactory(tenant_id=self.tenant_id)
        WorkingHoursFactory(tenant_id=self.tenant_id, provider_id=made.id)  # Mon-Fri 9-17
        self.providers.append(ProviderFacts(made.id))

    def new_patient(self) -> None:
        self.patients.append(PatientFactory(tenant_id=self.tenant_id).id)

    @rule()
    def add_provider(self) -> None:
        self.new_provider()

    @rule()
    def register_patient(self) -> None:
        self.new_patient()

    @rule(bookings=BOOKINGS)
    def book(self, bookings: list[tuple[int, ...]]) -> None:
        """A few bookings (provider, patient, slot, reason); clashes are refused."""
        for provider, patient, at, reason in bookings:
            facts = pick(self.providers, provider)
            start, end = slot(at)
            ack = self.dispatch(CreateAppointment(
                provider_id=facts.id, patient_id=pick(self.patients, patient), start=start,
                end=end, reason=pick(REASONS, reason), **facts.booking_facts(start, end)))
            if ack is not None:
                self.appointments[ack.id] = facts

    @precondition(lambda self: self.appointments)
    @rule(appointment=INDEX, at=INDEX)
    def reschedule(self, appointment: int, at: int) -> None:
        appointment_id = pick(list(self.appointments), appointment)
        start, end = slot(at)
        self.dispatch(RescheduleAppointment(
            appointment_id=appointment_id, start=start, end=end,
            **self.appointments[appointment_id].booking_facts(start, end)))

    @precondition(lambda self: self.appointments)
    @rule(steps=st.lists(st.tuples(INDEX, st.sampled_from(LIFECYCLE)), min_size=1,
                         max_size=4))
    def lifecycle(self, steps: list[tuple[int, type[Command]]]) -> None:
        """Steps along the lifecycle (a no-show is refused: every start is ahead)."""
        for appointment, step in steps:
            appointment_id = pick(list(self.appointments), appointment)
            extra = {"reason": "patient asked"} if step is CancelAppointment else {}
            self.dispatch(step(appointment_id=appointment_id, **extra))  # type: ignore[call-arg]

    @rule(provider=INDEX, weekdays=st.frozensets(st.integers(0, 4), min_size=1))
    def set_working_hours(self, provider: int, weekdays: frozenset[int]) -> None:
        facts = pick(self.providers, provider)
        rules = tuple(WeeklyRule(day, time(9), time(17)) for day in sorted(weekdays))
        if self.dispatch(SetWorkingHours(provider_id=facts.id, timezone="America/New_York",
                                         rules=rules, provider_state=facts.state)) is not None:
            facts.weekdays = weekdays

    @rule(provider=INDEX, day=st.integers(0, DAYS - 1), closed=st.booleans())
    def set_date_override(self, provider: int, day: int, closed: bool) -> None:
        facts = pick(self.providers, provider)
        on = (MONDAY + timedelta(days=day)).date()
        intervals = () if closed else ((time(9), time(11)),)
        if self.dispatch(SetDateOverride(provider_id=facts.id, day=on, intervals=intervals,
                                         provider_state=facts.state)) is not None:
            facts.overrides[on] = intervals

    @rule(provider=INDEX, day=st.integers(0, DAYS - 1))
    def remove_date_override(self, provider: int, day: int) -> None:
        facts = pick(self.providers, provider)
        on = (MONDAY + timedelta(days=day)).date()
        if self.dispatch(RemoveDateOverride(provider_id=facts.id, day=on,
                                            provider_state=facts.state)) is not None:
            facts.overrides.pop(on, None)

    @rule(provider=INDEX, day=st.integers(0, DAYS - 1), morning=st.booleans(),
          approve=st.booleans())
    def take_leave(self, provider: int, day: int, morning: bool, approve: bool) -> None:
        """Ask for leave and maybe approve it: its reaction cancels what it overlaps."""
        facts = pick(self.providers, provider)
        on = (MONDAY + timedelta(days=day)).date()
        start, end = (time(9), time(11)) if morning else (time(11), time(13))
        span = (local(on, start), local(on, end))
        asked = self.dispatch(SubmitLeaveRequest(provider_id=facts.id, start=span[0],
                                                 end=span[1], reason="conference",
                                                 provider_state=facts.state))
        if asked is not None and approve and self.dispatch(
                ApproveLeaveRequest(leave_id=asked.id)) is not None:
            facts.leave.append(span)

    @precondition(lambda self: sum(p.active for p in self.providers) > 1)
    @rule(provider=INDEX)
    def deactivate_provider(self, provider: int) -> None:
        """Its reaction cancels the provider's booked appointments (one stays active)."""
        facts = pick([p for p in self.providers if p.active], provider)
        if self.dispatch(DeactivateProvider(provider_id=facts.id)) is not None:
            facts.active = False

    @rule(provider=INDEX, change=st.one_of(
        st.fixed_dictionaries({"given_name": st.sampled_from(NAMES)}),
        st.fixed_dictionaries({"family_name": st.sampled_from(NAMES)}),
        st.fixed_dictionaries({"specialty": st.sampled_from(SPECIALTIES)}),
        st.fixed_dictionaries({"timezone": st.sampled_from(TIMEZONES)}),
        st.fixed_dictionaries({"phone": st.sampled_from(("+12125550100", None))})))
    def update_provider(self, provider: int, change: dict[str, Any]) -> None:
        """A rename, specialty or zone shows on rows; a phone number does not."""
        self.dispatch(UpdateProvider(provider_id=pick(self.providers, provider).id, **change))

    @rule(patient=INDEX, given=st.sampled_from(NAMES), family=st.sampled_from(NAMES))
    def update_patient(self, patient: int, given: str, family: str) -> None:
        self.dispatch(UpdatePatient(patient_id=pick(self.patients, patient),
                                    changes={"given_name": given, "family_name": family}))

    # Delivery -----------------------------------------------------------------------

    @rule()
    def react(self) -> None:
        """The appointment domain's reactions to what is waiting (nothing else)."""
        self.reactions.drain()

    @rule(rng=st.randoms(use_true_random=True))
    def deliver_shuffled(self, rng: random.Random) -> None:
        self.deliver(rng)

    @rule()
    def real_relay(self) -> None:
        """The production path: everything waiting, to every subscriber, in order."""
        catch_up(self.app)

    @rule()
    def rebuild_read_models(self) -> None:
        rebuild(self.app, self.tenant_id)

    @rule()
    def settle_and_compare(self) -> None:
        self.settle()

    def deliver(self, rng: random.Random) -> None:
        """Deliver what the read models have not handled, shuffled, with repeats."""
        with self.owner_engine.connect() as conn:
            events = conn.execute(_EVENTS, {"tenant": self.tenant_id,
                                            "types": self.types}).scalars().all()
            handled = {model.name: set(conn.execute(_HANDLED, {
                "tenant": self.tenant_id, "subscriber": model.subscriber}).scalars())
                for model in self.models}
        pending = [e for e in events if any(
            e["type"] in m.event_types and e["id"] not in handled[m.name] for m in self.models)]
        stream = interleave(pending, rng)
        for repeat in rng.sample(events, k=min(len(events), rng.randint(0, 4))):
            stream.insert(rng.randint(0, len(stream)), repeat)
        for batch in batches_of(stream, rng):
            past_inbox = rng.random() < 0.3
            for model in self.models:
                mine = [e for e in batch if e["type"] in model.event_types]
                if not mine:
                    continue
                if past_inbox:
                    self.apply_past_inbox(model, mine)
                else:
                    outcomes = run_batch(subscriber_of(model, self.svc.queries), mine,
                                         self.svc.db)
                    assert set(outcomes.values()) == {None}, (model.name, outcomes)

    def apply_past_inbox(self, model: ReadModel, envelopes: list[dict]) -> None:
        """Apply a batch whole, repeats and already handled events too, in one unit of
        work, and mark its events handled (as a delivery after a lost inbox would)."""
        context = CommandContext(principal=Principal.system(self.tenant_id))
        first = uuid.UUID(envelopes[0]["id"])
        with UnitOfWork(self.svc.db.sessions, context,
                        HandleEvent(subscriber=model.subscriber, event_id=first)) as uow:
            apply_batch(model, self.svc.queries, envelopes, uow)
            uow.session.execute(_MARK_HANDLED, {
                "tenant": self.tenant_id, "subscriber": model.subscriber,
                "events": [e["id"] for e in envelopes]})
            uow.commit(Ack(id=first, version=1))

    def unhandled(self) -> int:
        """Events of the read models' types some read model has not handled yet."""
        with self.owner_engine.connect() as conn:
            return sum(conn.execute(text(
                "SELECT count(*) FROM outbox o WHERE o.tenant_id = :tenant"
                " AND o.type = ANY(:types) AND NOT EXISTS (SELECT 1 FROM inbox i"
                " WHERE i.tenant_id = o.tenant_id AND i.subscriber = :subscriber"
                " AND i.event_id = o.id)"), {"tenant": self.tenant_id,
                                              "types": sorted(model.event_types),
                                              "subscriber": model.subscriber}).scalar_one()
                       for model in self.models)

    def settle(self) -> None:
        """Run every reaction and deliver everything (shuffled), then compare."""
        for _ in range(20):
            self.reactions.drain()
            with self.owner_engine.connect() as conn:
                waiting = conn.execute(_UNDELIVERED).scalar_one()
            if not waiting and not self.unhandled():
                break
            self.deliver(self.rng)
        else:
            raise AssertionError("the outbox never settled")
        assert_read_models_match(self.app, self.tenant_id)

    def teardown(self) -> None:
        try:
            if self.tenant_id is not None:
                self.settle()
        finally:
            self.reactions.engine.dispose()
            self.context.pop()


def test_read_models_equal_a_recomputation_whatever_the_delivery(app, owner_engine):
    run_state_machine_as_test(
        lambda: ReadModelMachine(app, owner_engine),
        settings=settings(max_examples=20, stateful_step_count=20, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow]))
