# Source this (bash) after scripts/setup_env.sh: ROS 2 from the venv plus this workspace's install/,
# and rviz2 when scripts/build_rviz.sh (make rviz) built it into the venv.
_mipnet_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_mipnet_venv="${MIPNET_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/mipnet_ros/venv}"
if [[ -f "$_mipnet_venv/ros_rviz_env.sh" && -x "$_mipnet_venv/ros-rviz/bin/rviz2" ]]; then
  # shellcheck disable=SC1091
  source "$_mipnet_venv/ros_rviz_env.sh"   # sources ros_env.sh, then adds rviz2 and its C++ libraries
else
  # shellcheck disable=SC1091
  source "$_mipnet_venv/ros_env.sh"
fi
if [[ -f "$_mipnet_root/install/local_setup.bash" ]]; then
  _mipnet_u=$-; set +u
  # shellcheck disable=SC1091
  source "$_mipnet_root/install/local_setup.bash"
  [[ $_mipnet_u == *u* ]] && set -u
fi
unset _mipnet_root _mipnet_u _mipnet_venv
