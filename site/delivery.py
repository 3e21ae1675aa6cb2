"""The SMS deliverer of one process: a background thread woken after a request commits
messages, so that no request waits for the gateway (README, "SMS").

Every process (each gunicorn worker, on every host) runs its own, started on the first wake
after a fork; they share the outbox safely, since each message is claimed before it is sent
(services.sms). Between wakes the thread looks again every `SMS_POLL_SECONDS` for messages
whose back-off has run out, and those another process queued but did not get to send.
"""

from __future__ import annotations

import logging
import os
import threading

from flask import Flask

from epermit import clock, db
from epermit.services import sms

log = logging.getLogger(__name__)


class Deliverer:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self._changed = threading.Condition()
        self._requested = 0  # wakes asked for
        self._done = 0  # wakes answered by a finished pass
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._stopping = False

    def wake(self) -> int:
        """Ask for a pass; the ticket to `wait` for it."""
        with self._changed:
            self._start_if_needed()
            self._requested += 1
            self._changed.notify_all()
            return self._requested

    @property
    def wakes(self) -> int:
        """Passes asked for since the process started."""
        return self._requested

    def ensure_running(self) -> None:
        """Start this process's thread if it has none, with a first pass: messages left by
        a process that is gone are sent without waiting for a new one to be queued."""
        if self._pid == os.getpid() and self._thread is not None and self._thread.is_alive():
            return  # the common case, without the lock
        with self._changed:
            if self._start_if_needed():
                self._requested += 1
                self._changed.notify_all()

    def _start_if_needed(self) -> bool:
        if self._pid == os.getpid() and self._thread is not None and self._thread.is_alive():
            return False
        # A thread does not survive a fork: the first request or wake in a worker starts one.
        self._pid = os.getpid()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="sms-deliverer", daemon=True)
        self._thread.start()
        return True

    def wait(self, ticket: int, timeout: float) -> bool:
        """Wait at most `timeout` seconds for a pass that began after `ticket` was taken."""
        with self._changed:
            return self._changed.wait_for(lambda: self._done >= ticket, timeout)

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        poll = float(self.app.config.get("SMS_POLL_SECONDS", 30))
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._stopping or self._requested > self._done, poll)
                if self._stopping:
                    return
                target = self._requested
            try:
                self.deliver()
            except Exception:  # noqa: BLE001 - the thread must outlive a bad pass
                log.exception("SMS delivery pass failed; messages stay in the outbox")
            with self._changed:
                self._done = max(self._done, target)
                self._changed.notify_all()

    def deliver(self) -> int:
        """One pass over everything due; the number sent."""
        with self.app.app_context():
            sender = sms.sender_for(self.app.config)
            # One connection for the pass's transactions (claim, outcome, each committed),
            # used bare: the pass loads no objects that a session would keep track of.
            with db.engine_of(self.app).connect() as connection:
                return sms.deliver_outbox(db.writer(connection), sender, clock.now)


def init_app(app: Flask) -> None:
    deliverer = app.extensions["sms_deliverer"] = Deliverer(app)

    if app.config.get("SMS_DELIVERER_AUTOSTART"):

        @app.before_request
        def _deliverer_running() -> None:
            # Every serving process delivers and retries, whether or not it queues messages.
            deliverer.ensure_running()


def of(app: Flask) -> Deliverer:
    deliverer: Deliverer = app.extensions["sms_deliverer"]
    return deliverer
