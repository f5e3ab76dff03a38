"""`python -m tfnas` runs the CLI."""
import sys

from tfnas.cli import main

sys.exit(main())
