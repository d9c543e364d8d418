"""Every parameter of mipnet_node: one table, declared with descriptors, read into a dataclass.

One table (`SPECS`) is the single source for the declarations, the YAML defaults in
config/mipnet.yaml (a test checks they agree) and the README table. Parameters marked `live`
take effect on the next frame when changed with `ros2 param set`; the others are read when the
node is configured (change them, then cleanup + configure, or restart).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Dict, List, Optional, Sequence, Tuple

# Class names (yolo_ros, most detectors) and COCO 0-based '0' (Isaac ROS YOLOv8): never another class.
# 1-based detectors need '1' set explicitly: for 0-based ones '1' is a bicycle.
DEFAULT_PERSON_CLASS_IDS = ['person', '0']
DETECTIONS_TYPES = ('auto', 'vision_msgs', 'yolo_msgs')


@dataclass
class NodeParams:
    # model
    model: str = ''
    arch: str = ''
    backend: str = 'torch'
    device: str = 'cpu'
    providers: str = ''
    trt_cache_dir: str = ''
    allow_fallback: bool = True
    fp16: bool = False
    instances: int = 0
    input_height: int = 0
    input_width: int = 0
    flip: bool = False
    max_batch: int = 64
    warmup: bool = True
    # result filtering
    keypoint_threshold: float = 0.2
    instance_threshold: float = 0.3
    oks_nms_threshold: float = 0.9
    # detections
    detections_type: str = 'auto'
    person_class_ids: List[str] = field(default_factory=lambda: list(DEFAULT_PERSON_CLASS_IDS))
    detection_score_threshold: float = 0.3
    unlabeled_is_person: bool = False
    max_boxes: int = 20
    # inputs
    image_transport: str = 'raw'
    cache_size: int = 30
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


@dataclass(frozen=True)
class ParamSpec:
    name: str            # ROS parameter name (dots group them in YAML)
    attr: str            # NodeParams field
    description: str
    live: bool = False
    float_range: Optional[Tuple[float, float]] = None
    int_range: Optional[Tuple[int, int]] = None
    choices: Optional[Sequence[str]] = None


SPECS: Tuple[ParamSpec, ...] = (
    ParamSpec('model', 'model',
              'Model file (.pth checkpoint or .onnx); empty = the bundled model in share/mipnet_ros/models.'),
    ParamSpec('arch', 'arch',
              'Architecture of an official HRNet/MIPNet .pth (e.g. hrnet_w32); empty = from the file: its stored '
              'spec, else the one architecture its weight shapes fit (configure fails listing the choices when '
              'none does). One of the architectures of `python -m mipnet_ros.core.model.registry`.'),
    ParamSpec('backend', 'backend', 'Inference backend.', choices=('torch', 'onnxruntime')),
    ParamSpec('device', 'device', "Torch device, e.g. 'cpu' or 'cuda:0' (torch backend)."),
    ParamSpec('providers', 'providers',
              'onnxruntime execution providers, comma separated, in priority order '
              '(e.g. CUDAExecutionProvider,CPUExecutionProvider); empty = the backend default.'),
    ParamSpec('trt_cache_dir', 'trt_cache_dir',
              'TensorRT engine cache directory for the TensorrtExecutionProvider; empty = no cache.'),
    ParamSpec('allow_fallback', 'allow_fallback',
              'Run on the CPU (with a warning) when the requested device or execution provider is not available; '
              'false = fail the configure transition instead.'),
    ParamSpec('fp16', 'fp16', 'Half precision inference (CUDA only).'),
    ParamSpec('instances', 'instances', 'Instances per box (lambda values) to run; 0 = all the model has.',
              int_range=(0, 16)),
    ParamSpec('input_height', 'input_height', 'Network input height in pixels; 0 = the model default.',
              int_range=(0, 2048)),
    ParamSpec('input_width', 'input_width', 'Network input width in pixels; 0 = the model default.',
              int_range=(0, 2048)),
    ParamSpec('flip', 'flip', 'Flip test-time augmentation (twice the compute, slightly better keypoints).'),
    ParamSpec('max_batch', 'max_batch', 'Largest batch (boxes x instances) sent to the network at once.',
              int_range=(1, 1024)),
    ParamSpec('warmup', 'warmup', 'Run one dummy inference on activate so the first real frame is not slow.'),
    ParamSpec('keypoint_threshold', 'keypoint_threshold', 'Keypoints with a lower confidence are published as NaN.',
              float_range=(0.0, 1.0)),
    ParamSpec('instance_threshold', 'instance_threshold',
              'Minimum person score to publish a person (0.3: few lambda>0 duplicates get through, see '
              'docs/results/thresholds.md).', live=True, float_range=(0.0, 1.0)),
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
    ParamSpec('image_transport', 'image_transport',
              "'raw' subscribes sensor_msgs/Image on 'image'; 'compressed' subscribes "
              "sensor_msgs/CompressedImage on 'image/compressed'.", choices=('raw', 'compressed')),
    ParamSpec('cache_size', 'cache_size',
              'Images and detection arrays kept (each) while waiting for their partner with the same stamp.',
              int_range=(1, 1000)),
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
)
SPEC_BY_NAME: Dict[str, ParamSpec] = {s.name: s for s in SPECS}


def _default(attr: str) -> Any:
    return getattr(NodeParams(), attr)


def descriptor(spec: ParamSpec):
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
    text = spec.description
    if spec.choices:
        text += ' One of: ' + ', '.join(spec.choices) + '.'
    if not spec.live:
        text += ' (Read on configure.)'
    d = ParameterDescriptor(name=spec.name, description=text, type=_ros_type(_default(spec.attr)))
    if spec.float_range:
        d.floating_point_range = [FloatingPointRange(from_value=float(spec.float_range[0]),
                                                     to_value=float(spec.float_range[1]), step=0.0)]
    if spec.int_range:
        d.integer_range = [IntegerRange(from_value=int(spec.int_range[0]), to_value=int(spec.int_range[1]), step=1)]
    if spec.choices:
        d.additional_constraints = 'one of: ' + ', '.join(spec.choices)
    return d


def _ros_type(value: Any) -> int:
    from rcl_interfaces.msg import ParameterType as T
    if isinstance(value, bool):
        return T.PARAMETER_BOOL
    if isinstance(value, int):
        return T.PARAMETER_INTEGER
    if isinstance(value, float):
        return T.PARAMETER_DOUBLE
    if isinstance(value, str):
        return T.PARAMETER_STRING
    return T.PARAMETER_STRING_ARRAY


def declare_parameters(node: Any) -> None:
    """Declare all parameters on `node` (values from the YAML / overrides, defaults from NodeParams)."""
    for spec in SPECS:
        # (rclpy cannot declare an empty list default: no list parameter here defaults to empty)
        node.declare_parameter(spec.name, _default(spec.attr), descriptor(spec))


def check_value(name: str, value: Any) -> Optional[str]:
    """Why `value` is not allowed for `name` (choices only; rclpy checks ranges), else None."""
    spec = SPEC_BY_NAME.get(name)
    if spec is not None and spec.choices and value not in spec.choices:
        return f'{name} must be one of {list(spec.choices)}, got {value!r}'
    return None


def read_parameters(node: Any) -> NodeParams:
    values = {}
    for spec in SPECS:
        v = node.get_parameter(spec.name).value
        values[spec.attr] = list(v) if isinstance(v, (list, tuple)) or type(v).__name__ == 'array' else v
    return NodeParams(**values)


def with_updates(params: NodeParams, changes: Dict[str, Any]) -> NodeParams:
    """A copy of `params` with the live ROS parameters in `changes` (name -> value) applied."""
    attrs = {f.name for f in fields(NodeParams)}
    kw = {}
    for name, value in changes.items():
        spec = SPEC_BY_NAME.get(name)
        if spec is not None and spec.live and spec.attr in attrs:
            kw[spec.attr] = list(value) if isinstance(value, (list, tuple)) else value
    if not kw:
        return params
    values = {f.name: getattr(params, f.name) for f in fields(NodeParams)}
    values.update(kw)
    return NodeParams(**values)


def qos_profile(reliability: str, depth: int, transient_local: bool = False):
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=int(depth),
        reliability=ReliabilityPolicy.BEST_EFFORT if reliability == 'best_effort' else ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if transient_local else DurabilityPolicy.VOLATILE)


def markdown_table() -> str:
    """The parameter table for the README, generated from SPECS so it cannot drift."""
    rows = ['| parameter | default | live | description |', '|---|---|---|---|']
    for s in SPECS:
        d = _default(s.attr)
        default = ('true' if d else 'false') if isinstance(d, bool) else (f"'{d}'" if isinstance(d, str) else repr(d))
        desc = s.description + (' One of: ' + ', '.join(s.choices) + '.' if s.choices else '')
        rng = s.float_range or s.int_range
        if rng:
            desc += f' Range [{rng[0]}, {rng[1]}].'
        rows.append(f'| `{s.name}` | `{default}` | {"yes" if s.live else "no"} | {desc.replace("|", "/")} |')
    return '\n'.join(rows)
