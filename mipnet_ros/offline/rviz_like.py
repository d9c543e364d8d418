"""A headless picture of a recorded frame, laid out like RViz: the markers seen down the optical axis
beside the annotated image."""
from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from mipnet_ros.ros import topics
from mipnet_ros.ros.convert import stamp_to_ns


def render_rviz_like(bag_path: Any, frame_index: int = 0, panel_height: int = 480,
                     scale: float = 0.001) -> Optional[np.ndarray]:
    """A headless stand-in for an RViz screenshot (there is no rviz2 here) from a recorded bag.

    Left: the ~/markers of one frame drawn like RViz's 3D view looking down the optical axis
    (dark background, 0.1 m grid, x red to the right, y green downwards). Right: the
    ~/annotated_image of the same frame, as in RViz's Image panel; the grey outline is the image
    plane at `scale` metres per pixel (the node's marker_scale). None when the bag has no pair.
    """
    import cv2

    from mipnet_ros.offline import bag_io
    images, markers = {}, {}
    for topic, _t, _ts, msg in bag_io.read_messages(str(bag_path)):
        leaves = (topics.private_leaf(topics.ANNOTATED_IMAGE), topics.private_leaf(topics.MARKERS))
        if any(topic.endswith('/' + leaf) for leaf in leaves):
            if topic.endswith('/' + topics.private_leaf(topics.MARKERS)):
                stamps = [m.header.stamp for m in msg.markers]
                if not stamps:
                    continue
                stamp = stamp_to_ns(stamps[0])
                markers[stamp] = (topic, msg)
            else:
                stamp = stamp_to_ns(msg.header.stamp)
                images[stamp] = (topic, msg)
    common = sorted(set(images) & set(markers))
    if not common:
        return None
    stamp = common[min(max(frame_index, 0), len(common) - 1)]
    img_topic, img = images[stamp]
    mk_topic, arr = markers[stamp]
    from mipnet_ros.ros.convert import raw_to_bgr
    annotated = raw_to_bgr(img.encoding, img.height, img.width, img.step, img.is_bigendian, img.data)
    h = panel_height
    right = cv2.resize(annotated, (int(round(annotated.shape[1] * h / annotated.shape[0])), h))
    # 3D panel: metres -> pixels so that the whole image plane fits with a margin.
    extent_x = max((float(p.x) for m in arr.markers for p in m.points), default=0.64)
    extent_y = max((float(p.y) for m in arr.markers for p in m.points), default=0.48)
    world_w = max(extent_x, img.width * scale) * 1.15
    world_h = max(extent_y, img.height * scale) * 1.15
    zoom = min(640 / world_w, h / world_h)
    left = np.full((h, 640, 3), 48, np.uint8)
    ox, oy = 20, 20

    def to_px(x: float, y: float) -> Tuple[int, int]:
        return int(round(ox + x * zoom)), int(round(oy + y * zoom))

    step = 0.1
    for k in range(0, int(world_w / step) + 2):
        x = to_px(k * step, 0)[0]
        cv2.line(left, (x, 0), (x, h), (80, 80, 80), 1)
    for k in range(0, int(world_h / step) + 2):
        y = to_px(0, k * step)[1]
        cv2.line(left, (0, y), (640, y), (80, 80, 80), 1)
    cv2.rectangle(left, to_px(0, 0), to_px(img.width * scale, img.height * scale), (140, 140, 140), 1)
    cv2.arrowedLine(left, to_px(0, 0), to_px(0.1, 0), (0, 0, 230), 2, tipLength=0.2)
    cv2.arrowedLine(left, to_px(0, 0), to_px(0, 0.1), (0, 200, 0), 2, tipLength=0.2)
    for m in arr.markers:
        color = (int(m.color.b * 255), int(m.color.g * 255), int(m.color.r * 255))
        pts = [to_px(float(p.x), float(p.y)) for p in m.points]
        if m.type == 5:     # LINE_LIST
            for a, b in zip(pts[0::2], pts[1::2]):
                cv2.line(left, a, b, color, max(1, int(round(m.scale.x * zoom))), cv2.LINE_AA)
        elif m.type == 7:   # SPHERE_LIST
            for p in pts:
                cv2.circle(left, p, max(2, int(round(m.scale.x * zoom / 2))), color, -1, cv2.LINE_AA)
    panel = np.hstack([left, right])
    bar = np.full((26, panel.shape[1], 3), 30, np.uint8)
    font, grey = cv2.FONT_HERSHEY_SIMPLEX, (230, 230, 230)
    title = f'MarkerArray {mk_topic} (frame {arr.markers[0].header.frame_id}, grid 0.1 m)'
    cv2.putText(bar, title, (8, 18), font, 0.45, grey, 1, cv2.LINE_AA)
    cv2.putText(bar, f'Image {img_topic}', (648, 18), font, 0.45, grey, 1, cv2.LINE_AA)
    return np.vstack([bar, panel])
