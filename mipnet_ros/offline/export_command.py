"""The `export` job: core/export.py's command, plus int8 calibration on a recorded bag (`--calib-bag`).

Reading a bag needs rosbags and our message definitions, which the ROS-free library does not import;
so the command lives here and hands the library an already assembled set of crops.
"""
import argparse

from mipnet_ros.core import export as core_export


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = core_export.add_arguments(parser)
    group.add_argument('--calib-bag', metavar='BAG',
                       help="a recording of your camera (.mcap file or rosbag2 folder) with its person detections "
                            '(vision_msgs/Detection2DArray, paired with the image of the same stamp as the node '
                            'pairs them): calibrate on the people it shows')
    group.add_argument('--calib-image-topic', metavar='TOPIC',
                       help='image topic of --calib-bag (default: its one sensor_msgs Image/CompressedImage topic)')
    group.add_argument('--calib-detections-topic', metavar='TOPIC',
                       help='detections topic of --calib-bag (default: its one Detection2DArray topic)')


def main(args: argparse.Namespace) -> int:
    from mipnet_ros.core.errors import UsageError
    bag = getattr(args, 'calib_bag', None)
    if not bag:
        if args.calib_image_topic or args.calib_detections_topic:
            raise UsageError('--calib-image-topic and --calib-detections-topic go with --calib-bag')
        return core_export.main(args)
    if not args.int8:
        raise UsageError('--calib-bag calibrates the int8 file: add --int8')
    if args.calib_ann or args.calib_images or args.calib_boxes:
        raise UsageError('give one calibration source: --calib-bag, or --calib-images (with --calib-ann or '
                         '--calib-boxes)')
    if args.calib_count < 2:
        raise UsageError(f'--calib-count must be at least 2 (calibration and check crops), got {args.calib_count}')
    from pathlib import Path
    if not Path(bag).exists():
        raise FileNotFoundError(2, 'No such file or directory', bag)

    def calibration(spec):
        from mipnet_ros.offline.calibration import bag_crops
        return bag_crops(bag, spec.input_size, args.calib_count, args.calib_image_topic, args.calib_detections_topic)

    return core_export.main(args, calibration=calibration)
