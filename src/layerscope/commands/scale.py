"""``layerscope scale SPEC --resolution 128 160 224 320``: cost against input resolution, with the fitted
exponent; ``--efficientnet`` studies compound scaling of torchvision's EfficientNet-B0..B7 instead."""

from __future__ import annotations

import argparse
import os
import sys

from ._common import positive_int

DEFAULT_RESOLUTIONS = [128, 160, 224, 320]


def plot_path_for(output: str, suffix: str) -> str:
    """``cmp/x.md`` -> ``cmp/x_scaling.png``; a stem that already ends with the word keeps it once
    (``compound.md`` -> ``compound.png``, not ``compound_compound.png``)."""
    stem = os.path.splitext(output)[0]
    word = suffix.rsplit(".", 1)[0]
    return stem + (".png" if stem.endswith(word.lstrip("_")) else suffix)

NAME = "scale"
HELP = "cost (MACs, activation memory) against input resolution, with a log-log fit; or compound scaling"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", nargs="?", default=None,
                        help="pkg.module:attr, path/to/file.py:attr, torchvision:NAME or timm:NAME")
    parser.add_argument("--resolution", "-r", nargs="+", type=positive_int, default=None,
                        help="two or more square input resolutions (default 128 160 224 320)")
    parser.add_argument("--channels", type=positive_int, default=3, help="input channels (default 3)")
    parser.add_argument("--batch-size", type=positive_int, default=1)
    parser.add_argument("--efficientnet", action="store_true",
                        help="compound scaling of torchvision EfficientNet-B0..B7 at their published resolutions")
    parser.add_argument("-o", "--output", default=None, help="write the table (.md also writes the plot beside it)")
    parser.add_argument("--format", choices=["text", "md", "csv"], default=None)
    parser.add_argument("--plot", default=None, help="write the plot to this PNG")
    parser.add_argument("--seq-len", type=int, nargs="+", default=None, metavar="T",
                        help="scale over sequence length instead (token models: 1xT ids), e.g. 128 512 2048")


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..render.files import format_for_path
    from ..render.plots import save_figure
    from ..scaling import compound_scaling, scale
    from ._common import check_output, emit, user_code, writing
    from ._progress import progress_bar

    if args.efficientnet and (args.spec or args.resolution):
        raise ConfigError("--efficientnet uses each variant's published resolution; it takes no SPEC or "
                          "--resolution", hint="layerscope scale --efficientnet, or layerscope scale SPEC "
                          "--resolution 128 224", code="LS960")
    resolutions = args.resolution or DEFAULT_RESOLUTIONS
    if not args.efficientnet and len(set(resolutions)) < 2:
        raise ConfigError(f"a scaling study needs two or more different resolutions (got {resolutions})",
                          hint="e.g. --resolution 128 160 224 320; for one size use layerscope analyze SPEC -s "
                               f"{resolutions[0]}", code="LS973")
    check_output(args.output)
    check_output(args.plot, option="--plot")
    if args.efficientnet:
        study = compound_scaling(progress=progress_bar(8))
        suffix = "_compound.png"
    elif args.spec and args.seq_len:
        from ..seq_scaling import scale_seq_len

        study = scale_seq_len(args.spec, args.seq_len, batch_size=args.batch_size,
                              progress=progress_bar(len(args.seq_len)))
        suffix = "_seq_scaling.png"
    elif args.spec:
        with user_code():
            study = scale(args.spec, resolutions, channels=args.channels, batch_size=args.batch_size,
                          progress=progress_bar(len(resolutions)))
        suffix = "_scaling.png"
    else:
        raise ConfigError("give a model SPEC or --efficientnet", hint="e.g. layerscope scale torchvision:resnet50 "
                          "--resolution 128 160 224 320", code="LS960")
    fmt = args.format or format_for_path(args.output)
    plot_name = path = None
    if args.plot or (args.output and fmt == "md"):
        path = args.plot or plot_path_for(args.output, suffix)
        with writing(path, option="--plot" if args.plot else "-o"):
            save_figure(study.plot().figure, path)
        plot_name = os.path.relpath(path, os.path.dirname(os.path.abspath(args.output))) if args.output else path
    if fmt == "md":
        text = study.to_markdown(plot=plot_name)
    elif fmt == "csv":
        text = study.table.to_csv(index=False, lineterminator="\n")
    else:
        text = study.table.to_string(index=False) + "\n"
        if args.seq_len and not args.efficientnet:
            text += "\n" + study.summary() + "\n"
        elif not args.efficientnet and study.fittable:
            text += (f"\nfitted exponent: MACs ~ resolution^{study.exponent('macs'):.2f}, activation memory ~ "
                     f"resolution^{study.exponent('activation_bytes'):.2f}\n")
    emit(text, args.output, path)
    failures = getattr(study, "failures", ())
    for r, d in failures:
        print(f"layerscope scale: at {r}: {d.code} {d.severity}"
              + (f" {d.module}" if d.module else "") + f": {d.message.splitlines()[0]}", file=sys.stderr)
        if d.hint:
            print(f"  hint: {d.hint}", file=sys.stderr)
    if not args.efficientnet and not study.fittable:
        print("layerscope scale: no power law fitted: it needs two or more resolutions that traced",
              file=sys.stderr)
    return 1 if failures else 0
