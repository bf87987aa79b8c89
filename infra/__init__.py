"""The local stack and the `fanout` command: the template's resources on an embedded emulator."""
