"""The entry point every lifecycle node of the package shares: autostart, spin, a clean stop.

A stop comes from SIGINT/SIGTERM (any number of them), the parent's death, or an external rclpy
shutdown. Teardown order: stop spinning, `node.stop_processing()`, destroy the node, shut the context
down, then leave without interpreter finalisation; whatever hangs, the process exits `deadline_sec`
after the request (details: ros/shutdown.py).
"""
from __future__ import annotations

from typing import Any, Callable, List, Optional

STOP_DEADLINE_SEC = 2.0    # after a stop request the process exits at the latest this much later


def run_lifecycle_node(make_node: Callable[[], Any], name: str, args: Optional[List[str]] = None,
                       deadline_sec: float = STOP_DEADLINE_SEC) -> int:
    """Build the node, configure + activate it when `node.params.autostart`, spin until a stop request.

    Every node's parameters (ros/params.py) have `autostart` and `exit_with_parent`.
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.signals import SignalHandlerOptions

    from mipnet_ros.ros.ros_init import START_FAILED_EXIT, init_ros
    from mipnet_ros.ros.shutdown import StopRequest, flush_and_exit

    def out_of_time() -> None:
        rclpy.logging.get_logger(name).warning(
            f'stop requested ({stop.reason}) {deadline_sec:g} s ago and the teardown is not done: exiting now')
        flush_and_exit(0)
    stop = StopRequest(deadline_sec, out_of_time)
    stop.install_signal_handlers()
    if not init_ros(name, args, signal_handler_options=SignalHandlerOptions.NO):
        return START_FAILED_EXIT
    node = make_node()
    if node.params.exit_with_parent:
        stop.watch_parent()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        if node.params.autostart and not stop.requested:
            if node.trigger_configure() == TransitionCallbackReturn.SUCCESS:
                if not stop.requested:
                    node.trigger_activate()
            else:
                # the ERROR of the failed transition says why and what to change; this says what happens now
                node.get_logger().warning('autostart: configure failed (see the error above); the node waits '
                                          'for the lifecycle configure transition')
        while not stop.requested and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)     # looks at the stop request 10 times a second
    except ExternalShutdownException:
        pass
    if stop.requested:
        node.get_logger().info(f'stopping ({stop.reason})')
    node.stop_processing()
    for step in (executor.shutdown, node.destroy_node, rclpy.try_shutdown):
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - teardown goes on; the process is ending anyway
            node.get_logger().debug(f'teardown: {type(exc).__name__}: {exc}')
    stop.ignore_signals()       # the teardown is done; a late signal must not kill the exit
    stop.finished()
    # Everything is closed; interpreter finalisation (torch, a frame maybe still inside the network)
    # would only add seconds, or abort in native code: leave now.
    flush_and_exit(0)
    return 0
