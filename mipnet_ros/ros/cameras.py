"""Several cameras, one pipeline each: the camera list of launch/multi_camera.launch.py, read and checked.

One YAML names each camera's namespace and its input topics; every other entry of a camera is a
launch argument of mipnet.launch.py (model, params_file, use_compressed, tracker, depth, hri, rviz ...),
with `defaults` applying to all. Each camera gets exactly its own entries plus the defaults: the launch
scopes them, so nothing one camera sets reaches the next. The RViz layout is written per namespace from
rviz/mipnet.rviz, whose topics name the un-namespaced node.

ROS4HRI bodies live on absolute topics (/humans/bodies/...) shared by the whole robot, and a body id
names one person seen by one tracker: with two HRI cameras the same person would be two bodies, and
two cameras' ids would collide. So at most one camera may set `hri`; a file with more is refused.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping

from mipnet_ros.ros import topics
from mipnet_ros.ros.launch_args import TRUE_WORDS, is_true

NODE_NAME = topics.POSE_NODE
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
    hri = [c.namespace for c in cameras if is_true(c.launch_args.get('hri', 'false'))]
    if len(hri) > 1:
        raise ValueError(f"hri is true for {len(hri)} cameras ({', '.join(hri)}): ROS4HRI bodies are published on "
                         'the robot-wide /humans/bodies/... topics and one person seen by two cameras would be two '
                         'bodies with colliding ids; set hri: true on one camera only')
    return cameras


def load_cameras(path) -> List[Camera]:
    import yaml
    return parse_cameras(yaml.safe_load(Path(path).read_text()))


def shared_model(doc: Mapping) -> bool:
    """The file's `shared_model`: true = one mipnet_multi_node process serves every camera with one model."""
    value = doc.get('shared_model', False) if isinstance(doc, Mapping) else False
    if not isinstance(value, (bool, str)) or _text(value).strip().lower() not in TRUE_WORDS + ('0', 'false', 'no', ''):
        raise ValueError(f'shared_model must be true or false, got {value!r}')
    return is_true(value)


def load_shared_model(path) -> bool:
    import yaml
    return shared_model(yaml.safe_load(Path(path).read_text()))


def rviz_config_for(template: str, camera: Camera, node_name: str = NODE_NAME) -> str:
    """rviz/mipnet.rviz with its topics moved under the camera's namespace."""
    text = template
    for private in (topics.MARKERS, topics.ANNOTATED_IMAGE):
        text = text.replace(f'/{NODE_NAME}/{topics.private_leaf(private)}', camera.topic(private, node_name))
    return text
