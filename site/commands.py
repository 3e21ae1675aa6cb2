"""`flask --app wsgi …` commands: migrate, seed-demo, send-reminders, deliver-sms."""

from __future__ import annotations

import click
from flask import Flask, current_app

from epermit import clock, db, demo
from epermit.services import reminders, sms

BATCH = 100


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

    @app.cli.command("deliver-sms")
    def deliver_sms() -> None:
        """Send SMS messages still waiting in the outbox."""
        click.echo(f"delivered {deliver_outbox()} messages")

    @app.cli.command("send-reminders")
    def send_reminders() -> None:
        """Remind holders by SMS when their endorsement window opens; safe to run hourly."""
        with db.session_scope(db.engine_of(current_app)) as session:
            count = reminders.send_due(session, today=clock.today(), now=clock.now())
        deliver_outbox()
        click.echo(f"queued {count} reminders")


def deliver_outbox() -> int:
    """Send everything waiting, a batch per transaction, so that no write lock is held long."""
    sender = sms.sender_for(current_app.config["SMS_BACKEND"], current_app.config["SMS_OUTBOX"])
    total = 0
    while True:
        with db.session_scope(db.engine_of(current_app)) as session:
            sent = sms.deliver_pending(session, sender, clock.now(), limit=BATCH)
        total += sent
        if sent < BATCH:
            return total
