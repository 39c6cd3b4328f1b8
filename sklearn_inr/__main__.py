"""``python -m sklearn_inr``: the command line (see :mod:`sklearn_inr.cli`)."""

from .cli import main

raise SystemExit(main())
