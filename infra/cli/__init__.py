"""The `fanout` command: the entry point (main), shared flags, progress, preflight checks, exit
codes, the one-shot run on the local stack (run_job), and one module per subcommand, each with
register(subparsers) setting `execute`."""
