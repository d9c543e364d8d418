"""Occlusion benchmark generator: scenes of 2-4 overlapping people with exact keypoints.

Real annotated people are cut out of photographs along their segmentation and pasted over each
other (and over backgrounds); procedurally drawn articulated figures add volume. Because we
paste every pixel ourselves, we know exactly which joints end up covered by someone pasted later:
those become visibility 1 (labelled, occluded), the rest stay exact. `python -m mipnet_ros synth`
writes COCO-format train/test splits; see `command.py`.
"""
from mipnet_ros.synth.command import add_arguments, main

__all__ = ['add_arguments', 'main']
