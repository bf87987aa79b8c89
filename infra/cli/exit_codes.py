"""What `fanout`'s exit status says (README, "Exit codes")."""

EXIT_OK = 0
# `fanout run` finished, but some rows failed or were rejected.
EXIT_ROWS_FAILED = 1
# Bad arguments or input: nothing was attempted.
EXIT_NOT_ATTEMPTED = 2
# An AWS (or emulator) call failed in a way the command does not handle: a service error, a
# connection refused, an emulator gone. The command stopped where it was.
EXIT_SERVICE_FAILED = 3
