"""mipnet_ros: MIPNet multi-instance pose estimation, a ROS-free core plus a ROS 2 node.

`from mipnet_ros import PoseEstimator` works without ROS; the names are resolved lazily so that
importing the package (e.g. for the CLI's --help) does not load torch.
"""
from pkgutil import extend_path

__version__ = '0.1.0'

# The ROS messages (mipnet_ros.msg) are generated into the installed copy of this package; when the
# source tree comes first on sys.path (tests, notebooks in the checkout), look there as well.
__path__ = extend_path(__path__, __name__)

_LAZY = {
    'PoseEstimator': 'mipnet_ros.core.estimator',
    'Person': 'mipnet_ros.core.estimator',
    'prepare_model': 'mipnet_ros.core.estimator_factory',
    'PreparedModel': 'mipnet_ros.core.estimator_factory',
    'ParameterError': 'mipnet_ros.core.errors',
    'ModelSpec': 'mipnet_ros.core.model.spec',
    'build_model': 'mipnet_ros.core.model.registry',
    'load_checkpoint': 'mipnet_ros.core.model.checkpoint',
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
