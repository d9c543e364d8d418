"""Pictures of the result: skeletons drawn on the image, and RViz markers in the image plane.

Both draw the people as read back from the published message (`PublishedPerson`), so the pictures show what
was published; only confident joints (visibility 2) are drawn, and a tracked person keeps its colour (a hash of
its track id). Markers lie in the image plane of the image's own frame: x = u * scale, y = v * scale, z = 0
(`marker_scale` metres per pixel, default 0.001), which in an optical frame (x right, y down) lays the skeleton
out like the picture."""
from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from mipnet_ros.core import person_box
from mipnet_ros.ros.person_record import PublishedPerson

# One colour per person (BGR), cycling; instance > 0 (a hidden person) gets a dashed box.
PALETTE: Tuple[Tuple[int, int, int], ...] = (
    (0, 200, 255), (255, 120, 0), (80, 220, 80), (220, 60, 220), (60, 60, 255), (255, 220, 60),
    (160, 100, 255), (0, 160, 160))


def person_color(i: int, track_id: str = '') -> Tuple[int, int, int]:
    """Colour of the i-th person drawn; a tracked person's colour follows its track id instead."""
    if track_id:
        import zlib
        return PALETTE[zlib.crc32(track_id.encode()) % len(PALETTE)]
    return PALETTE[i % len(PALETTE)]


def _color_of(i: int, person: PublishedPerson) -> Tuple[int, int, int]:
    return person_color(i, person.track_id)


def _valid(person: PublishedPerson) -> np.ndarray:
    """Joints to draw: the confident ones (visibility 2)."""
    return np.asarray(person.visibility).reshape(-1) == person_box.CONFIDENT


def _dashed_rect(img: np.ndarray, p1, p2, color, thickness: int, dash: int = 8) -> None:
    import cv2
    (x1, y1), (x2, y2) = p1, p2
    sides = ((x1, x2, y1, True), (x1, x2, y2, True), (y1, y2, x1, False), (y1, y2, x2, False))
    for a, b, fixed, horizontal in sides:
        for s in range(a, b, 2 * dash):
            e = min(s + dash, b)
            if horizontal:
                cv2.line(img, (s, fixed), (e, fixed), color, thickness, cv2.LINE_AA)
            else:
                cv2.line(img, (fixed, s), (fixed, e), color, thickness, cv2.LINE_AA)


def draw_people(image_bgr: np.ndarray, people: Sequence[PublishedPerson],
                edges: Sequence[Tuple[int, int]], draw_boxes: bool = True,
                draw_labels: bool = True) -> np.ndarray:
    """A copy of `image_bgr` with every person's box, skeleton edges and joints drawn."""
    import cv2
    out = np.ascontiguousarray(image_bgr.copy())
    scale = max(1.0, max(out.shape[:2]) / 640.0)
    thick = max(1, int(round(2 * scale)))
    radius = max(2, int(round(3 * scale)))
    for i, p in enumerate(people):
        color = _color_of(i, p)
        kp = np.asarray(p.keypoints, np.float32).reshape(-1, 2)
        ok = _valid(p)
        box = p.box
        if draw_boxes and np.all(np.isfinite(box)):
            x1, y1, x2, y2 = (int(round(v)) for v in box)
            if p.instance > 0:
                _dashed_rect(out, (x1, y1), (x2, y2), color, thick)
            else:
                cv2.rectangle(out, (x1, y1), (x2, y2), color, thick, cv2.LINE_AA)
            if draw_labels:
                name = p.track_id or p.id or i
                label = f'{name} l{p.instance} {p.score:.2f}'
                cv2.putText(out, label, (x1 + 2, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX,
                            0.45 * scale, color, max(1, thick // 2), cv2.LINE_AA)
        for a, b in edges:
            if a < len(kp) and b < len(kp) and ok[a] and ok[b]:
                cv2.line(out, tuple(int(round(v)) for v in kp[a]), tuple(int(round(v)) for v in kp[b]),
                         color, thick, cv2.LINE_AA)
        for j in np.flatnonzero(ok):
            cv2.circle(out, tuple(int(round(v)) for v in kp[j]), radius, (255, 255, 255), -1, cv2.LINE_AA)
            cv2.circle(out, tuple(int(round(v)) for v in kp[j]), radius, color, 1, cv2.LINE_AA)
    return out


def marker_geometry(people: Sequence[PublishedPerson], edges: Sequence[Tuple[int, int]],
                    scale: float) -> List[Tuple[np.ndarray, np.ndarray]]:
    """Per person: (edge segment end points (2E, 3), joint points (J, 3)) in metres, z = 0.

    Separate from the message builder so the geometry is tested without ROS.
    """
    result = []
    for p in people:
        kp = np.asarray(p.keypoints, np.float64).reshape(-1, 2)
        ok = _valid(p)
        pts = np.zeros((len(kp), 3))
        pts[:, :2] = kp * scale
        result.append(skeleton_geometry(pts, ok, edges))
    return result


def skeleton_geometry(points: np.ndarray, ok: np.ndarray, edges: Sequence[Tuple[int, int]]
                      ) -> Tuple[np.ndarray, np.ndarray]:
    """One person's (edge segment end points (2E, 3), valid joints (J, 3)) from points (K, 3) and validity (K,)."""
    n = len(points)
    seg = [points[k] for a, b in edges if a < n and b < n and ok[a] and ok[b] for k in (a, b)]
    return np.array(seg, np.float64).reshape(-1, 3), np.asarray(points, np.float64)[np.asarray(ok, bool)]


def markers_msg(header: Any, people: Sequence[PublishedPerson], edges: Sequence[Tuple[int, int]],
                scale: float = 0.001, ns: str = 'mipnet', line_width_px: float = 3.0,
                joint_size_px: float = 8.0):
    """visualization_msgs/MarkerArray of the image-plane skeletons (see skeleton_markers)."""
    return skeleton_markers(header, marker_geometry(people, edges, scale), ns, line_width_px * scale,
                            joint_size_px * scale, colors=[_color_of(i, p) for i, p in enumerate(people)])


def skeleton_markers(header: Any, geometry: Sequence[Tuple[np.ndarray, np.ndarray]], ns: str,
                     line_width: float, joint_size: float, colors: Optional[Sequence[Tuple[int, int, int]]] = None):
    """MarkerArray: DELETEALL, then per person (segments (2E, 3), joints (J, 3)) a LINE_LIST and a SPHERE_LIST.

    DELETEALL first so people who left the picture do not linger in RViz. Sizes in metres.
    """
    from geometry_msgs.msg import Point
    from std_msgs.msg import ColorRGBA
    from visualization_msgs.msg import Marker, MarkerArray

    arr = MarkerArray()
    # id -1: rviz2 flags an array whose markers share (ns, id) as an error, the DELETEALL one included
    arr.markers.append(Marker(header=header, ns=ns, id=-1, action=Marker.DELETEALL))
    for i, (segments, joints) in enumerate(geometry):
        b, g, r = colors[i] if colors is not None else person_color(i)
        color = ColorRGBA(r=r / 255.0, g=g / 255.0, b=b / 255.0, a=1.0)
        lines = Marker(header=header, ns=ns, id=2 * i, type=Marker.LINE_LIST, action=Marker.ADD)
        lines.pose.orientation.w = 1.0
        lines.scale.x = float(line_width)
        lines.color = color
        lines.points = [Point(x=float(p[0]), y=float(p[1]), z=float(p[2])) for p in segments]
        dots = Marker(header=header, ns=ns, id=2 * i + 1, type=Marker.SPHERE_LIST, action=Marker.ADD)
        dots.pose.orientation.w = 1.0
        dots.scale.x = dots.scale.y = dots.scale.z = float(joint_size)
        dots.color = color
        dots.points = [Point(x=float(p[0]), y=float(p[1]), z=float(p[2])) for p in joints]
        arr.markers.extend([lines, dots])
    return arr
