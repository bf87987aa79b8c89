"""The `fanout` command: the entry point (main), shared flags, progress, preflight checks, and one
module per subcommand, each with register(subparsers) setting `execute`."""
