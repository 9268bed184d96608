"""`python -m deepnotes ...` (and `torchrun -m deepnotes ...`) runs the command line."""

from deepnotes.cli import main

raise SystemExit(main())
