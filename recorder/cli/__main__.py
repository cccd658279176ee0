"""`python -m recorder.cli` runs the command line (handy where the console script is not on PATH)."""

from recorder.cli.main import run

run()
