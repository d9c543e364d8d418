# Source this (bash) after scripts/setup_env.sh: ROS 2 from the venv plus this workspace's install/.
_mipnet_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091
source "${MIPNET_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/mipnet_ros/venv}/ros_env.sh"
if [[ -f "$_mipnet_root/install/local_setup.bash" ]]; then
  _mipnet_u=$-; set +u
  # shellcheck disable=SC1091
  source "$_mipnet_root/install/local_setup.bash"
  [[ $_mipnet_u == *u* ]] && set -u
fi
unset _mipnet_root _mipnet_u
