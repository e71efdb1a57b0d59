"""The bundle's single executable: `nocturne` with no command opens the desktop app."""

import sys

from app.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
