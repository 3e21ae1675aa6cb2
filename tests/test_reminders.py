"""Endorsement reminders (SPEC 2.13): `flask --app wsgi send-reminders` sends one SMS per
permit per period when its window opens; running it again sends nothing new."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select
from stdnum.cn import ric

from epermit import db, demo, rules
from epermit.models import Permit, Person, Reminder, SmsOutbox
from epermit.services import reminders


def send_reminders(app) -> str:
    result = app.test_cli_runner().invoke(args=["send-reminders"])
    assert result.exit_code == 0, result.output
    return result.output


def permit_of(dbsession, name):
    return dbsession.exec(
        select(Permit).join(Person, Person.id == Permit.person_id).where(Person.name == name)
    ).one()


def reminded_phones(outbox):
    return sorted(m["to"] for m in outbox.messages() if "签注办理期" in m["text"])


# The demo's holders whose window is open today: 张伟 (D+10) and 马超 (D+5).
DUE_TODAY = sorted([demo.phone("张伟"), demo.phone("马超")])


def test_holder_whose_window_is_open_gets_one_sms_with_the_date(app, outbox, clock):
    output = send_reminders(app)
    assert "queued 2 reminders" in output
    # 张伟 and 马超 only: 李娜's window is months away, 张小明 has no phone, 王芳's and
    # 郭鹏's windows have closed (suspended) and 刘洋's permit is deregistered.
    assert reminded_phones(outbox) == DUE_TODAY
    valid_until = clock.today + timedelta(days=10)
    text = outbox.messages(demo.phone("张伟"))[-1]["text"]
    assert f"请于{valid_until.year}年{valid_until.month}月{valid_until.day}日前" in text
    assert "code" not in outbox.messages(demo.phone("张伟"))[-1]


def test_running_twice_sends_nothing_new(app, outbox, dbsession):
    send_reminders(app)
    assert "queued 0 reminders" in send_reminders(app)
    assert reminded_phones(outbox) == DUE_TODAY
    assert dbsession.exec(select(sa.func.count()).select_from(Reminder)).one() == 2
    assert dbsession.exec(select(sa.func.count()).select_from(SmsOutbox)).one() == 2


def test_reminder_goes_out_on_the_day_the_window_opens_not_before(app, outbox, clock):
    # 李娜: valid until D+200, so her window opens one calendar month earlier.
    opens = rules.window_opens(clock.today + timedelta(days=200))
    clock.advance(days=(opens - clock.today).days - 1)
    send_reminders(app)
    assert demo.phone("李娜") not in reminded_phones(outbox)
    clock.advance(days=1)
    send_reminders(app)
    assert reminded_phones(outbox).count(demo.phone("李娜")) == 1


def test_next_period_gets_its_own_reminder(app, outbox, dbsession, clock):
    send_reminders(app)
    permit = permit_of(dbsession, "张伟")
    # Endorsed on time: valid-until moves a year on, a new period begins.
    permit.valid_until = rules.add_years(permit.valid_until, 1)
    dbsession.add(permit)
    dbsession.commit()
    send_reminders(app)
    assert reminded_phones(outbox) == DUE_TODAY
    clock.advance(days=350)  # the new window opens about 345 days from now
    send_reminders(app)
    send_reminders(app)
    # 马超 was not endorsed: by then his permit is suspended and gets no window reminder.
    assert reminded_phones(outbox) == sorted(DUE_TODAY + [demo.phone("张伟")])


def test_deregistered_permit_gets_no_reminder_even_in_its_window(app, outbox, clock):
    clock.advance(days=75)  # 刘洋's valid-until (D+100) is now 25 days away
    send_reminders(app)
    assert demo.phone("刘洋") not in reminded_phones(outbox)


def test_holder_without_phone_is_skipped_and_not_marked(app, outbox, dbsession):
    send_reminders(app)
    xiaoming = permit_of(dbsession, "张小明")
    marked = dbsession.exec(select(Reminder).where(Reminder.permit_id == xiaoming.id)).all()
    assert marked == []


@pytest.mark.parametrize(
    ("today", "latest"),
    [
        (date(2026, 11, 25), date(2026, 12, 25)),
        (date(2025, 1, 30), date(2025, 2, 28)),  # 2025-02-28 opens on 2025-01-28
        (date(2025, 1, 31), date(2025, 2, 28)),
        (date(2025, 2, 28), date(2025, 3, 31)),  # 29, 30 and 31 March open on 28 February
        (date(2024, 2, 29), date(2024, 3, 31)),
        (date(2024, 2, 28), date(2024, 3, 28)),
    ],
)
def test_latest_valid_until_in_window_follows_month_ends(today, latest):
    assert reminders.latest_valid_until_in_window(today) == latest
    assert rules.window_opens(latest) <= today < rules.window_opens(latest + timedelta(days=1))


def test_month_end_window_opening_is_reminded(app, outbox, dbsession, clock):
    permit = permit_of(dbsession, "李娜")
    permit.valid_until = date(2027, 3, 31)
    dbsession.add(permit)
    dbsession.commit()
    clock.moment = clock.moment.replace(year=2027, month=2, day=27)
    send_reminders(app)
    assert demo.phone("李娜") not in reminded_phones(outbox)
    clock.advance(days=1)  # 2027-02-28: the window of 2027-03-31 opens (SPEC 2.3)
    send_reminders(app)
    assert demo.phone("李娜") in reminded_phones(outbox)


def test_reminders_are_claimed_in_the_database(app, dbsession, clock):
    """The unique (permit, period) key, not Python, decides: a claimed pair is skipped."""
    for name in ("张伟", "马超"):
        permit = permit_of(dbsession, name)
        dbsession.add(
            Reminder(permit_id=permit.id, period=permit.valid_until, kind="window", sent_at=clock())
        )
    dbsession.commit()
    with db.session_scope(db.engine_of(app)) as session:
        assert reminders.send_due(session, today=clock.today, now=clock()) == 0


def test_one_run_delivers_every_reminder_it_queues_however_many(app, outbox, dbsession, clock):
    # More holders enter their window on one day than a delivery batch holds.
    address_id = permit_of(dbsession, "张伟").address_id
    for n in range(150):
        body = f"44010619800101{n:03d}"
        person = Person(
            id_number=body + ric.calc_check_digit(body + "0"),
            name=f"测试{n}",
            sex="male",
            ethnicity="汉族",
            birth_date=date(1980, 1, 1),
            hukou="广东省广州市",
            phone=f"139{n:08d}",
        )
        dbsession.add(person)
        dbsession.flush()
        dbsession.add(
            Permit(
                person_id=person.id,
                address_id=address_id,
                issuing_authority="广州市公安局天河分局",
                issue_date=clock.today - timedelta(days=300),
                valid_until=clock.today + timedelta(days=5),
                continuity_start=clock.today - timedelta(days=300),
            )
        )
    dbsession.commit()
    assert "queued 152 reminders" in send_reminders(app)
    assert len(reminded_phones(outbox)) == 152
    dbsession.rollback()
    waiting = select(sa.func.count()).select_from(SmsOutbox).where(SmsOutbox.delivered_at.is_(None))
    assert dbsession.exec(waiting).one() == 0
