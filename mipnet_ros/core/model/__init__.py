"""MIPNet networks: HRNet and SimpleBaseline-ResNet, plain (N=1) or with lambda gates (N>=2).

Entry points: `ModelSpec`, `build_model` (registry), `load_checkpoint` / `save_checkpoint`
(checkpoint). Names are resolved lazily so that importing this package costs nothing until used.
"""
_LAZY = {
    'ModelSpec': 'mipnet_ros.core.model.spec',
    'PoseNet': 'mipnet_ros.core.model.spec',
    'ARCHS': 'mipnet_ros.core.model.spec',
    'build_model': 'mipnet_ros.core.model.registry',
    'load_checkpoint': 'mipnet_ros.core.model.checkpoint',
    'save_checkpoint': 'mipnet_ros.core.model.checkpoint',
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
