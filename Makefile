# Two commands for a newcomer on a fresh machine; both install what they need first (idempotent).
SHELL := /bin/bash
.PHONY: setup demo test test-rviz rviz bench clean

setup:
	@bash scripts/setup_env.sh

demo: setup
	@source scripts/env.sh && python -m mipnet_ros demo --out out

test: setup
	@bash scripts/run_tests.sh

# rviz2 built into the venv (about 20 minutes the first time, a second when the sources did not change)
rviz: setup
	@bash scripts/build_rviz.sh

# The RViz screenshot test only, after building rviz2 (make test runs it too once rviz2 is built)
test-rviz: rviz
	@source scripts/env.sh && export ROS_DOMAIN_ID="$${ROS_DOMAIN_ID:-$$(( (RANDOM % 90) + 10 ))}" && \
	  python -m pytest -p no:cacheprovider -rfEs test/ros/test_rviz.py

bench: setup
	@source scripts/env.sh && python -m mipnet_ros bench --quick --node --json out/bench/bench.json

clean:
	rm -rf build install log out
