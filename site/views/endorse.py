"""签注 wizard routes: the generic wizard views serving the endorsement wizard."""

from epermit.views._wizard import wizard_blueprint
from epermit.wizards.endorse import WIZARD

bp = wizard_blueprint(WIZARD)
