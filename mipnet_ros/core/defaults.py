"""Result-filtering defaults shared by the Python API (PoseEstimator), `eval` and the node, so that
the same image and boxes give the same people everywhere. Scores are in [0, 1]; the person score is
core/person_score.py's, the detector score included."""

INSTANCE_THRESHOLD = 0.3    # minimum person score returned / published (docs/results/thresholds.md)
KEYPOINT_THRESHOLD = 0.2    # keypoints below it add nothing to the person score (node: visibility 1)
OKS_NMS_THRESHOLD = 0.9     # OKS above which two people are one (the HRNet/MIPNet evaluation value)
