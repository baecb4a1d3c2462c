"""``python -m semsynth`` runs the ``bench`` command."""

from .cli import main

raise SystemExit(main())
