"""The reminder ladder (SPEC 2.13): `flask --app wsgi send-reminders` sends `window`,
`expiring` and `suspended` once each per permit and period, to the holder's phone or, for a
holder without one, to everyone who has them on their family list; running it again sends
nothing new."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import select
from stdnum.cn import ric

from epermit import demo, rules
from epermit.models import FamilyLink, Permit, Person, Reminder, SmsOutbox
from epermit.services import reminders

WORDS = {
    "window": "签注办理期",
    "expiring": "届满，目前尚未签注",
    "suspended": "使用功能已中止",
}


def send_reminders(app) -> str:
    result = app.test_cli_runner().invoke(args=["send-reminders"])
    assert result.exit_code == 0, result.output
    return result.output


def permit_of(dbsession, name):
    return dbsession.exec(
        select(Permit).join(Person, Person.id == Permit.person_id).where(Person.name == name)
    ).one()


def reminded_phones(outbox, kind="window", about=None):
    """Who got a reminder of this kind, about `about`'s permit when given (a family member's
    reminder names them; one's own says 您的居住证)."""
    whose = "您的居住证" if about is None else f"您的家庭成员{about}的居住证"
    return sorted(
        m["to"]
        for m in outbox.messages()
        if WORDS[kind] in m["text"] and m["text"].startswith(f"【广东省电子居住证】{whose}")
    )


def ladder_messages(outbox, to):
    return [m for m in outbox.messages(to) if any(w in m["text"] for w in WORDS.values())]


def day_words(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def test_holder_whose_window_is_open_gets_one_sms_with_the_date(app, outbox, clock):
    send_reminders(app)
    # 张伟 (due in 10 days): 李娜's window is months away, 王芳 is long suspended and 刘洋's
    # permit is deregistered.
    assert reminded_phones(outbox) == [demo.phone("张伟")]
    valid_until = clock.today + timedelta(days=10)
    text = ladder_messages(outbox, demo.phone("张伟"))[0]["text"]
    assert text.startswith("【广东省电子居住证】您的居住证已进入签注办理期")
    assert f"请于{day_words(valid_until)}前" in text
    assert "code" not in ladder_messages(outbox, demo.phone("张伟"))[0]
    assert demo.phone("王芳") not in [m["to"] for m in outbox.messages()]
    assert demo.phone("刘洋") not in [m["to"] for m in outbox.messages()]


def test_the_demo_worlds_rungs_on_day_one(app, outbox):
    send_reminders(app)
    # 马超 (D+5) is within 7 days of valid-until, 郭鹏 (D−3) was suspended three days ago.
    assert reminded_phones(outbox, "expiring") == [demo.phone("马超")]
    assert reminded_phones(outbox, "suspended") == [demo.phone("郭鹏")]
    assert len(ladder_messages(outbox, demo.phone("马超"))) == 1


def test_a_phoneless_childs_reminder_reaches_both_parents(app, outbox, clock):
    # 张小明 (valid until D+20, window open, no phone) is on 张伟's and 李娜's lists.
    send_reminders(app)
    parents = sorted([demo.phone("张伟"), demo.phone("李娜")])
    assert reminded_phones(outbox, "window", about="张小明") == parents
    text = next(m["text"] for m in outbox.messages(demo.phone("李娜")) if "张小明" in m["text"])
    assert text.startswith("【广东省电子居住证】您的家庭成员张小明的居住证已进入签注办理期")
    assert day_words(clock.today + timedelta(days=20)) in text


def test_each_rung_of_the_ladder_is_sent_once_with_a_moved_clock(app, outbox, clock):
    parents = sorted([demo.phone("张伟"), demo.phone("李娜")])
    valid_until = clock.today + timedelta(days=20)  # 张小明's
    send_reminders(app)
    send_reminders(app)
    assert reminded_phones(outbox, "window", about="张小明") == parents

    clock.advance(days=12)  # 8 days before valid-until: not yet
    send_reminders(app)
    assert reminded_phones(outbox, "expiring", about="张小明") == []
    clock.advance(days=1)  # 7 days before
    send_reminders(app)
    send_reminders(app)
    assert reminded_phones(outbox, "expiring", about="张小明") == parents
    text = next(
        m["text"]
        for m in outbox.messages(demo.phone("张伟"))
        if WORDS["expiring"] in m["text"] and "张小明" in m["text"]
    )
    assert f"将于{day_words(valid_until)}届满" in text

    clock.advance(days=7)  # valid-until itself: still usable, nothing new
    send_reminders(app)
    assert reminded_phones(outbox, "suspended", about="张小明") == []
    clock.advance(days=1)  # the day after valid-until
    send_reminders(app)
    send_reminders(app)
    assert reminded_phones(outbox, "suspended", about="张小明") == parents
    text = next(
        m["text"]
        for m in outbox.messages(demo.phone("李娜"))
        if WORDS["suspended"] in m["text"] and "张小明" in m["text"]
    )
    assert "补办签注后即可恢复使用" in text and "重新连续计算" in text

    clock.advance(days=3)
    send_reminders(app)
    about_him = [m for m in outbox.messages() if "张小明" in m["text"]]
    assert len(about_him) == 6  # three rungs, two parents, once each


def test_running_twice_sends_nothing_new(app, outbox, dbsession):
    send_reminders(app)
    sent = len(outbox.messages())
    rungs = dbsession.exec(select(sa.func.count()).select_from(Reminder)).one()
    assert "queued 0 reminders" in send_reminders(app)
    assert len(outbox.messages()) == sent
    dbsession.rollback()
    assert dbsession.exec(select(sa.func.count()).select_from(Reminder)).one() == rungs
    assert dbsession.exec(select(sa.func.count()).select_from(SmsOutbox)).one() == sent


def test_an_endorsed_permit_is_not_told_it_is_expiring(app, outbox, dbsession, clock):
    send_reminders(app)
    permit = permit_of(dbsession, "张伟")
    # Endorsed on time: valid-until moves a year on, so 7 days before the old date is nothing.
    permit.valid_until = rules.add_years(permit.valid_until, 1)
    dbsession.add(permit)
    dbsession.commit()
    clock.advance(days=3)
    send_reminders(app)
    clock.advance(days=8)
    send_reminders(app)
    assert demo.phone("张伟") not in reminded_phones(outbox, "expiring")
    assert demo.phone("张伟") not in reminded_phones(outbox, "suspended")


def test_suspended_goes_out_the_day_after_valid_until_with_what_restores_it(app, outbox, clock):
    clock.advance(days=10)  # 张伟's valid-until (D+10) is today: still valid
    send_reminders(app)
    assert demo.phone("张伟") not in reminded_phones(outbox, "suspended")
    clock.advance(days=1)
    send_reminders(app)
    assert demo.phone("张伟") in reminded_phones(outbox, "suspended")
    text = [
        m for m in ladder_messages(outbox, demo.phone("张伟")) if WORDS["suspended"] in m["text"]
    ]
    assert len(text) == 1
    assert "补办签注后即可恢复使用，居住年限自补办签注之日起重新连续计算" in text[0]["text"]


def test_a_permit_suspended_long_ago_is_not_told_again(app, outbox):
    send_reminders(app)  # 王芳 has been suspended for 20 days
    assert demo.phone("王芳") not in [m["to"] for m in outbox.messages()]


def test_a_late_run_still_sends_what_is_due(app, outbox, clock):
    # No run for the week after 张伟's valid-until: the next one still tells him.
    clock.advance(days=17)
    send_reminders(app)
    assert demo.phone("张伟") in reminded_phones(outbox, "suspended")
    # Long past: the later rung says it.
    assert demo.phone("张伟") not in reminded_phones(outbox, "window")


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
    assert reminded_phones(outbox) == [demo.phone("张伟")]
    clock.advance(days=350)  # the new window opens about 345 days from now
    send_reminders(app)
    send_reminders(app)
    assert reminded_phones(outbox) == [demo.phone("张伟"), demo.phone("张伟")]


def test_deregistered_permit_gets_no_reminder_even_in_its_window(app, outbox, clock):
    clock.advance(days=75)  # 刘洋's valid-until (D+100) is now 25 days away
    send_reminders(app)
    assert demo.phone("刘洋") not in reminded_phones(outbox)


def test_holder_without_phone_or_family_is_skipped_and_not_marked(app, outbox, dbsession):
    xiaoming = permit_of(dbsession, "张小明")
    dbsession.execute(sa.delete(FamilyLink).where(FamilyLink.member_id == xiaoming.person_id))
    dbsession.commit()
    send_reminders(app)
    assert [m for m in outbox.messages() if "张小明" in m["text"]] == []
    dbsession.rollback()
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


def test_reminders_are_claimed_in_the_database(app, outbox, dbsession, clock):
    """The unique (permit, period, kind) key, not Python, decides: a claimed rung is skipped,
    and a second row for it is refused."""
    for name in ("张伟", "张小明"):
        permit = permit_of(dbsession, name)
        dbsession.add(
            Reminder(permit_id=permit.id, period=permit.valid_until, kind="window", sent_at=clock())
        )
    dbsession.commit()
    send_reminders(app)
    assert reminded_phones(outbox) == []
    assert reminded_phones(outbox, about="张小明") == []
    permit = permit_of(dbsession, "张伟")
    dbsession.add(
        Reminder(permit_id=permit.id, period=permit.valid_until, kind="window", sent_at=clock())
    )
    with pytest.raises(sa.exc.IntegrityError):
        dbsession.flush()
    dbsession.rollback()
    # The same permit and period may still have its other rungs.
    dbsession.add(
        Reminder(permit_id=permit.id, period=permit.valid_until, kind="expiring", sent_at=clock())
    )
    dbsession.flush()


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
    send_reminders(app)
    # 7 days or fewer before valid-until: the rung is `expiring`, one SMS each.
    expiring = [m["to"] for m in outbox.messages() if m["to"].startswith("139")]
    assert sorted(expiring) == sorted(f"139{n:08d}" for n in range(150))
    assert set(expiring) <= set(reminded_phones(outbox, "expiring"))
    dbsession.rollback()
    waiting = select(sa.func.count()).select_from(SmsOutbox).where(SmsOutbox.delivered_at.is_(None))
    assert dbsession.exec(waiting).one() == 0


def _plans_of_a_run(dbsession, clock) -> list[list[str]]:
    """The plans of a run's INSERT … SELECT statements (on SQLite claim, then queue; on
    PostgreSQL one statement that does both), as the database would run them with
    statistics of its own (ANALYZE), not its empty defaults."""
    connection = dbsession.connection()
    postgresql = connection.dialect.name == "postgresql"
    connection.exec_driver_sql("ANALYZE")
    statements: list[tuple[str, Any]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        if "INSERT INTO" in statement:
            statements.append((statement, parameters))

    sa.event.listen(connection, "before_cursor_execute", capture)
    try:
        # The demo world's day one has rungs due (张伟's window, 张小明's for his parents).
        assert reminders.send_due(dbsession, today=clock.today, now=clock()) > 0
    finally:
        sa.event.remove(connection, "before_cursor_execute", capture)
    assert len(statements) == (1 if postgresql else 2), statements
    if postgresql:
        # A demo-sized register is rightly read whole; forbidding that shows the indexes can
        # serve the run, as they must with ten million permits.
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    explain = "EXPLAIN " if postgresql else "EXPLAIN QUERY PLAN "
    return [
        [row[-1] for row in connection.exec_driver_sql(explain + statement, parameters).all()]
        for statement, parameters in statements
    ]


def test_a_run_reads_only_the_permits_due_through_indexes(dbsession, clock):
    """SPEC 13: a run over ten million permits in at most 60 s, first of the day or not. The
    permits are walked as a valid-until range of an index that holds what the run filters
    on, the sent-reminder key is looked up by period first (the order of the walk), and the
    SMS are made from this run's rungs, never from every phoneless person in the register."""
    plans = _plans_of_a_run(dbsession, clock)
    if dbsession.get_bind().dialect.name == "postgresql":
        (plan,) = plans
        assert any("ix_permit_valid_until_current_person" in step for step in plan), plan
        assert any("uq_reminder_period_kind_permit" in step for step in plan), plan
        assert not any("Seq Scan" in step for step in plan), plan
        assert not any("uq_person_phone" in step for step in plan), plan
        # Each due permit's holder is one probe of the person table's key, never a hash of
        # the whole table built because the planner cannot tell how few are due.
        assert any("Index Cond: (id = permit.person_id)" in step for step in plan), plan
        return
    claim, queue = plans
    assert any(
        re.search(r"USING COVERING INDEX ix_permit_valid_until_current_person \(valid_until>", s)
        for s in claim
    ), claim
    assert any("(period=? AND kind=? AND permit_id=?)" in step for step in claim), claim
    assert not any(re.match(r"SCAN (permit|person|reminder)\b", step) for step in claim), claim
    # The queue starts from this run's rungs (ids above any before) and reaches people only
    # by their id: no index on phone leads it.
    assert queue[0].startswith("SEARCH reminder USING INTEGER PRIMARY KEY (rowid>?)"), queue
    people = [step for step in queue if re.match(r"SEARCH person_\d", step)]
    assert people and all("INTEGER PRIMARY KEY (rowid=?)" in step for step in people), queue
    assert not any(re.match(r"SCAN (permit|person|reminder)\b", step) for step in queue), queue
