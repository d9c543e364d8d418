"""The shared lifecycle of the downstream nodes (tracker, 3D keypoints): what deactivate, cleanup,
shutdown and error do, given the node's own `stop_processing()` (no more input) and `_release()`."""
from __future__ import annotations

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn


class DownstreamLifecycleNode(LifecycleNode):
    """A lifecycle node whose subclasses define `stop_processing()` and `_release()`; `_state` names its state."""

    _state = 'unconfigured'
    _config_error = ''

    def _fail(self, why: str) -> TransitionCallbackReturn:
        """A failed transition: one ERROR line (what is wrong and what to change), kept for /diagnostics."""
        self._config_error = why
        self.get_logger().error(why)
        return TransitionCallbackReturn.FAILURE

    def stop_processing(self) -> None:
        raise NotImplementedError

    def _release(self) -> None:
        raise NotImplementedError

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.stop_processing()
        self._state = 'inactive'
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        self._state = 'unconfigured'
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.stop_processing()
        self._release()
        self._state = 'finalized'
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.stop_processing()
        self._release()
        self._state = 'unconfigured'
        return TransitionCallbackReturn.SUCCESS
