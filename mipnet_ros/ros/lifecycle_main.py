"""The `main()` of a lifecycle node executable: init, autostart (configure + activate), spin, clean stop.

Ctrl-C and an external shutdown end the spin quietly; `stop` (unsubscribe, stop threads) runs before
the node is destroyed, so no callback runs on a half-destroyed node.
"""
from __future__ import annotations

from typing import Callable, List, Optional


def run_lifecycle_node(make_node: Callable[[], object], autostart: Callable[[object], bool],
                       stop: Callable[[object], None], args: Optional[List[str]] = None) -> int:
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.lifecycle import TransitionCallbackReturn
    rclpy.init(args=args)
    node = make_node()
    try:
        if autostart(node):
            if node.trigger_configure() == TransitionCallbackReturn.SUCCESS:
                node.trigger_activate()
            else:
                node.get_logger().error('autostart: configure failed; fix the parameters and call the lifecycle '
                                        'configure transition again')
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        stop(node)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
