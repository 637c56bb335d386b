"""``layerscope train-cost SPEC -s 224 --batch-size 32 --optimizer adamw --precision bf16-mixed [--memory 80GiB]``:
the peak memory of one training step by kind, forward and backward MACs, and the largest batch that fits."""

from __future__ import annotations

import argparse

from ._common import emit, input_size_from

NAME = "train-cost"
OPTIMIZERS = ("sgd", "sgd-momentum", "adam", "adamw")  # as layerscope.tracing.training (which imports torch)
PRECISIONS = ("fp32", "bf16", "fp16", "bf16-mixed", "fp16-mixed")
HELP = "one training step on meta: peak memory by kind, backward MACs, the largest batch that fits --memory"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="pkg.module:attr, path/to/file.py:attr, torchvision:NAME or timm:NAME")
    parser.add_argument("--input-size", "-s", nargs="+", type=str, required=True, metavar="SIZE",
                        help="224 (a Nx3x224x224 batch), CxHxW; several for several inputs")
    parser.add_argument("--batch-size", type=int, default=None, help="batch size (default 1)")
    add_training_arguments(parser)
    parser.add_argument("--top-k", type=int, default=10, help="layers in the top saved-activations table")
    parser.add_argument("--format", choices=["text", "json"], default="text",
                        help="text (default) or json: TrainingCost.to_dict() with every layer, and max_batch_size")
    parser.add_argument("-o", "--output", default=None, help="write the text to this file")


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default="adamw", help="optimizer (default adamw)")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32", help="precision (default fp32)")
    parser.add_argument("--checkpoint", nargs="+", default=None, metavar="MODULE",
                        help="module names run under activation checkpointing")
    parser.add_argument("--memory", default=None, metavar="BYTES",
                        help="device memory, e.g. 80GiB: also give the largest batch size that fits")


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


def cost_dict(cost, memory: str | None = None, best: int | None = None) -> dict:
    """``TrainingCost.to_dict()``, with ``memory`` (bytes) and ``max_batch_size`` when ``--memory`` was given."""
    from ..check import parse_quantity

    data = cost.to_dict()
    if memory is not None:
        data["memory"], data["max_batch_size"] = parse_quantity(memory, what="--memory"), best
    return data


def format_cost(cost, top_k: int = 10, max_batch: int | None = None, memory: str | None = None) -> str:
    lines = [f"{cost.model}: one training step, batch {cost.batch_size}, {cost.optimizer}, {cost.precision}",
             f"peak memory: {_mib(cost.peak_bytes)} ({cost.peak_bytes:,} bytes), in {cost.peak_phase} "
             f"after {cost.peak_op}"]
    for kind, value in cost.breakdown.items():
        lines.append(f"  {kind:<12}{_mib(value):>16}")
    lines.append(f"forward MACs: {cost.forward_macs:,}  backward MACs: {cost.backward_macs:,}")
    lines.append(f"forward FLOPs: {cost.forward_flops:,}  backward FLOPs: {cost.backward_flops:,}"
                 + ("" if cost.complete else "  (partial: no rule for " + ", ".join(sorted(cost.unknown_ops)) + ")"))
    if cost.checkpointed:
        lines.append("checkpointed: " + ", ".join(cost.checkpointed))
    top = cost.top_saved(top_k)
    if top:
        lines.append(f"top {len(top)} layers by activations saved for backward:")
        for layer in top:
            lines.append(f"  {layer.label:<40} {layer.type:<20} {_mib(layer.saved_bytes):>14}")
    if max_batch is not None:
        lines.append(f"largest batch that fits {memory}: {max_batch}")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    from ..check import parse_quantity
    from ..loading import load_model
    from ..training import training_cost

    memory = parse_quantity(args.memory, what="--memory") if args.memory is not None else None
    model = load_model(args.spec)
    cost = training_cost(model, input_size=input_size_from(args), batch_size=args.batch_size,
                         optimizer=args.optimizer, precision=args.precision, checkpoint=args.checkpoint)
    best = cost.max_batch_size(memory) if memory is not None else None
    if args.format == "json":
        import json

        emit(json.dumps(cost_dict(cost, args.memory, best), indent=1, sort_keys=True) + "\n", args.output)
    else:
        emit(format_cost(cost, args.top_k, best, args.memory), args.output)
    return 0
