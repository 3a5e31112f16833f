"""Allow ``python -m sipswitch``."""

from sipswitch.cli import main

raise SystemExit(main())
