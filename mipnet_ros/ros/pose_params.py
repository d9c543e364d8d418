"""Every parameter of mipnet_node: its dataclass, its specs and the values that cannot work together.

One table (`TABLE`) is the single source for the declarations, the YAML defaults in
config/mipnet.yaml (a test checks they agree) and the documentation's parameter table. Parameters
marked `live` take effect on the next frame when changed with `ros2 param set`; the others are read
when the node is configured (change them, then cleanup + configure, or restart). The machinery that
declares, reads and checks them is ros/params.py, shared by every node.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from mipnet_ros.core import defaults
from mipnet_ros.core.errors import ParameterError
from mipnet_ros.ros.params import ParamSpec, ParamTable

# Class names (yolo_ros, most detectors) and COCO 0-based '0' (Isaac ROS YOLOv8): never another class.
# 1-based detectors need '1' set explicitly: for 0-based ones '1' is a bicycle.
DEFAULT_PERSON_CLASS_IDS = ['person', '0']
DETECTIONS_TYPES = ('auto', 'vision_msgs', 'yolo_msgs')


@dataclass
class PoseParams:
    # model
    model: str = ''
    allow_download: bool = False
    arch: str = ''
    backend: str = 'torch'
    device: str = 'auto'
    providers: str = ''
    trt_cache_dir: str = ''
    allow_fallback: bool = True
    fp16: str = 'auto'
    instances: int = 0
    input_height: int = 0
    input_width: int = 0
    flip: bool = False
    max_batch: int = 64
    intra_op_threads: int = 0
    warmup: bool = True
    # result filtering
    keypoint_threshold: float = defaults.KEYPOINT_THRESHOLD
    instance_threshold: float = defaults.INSTANCE_THRESHOLD
    oks_nms_threshold: float = defaults.OKS_NMS_THRESHOLD
    # detections
    detections_type: str = 'auto'
    person_class_ids: List[str] = field(default_factory=lambda: list(DEFAULT_PERSON_CLASS_IDS))
    detection_score_threshold: float = 0.3
    unlabeled_is_person: bool = False
    max_boxes: int = 20
    frame_budget_sec: float = 2.0
    # inputs
    image_transport: str = 'raw'
    cache_size: int = 30
    cache_max_mb: int = 256
    stamp_slop_sec: float = 0.0
    qos_image_reliability: str = 'best_effort'
    qos_image_depth: int = 5
    qos_detections_reliability: str = 'best_effort'
    qos_detections_depth: int = 10
    # outputs
    qos_output_reliability: str = 'reliable'
    qos_output_depth: int = 10
    publish_annotated: bool = True
    publish_markers: bool = True
    marker_scale: float = 0.001
    stale_frame_age_sec: float = 1.0
    # lifecycle
    autostart: bool = True
    exit_with_parent: bool = True


SPECS: Tuple[ParamSpec, ...] = (
    ParamSpec('model', 'model',
              'Model file (.pth checkpoint or .onnx); empty = the bundled model in share/mipnet_ros/models.'),
    ParamSpec('allow_download', 'allow_download',
              "Let configure download a model given by zoo name (e.g. model: hrnet_w32_coco) into the user cache; "
              "false = fail with the command that fetches it ('python -m mipnet_ros weights get NAME')."),
    ParamSpec('arch', 'arch',
              'Architecture of an official HRNet/MIPNet .pth (e.g. hrnet_w32); empty = from the file: its stored '
              'spec, else the one architecture its weight shapes fit (configure fails listing the choices when '
              'none does). One of the architectures of `python -m mipnet_ros.core.model.registry`.'),
    ParamSpec('backend', 'backend', 'Inference backend.', choices=('torch', 'onnxruntime')),
    ParamSpec('device', 'device',
              "'auto' (cuda:0 when torch sees a GPU, else cpu), 'cpu', 'cuda:N', or 'tensorrt:N' (onnxruntime)."),
    ParamSpec('providers', 'providers',
              'onnxruntime execution providers, comma separated, in priority order '
              '(e.g. CUDAExecutionProvider,CPUExecutionProvider); empty = by device: auto on a GPU = those '
              'installed of TensorRT, CUDA, CPU; cuda:N = CUDA, CPU; cpu = CPU.'),
    ParamSpec('trt_cache_dir', 'trt_cache_dir',
              'TensorRT engine cache directory for the TensorrtExecutionProvider; empty = ~/.cache/mipnet_ros/trt.'),
    ParamSpec('allow_fallback', 'allow_fallback',
              'Run on the CPU (with a warning) when the requested device or execution provider is not available; '
              'false = fail the configure transition instead.'),
    ParamSpec('fp16', 'fp16', 'Half precision inference: auto = on a GPU when it agrees with fp32 on the loaded '
              'model (else fp32, the log and ~/model_info say why); true/false also as booleans.',
              choices=('auto', 'true', 'false'), bool_too=True),
    ParamSpec('instances', 'instances',
              'Lambda values run per box (person instances per box); 0 = all N of the model, as instances=0 or '
              'None in Python. An official .pth does not record N: there it is also N (0 = 2 with lambda gates).',
              int_range=(0, 16)),
    ParamSpec('input_height', 'input_height',
              'Network input height in pixels; 0 = the model default (set with input_width, or neither).',
              int_range=(0, 2048)),
    ParamSpec('input_width', 'input_width',
              'Network input width in pixels; 0 = the model default (set with input_height, or neither).',
              int_range=(0, 2048)),
    ParamSpec('flip', 'flip', 'Flip test-time augmentation (twice the compute, slightly better keypoints).'),
    ParamSpec('max_batch', 'max_batch', 'Largest batch (boxes x instances) sent to the network at once.',
              int_range=(1, 1024)),
    ParamSpec('intra_op_threads', 'intra_op_threads',
              'CPU threads of one onnxruntime inference (backend onnxruntime); 0 = one per physical core this '
              'process may use (CPU affinity, container quota; the log and ~/model_info say how many).',
              int_range=(0, 256)),
    ParamSpec('warmup', 'warmup', 'Run one dummy inference on activate so the first real frame is not slow.'),
    ParamSpec('keypoint_threshold', 'keypoint_threshold',
              'Keypoints with a lower confidence are published with visibility 1 (estimated, not confident).',
              float_range=(0.0, 1.0)),
    ParamSpec('instance_threshold', 'instance_threshold',
              'Minimum person score (scores are in [0, 1]) to publish a person; the same default as the Python '
              "API's PoseEstimator (0.3: few lambda>0 duplicates get through, see docs/results/thresholds.md).",
              live=True, float_range=(0.0, 1.0)),
    ParamSpec('oks_nms_threshold', 'oks_nms_threshold',
              'OKS above which two found people are the same person (deduplication; 0.9 is the HRNet/MIPNet '
              'evaluation value, see docs/results/thresholds.md).',
              float_range=(0.0, 1.0)),
    ParamSpec('detections_type', 'detections_type',
              "Message type on 'detections': vision_msgs (Detection2DArray), yolo_msgs (yolo_ros DetectionArray, "
              'needs yolo_msgs installed) or auto (the type the topic is published with).',
              choices=DETECTIONS_TYPES),
    ParamSpec('person_class_ids', 'person_class_ids',
              "Class ids/names that mean 'person' (Detection2D hypothesis.class_id, yolo_msgs class_name or "
              "class_id): 'person' for class names, '0' for COCO 0-based ids; add '1' only for 1-based detectors.",
              live=True),
    ParamSpec('detection_score_threshold', 'detection_score_threshold', 'Minimum detection score of a person box.',
              live=True, float_range=(0.0, 1.0)),
    ParamSpec('unlabeled_is_person', 'unlabeled_is_person',
              'Treat detections without any hypothesis as persons (score 1).', live=True),
    ParamSpec('max_boxes', 'max_boxes',
              'At most this many person boxes per frame (highest scores kept); 0 = no limit.', live=True,
              int_range=(0, 1000)),
    ParamSpec('frame_budget_sec', 'frame_budget_sec',
              'Model time one frame may take, predicted from the time per box measured so far; a frame '
              'predicted to take longer runs only its best-scoring boxes that fit (the rest are counted as '
              'boxes_cut with a WARN); 0 = no budget.', live=True, float_range=(0.0, 3600.0)),
    ParamSpec('image_transport', 'image_transport',
              "'raw' subscribes sensor_msgs/Image on 'image'; 'compressed' subscribes "
              "sensor_msgs/CompressedImage on 'image/compressed'.", choices=('raw', 'compressed')),
    ParamSpec('cache_size', 'cache_size',
              'Images and detection arrays kept (each) while waiting for their partner with the same stamp.',
              int_range=(1, 1000)),
    ParamSpec('cache_max_mb', 'cache_max_mb',
              'Largest total size in MB of the images waiting for their partner (the oldest go first; the '
              'newest image is always kept).', int_range=(1, 65536)),
    ParamSpec('stamp_slop_sec', 'stamp_slop_sec', 'Largest stamp difference still paired; 0 = exact stamps only.',
              float_range=(0.0, 1.0)),
    ParamSpec('qos.image.reliability', 'qos_image_reliability', 'Image subscription reliability.',
              choices=('best_effort', 'reliable')),
    ParamSpec('qos.image.depth', 'qos_image_depth', 'Image subscription queue depth.', int_range=(1, 1000)),
    ParamSpec('qos.detections.reliability', 'qos_detections_reliability',
              'Detections subscription reliability (best_effort receives reliable and best-effort publishers).',
              choices=('best_effort', 'reliable')),
    ParamSpec('qos.detections.depth', 'qos_detections_depth', 'Detections subscription queue depth.',
              int_range=(1, 1000)),
    ParamSpec('qos.output.reliability', 'qos_output_reliability',
              'Reliability of keypoints, markers and annotated image.', choices=('best_effort', 'reliable')),
    ParamSpec('qos.output.depth', 'qos_output_depth', 'Queue depth of the outputs.', int_range=(1, 1000)),
    ParamSpec('publish_annotated', 'publish_annotated',
              'Publish ~/annotated_image (only drawn while someone subscribes).', live=True),
    ParamSpec('publish_markers', 'publish_markers', 'Publish ~/markers (only built while someone subscribes).',
              live=True),
    ParamSpec('marker_scale', 'marker_scale', 'Metres per pixel of the image-plane markers (0.001: 1 px = 1 mm).',
              live=True, float_range=(1e-6, 1.0)),
    ParamSpec('stale_frame_age_sec', 'stale_frame_age_sec',
              'Diagnostics warn when no frame was processed for this long (inputs missing, or arriving '
              'without pairing).', live=True,
              float_range=(0.0, 3600.0)),
    ParamSpec('autostart', 'autostart', 'Configure and activate at start-up; false = wait for lifecycle transitions.'),
    ParamSpec('exit_with_parent', 'exit_with_parent',
              'Stop the node (cleanly) when the process that started it exits, e.g. a killed ros2 launch; '
              'false = keep running as an orphan.'),
)


def cross_check(p: PoseParams) -> Optional[ParameterError]:
    """Values that cannot work together (each value alone is checked by the table)."""
    if not [v for v in p.person_class_ids if str(v).strip()]:
        return ParameterError('person_class_ids is empty: no detection would count as a person; give at least one '
                              f'class id, e.g. {DEFAULT_PERSON_CLASS_IDS}', 'person_class_ids')
    if (p.input_height > 0) != (p.input_width > 0):
        alone, other = ('input_height', 'input_width') if p.input_height > 0 else ('input_width', 'input_height')
        return ParameterError(f'{alone} is set but {other} is 0: give both (the network input size) or neither '
                              '(the model default)', other)
    return None


TABLE: ParamTable[PoseParams] = ParamTable(PoseParams, SPECS, cross_check)
