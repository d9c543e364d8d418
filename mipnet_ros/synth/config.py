"""Typed configuration of the occlusion scene generator (loaded from config/synth_*.yaml)."""
import dataclasses
import os
from dataclasses import dataclass, field
from typing import List, Tuple

import yaml

from mipnet_ros.core.errors import UsageError
from mipnet_ros.core.fileio import resolve_relative


@dataclass
class SynthConfig:
    # image_root and out_dir resolve against root, itself relative to the YAML file (shipped files: '..')
    root: str = '.'
    # sources of real people: COCO-format files with segmentation; file_name relative to image_root
    sources: List[str] = field(default_factory=lambda: ['coco17_merged.json'])
    image_root: str = '../shared/data'
    # only people from these images (file_name as in the sources); empty = all. A model the project
    # ships is trained on freely licensed pixels only (COCO 785, CC-BY) plus drawn figures.
    source_images: List[str] = field(default_factory=list)
    out_dir: str = 'out/synth'
    seed: int = 0
    train_scenes: int = 3000
    test_scenes: int = 300
    canvas_size: Tuple[int, int] = (256, 256)       # (H, W)
    people_per_scene: Tuple[int, int] = (2, 4)      # inclusive range
    person_height: Tuple[float, float] = (0.55, 0.9)  # fraction of the canvas height
    real_person_prob: float = 0.5                   # else a drawn figure
    real_background_prob: float = 0.5               # else a procedural background
    test_identity_fraction: float = 0.3             # share of real people held out for the test split
    min_labelled_joints: int = 5                    # per person in the scene (else the scene is redrawn)
    min_source_joints: int = 8                      # a real person needs this many labelled joints to be used
    min_source_height: float = 90.0                 # ... and a box this tall (pixels)
    hidden_fraction: float = 0.25                   # covered share of the silhouette that makes a person 'hidden'
    jpeg_quality: int = 92

    @classmethod
    def from_yaml(cls, path: str) -> 'SynthConfig':
        with open(path) as f:
            data = yaml.safe_load(f) or {}
        data = data.get('synth', data)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise UsageError(f'{path}: unknown synth keys {sorted(unknown)}; known: {sorted(names)}')
        cfg = cls(**data)
        cfg.canvas_size = tuple(int(v) for v in cfg.canvas_size)
        cfg.people_per_scene = tuple(int(v) for v in cfg.people_per_scene)
        cfg.person_height = tuple(float(v) for v in cfg.person_height)
        cfg.root = resolve_relative(os.path.dirname(os.path.abspath(path)), cfg.root)
        cfg.image_root = resolve_relative(cfg.root, cfg.image_root)
        cfg.out_dir = resolve_relative(cfg.root, cfg.out_dir)
        return cfg
