"""The entry point every lifecycle node of the package shares: autostart, spin, clean stop on Ctrl-C."""
from __future__ import annotations

from typing import Any, Callable, List, Optional


def run_lifecycle_node(make_node: Callable[[], Any], stop: Callable[[Any], None],
                       args: Optional[List[str]] = None) -> int:
    """rclpy.init, build the node, configure + activate it when its `params.autostart` says so, spin.

    `stop(node)` runs before the node is destroyed (unsubscribe, stop workers), also after Ctrl-C.
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.lifecycle import TransitionCallbackReturn
    rclpy.init(args=args)
    node = make_node()
    try:
        if node.params.autostart:
            if node.trigger_configure() == TransitionCallbackReturn.SUCCESS:
                node.trigger_activate()
            else:
                node.get_logger().error('autostart: configure failed; fix the parameters and call '
                                        'the lifecycle configure transition again')
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        stop(node)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
