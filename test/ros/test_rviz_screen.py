"""The screen reader of the RViz test on drawn screens with known truth: views, pictures, colours, mappings."""
from pathlib import Path

import cv2
import numpy as np

from mipnet_ros.testing import rviz_screen

REPO = Path(__file__).resolve().parents[2]


def _photo():
    from mipnet_ros.offline import bag_io
    from mipnet_ros.ros.convert import raw_to_bgr
    _t, _ty, _ts, m = next(bag_io.read_messages(str(REPO / 'test' / 'data' / 'demo.mcap'), ['/camera/image_raw']))
    return raw_to_bgr(m.encoding, m.height, m.width, m.step, m.is_bigendian, m.data)


def test_finds_the_view_and_both_pictures_with_their_scale():
    photo = _photo()
    screen = np.full((1024, 1280, 3), 20, np.uint8)
    screen[30:990, 260:860] = (48, 40, 36)                   # the 3D view, RGB (36, 40, 48)
    cv2.line(screen, (300, 300), (700, 500), (0, 200, 255), 3)    # something drawn in it
    small = cv2.resize(photo, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    h, w = small.shape[:2]
    screen[100:100 + h, 880:880 + w] = small
    screen[560:560 + h, 880:880 + w] = small
    view = rviz_screen.find_view(screen, (36, 40, 48))
    assert (view.x, view.y, view.w, view.h) == (260, 30, 600, 960)
    pics = sorted(rviz_screen.find_pictures(screen, photo, 2, exclude=[view]), key=lambda p: p.y0)
    assert [(p.x0, p.y0) for p in pics] == [(880, 100), (880, 560)]
    assert all(abs(p.scale - 0.6) < 0.01 and p.score > 0.9 for p in pics)
    # an image pixel lands where it was drawn
    u, v = 320, 200
    x, y = pics[0].to_screen(np.array([[u, v]]))[0]
    assert np.abs(screen[int(round(y)), int(round(x))].astype(int) - small[int(v * 0.6), int(u * 0.6)]).max() < 40


def test_colour_hits_on_a_line_and_not_beside_it():
    screen = np.zeros((200, 200, 3), np.uint8)
    cv2.line(screen, (20, 100), (180, 100), (0, 200, 255), 2)
    pts = rviz_screen.segment_samples(np.array([[20.0, 100.0], [180.0, 100.0]]), fractions=(0.1, 0.5, 0.9))
    assert rviz_screen.colour_hits(screen, pts, (0, 200, 255)).all()
    assert not rviz_screen.colour_hits(screen, pts + [0, 10], (0, 200, 255)).any()
    assert not rviz_screen.colour_hits(screen, pts, (255, 120, 0)).any()          # another person's colour


def test_ortho_and_camera_mappings():
    view = rviz_screen.Rect(100, 50, 800, 600)
    # the centre of the view is the view's centre point; +x right, +y up, scale px per metre
    assert np.allclose(rviz_screen.ortho_to_screen(view, 900, (0.32, -0.24), np.array([[0.32, -0.24], [0.42, -0.14]])),
                       [[500, 350], [590, 260]])
    k = [600, 0, 319.5, 0, 600, 212, 0, 0, 1]
    points = np.array([[0.0, 0.0, 3.0], [1.0, -0.5, 2.0]])
    assert np.allclose(rviz_screen.project(points, k), [[319.5, 212], [619.5, 62]])
