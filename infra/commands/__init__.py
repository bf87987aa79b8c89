"""One module per `fanout` subcommand; each has register(subparsers) and sets `execute`."""
