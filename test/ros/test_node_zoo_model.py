"""mipnet_node with `model: <zoo name>`: configure fails with the command to run while downloads are
not allowed (the default), and fetches, converts and loads the model once `allow_download` is true.

The node runs in this process (no launch) so that the zoo can point the name at a loopback server.
"""
import pytest

rclpy = pytest.importorskip('rclpy')

from mipnet_ros.core.weights.cache import weights_dir  # noqa: E402


def test_configure_by_zoo_name(tiny_zoo_model):
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.parameter import Parameter

    from mipnet_ros.offline.launcher import domain_id_for
    from mipnet_ros.ros.pose_node import MipnetNode
    _, entry, server = tiny_zoo_model
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain_id_for(__file__))
    node = None
    try:
        node = MipnetNode(context=ctx, parameter_overrides=[
            Parameter('model', value='tiny_coco'), Parameter('autostart', value=False),
            Parameter('warmup', value=False)])
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert 'python -m mipnet_ros weights get tiny_coco' in node._model_error
        assert 'allow_download' in node._model_error and server.requests == []

        node.set_parameters([Parameter('allow_download', value=True)])
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS, node._model_error
        assert node._estimator.model_path == str(weights_dir() / 'tiny_coco.pth')
        assert tuple(node._estimator.input_size) == entry.input_size and len(server.requests) == 1
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown(context=ctx)
