"""One root error class; retryable and permanent failures kept apart."""


class FanoutError(Exception):
    """Root of every error Fanout raises on purpose."""


class RetryableError(FanoutError):
    """The same work may succeed later: a timeout, a 5xx, a throttle."""


class PermanentError(FanoutError):
    """Trying again cannot help: a refused row, a malformed message."""


class InputError(PermanentError):
    """What the user gave us cannot be used (a file, a flag, a URL)."""


class ConfigError(PermanentError):
    """A setting is missing or out of range."""
