#!/usr/bin/env bash
# Build rviz2 (and the C++ ROS 2 stack under it: rclcpp, tf2, pluginlib, image_transport, ...) into the venv that
# scripts/setup_env.sh made, so that `ros2 launch mipnet_ros mipnet.launch.py rviz:=true` and the RViz test run.
#
#   scripts/build_rviz.sh            (make rviz; make setup does it too with MIPNET_RVIZ=1)
#
# The sources and the build script come from $MIPNET_RVIZ_SRC (a folder with build_rviz.sh and src-rviz/), by
# default ../shared/ros beside the checkout. About 20 minutes on 2 cores the first time; afterwards the build
# script compares a checksum of the sources and of itself and returns in about a second (rebuilds when they change).
# A ROS 2 from apt with rviz2 already installed needs none of this: the script then only says so.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MIPNET_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/mipnet_ros/venv}"
say() { printf '[rviz] %s\n' "$*" >&2; }
if [[ ! -f "$VENV/ros_env.sh" ]]; then say "no $VENV/ros_env.sh: run make setup first"; exit 1; fi
if grep -q 'ROS 2 .* is sourced by the caller' "$VENV/ros_env.sh" && command -v rviz2 >/dev/null; then
  say "rviz2 comes with the sourced ROS 2: $(command -v rviz2)"; exit 0
fi
SRC="${MIPNET_RVIZ_SRC:-$ROOT/../shared/ros}"
if [[ ! -f "$SRC/build_rviz.sh" || ! -d "$SRC/src-rviz" ]]; then
  say "no rviz2 sources: set MIPNET_RVIZ_SRC to a folder with build_rviz.sh and src-rviz/ (rviz 14.3.1 and its"
  say "C++ closure, see docs/rviz.md), or install rviz2 with your ROS 2 distribution"; exit 1
fi
t0=$SECONDS
bash "$SRC/build_rviz.sh" "$VENV" "$SRC/src-rviz"
if [[ ! -x "$VENV/ros-rviz/bin/rviz2" ]]; then say "the build ended without $VENV/ros-rviz/bin/rviz2"; exit 1; fi
say "rviz2 ready in $((SECONDS - t0)) s (source scripts/env.sh puts it on PATH)"
