"""Annotated image and image-plane markers (mipnet_ros/ros/visualize.py)."""
import numpy as np
import pytest

pytest.importorskip('cv2')
from mipnet_ros.ros import visualize  # noqa: E402
from mipnet_ros.ros.person_record import PublishedPerson  # noqa: E402

NAN = float('nan')


def _person(points, box=(5, 5, 95, 95), instance=0, track_id=''):
    """A person as read from a message: NAN in `points` marks a joint with visibility 0 at (0, 0)."""
    kp = np.array(points, np.float32).reshape(-1, 2)
    vis = np.where(np.isfinite(kp).all(axis=1), 2, 0).astype(np.uint8)
    return PublishedPerson(keypoints=np.nan_to_num(kp, nan=0.0), visibility=vis,
                           scores=np.full(len(kp), 0.9, np.float32),
                           box=np.array(box, np.float32), crop_box=np.array(box, np.float32), score=0.9, id='p',
                           track_id=track_id, instance=instance)


def test_draw_people_draws_valid_edges_only_and_keeps_the_input():
    img = np.zeros((100, 100, 3), np.uint8)
    person = _person([[20, 50], [80, 50], [50, 20], [NAN, NAN]])
    out = visualize.draw_people(img, [person], edges=[(0, 1), (2, 3)], draw_boxes=False)
    assert img.max() == 0                                   # input untouched
    assert out[50, 50].any()                                # middle of the valid edge 0-1 is drawn
    assert out[20, 20].max() == 0 and out[35, 50].max() == 0   # nothing towards joint 3 (visibility 0, at (0, 0))
    assert out[20, 50].any()                                # joint 2 itself is drawn
    boxed = visualize.draw_people(img, [person], edges=[], draw_boxes=True, draw_labels=False)
    assert boxed[5, 50].any() and boxed[95, 50].any() and not boxed[50, 50].any()


def test_hidden_person_box_is_dashed():
    img = np.zeros((100, 100, 3), np.uint8)
    solid = visualize.draw_people(img, [_person([[NAN, NAN]])], [], draw_labels=False)
    dashed = visualize.draw_people(img, [_person([[NAN, NAN]], instance=1)], [], draw_labels=False)
    assert (solid[5, 10:90].max(axis=1) > 0).all()
    assert 0 < (dashed[5, 10:90].max(axis=1) > 0).sum() < 80


def test_marker_geometry_is_the_image_plane_scaled():
    people = [_person([[100, 200], [300, 400], [NAN, NAN]])]
    segs, joints = visualize.marker_geometry(people, [(0, 1), (1, 2)], scale=0.001)[0]
    assert np.allclose(segs, [[0.1, 0.2, 0], [0.3, 0.4, 0]])   # edge to the visibility-0 joint left out
    assert np.allclose(joints, [[0.1, 0.2, 0], [0.3, 0.4, 0]])


def test_markers_msg_deleteall_then_lines_and_spheres_per_person():
    std = pytest.importorskip('std_msgs.msg')
    vm = pytest.importorskip('visualization_msgs.msg')
    header = std.Header(frame_id='camera_optical')
    header.stamp.sec = 7
    people = [_person([[10, 10], [20, 20], [30, 30]]), _person([[50, 50], [NAN, NAN], [70, 70]])]
    arr = visualize.markers_msg(header, people, [(0, 1), (1, 2)], scale=0.01)
    m = arr.markers
    assert m[0].action == vm.Marker.DELETEALL and len(m) == 1 + 2 * 2
    assert [x.type for x in m[1:]] == [vm.Marker.LINE_LIST, vm.Marker.SPHERE_LIST] * 2
    assert len({(x.ns, x.id) for x in m[1:]}) == 4
    assert all(x.header.frame_id == 'camera_optical' and x.header.stamp.sec == 7 for x in m)
    assert len(m[1].points) == 4 and len(m[2].points) == 3
    assert len(m[3].points) == 0 and len(m[4].points) == 2          # person 2: no complete edge
    assert m[2].points[2].x == pytest.approx(0.3) and m[2].points[2].z == 0.0
    assert m[1].color.a == 1.0 and m[1].color != m[3].color


def test_below_threshold_joints_are_not_drawn():
    img = np.zeros((100, 100, 3), np.uint8)
    person = _person([[20, 50], [80, 50]])
    person.visibility[1] = 1                                  # estimated but not confident
    out = visualize.draw_people(img, [person], edges=[(0, 1)], draw_boxes=False)
    assert out[50, 20].any() and not out[50, 80].any() and not out[50, 50].any()


def test_track_id_decides_the_colour():
    a = visualize.person_color(0, 'track-5')
    assert visualize.person_color(3, 'track-5') == a                # same track, same colour, any position
    assert len({visualize.person_color(0, f'track-{k}') for k in range(20)}) > 1
    assert visualize.person_color(2) == visualize.PALETTE[2]         # untracked: the position scheme
    std = pytest.importorskip('std_msgs.msg')
    pytest.importorskip('visualization_msgs.msg')
    people = [_person([[10, 10], [20, 20]], track_id='t9'), _person([[10, 10], [20, 20]], track_id='t9')]
    m = visualize.markers_msg(std.Header(), people, [(0, 1)]).markers
    assert m[1].color == m[3].color
