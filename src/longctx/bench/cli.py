"""The command ``python -m longctx.bench``: the kernels against the card's own ceilings, or a CPU memory table.

On a CUDA GPU it measures, in this order (:mod:`longctx.bench.runs`):

* **ceilings**: a large bf16 matmul (TFLOP/s) and a device-to-device copy (GB/s), so every
  kernel is compared with what this card really does, not with a datasheet;
* **flash**: :func:`longctx.flash.flash_attention` forward and backward against PyTorch's
  ``scaled_dot_product_attention`` restricted to its FlashAttention backend;
* **decode**: :func:`longctx.kv.paged_decode` in GB/s, as a share of the measured copy bandwidth;
* **window**: the sliding-window kernel's time as ``n`` grows at a fixed window (linear);
* **linear**: where :func:`longctx.linear.linear_attention` (chunked) overtakes causal SDPA;
* **scan**: the selective-scan kernel against its PyTorch reference, and the bandwidth it reaches.

Times come from ``triton.testing.do_bench`` (:mod:`longctx.bench.timing`). Without CUDA it
prints the measured peak memory of naive against tiled attention (:mod:`longctx.bench.cpu`).
Either way it writes a JSON file stamped with the machine, the versions, the commit and the date,
and the issue's goals with pass or fail, as measured (:mod:`longctx.bench.report`).

Only the standard library is imported before :func:`main` has checked ``TRITON_INTERPRET``:
importing a kernel module on a machine without a GPU would switch Triton's CPU interpreter on
by itself, and interpreted kernels run one program at a time, so every timing would be meaningless.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict

from longctx.bench.plan import BENCHES, FULL, QUICK, Plan

__all__ = ["EXIT_REFUSED", "build_parser", "interpret_requested", "main", "run_cpu", "run_gpu"]

#: Exit status when ``TRITON_INTERPRET`` is set (the same as a command-line error).
EXIT_REFUSED = 2


def interpret_requested(environ: Mapping[str, str]) -> bool:
    """True when ``TRITON_INTERPRET`` asks for the interpreter (set, and neither empty nor ``0``).

    The same reading as ``longctx._triton.interpreting``, written again here because importing
    that module is what must not happen before this check.
    """
    return environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def _parse_only(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    unknown = [s for s in names if s not in BENCHES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"--only takes a comma-separated subset of {','.join(BENCHES)}, got {text!r}"
        )
    return names


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m longctx.bench``."""
    parser = argparse.ArgumentParser(
        prog="python -m longctx.bench",
        description=(
            "Benchmark longctx's Triton kernels on a CUDA GPU against PyTorch's SDPA and the card's "
            "measured matmul and copy ceilings; without CUDA, print the measured peak memory of naive "
            "against tiled attention. Refuses to run with TRITON_INTERPRET set."
        ),
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer sizes: a few minutes on one H100 (on a CPU: n up to 1024)"
    )
    parser.add_argument(
        "--out",
        default="results.json",
        metavar="PATH",
        help="where to write the JSON results (default: results.json)",
    )
    parser.add_argument(
        "--only",
        type=_parse_only,
        default=BENCHES,
        metavar="LIST",
        help=f"GPU benchmarks to run, comma-separated from {','.join(BENCHES)} (default: all)",
    )
    return parser


def _progress(total: int):
    from tqdm import tqdm

    return tqdm(total=total, file=sys.stderr, unit="config", dynamic_ncols=True)


def run_cpu(args: argparse.Namespace, plan: Plan) -> int:
    """No CUDA: the naive-against-tiled memory table, printed and written."""
    from longctx.bench.cpu import cpu_memory_rows, memory_table_text
    from longctx.bench.report import evaluate_goals, stamp, write_json

    print(
        "No CUDA device: measuring peak memory of naive against tiled attention on the CPU instead "
        "(kernel timings need a GPU).",
        file=sys.stderr,
    )
    if tuple(args.only) != BENCHES:
        print(f"--only {','.join(args.only)} picks GPU benchmarks: ignored here.", file=sys.stderr)
    cpu_memory_rows(
        [min(plan.cpu_ns)], repeats=1
    )  # discarded: torch's one-time allocations would land in row 1
    rows = []
    with _progress(len(plan.cpu_ns)) as progress:
        for n in plan.cpu_ns:
            progress.set_description(f"memory n={n}")
            rows.extend(cpu_memory_rows([n], repeats=1 if args.quick else 2))
            progress.update()
    print(memory_table_text(rows))
    for note in sorted({r.note for r in rows if r.note}):
        print(note)
    write_json(
        args.out,
        {
            "stamp": stamp(cuda=False),
            "mode": "cpu-memory",
            "quick": args.quick,
            "plan": asdict(plan),
            "rows": [r.to_dict() for r in rows],
            "goals": evaluate_goals(rows),
        },
    )
    print(f"wrote {args.out}")
    return 0


def run_gpu(args: argparse.Namespace, plan: Plan, *, device: str = "cuda", timer=None) -> int:
    """CUDA: ceilings first, then the chosen benchmarks; tables, goals and the JSON file.

    The file is rewritten after each benchmark (``"complete": false`` until the end), so a run
    cut short keeps what it measured. ``device`` and ``timer`` (default: ``do_bench``) let the
    tests walk the whole run on a CPU.
    """
    from longctx.bench import runs
    from longctx.bench.report import evaluate_goals, goal_table, gpu_tables, stamp, write_json
    from longctx.bench.timing import gpu_timer

    timer = timer or gpu_timer(warmup_ms=plan.warmup_ms, rep_ms=plan.rep_ms)
    started = time.monotonic()
    payload = {
        "stamp": stamp(cuda=device == "cuda"),
        "mode": "gpu",
        "complete": False,
        "quick": args.quick,
        "only": list(args.only),
        "plan": asdict(plan),
        "timer": "triton.testing.do_bench, median",
        "ceilings": None,
        "wall_s": {},
        "rows": [],
        "goals": [],
    }
    rows = []

    def save(complete: bool = False) -> None:
        payload.update(complete=complete, rows=[r.to_dict() for r in rows], goals=evaluate_goals(rows))
        payload["wall_s"]["total"] = time.monotonic() - started
        write_json(args.out, payload)

    benches = {
        "flash": runs.bench_flash,
        "decode": runs.bench_decode,
        "window": runs.bench_window,
        "linear": runs.bench_linear,
        "scan": runs.bench_scan,
    }
    with _progress(plan.steps(tuple(args.only))) as progress:
        run = runs.Run(plan, timer, {}, progress, device)
        progress.set_description("ceilings")
        rows += runs.measure_ceilings(run)
        run.ceilings.update(tflops=rows[0].metrics["tflops"], gbps=rows[1].metrics["gbps"])
        payload["ceilings"] = dict(run.ceilings)
        progress.update()
        save()
        for name in BENCHES:
            if name in args.only:
                t0 = time.monotonic()
                rows += benches[name](run)
                payload["wall_s"][name] = time.monotonic() - t0
                save()
    save(complete=True)
    for table in gpu_tables(rows):
        print(table + "\n")
    print(goal_table(payload["goals"]))
    print(f"wrote {args.out} ({payload['wall_s']['total']:.0f} s)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (2 when ``TRITON_INTERPRET`` is set)."""
    args = build_parser().parse_args(argv)
    if interpret_requested(os.environ):
        print(
            f"longctx.bench: refusing to run with TRITON_INTERPRET={os.environ['TRITON_INTERPRET']!r}: "
            "Triton would interpret the kernels on the CPU and every timing would be meaningless. "
            "Unset it, e.g. `env -u TRITON_INTERPRET python -m longctx.bench`.",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    import torch

    plan = QUICK if args.quick else FULL
    return run_gpu(args, plan) if torch.cuda.is_available() else run_cpu(args, plan)
