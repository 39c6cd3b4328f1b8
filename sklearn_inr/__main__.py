"""``python -m sklearn_inr``: the command line (see :mod:`sklearn_inr.cli`)."""

from .cli import main

# Guarded so that importing this module (pytest --doctest-modules does) runs
# nothing.
if __name__ == "__main__":
    raise SystemExit(main())
