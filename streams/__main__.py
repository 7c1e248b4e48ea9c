"""`python -m streams` is the creditstream command line."""

from streams.entry import main

main()
