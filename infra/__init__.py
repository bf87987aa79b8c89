"""Everything outside the Lambda functions: the `fanout` command (cli/), operations on any stack
(ops/), the stack on one machine (local/) and the demo (demo/)."""
