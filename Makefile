# Two commands for a fresh machine: `make demo` and `make test`. `make setup` alone is idempotent.
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.robot_rl-setup
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST

.PHONY: setup demo demo-full bringup test bench clean

setup: $(STAMP)

$(STAMP): setup.py requirements/*.txt .ci/system-deps.sh
	bash .ci/system-deps.sh
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[sim,learn,ros,test,camera,teleop,feetech]'
	$(PY) -c 'from robot_rl.safety.kernels import warm_up; warm_up()'  # compile the safety kernels once (cached)
	touch $(STAMP)

demo: setup
	$(VENV)/bin/robot-rl demo --quick --out out/demo

demo-full: setup  # both tasks at the full-mode settings: about 54 min on 2 idle cores
	$(VENV)/bin/robot-rl demo --out out/demo_full

bringup: setup
	$(VENV)/bin/robot-rl bringup --robot panda --hardware mujoco --duration 20 --report out/bringup.json

test: setup
	$(PY) -m pytest -q

bench: setup
	mkdir -p out
	$(VENV)/bin/robot-rl bench control-loop --rate 1000 --seconds 30 --json out/bench_control_loop.json
	$(VENV)/bin/robot-rl bench safety-filter --json out/bench_safety_filter.json
	$(VENV)/bin/robot-rl bench policy --json out/bench_policy.json
	$(VENV)/bin/robot-rl bench sim --json out/bench_sim.json
	$(VENV)/bin/robot-rl bench train --json out/bench_train.json

clean:
	rm -rf $(VENV) out .pytest_cache
