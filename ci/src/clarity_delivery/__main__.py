"""``python -m clarity_delivery`` is ``clarity-deploy``."""

from .cli import main

raise SystemExit(main())
