"""Benchmark: layerscope.analyze against other counters and against the bare meta forward (the floor).

In one process, after a warm-up, one thread (``torch.set_num_threads(1)``), for ResNet-50 and ViT-B/16 at
224 and 1024 px, times:

- ``bare``:      a forward pass of the meta-built model on a meta tensor, no analysis at all (the floor of a
                 meta-tensor design: every layerscope trace runs this forward);
- ``analyze``:   ``layerscope.analyze`` on the meta-built model, plus ``report.table`` (all columns, incl.
                 formulas and receptive fields) and ``report.graph`` (networkx): the full analysis;
- ``flopcounter``: ``torch.utils.flop_counter.FlopCounterMode`` around a real CPU forward;
- ``fvcore``:    ``fvcore.nn.FlopCountAnalysis(...).total()`` on the CPU model (jit trace + real forward);
- ``torchinfo``: ``torchinfo.summary(..., verbose=0)`` on the CPU model (real forward);
- ``training_cost`` (ResNet-50 @224 only): ``layerscope.training_cost`` with AdamW, one training step on meta
                 (target: at most 4x ``analyze``).

The methods are run round-robin (interleaved) ``--repeat`` times and the *minimum* time of each is kept,
measured as this process's CPU time (``time.process_time``; one thread, so it equals wall time on an idle
machine): this machine is shared, and CPU time and the minimum are what other processes disturb least.
``--wall`` measures wall time instead. Ratios are what to compare; absolute times depend on the machine.

Then, in fresh subprocesses (so that peak RSS is the whole process's), a ~6.4B-parameter
``nn.TransformerEncoder`` (d_model 4096, 32 heads, FFN 16384, 32 layers, batch_first) built on meta, in
eval mode, with a (1, 2048, 4096) input: the analysis time, its peak RSS and its MACs against the analytic
count ``32 * (4*L*d^2 + 2*L^2*d + 2*L*d*ffn)``.

Usage::

    python benchmarks/bench.py                    # everything (real CPU forwards at 1024 take minutes)
    python benchmarks/bench.py --no-heavy         # skip the real CPU forwards at 1024 px
    python benchmarks/bench.py --json out.json    # also write the measurements
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import textwrap
import time
import warnings
from typing import Any, Callable

import torch

# CPU time of this process, not wall time: everything runs on one thread, and on a shared machine another
# process's load inflates wall time but not our CPU time (pass --wall to measure wall time instead)
CLOCK = time.process_time

TARGETS = {
    "analyze / flopcounter (ResNet-50 @224)": ("<=", 1.0),
    "analyze / bare (ResNet-50 @224)": ("<=", 3.0),
    "analyze@1024 / analyze@224 (ResNet-50)": ("<=", 1.5),
    "analyze@1024 / analyze@224 (ViT-B/16)": ("<=", 1.5),
    "training_cost / analyze (ResNet-50 @224)": ("<=", 4.0),
}


def build(name: str, size: int, device: str) -> torch.nn.Module:
    import torchvision

    kwargs = {"image_size": size} if name == "vit_b_16" else {}  # ViT's position embedding fixes the size
    with torch.device(device):
        return torchvision.models.get_model(name, weights=None, **kwargs).eval()


def methods(name: str, size: int, heavy: bool) -> dict[str, Callable[[], Any]]:
    import layerscope

    meta_model = build(name, size, "meta")
    meta_x = torch.empty(1, 3, size, size, device="meta")

    def bare() -> None:
        with torch.no_grad():
            meta_model(meta_x)

    def analyze() -> None:
        report = layerscope.analyze(meta_model, input_size=size)
        report.table  # noqa: B018 - materialize every column
        report.graph  # noqa: B018

    found: dict[str, Callable[[], Any]] = {"bare": bare, "analyze": analyze}
    if name == "resnet50" and size == 224:
        def training_cost() -> None:  # forward, backward and AdamW step on meta, storages tracked
            layerscope.training_cost(meta_model, input_size=size, optimizer="adamw")

        found["training_cost"] = training_cost
    if size > 224 and not heavy:
        return found
    cpu_model = build(name, size, "cpu")
    x = torch.randn(1, 3, size, size)

    def flopcounter() -> None:
        from torch.utils.flop_counter import FlopCounterMode

        with torch.no_grad(), FlopCounterMode(display=False):
            cpu_model(x)

    found["flopcounter"] = flopcounter
    try:
        from fvcore.nn import FlopCountAnalysis

        def fvcore() -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                a = FlopCountAnalysis(cpu_model, x)
                a.unsupported_ops_warnings(False)
                a.uncalled_modules_warnings(False)
                a.total()

        found["fvcore"] = fvcore
    except ImportError:
        pass
    try:
        import torchinfo

        def torchinfo_summary() -> None:
            torchinfo.summary(cpu_model, input_data=x, verbose=0, device="cpu")

        found["torchinfo"] = torchinfo_summary
    except ImportError:
        pass
    return found


def measure(pool: dict[tuple[str, str], Callable[[], Any]], repeat: int,
            warmup: bool = True) -> dict[tuple[str, str], float]:
    """Warm up each function once, then run them all round-robin ``repeat`` times; keep each one's minimum.

    Interleaving matters on a shared machine: a burst of load from another process then hits every method
    and every input size alike instead of one configuration measured in a block.
    """
    for fn in pool.values() if warmup else ():
        fn()
    best = {k: float("inf") for k in pool}
    for _ in range(repeat):
        for k, fn in pool.items():
            # as timeit does: collect first and keep the collector off while timing, so that garbage left by
            # one method (fvcore's jit trace makes plenty) is not collected on the next method's clock
            gc.collect()
            gc.disable()
            try:
                t0 = CLOCK()
                fn()
                best[k] = min(best[k], CLOCK() - t0)
            finally:
                gc.enable()
    return best


BIG = textwrap.dedent("""
    import json, resource, sys, time, torch
    torch.set_num_threads(1)

    def peak_rss():
        # VmHWM is this process image's own high-water mark; ru_maxrss is not: Linux carries it over from
        # the parent across fork/exec, so a child of a big process would report the parent's size
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    what = sys.argv[1]
    t0 = time.perf_counter()
    import layerscope
    with torch.device("meta"):
        layer = torch.nn.TransformerEncoderLayer(4096, 32, 16384, batch_first=True)
        model = torch.nn.TransformerEncoder(layer, 32)
    model.eval()
    x = torch.empty(1, 2048, 4096, device="meta")
    t1, c1 = time.perf_counter(), time.process_time()
    out = {}
    if what == "bare":
        with torch.no_grad():
            model(x)
    else:
        report = layerscope.analyze(model, inputs=x)
        out = {"macs": report.total_macs, "params": report.total_params, "complete": report.complete}
    t2, c2 = time.perf_counter(), time.process_time()
    out.update(seconds=t2 - t1, cpu_seconds=c2 - c1, process_seconds=t2 - t0, peak_rss=peak_rss())
    print(json.dumps(out))
""")


def big_transformer() -> dict[str, Any]:
    results: dict[str, Any] = {}
    for what in ("bare", "analyze"):
        proc = subprocess.run([sys.executable, "-c", BIG, what], capture_output=True, text=True, check=True)
        results[what] = json.loads(proc.stdout.strip().splitlines()[-1])
    seq, d, ffn, layers = 2048, 4096, 16384, 32
    results["analytic_macs"] = layers * (4 * seq * d * d + 2 * seq * seq * d + 2 * seq * d * ffn)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="layerscope speed and scale benchmark")
    parser.add_argument("--repeat", type=int, default=7, help="round-robin repetitions (min is kept)")
    parser.add_argument("--no-heavy", action="store_true", help="skip real CPU forwards at 1024 px")
    parser.add_argument("--no-big", action="store_true", help="skip the 6.4B-parameter transformer")
    parser.add_argument("--wall", action="store_true", help="measure wall time instead of process CPU time")
    parser.add_argument("--json", help="write the measurements to this file")
    args = parser.parse_args(argv)
    global CLOCK
    if args.wall:
        CLOCK = time.perf_counter
    torch.set_num_threads(1)

    configs = [(f"{label} @{size}", name, size) for label, name in (("ResNet-50", "resnet50"),
                                                                  ("ViT-B/16", "vit_b_16")) for size in (224, 1024)]
    light: dict[tuple[str, str], Callable[[], Any]] = {}
    heavy: dict[tuple[str, str], Callable[[], Any]] = {}
    for key, name, size in configs:
        for method, fn in methods(name, size, heavy=not args.no_heavy).items():
            if method in ("bare", "analyze", "training_cost"):
                light[key, method] = fn
            elif size > 224:
                heavy[key, method] = fn  # a real CPU forward at 1024 px: seconds to minutes, run once
            else:
                light[key, method] = fn
    # meta forwards and analyses of all four configurations interleaved; real forwards at 224 alongside
    best = measure(light, args.repeat)
    if heavy:
        print("real CPU forwards at 1024 px (slow) ...", flush=True)
        best.update(measure(heavy, 1, warmup=False))  # the 224 px runs already warmed these code paths
    times: dict[str, dict[str, float]] = {}
    for (key, method), seconds in best.items():
        times.setdefault(key, {})[method] = seconds
    for key, _, _ in configs:
        row = times[key]
        print(f"{key}: " + ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in row.items()), flush=True)

    ratios: dict[str, float] = {}
    for key, row in times.items():
        a = row["analyze"]
        ratios[f"analyze / bare ({key})"] = a / row["bare"]
        if "training_cost" in row:
            ratios[f"training_cost / analyze ({key})"] = row["training_cost"] / a
        for other in ("flopcounter", "fvcore", "torchinfo"):
            if other in row:
                ratios[f"analyze / {other} ({key})"] = a / row[other]
    for label in ("ResNet-50", "ViT-B/16"):
        ratios[f"analyze@1024 / analyze@224 ({label})"] = times[f"{label} @1024"]["analyze"] / \
            times[f"{label} @224"]["analyze"]
        ratios[f"bare@1024 / bare@224 ({label})"] = times[f"{label} @1024"]["bare"] / times[f"{label} @224"]["bare"]

    print("\nratios (< 1 means layerscope is faster):")
    for k, v in ratios.items():
        target = TARGETS.get(k.replace(" @", " @"))
        mark = ""
        if target is not None:
            mark = f"   target {target[0]} {target[1]}: {'PASS' if v <= target[1] else 'FAIL'}"
        print(f"  {k:55s} {v:7.3f}{mark}")

    result: dict[str, Any] = {"times_s": times, "ratios": ratios, "threads": torch.get_num_threads(),
                              "clock": "wall" if args.wall else "process CPU time",
                              "torch": torch.__version__}
    if not args.no_big:
        big = big_transformer()
        result["transformer_6b"] = big
        a = big["analyze"]
        print(f"\n6.4B TransformerEncoder (1, 2048, 4096), meta, eval: {a['params']:,} params, "
              f"{a['macs'] / 1e12:.2f} TMACs (analytic {big['analytic_macs'] / 1e12:.2f}; "
              f"{'equal' if a['macs'] == big['analytic_macs'] else 'DIFFERENT'}), complete={a['complete']}")
        print(f"  analyze {a['seconds']:.2f} s wall, {a['cpu_seconds']:.2f} s CPU (target < 15 s: "
              f"{'PASS' if a['seconds'] < 15 else 'FAIL'}); bare meta forward {big['bare']['seconds']:.2f} s wall, "
              f"{big['bare']['cpu_seconds']:.2f} s CPU; ratio {a['cpu_seconds'] / big['bare']['cpu_seconds']:.2f}")
        print(f"  peak RSS of the whole process {a['peak_rss'] / 2**30:.2f} GiB (target < 1.5 GB: "
              f"{'PASS' if a['peak_rss'] < 1.5e9 else 'FAIL'}); bare-forward process "
              f"{big['bare']['peak_rss'] / 2**30:.2f} GiB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
