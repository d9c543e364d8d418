"""Pretrained weights by name: the zoo table, verified downloads, mmpose conversion, name resolution."""
from mipnet_ros.core.weights.cache import cache_root, weights_dir
from mipnet_ros.core.weights.download import DownloadError
from mipnet_ros.core.weights.resolve import ModelNotAvailable, resolve_model
from mipnet_ros.core.weights.zoo import ZOO, ZooEntry, get_entry

__all__ = ['ZOO', 'ZooEntry', 'get_entry', 'resolve_model', 'ModelNotAvailable', 'DownloadError',
           'cache_root', 'weights_dir']
