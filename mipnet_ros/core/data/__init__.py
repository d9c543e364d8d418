"""COCO-format pose datasets with MIPNet multi-instance targets (COCO-17, CrowdPose-14, OCHuman).

`CocoPoseDataset` turns every annotated person box into one training sample whose targets hold
the box's own person first and then the other people of the image that fall into the same crop.
"""
from mipnet_ros.core.data.coco_dataset import CocoPoseDataset, DatasetConfig, PersonRecord, load_people

__all__ = ['CocoPoseDataset', 'DatasetConfig', 'PersonRecord', 'load_people']
