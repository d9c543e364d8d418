"""The RViz layouts of rviz/, rewritten for one launch: its namespace, node names, tracker and inputs.

rviz2 subscribes the topic names of a layout as they are written, and the Camera display derives
its CameraInfo topic from the image topic's text, so the layouts hold absolute names for the
default launch (no namespace) and are rewritten here, at launch time, for the one that starts them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict

from mipnet_ros.ros import topics
from mipnet_ros.ros.rviz_frames import VIEW_2D, VIEW_3D, view_frame

LAYOUT_2D = 'mipnet.rviz'
LAYOUT_3D = 'mipnet_3d.rviz'
NODE_NAME = topics.POSE_NODE
TRACKER_NAME = topics.TRACKER_NODE
# displays that show the tracker's outputs instead of the node's when the tracker runs
TRACKED_DISPLAYS = ('Annotated image', 'People (image-plane markers)')


@dataclass
class RvizLaunch:
    """What a launch started, as far as its RViz layout cares."""
    namespace: str = ''
    node_name: str = NODE_NAME
    tracker: bool = False               # show mipnet_tracker's outputs (coloured by track id)
    tracker_name: str = TRACKER_NAME
    image: str = topics.IMAGE                # the image topic as given to the launch (relative = in the namespace)
    markers_3d: str = topics.MARKERS_3D

    def layout(self, depth: bool) -> str:
        """The file name in rviz/ that suits the launch: with 3D keypoints the 3D layout."""
        return LAYOUT_3D if depth else LAYOUT_2D


def resolve(namespace: str, name: str) -> str:
    """A topic name as a node in `namespace` resolves it (absolute names stay)."""
    if name.startswith('/'):
        return name
    ns = namespace.strip('/')
    return f'/{ns}/{name}' if ns else f'/{name}'


def topic_map(launch: RvizLaunch) -> Dict[str, str]:
    """Absolute topic of the default layout -> the topic of this launch."""
    source = launch.tracker_name if launch.tracker else launch.node_name
    private = resolve(launch.namespace, source)
    annotated, markers = topics.private_leaf(topics.ANNOTATED_IMAGE), topics.private_leaf(topics.MARKERS)
    return {
        f'/{NODE_NAME}/{annotated}': f'{private}/{annotated}',
        f'/{NODE_NAME}/{markers}': f'{private}/{markers}',
        f'/{topics.IMAGE}': resolve(launch.namespace, launch.image),
        f'/{topics.MARKERS_3D}': resolve(launch.namespace, launch.markers_3d),
    }


def rewrite(doc: Dict[str, Any], launch: RvizLaunch) -> Dict[str, Any]:
    """The loaded layout with every display topic and the fixed frame moved to `launch` (in place, returned)."""
    moved = topic_map(launch)
    renames = {name: f'{name} (by track id)' for name in TRACKED_DISPLAYS} if launch.tracker else {}
    manager = doc['Visualization Manager']
    for display in manager.get('Displays') or ():
        topic = display.get('Topic')
        if isinstance(topic, dict) and topic.get('Value') in moved:
            topic['Value'] = moved[topic['Value']]
        display['Name'] = renames.get(display.get('Name'), display.get('Name'))
        visibility = display.get('Visibility')
        if isinstance(visibility, dict):   # the Camera display names the displays it draws
            display['Visibility'] = {renames.get(k, k): v for k, v in visibility.items()}
    geometry = doc.get('Window Geometry')
    if isinstance(geometry, dict):         # the panels' dock state, by display name
        doc['Window Geometry'] = {renames.get(k, k): v for k, v in geometry.items()}
    options = manager['Global Options']
    if options.get('Fixed Frame') in (VIEW_2D, VIEW_3D):
        options['Fixed Frame'] = view_frame(launch.namespace, options['Fixed Frame'])
    return doc


def render(template: str, launch: RvizLaunch) -> str:
    """The text of a layout file rewritten for `launch` (YAML, as rviz2 reads it)."""
    import yaml
    doc = rewrite(yaml.safe_load(template), launch)
    header = f'# Written for the launch in namespace {launch.namespace or "/"}; template: rviz/ of mipnet_ros.\n'
    return header + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
