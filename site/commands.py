"""`flask --app wsgi …` commands: migrate, seed-demo, seed-bulk, create-staff, send-reminders,
deliver-sms, sms-dead, purge-stale."""

from __future__ import annotations

import time
from datetime import timedelta

import click
import sqlalchemy as sa
from flask import Flask, current_app

from epermit import bulk, clock, db, demo, wizard
from epermit.services import codes, move, reminders, sms, staff_auth
from epermit.vocabulary import StaffRole

# A draft keeps a half-done application across devices for a month: long enough to come
# back to it, short enough that abandoned ones do not pile up.
DRAFT_DAYS = 30
# Codes live minutes, but the per-phone caps look back a day (services.codes.RecipientCap).
CODE_DAYS = 2


def init_app(app: Flask) -> None:
    @app.cli.command("migrate")
    def migrate() -> None:
        """Bring the database schema up to date."""
        db.upgrade(current_app.config["DATABASE_URL"])
        click.echo("database is up to date")

    @app.cli.command("seed-demo")
    @click.option("--if-empty", is_flag=True, help="Only seed a database with no people yet.")
    def seed_demo(if_empty: bool) -> None:
        """Create the demo people, permits and organisations of SPEC 7."""
        with db.session_scope(db.engine_of(current_app)) as session:
            if not demo.is_empty(session):
                if if_empty:
                    click.echo("database already has data; demo not seeded")
                    return
                raise click.ClickException("the database already has data")
            demo.seed(session, clock.today(), clock.now())
        click.echo("demo world seeded")

    @app.cli.command("seed-bulk")
    @click.option("--permits", type=click.IntRange(1, 20_000_000), required=True)
    def seed_bulk(permits: int) -> None:
        """Add PERMITS holders with a city's spread of places, organisations and cases (SPEC 13)."""
        if current_app.config["PRODUCTION"]:
            raise click.ClickException("seed-bulk writes made-up people: not in production")
        seeded = bulk.seed(
            db.engine_of(current_app), permits=permits, today=clock.today(), now=clock.now()
        )
        click.echo(
            f"added {seeded.permits} permits, {seeded.people} people, {seeded.addresses}"
            f" addresses, {seeded.organisations} organisations and {seeded.cases} cases"
        )

    @app.cli.command("create-staff")
    @click.option("--number", required=True, help="Staff number (6 to 12 digits).")
    @click.option("--name", required=True)
    @click.option("--role", required=True, type=click.Choice([r.value for r in StaffRole]))
    @click.option("--district", default=None, help="An officer's district, e.g. 天河区.")
    def create_staff(number: str, name: str, role: str, district: str | None) -> None:
        """Create a staff account; prints its one-time password and TOTP secret."""
        try:
            with db.session_scope(db.engine_of(current_app)) as session:
                _staff, password, secret = staff_auth.create_staff(
                    session,
                    number=number,
                    name=name,
                    role=role,
                    district=district,
                    now=clock.now(),
                )
        except staff_auth.InvalidStaffDetails as error:
            raise click.BadParameter(str(error)) from None
        except sa.exc.IntegrityError:
            raise click.ClickException(f"staff number {number} is taken") from None
        click.echo(f"staff {number} created")
        click.echo(f"one-time password: {password}")
        click.echo(f"TOTP secret (base32, 30 s, 6 digits): {secret}")

    @app.cli.command("deliver-sms")
    @click.option("--loop", is_flag=True, help="Keep delivering, looking every --every seconds.")
    @click.option("--every", default=5.0, show_default=True, help="Seconds between looks.")
    def deliver_sms(loop: bool, every: float) -> None:
        """Send SMS messages that are due (new, or whose back-off has run out)."""
        while True:
            click.echo(f"delivered {deliver_outbox()} messages")
            if not loop:
                return
            time.sleep(every)

    @app.cli.command("sms-dead")
    @click.option("--requeue", "requeue_id", type=int, help="Try this dead message again.")
    def sms_dead(requeue_id: int | None) -> None:
        """List SMS messages given up after their last attempt (or requeue one)."""
        with db.session_scope(db.engine_of(current_app)) as session:
            if requeue_id is not None:
                if not sms.requeue(session, requeue_id):
                    raise click.ClickException(f"no dead message {requeue_id}")
                click.echo(f"message {requeue_id} requeued")
                return
            dead = sms.dead_messages(session)
            for message in dead:
                to = f"{message.to[:3]}****{message.to[-4:]}"
                click.echo(
                    f"{message.id}\t{to}\t{message.attempts} attempts\t"
                    f"dead {message.dead_at:%Y-%m-%d %H:%M}\t{message.last_error}"
                )
            click.echo(f"{len(dead)} dead messages")

    @app.cli.command("purge-stale")
    def purge_stale() -> None:
        """Delete wizard drafts untouched for DRAFT_DAYS and SMS codes older than CODE_DAYS."""
        now = clock.now()
        with db.session_scope(db.engine_of(current_app)) as session:
            drafts = wizard.purge_stale_drafts(session, now - timedelta(days=DRAFT_DAYS))
            old_codes = codes.purge_old(session, now - timedelta(days=CODE_DAYS))
        click.echo(f"deleted {drafts} stale drafts and {old_codes} old codes")

    @app.cli.command("send-reminders")
    def send_reminders() -> None:
        """Send the reminder ladder (window, expiring, suspended) by SMS; safe to run hourly."""
        with db.session_scope(db.engine_of(current_app)) as session:
            count = reminders.send_due(session, today=clock.today(), now=clock.now())
        with db.session_scope(db.engine_of(current_app)) as session:
            lapsed = move.lapse_due(session, now=clock.now())
        deliver_outbox()
        click.echo(f"queued {count} reminders")
        click.echo(f"lapsed {lapsed} unconfirmed changes of address")


def deliver_outbox() -> int:
    """Send what is due in the outbox, with the app's sender (SPEC 5)."""
    sender = sms.sender_for(current_app.config)
    with db.session_scope(db.engine_of(current_app)) as session:
        return sms.deliver_outbox(session, sender, clock.now)
