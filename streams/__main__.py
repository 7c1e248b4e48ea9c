"""`python -m streams` is the creditstream command line."""

from streams.cli import main

main()
