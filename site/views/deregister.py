"""注销 wizard routes: the generic wizard views serving the deregistration wizard."""

from epermit.views._wizard import wizard_blueprint
from epermit.wizards.deregister import WIZARD

bp = wizard_blueprint(WIZARD)
