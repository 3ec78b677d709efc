"""Selective scan: the parallel CPU backend vs the sequential reference, forward + backward.

Times ``selective_scan`` (input-dependent B and C, D, z gate, delta bias and softplus, as a
Mamba block calls it) at batch 4, 64 channels, state 16, for several sequence lengths, with
``backend="parallel"`` and ``backend="ref"`` side by side in interleaved rounds (median of
``--repeats``). ``mamba-ref`` (lengths up to ``--indexed-max``) follows the access pattern of
mamba-ssm's ``selective_scan_ref``, the pure-torch fallback users run without CUDA: it indexes
step ``i`` out of full (B, D, L, N) tensors inside the loop, so each step's backward writes a
full-size gradient and the backward pass is quadratic in L. The first rows check that the
backends agree (max abs difference of outputs and of the gradient of u).

    python benchmarks/perf/scan.py [--quick] [--lengths 256,1024,4096] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

from graphlib_pyg.nn.mamba.scan import selective_scan


def mamba_ref_pattern(u, delta, A, B, C, D, z, delta_bias):
    """Baseline with the step access pattern of mamba-ssm's reference (not our reference)."""
    delta = F.softplus(delta + delta_bias[:, None])
    delta_a = torch.exp(torch.einsum("bdl,dn->bdln", delta, A))  # (B, D, L, N)
    delta_bu = torch.einsum("bdl,bnl,bdl->bdln", delta, B, u)  # (B, D, L, N)
    state = u.new_zeros(u.size(0), u.size(1), A.size(1))
    ys = []
    for i in range(u.size(2)):
        state = delta_a[:, :, i] * state + delta_bu[:, :, i]
        ys.append(torch.einsum("bdn,bn->bd", state, C[:, :, i]))
    y = torch.stack(ys, dim=2) + u * D[:, None]
    return y * F.silu(z)


def make_inputs(length: int, batch: int, dim: int, d_state: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)

    def r(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g) * scale).requires_grad_()

    return {
        "u": r(batch, dim, length),
        "delta": r(batch, dim, length, scale=0.5),
        "A": (-torch.arange(1.0, d_state + 1).repeat(dim, 1)).requires_grad_(),
        "B": r(batch, d_state, length),
        "C": r(batch, d_state, length),
        "D": r(dim),
        "z": r(batch, dim, length),
        "delta_bias": (torch.rand(dim, generator=g) * -4 - 2).requires_grad_(),
    }


def run(method: str, inp: dict) -> tuple[float, torch.Tensor, torch.Tensor]:
    for t in inp.values():
        t.grad = None
    start = time.perf_counter()
    if method == "mamba-ref":
        out = mamba_ref_pattern(**inp)
    else:
        out = selective_scan(**inp, delta_softplus=True, backend=method)
    out.backward(torch.ones_like(out))
    return time.perf_counter() - start, out.detach(), inp["u"].grad.clone()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="lengths 64,256, 1 repeat")
    parser.add_argument("--lengths", default=None, help="comma-separated (256,1024,4096)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--d-state", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds (3; quick 1)")
    parser.add_argument("--indexed-max", type=int, default=1024, help="longest mamba-ref run")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="write rows and ratios to this file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    lengths = [
        int(x) for x in (args.lengths or ("64,256" if args.quick else "256,1024,4096")).split(",")
    ]
    repeats = args.repeats or (1 if args.quick else 3)

    rows, ratios = [], {}
    header = f"{'L':>6} {'method':>10} {'fwd+bwd s':>10} {'x parallel':>11}"
    header += f" {'max|dy|':>9} {'max|du|':>9}"
    print(header)
    for length in lengths:
        inp = make_inputs(length, args.batch, args.dim, args.d_state, args.seed)
        methods = ["parallel", "ref"] + (["mamba-ref"] if length <= args.indexed_max else [])
        run("parallel", inp)  # warm-up
        times: dict[str, list[float]] = {m: [] for m in methods}
        results = {}
        for r in range(repeats):
            for m in methods[r % len(methods) :] + methods[: r % len(methods)]:
                sec, out, grad_u = run(m, inp)
                times[m].append(sec)
                results[m] = (out, grad_u)
        base = statistics.median(times["parallel"])
        for m in methods:
            sec = statistics.median(times[m])
            dy = (results[m][0] - results["parallel"][0]).abs().max().item()
            du = (results[m][1] - results["parallel"][1]).abs().max().item()
            row = {
                "length": length,
                "method": m,
                "seconds": sec,
                "seconds_all": times[m],
                "speedup_vs_parallel": sec / base,
                "max_abs_diff_out": dy,
                "max_abs_diff_grad_u": du,
            }
            rows.append(row)
            print(f"{length:>6} {m:>10} {sec:>10.4f} {sec / base:>11.2f} {dy:>9.1e} {du:>9.1e}")
            if m != "parallel":
                key = "ref" if m == "ref" else "mamba_ref"
                ratios[f"L{length}_vs_{key}_speedup_ratio"] = sec / base
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "rows": rows,
                    **ratios,
                    "config": {
                        "batch": args.batch,
                        "dim": args.dim,
                        "d_state": args.d_state,
                        "repeats": repeats,
                        "threads": torch.get_num_threads(),
                        "torch": torch.__version__,
                    },
                },
                f,
                indent=2,
            )
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
