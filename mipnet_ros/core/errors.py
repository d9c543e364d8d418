"""The errors a user can fix: bad input, a missing file, a wrong option, a wrong parameter.

Raised by the library and the jobs alike; `python -m mipnet_ros` prints them as one line
`<job>: error: <message>` and exits with status 2 instead of a traceback. ValueErrors, so
callers that already catch ValueError keep working. The ROS node maps a `ParameterError` to its
one ERROR line by its `parameter` attribute, never by the message text.
"""
from __future__ import annotations


class UsageError(ValueError):
    """A mistake in what was asked (input, option, file); the message says what to change."""


class ParameterError(UsageError):
    """A value of one named setting that cannot work; `parameter` is its name.

    The names are those of `PoseEstimator` / `load_model` (model, arch, backend, device, providers,
    fp16, instances, input_size, trt_cache_dir, ...), which are also the node's parameter names
    (input_size is the node's input_height/input_width).
    """

    def __init__(self, message: str, parameter: str):
        super().__init__(message)
        self.parameter = parameter


class BackendError(ParameterError, RuntimeError):
    """The requested backend cannot run as asked (a device or provider missing, a bad model file)."""
