"""Every service ePermit offers as a wizard, each one declaration (epermit.wizard).

Adding a service is one module here, its templates in templates/<name>/ (any page left out
gets the engine's generic one), and one line in WIZARDS: create_app serves it, and the case
list and receipts take its words from it.
"""

from __future__ import annotations

from epermit.wizard import Wizard
from epermit.wizards import deregister, endorse, move

WIZARDS: tuple[Wizard, ...] = (endorse.WIZARD, deregister.WIZARD, move.WIZARD)
