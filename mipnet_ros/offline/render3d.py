"""A matplotlib picture of recorded 3D keypoints (PersonKeypoints3DArray in a bag): one 3D panel per frame.

Axes are the optical frame turned for reading: x to the right, z (distance) into the picture,
up = -y. Only valid keypoints are drawn; edges follow the message's skeleton.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from mipnet_ros.core.skeleton import edges_by_name
from mipnet_ros.ros import topics
from mipnet_ros.ros.convert import stamp_to_ns
from mipnet_ros.ros.visualize import person_color


def read_keypoints_3d(bag: Any) -> List[Tuple[int, Any]]:
    """(stamp ns, message) of every PersonKeypoints3DArray in the bag, by stamp."""
    from mipnet_ros.offline import bag_io
    out = []
    for _topic, msgtype, _t, msg in bag_io.read_messages(str(bag)):
        if msgtype == topics.KEYPOINTS_3D_TYPE:
            out.append((stamp_to_ns(msg.header.stamp), msg))
    return sorted(out, key=lambda item: item[0])


def summary_lines(frames: List[Tuple[int, Any]], truth: Optional[Dict[int, List[Tuple[str, float]]]] = None
                  ) -> List[str]:
    """One line per frame: per person its valid keypoints and median distance (and its generated depth).

    `truth`: stamp -> per person of that frame's message, (labelled name, generated depth in metres).
    """
    lines = []
    for stamp, msg in frames:
        parts = []
        known = (truth or {}).get(stamp, [])
        for k, p in enumerate(msg.persons):
            ok = np.asarray(p.valid, bool)
            z = np.asarray(p.z, np.float64)[ok]
            text = (f'{p.id}: {ok.sum()}/{len(ok)} valid, median z {np.median(z):.2f} m' if ok.any()
                    else f'{p.id}: no valid depth')
            if k < len(known) and known[k][0]:
                text += f' (generated {known[k][1]:.2f} m: {known[k][0]})'
            parts.append(text)
        lines.append(f'stamp {stamp / 1e9:.1f} s: ' + ('; '.join(parts) if parts else 'nobody'))
    return lines


def generated_depths(bag: Any, expected_frames: List[Dict]) -> Dict[int, List[Tuple[str, float]]]:
    """stamp -> per person of the recorded keypoints, (labelled det_id, its generated depth); '' unmatched."""
    from mipnet_ros.offline import bag_io
    from mipnet_ros.offline.depth_truth import match_people, person_depth_m
    labelled = {int(f['stamp_ns']): f['people'] for f in expected_frames}
    default = next((f['people'] for f in expected_frames if f['people']), [])
    out = {}
    for _topic, msgtype, _t, msg in bag_io.read_messages(str(bag)):
        if msgtype != topics.KEYPOINTS_TYPE:
            continue
        stamp = stamp_to_ns(msg.header.stamp)
        names = match_people(msg.persons, labelled.get(stamp) or default)
        out[stamp] = [(n, person_depth_m(n) if n else 0.0) for n in names]
    return out


def render_keypoints_3d(bag: Any, out_png: Any, max_panels: int = 4) -> int:
    """Draw the frames with people (up to max_panels) to out_png; returns the number of panels."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    frames = [(s, m) for s, m in read_keypoints_3d(bag) if any(any(p.valid) for p in m.persons)][:max_panels]
    if not frames:
        return 0
    fig = plt.figure(figsize=(4.2 * len(frames), 4.4))
    for k, (stamp, msg) in enumerate(frames):
        ax = fig.add_subplot(1, len(frames), k + 1, projection='3d')
        edges = edges_by_name(msg.skeleton, len(msg.persons[0].x) if msg.persons else 0)
        for i, p in enumerate(msg.persons):
            b, g, r = person_color(i)
            color = (r / 255, g / 255, b / 255)
            pts = np.stack([np.asarray(p.x), np.asarray(p.z), -np.asarray(p.y)], 1)
            ok = np.asarray(p.valid, bool)
            for a, c in edges:
                if ok[a] and ok[c]:
                    ax.plot(*pts[[a, c]].T, color=color, linewidth=2)
            ax.scatter(*pts[ok].T, color=color, s=12, depthshade=False, label=p.id)
        shown = [np.stack([np.asarray(p.x), np.asarray(p.z), -np.asarray(p.y)], 1)[np.asarray(p.valid, bool)]
                 for p in msg.persons]
        shown = np.vstack(shown)
        centre, half = (shown.max(0) + shown.min(0)) / 2, max(0.5, float(np.ptp(shown, 0).max()) / 2 * 1.1)
        ax.set_xlim(centre[0] - half, centre[0] + half)   # equal scale on the three axes: metres look like metres
        ax.set_ylim(centre[1] - half, centre[1] + half)
        ax.set_zlim(centre[2] - half, centre[2] + half)
        ax.set_box_aspect((1, 1, 1))
        ax.set_xlabel('x (m)')
        ax.set_ylabel('z, distance (m)')
        ax.set_zlabel('-y, up (m)')
        ax.set_title(f'{stamp / 1e9:.1f} s: {len(msg.persons)} people', fontsize=10)
        ax.view_init(elev=15, azim=-60)
        ax.legend(fontsize=7, loc='upper left')
    fig.suptitle(f'3D keypoints (metres, optical frame "{frames[0][1].header.frame_id}")', fontsize=11)
    fig.tight_layout()
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(str(out_png), dpi=110)
    plt.close(fig)
    return len(frames)
