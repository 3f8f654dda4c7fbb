"""Several seeds (and methods) of ``robot-rl hil sim`` as parallel 1-thread processes, resumable, then the report.

Layout: ``out/<method>/seed_<s>/`` per run (``config.json``, ``log.txt``, and what the single run writes:
``report.json`` last, atomically). A run with a ``report.json`` is finished and never redone. A run dir
without one was interrupted: it is kept, renamed ``seed_<s>.interrupted<k>``, and the run starts afresh
(the round loop has no mid-run checkpoint). Each run is ``python -m robot_rl_sim.hil.seeds CONFIG.json``
with one torch / onnxruntime / OpenMP thread, ``parallel`` at a time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

from robot_rl.errors import ConfigError

ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def run_dir(out: Path, method: str, seed: int) -> Path:
    """The directory of one run."""
    return Path(out) / method / f"seed_{seed}"


def is_finished(path: Path) -> bool:
    """Whether the run in ``path`` completed (its report.json is written last, atomically)."""
    return (Path(path) / "report.json").is_file()


def _set_aside(path: Path) -> Path:
    """Rename an interrupted run dir to ``<name>.interrupted<k>`` (k the first free index); returns the new path."""
    k = 0
    while path.with_name(f"{path.name}.interrupted{k}").exists():
        k += 1
    return path.rename(path.with_name(f"{path.name}.interrupted{k}"))


def launch_process(config_path: Path, log_path: Path, nice: int) -> subprocess.Popen:
    """Start one single run as a 1-thread child process (``nice`` added to its niceness)."""
    env = dict(os.environ, **ONE_THREAD)
    with open(log_path, "ab") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "robot_rl_sim.hil.seeds", str(config_path)], env=env,
                                stdout=log, stderr=subprocess.STDOUT,
                                preexec_fn=(lambda: os.nice(nice)) if nice else None)


def plan_runs(config, methods: list[str], seeds: int, log=print) -> list:
    """(method, seed, HilSimConfig) of every run still to do; sets interrupted run dirs aside."""
    todo = []
    for method in methods:
        for seed in range(seeds):
            path = run_dir(Path(config.out), method, seed)
            if is_finished(path):
                log(f"[hil] {method} seed {seed}: finished, kept ({path})")
                continue
            if path.exists():
                log(f"[hil] {method} seed {seed}: interrupted run set aside as {_set_aside(path).name}")
            todo.append((method, seed, replace(config, out=str(path), method=method, seed=seed, threads=1)))
    return todo


def run_seeds(config, methods: list[str], seeds: int, parallel: int = 2, nice: int = 0, log=print,
              launch=launch_process, poll_s: float = 1.0) -> Path:
    """Every (method, seed) run not yet finished, ``parallel`` at a time; then ``out/report.md``.

    Args:
        config: the HilSimConfig all runs share (``out`` is the root; method, seed and out are set per run).
        launch: ``launch(config_path, log_path, nice) -> Popen-like`` (tests pass a fake).
    Raises:
        ConfigError: when a run exits non-zero (after the others finished and the report was written).
    """
    if seeds < 1 or parallel < 1 or not methods:
        raise ConfigError(f"hil sim: need seeds >= 1 ({seeds}), parallel >= 1 ({parallel}) and a method")
    todo, running, failed = plan_runs(config, methods, seeds, log), [], []
    while todo or running:
        while todo and len(running) < parallel:
            method, seed, run = todo.pop(0)
            path = Path(run.out)
            path.mkdir(parents=True, exist_ok=True)
            (path / "config.json").write_text(json.dumps(asdict(run), indent=1))
            log(f"[hil] {method} seed {seed}: started ({path})")
            running.append((method, seed, launch(path / "config.json", path / "log.txt", nice)))
        for item in list(running):
            code = item[2].poll()
            if code is not None:
                running.remove(item)
                log(f"[hil] {item[0]} seed {item[1]}: exit {code}")
                if code != 0:
                    failed.append(f"{item[0]} seed {item[1]} (exit {code}, see its log.txt)")
        if running:
            time.sleep(poll_s)
    from robot_rl_sim.hil.report import write_report

    report = write_report(Path(config.out), methods)
    if failed:
        raise ConfigError(f"hil sim: runs failed: {failed}; the report covers the finished ones: {report}")
    return report


def main(argv: list[str]) -> int:
    """One run from a config.json written by :func:`run_seeds`."""
    from robot_rl_sim.hil.session import HilSimConfig, run_hil_sim

    config = HilSimConfig(**json.loads(Path(argv[0]).read_text()))
    run_hil_sim(config)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
