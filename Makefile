# Two commands for a newcomer on a fresh machine; both install what they need first (idempotent).
SHELL := /bin/bash
.PHONY: setup demo test bench clean

setup:
	@bash scripts/setup_env.sh

demo: setup
	@source scripts/env.sh && python -m mipnet_ros demo --out out

test: setup
	@bash scripts/run_tests.sh

bench: setup
	@source scripts/env.sh && python -m mipnet_ros bench --quick --node --json out/bench/bench.json

clean:
	rm -rf build install log out
