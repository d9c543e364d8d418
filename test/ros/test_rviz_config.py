"""The RViz layouts as a launch writes them, their fixed frames, and markers that pass rviz2's own checks.

These run without rviz2; test_rviz.py opens the layouts in the real rviz2.
"""
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy.spatial.transform import Rotation

from mipnet_ros.core.skeleton import COCO17
from mipnet_ros.ros.rviz_config import LAYOUT_2D, LAYOUT_3D, RvizLaunch, render, resolve
from mipnet_ros.ros.rviz_frames import ROTATIONS, VIEW_2D, VIEW_3D, transforms_for, view_frame

REPO = Path(__file__).resolve().parents[2]


def _displays(text):
    doc = yaml.safe_load(text)
    return doc, {d['Name']: d for d in doc['Visualization Manager']['Displays']}


def _topics(displays):
    return sorted(d['Topic']['Value'] for d in displays.values() if 'Topic' in d)


def test_default_layouts_name_the_default_launch_topics():
    _, d2 = _displays((REPO / 'rviz' / LAYOUT_2D).read_text())
    assert _topics(d2) == ['/mipnet_node/annotated_image', '/mipnet_node/markers']
    doc3, d3 = _displays((REPO / 'rviz' / LAYOUT_3D).read_text())
    assert _topics(d3) == ['/image', '/keypoints_3d_markers', '/mipnet_node/annotated_image']
    # the Camera display draws the 3D skeletons over the image, not the grid
    cam = next(d for d in d3.values() if d['Class'] == 'rviz_default_plugins/Camera')
    assert cam['Visibility']['People in 3D'] is True
    assert not any(v for k, v in cam['Visibility'].items() if k.startswith('Grid'))
    assert cam['Image Rendering'] == 'background'     # markers in front of the image, unblended
    assert doc3['Visualization Manager']['Global Options']['Fixed Frame'] == VIEW_3D


@pytest.mark.parametrize('namespace', ['', '/front', 'robot/left'])
def test_launch_layout_moves_every_topic_and_the_frame_into_the_namespace(namespace):
    ns = '/' + namespace.strip('/') if namespace.strip('/') else ''
    for layout, tracker in ((LAYOUT_2D, False), (LAYOUT_2D, True), (LAYOUT_3D, False), (LAYOUT_3D, True)):
        launch = RvizLaunch(namespace=namespace, tracker=tracker)
        doc, displays = _displays(render((REPO / 'rviz' / layout).read_text(), launch))
        source = 'mipnet_tracker' if tracker else 'mipnet_node'
        for topic in _topics(displays):
            assert topic.startswith(ns + '/'), topic
            assert '/mipnet_node/' not in topic or not tracker, topic
        assert f'{ns}/{source}/annotated_image' in _topics(displays)
        frame = doc['Visualization Manager']['Global Options']['Fixed Frame']
        assert frame == view_frame(namespace, VIEW_3D if layout == LAYOUT_3D else VIEW_2D)
        if tracker:   # the Camera display's list of drawn displays follows the renamed ones
            assert any(name.endswith('(by track id)') for name in displays)
            for d in displays.values():
                for name in d.get('Visibility', {}):
                    assert name == 'Value' or name in displays, name


def test_camera_display_finds_the_camera_info_beside_the_image():
    launch = RvizLaunch(namespace='/cam', image='color/image_raw')
    _, displays = _displays(render((REPO / 'rviz' / LAYOUT_3D).read_text(), launch))
    cam = next(d for d in displays.values() if d['Class'] == 'rviz_default_plugins/Camera')
    assert cam['Topic']['Value'] == '/cam/color/image_raw'    # rviz2 reads /cam/color/camera_info
    assert resolve('/cam', '/abs/image') == '/abs/image'


def test_view_frames_turn_the_camera_frame_as_the_views_need():
    r2 = Rotation.from_quat(ROTATIONS[VIEW_2D]).as_matrix()   # columns: the child's axes in the camera frame
    # a top-down view of mipnet_view_2d (x right, y up on the screen) shows optical y downwards: the picture upright
    assert np.allclose(r2[:, 0], [1, 0, 0]) and np.allclose(r2[:, 1], [0, -1, 0])
    r3 = Rotation.from_quat(ROTATIONS[VIEW_3D]).as_matrix()
    assert np.allclose(r3[:, 0], [0, 0, 1])      # x forward = the optical axis
    assert np.allclose(r3[:, 2], [0, -1, 0])     # z up = optical -y
    tfs = transforms_for(['cam_optical'], '/front')
    assert {(p, c) for p, c, _ in tfs} == {('cam_optical', 'front/mipnet_view_2d'),
                                           ('cam_optical', 'front/mipnet_view_3d')}
    # a second camera frame gets its own children: a frame never has two parents
    children = [c for _p, c, _r in transforms_for(['a', 'b'], '')]
    assert len(children) == len(set(children)) == 4


def test_markers_pass_the_checks_rviz2_makes():
    """rviz2 shows nothing for a marker with a zero scale, alpha 0, an odd LINE_LIST, duplicate ids or NaN."""
    pytest.importorskip('visualization_msgs')
    from std_msgs.msg import Header

    from mipnet_ros.ros.person_record import PublishedPerson
    from mipnet_ros.ros.visualize import markers_msg
    rng = np.random.default_rng(3)
    people = []
    for i in range(3):
        kp = rng.uniform(0, 400, (17, 2)).astype(np.float32)
        vis = np.full(17, 2, np.uint8)
        vis[i] = 0                                   # one joint without an estimate
        people.append(PublishedPerson(keypoints=kp, visibility=vis, scores=np.full(17, 0.9, np.float32),
                                      box=np.array([0, 0, 400, 400], np.float32),
                                      crop_box=np.array([0, 0, 400, 400], np.float32), score=0.9,
                                      track_id='t%d' % i if i else ''))
    arr = markers_msg(Header(frame_id='camera'), people, COCO17.edges)
    assert arr.markers[0].action == arr.markers[0].DELETEALL
    # rviz2 gives the display an error status when two markers of one array share (ns, id), DELETEALL included
    assert len({(m.ns, m.id) for m in arr.markers}) == len(arr.markers)
    for m in arr.markers[1:]:
        assert m.header.frame_id == 'camera'
        assert m.color.a > 0 and m.scale.x > 0
        if m.type == m.SPHERE_LIST:
            assert m.scale.y > 0 and m.scale.z > 0
        if m.type == m.LINE_LIST:
            assert len(m.points) % 2 == 0 and len(m.points) > 0
        assert abs(m.pose.orientation.w - 1.0) < 1e-9
        assert all(np.isfinite([p.x, p.y, p.z]).all() for p in m.points)


def test_3d_markers_of_tracked_people_have_their_track_colour():
    """The same person has the same colour in the tracker's annotated image and in the 3D views."""
    pytest.importorskip('visualization_msgs')
    from mipnet_ros.msg import PersonKeypoints3D, PersonKeypoints3DArray
    from mipnet_ros.ros.convert3d import markers_3d_msg
    from mipnet_ros.ros.visualize import person_color
    msg = PersonKeypoints3DArray()
    msg.header.frame_id = 'camera'
    for i, track in enumerate(['', 'b7', 'b2']):
        p = PersonKeypoints3D(id=f'{i}#0', track_id=track)
        p.x, p.y, p.z = [0.1 * i, 0.2, 0.3], [0.0, 0.5, 0.9], [3.0, 3.0, 3.1]
        p.valid = [True, True, True]
        msg.persons.append(p)
    arr = markers_3d_msg(msg, [(0, 1), (1, 2)], 0.02, 0.05)
    lines = [m for m in arr.markers if m.type == m.LINE_LIST]
    assert len(lines) == 3
    for i, (m, track) in enumerate(zip(lines, ['', 'b7', 'b2'])):
        b, g, r = person_color(i, track)
        assert (round(m.color.r * 255), round(m.color.g * 255), round(m.color.b * 255)) == (r, g, b)
        assert m.color.a == 1.0 and m.scale.x == pytest.approx(0.02) and m.header.frame_id == 'camera'
