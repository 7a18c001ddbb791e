"""The command line's usage errors: ``nicc`` prints ``nicc: error: ...`` and exits with status 2."""


class UsageError(Exception):
    pass
