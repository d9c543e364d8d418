"""Several cameras, one pipeline each: the camera list of launch/multi_camera.launch.py, read and checked.

One YAML names each camera's namespace and its input topics; every other entry of a camera is a
launch argument of mipnet.launch.py (model, params_file, use_compressed ...), with `defaults`
applying to all. The RViz layout is written per namespace from rviz/mipnet.rviz, whose topics
name the un-namespaced node.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping

from mipnet_ros.ros import topics

NODE_NAME = 'mipnet_node'
NAMESPACE = re.compile(r'^/?[A-Za-z][A-Za-z0-9_]*(/[A-Za-z][A-Za-z0-9_]*)*$')
# keys of a camera entry that are not mipnet.launch.py arguments
OWN_KEYS = ('namespace',)


@dataclass
class Camera:
    namespace: str                      # '/front' (topics and node live under it)
    image: str                          # input image topic (raw; '/compressed' is appended for compressed)
    detections: str
    launch_args: Dict[str, str] = field(default_factory=dict)   # every mipnet.launch.py argument

    def topic(self, private: str, node_name: str = NODE_NAME) -> str:
        """The absolute name of a private output ('~/markers') of this camera's node."""
        return f'{self.namespace}/{node_name}/{topics.private_leaf(private)}'


def _text(value) -> str:
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return str(value)


def parse_cameras(doc: Mapping) -> List[Camera]:
    """The cameras of a loaded YAML document: {'defaults': {...}, 'cameras': [{namespace, image, ...}]}."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get('cameras'), list) or not doc['cameras']:
        raise ValueError("the cameras file needs a non-empty list under 'cameras'")
    defaults = dict(doc.get('defaults') or {})
    cameras, seen = [], set()
    for i, entry in enumerate(doc['cameras']):
        if not isinstance(entry, Mapping):
            raise ValueError(f'camera {i}: expected a mapping, got {entry!r}')
        merged = {**defaults, **entry}
        ns = str(merged.get('namespace', '')).strip()
        if not NAMESPACE.match(ns):
            raise ValueError(f"camera {i}: namespace {ns!r} must be a ROS name such as 'front' or '/robot/front'")
        ns = '/' + ns.lstrip('/')
        if ns in seen:
            raise ValueError(f'camera {i}: namespace {ns} is used twice')
        seen.add(ns)
        args = {k: _text(v) for k, v in merged.items() if k not in OWN_KEYS}
        args['namespace'] = ns
        args.setdefault('image', f'{ns}/{topics.IMAGE}')
        args.setdefault('detections', f'{ns}/{topics.DETECTIONS}')
        cameras.append(Camera(ns, args['image'], args['detections'], args))
    return cameras


def load_cameras(path) -> List[Camera]:
    import yaml
    return parse_cameras(yaml.safe_load(Path(path).read_text()))


def rviz_config_for(template: str, camera: Camera, node_name: str = NODE_NAME) -> str:
    """rviz/mipnet.rviz with its topics moved under the camera's namespace."""
    text = template
    for private in (topics.MARKERS, topics.ANNOTATED_IMAGE):
        text = text.replace(f'/{NODE_NAME}/{topics.private_leaf(private)}', camera.topic(private, node_name))
    return text
