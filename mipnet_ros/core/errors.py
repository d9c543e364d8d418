"""The error a user can fix: bad input, a missing file, a wrong option.

Raised by the library and the jobs alike; `python -m mipnet_ros` prints it as one line
`<job>: error: <message>` and exits with status 2 instead of a traceback. A ValueError, so
callers that already catch ValueError keep working.
"""


class UsageError(ValueError):
    """A mistake in what was asked (input, option, file); the message says what to change."""
