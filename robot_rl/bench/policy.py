"""``robot-rl bench policy``: inference latency, onnxruntime vs torch eager, in one run.

Models: an MLP policy (Isaac Lab / rsl_rl actor size), the 1D-U-Net diffusion
denoiser alone (one evaluation), one full diffusion action chunk (all DDIM
steps: torch runs the Python loop eagerly, onnxruntime runs the unrolled graph
that ``robot-rl export`` writes), and the same chunk from a one-step distilled
student (``robot-rl train distill``: same architecture, one evaluation from the
teacher's first timestep), with its ratio to the teacher in this run. Same thread
count for both runtimes. Output: JSON, latencies in ms (p50/p99/max).
"""

from __future__ import annotations

import io
import time
from typing import Callable

import numpy as np


def _timed(fn: Callable[[], object], iters: int, warmup: int) -> np.ndarray:
    for _ in range(warmup):
        fn()
    out = np.empty(iters)
    for i in range(iters):
        start = time.perf_counter()
        fn()
        out[i] = time.perf_counter() - start
    return out


def _session(data: bytes, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def _export(module, args: tuple, names: list[str]) -> bytes:
    import torch

    buffer = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(module, args, buffer, input_names=names, output_names=["out"], opset_version=18,
                          dynamo=False)
    return buffer.getvalue()


def _compare(module, args: tuple, names: list[str], threads: int, iters: int, warmup: int) -> dict:
    """Latency of module(*args) in torch eager and onnxruntime + max abs output difference."""
    import torch

    from robot_rl.bench.output import percentiles_ms

    session = _session(_export(module, args, names), threads)
    feed = {n: a.numpy() for n, a in zip(names, args)}
    with torch.inference_mode():
        torch_times = _timed(lambda: module(*args), iters, warmup)
        reference = module(*args).numpy()
    ort_times = _timed(lambda: session.run(None, feed), iters, warmup)
    torch_ms, ort_ms = percentiles_ms(torch_times), percentiles_ms(ort_times)
    return {"torch_eager_ms": torch_ms, "onnxruntime_ms": ort_ms,
            "onnxruntime_not_slower": bool(ort_ms["p50"] <= torch_ms["p50"] and ort_ms["p99"] <= torch_ms["p99"]),
            "max_abs_diff": float(np.abs(session.run(None, feed)[0] - reference).max())}


def _mlp(obs_dim: int, action_dim: int):
    from torch import nn

    return nn.Sequential(nn.Linear(obs_dim, 256), nn.ELU(), nn.Linear(256, 128), nn.ELU(),
                         nn.Linear(128, 64), nn.ELU(), nn.Linear(64, action_dim)).eval()


def _student_vs_teacher(teacher: dict, student: dict, target_p99_ms: float) -> dict:
    """onnxruntime chunk latencies of the one-step student against the teacher's, as ratios (teacher / student)."""
    t, s = teacher["onnxruntime_ms"], student["onnxruntime_ms"]
    return {"student_p50_ms": s["p50"], "student_p99_ms": s["p99"], "teacher_p50_ms": t["p50"],
            "teacher_p99_ms": t["p99"], "speedup_p50": t["p50"] / s["p50"], "speedup_p99": t["p99"] / s["p99"],
            "target_p99_ms": target_p99_ms, "met": bool(s["p99"] <= target_p99_ms)}


def run(threads: int = 1, iters: int = 300, warmup: int = 30, obs_dim: int = 20, action_dim: int = 7,
        horizon: int = 16, denoising_steps: int = 10, target_chunk_p99_ms: float = 25.0,
        target_student_p99_ms: float = 1.0) -> dict:
    """All three comparisons; returns the benchmark's JSON body."""
    from dataclasses import replace

    import torch

    from robot_rl.learning.diffusion import DiffusionConfig, DiffusionPolicy, parameter_count
    from robot_rl.learning.export import UnrolledDDIM
    from robot_rl.learning.normalizer import RangeStats

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    config = DiffusionConfig(obs_dim=obs_dim, action_dim=action_dim, horizon=horizon,
                             denoising_steps=denoising_steps)
    stats = (RangeStats(-np.ones(obs_dim), np.ones(obs_dim)), RangeStats(-np.ones(action_dim), np.ones(action_dim)))
    policy = DiffusionPolicy(config, *stats).eval()
    obs = torch.randn(1, config.obs_history, obs_dim)
    features = policy.encoder(obs).detach()
    denoiser_args = (torch.randn(1, horizon, action_dim), torch.tensor([50]), features)
    results = {
        "threads": threads, "iterations": iters,
        "mlp": _compare(_mlp(obs_dim * 2 + action_dim, action_dim), (torch.randn(1, obs_dim * 2 + action_dim),),
                        ["obs"], threads, iters, warmup),
        "diffusion_denoiser": _compare(policy.unet, denoiser_args, ["sample", "timestep", "features"], threads,
                                       iters, warmup),
        "diffusion_chunk": _compare(UnrolledDDIM(policy), (obs,), ["obs"], threads, iters, warmup),
    }
    student_config = replace(config, denoising_steps=1, start_timestep=policy.ddim_timesteps()[0])
    student = DiffusionPolicy(student_config, *stats).eval()
    results["one_step_chunk"] = _compare(UnrolledDDIM(student), (obs,), ["obs"], threads, iters, warmup)
    results["student_vs_teacher"] = _student_vs_teacher(results["diffusion_chunk"], results["one_step_chunk"],
                                                        target_student_p99_ms)
    results["diffusion_model"] = {**config.to_dict(), "parameters": parameter_count(policy)}
    chunk_p99 = results["diffusion_chunk"]["onnxruntime_ms"]["p99"]
    results["chunk_target"] = {"p99_ms": chunk_p99, "target_ms": target_chunk_p99_ms,
                               "met": bool(chunk_p99 <= target_chunk_p99_ms)}
    return results


def _main(args) -> int:
    from robot_rl.bench.output import emit

    payload = emit("policy", run(threads=args.threads, iters=args.iters, horizon=args.horizon,
                                 denoising_steps=args.denoising_steps), args.json)
    ok = payload["chunk_target"]["met"] and payload["student_vs_teacher"]["met"] and all(
        payload[k]["onnxruntime_not_slower"] for k in ("mlp", "diffusion_denoiser", "diffusion_chunk",
                                                       "one_step_chunk"))
    return 0 if ok or not args.strict else 1


def register(subparsers) -> None:
    """Add ``robot-rl bench policy``."""
    parser = subparsers.add_parser("policy", help="policy inference latency: onnxruntime vs torch eager")
    parser.add_argument("--json", help="also write the JSON to this file")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads for both runtimes (default 1)")
    parser.add_argument("--iters", type=int, default=300, help="timed inferences per model")
    parser.add_argument("--horizon", type=int, default=16, help="action steps per chunk")
    parser.add_argument("--denoising-steps", type=int, default=10, help="DDIM steps per chunk")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target or the ort<=torch check fails")
    parser.set_defaults(func=_main)
