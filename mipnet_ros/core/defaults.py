"""Result-filtering defaults shared by the Python API (PoseEstimator), `eval` and the node, so that
the same image and boxes give the same people everywhere. Scores are in [0, 1]."""

INSTANCE_THRESHOLD = 0.3    # minimum person score returned / published (docs/results/thresholds.md)
KEYPOINT_THRESHOLD = 0.2    # keypoints below it do not count towards the person score (node: published as NaN)
OKS_NMS_THRESHOLD = 0.9     # OKS above which two people are one (the HRNet/MIPNet evaluation value)
