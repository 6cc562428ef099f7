"""`python -m tunesmith`: the same command line as the `tunesmith` script."""

from tunesmith.cli import main

main()
