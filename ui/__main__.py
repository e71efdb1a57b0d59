"""`python -m ui` opens the desktop app (same as `nocturne` with no command)."""

import sys

from ui.app import run

sys.exit(run())
