"""``layerscope scale SPEC --resolution 128 160 224 320``: cost against input resolution, with the fitted
exponent; ``--efficientnet`` studies compound scaling of torchvision's EfficientNet-B0..B7 instead."""

from __future__ import annotations

import argparse
import os

NAME = "scale"
HELP = "cost (MACs, activation memory) against input resolution, with a log-log fit; or compound scaling"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", nargs="?", default=None,
                        help="pkg.module:attr, path/to/file.py:attr, torchvision:NAME or timm:NAME")
    parser.add_argument("--resolution", "-r", nargs="+", type=int, default=[128, 160, 224, 320],
                        help="square input resolutions (default 128 160 224 320)")
    parser.add_argument("--channels", type=int, default=3, help="input channels (default 3)")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--efficientnet", action="store_true",
                        help="compound scaling of torchvision EfficientNet-B0..B7 at their published resolutions")
    parser.add_argument("-o", "--output", default=None, help="write the table (.md also writes the plot beside it)")
    parser.add_argument("--format", choices=["text", "md", "csv"], default=None)
    parser.add_argument("--plot", default=None, help="write the plot to this PNG")


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..render.files import format_for_path
    from ..render.plots import save_figure
    from ..scaling import compound_scaling, scale
    from ._progress import progress_bar
    from ._common import emit

    if args.efficientnet:
        study = compound_scaling(progress=progress_bar(8))
        suffix = "_compound.png"
    elif args.spec:
        study = scale(args.spec, args.resolution, channels=args.channels, batch_size=args.batch_size,
                      progress=progress_bar(len(args.resolution)))
        suffix = "_scaling.png"
    else:
        raise ConfigError("give a model SPEC or --efficientnet", hint="e.g. layerscope scale torchvision:resnet50 "
                          "--resolution 128 160 224 320", code="LS960")
    fmt = args.format or format_for_path(args.output)
    plot_name = None
    if args.plot or (args.output and fmt == "md"):
        path = args.plot or os.path.splitext(args.output)[0] + suffix
        save_figure(study.plot().figure, path)
        plot_name = os.path.relpath(path, os.path.dirname(os.path.abspath(args.output))) if args.output else path
    if fmt == "md":
        text = study.to_markdown(plot=plot_name)
    elif fmt == "csv":
        text = study.table.to_csv(index=False, lineterminator="\n")
    else:
        text = study.table.to_string(index=False) + "\n"
        if not args.efficientnet:
            text += (f"\nfitted exponent: MACs ~ resolution^{study.exponent('macs'):.2f}, activation memory ~ "
                     f"resolution^{study.exponent('activation_bytes'):.2f}\n")
    emit(text, args.output, (args.plot or plot_name) if plot_name else None)
    return 0
