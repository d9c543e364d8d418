"""Did every person come out exactly once? Set metrics for what the node publishes.

AP scores a ranked list and barely notices a duplicate ranked below its original. A tracker behind the node
sees a set, the people scoring at least `instance_threshold`: there a duplicate is a ghost track and a miss a
lost person. `eval --oks-nms 0.9,0.8,0.7` reports these counts next to AP for every OKS-NMS threshold."""
from dataclasses import asdict, dataclass
from typing import Dict, List, Mapping, Sequence

import numpy as np

from mipnet_ros.core.oks import oks

MATCH_OKS = 0.5


@dataclass
class PeopleCount:
    images: int = 0
    ground_truth: int = 0
    published: int = 0
    matched: int = 0
    duplicates: int = 0
    false_positives: int = 0
    hidden: int = 0
    hidden_matched: int = 0

    def summary(self) -> Dict[str, float]:
        """Rates for reports: per ground-truth person, per published person and per image."""
        gt, img = max(self.ground_truth, 1), max(self.images, 1)
        return {**asdict(self),
                'published_per_person': self.published / gt,
                'recall': self.matched / gt,
                'hidden_recall': self.hidden_matched / max(self.hidden, 1),
                'precision': self.matched / max(self.published, 1),
                'duplicates_per_image': self.duplicates / img,
                'false_positives_per_image': self.false_positives / img}


def count_image(gt: Sequence[Mapping], poses: Sequence[np.ndarray], sigmas: np.ndarray,
                into: PeopleCount) -> PeopleCount:
    """Add one image: `gt` COCO annotations with keypoints, `poses` (K,2) arrays best score first.

    Each pose takes the still unmatched person with which it has the highest OKS (COCO OKS: ground-truth area,
    labelled joints only) if that reaches MATCH_OKS. An unmatched pose is a duplicate when it reaches MATCH_OKS
    with a person already taken, else a false positive.
    """
    gt = [a for a in gt if max(a['keypoints'][2::3], default=0) > 0 and not a.get('iscrowd', 0)]
    into.images += 1
    into.ground_truth += len(gt)
    into.published += len(poses)
    into.hidden += sum(bool(a.get('hidden')) for a in gt)
    if not gt:
        into.false_positives += len(poses)
        return into
    joints = [np.asarray(a['keypoints'], np.float64).reshape(-1, 3) for a in gt]
    taken = np.zeros(len(gt), bool)
    for pose in poses:
        sim = np.array([oks(j[:, :2], np.asarray(pose)[None], a['area'], sigmas, mask=j[:, 2] > 0)[0]
                        for j, a in zip(joints, gt)])
        free = np.where(taken, -1.0, sim)
        best = int(np.argmax(free))
        if free[best] >= MATCH_OKS:
            taken[best] = True
            into.matched += 1
        elif sim.max() >= MATCH_OKS:
            into.duplicates += 1
        else:
            into.false_positives += 1
    into.hidden_matched += int(sum(t and bool(a.get('hidden')) for t, a in zip(taken, gt)))
    return into


def count_people(gt_by_image: Mapping[int, List[Mapping]], poses_by_image: Mapping[int, List[np.ndarray]],
                 sigmas: np.ndarray) -> PeopleCount:
    """Sum of count_image over every image of `gt_by_image` (an image with no poses counts its misses)."""
    total = PeopleCount()
    for image_id, anns in gt_by_image.items():
        count_image(anns, poses_by_image.get(image_id, []), sigmas, total)
    return total
