"""`python -m pytest_agentarch` is the `agentarch` command-line tool."""

import sys

from .cli import main

sys.exit(main())
