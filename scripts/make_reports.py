"""Regenerate the committed reports in reports/ (markdown + PNG plots, and a few self-contained HTML pages).

    python scripts/make_reports.py            # everything (about a minute on 2 cores)
    python scripts/make_reports.py resnet18   # only the reports whose name contains "resnet18"

Every single-model report is exactly what ``layerscope analyze SPEC --input-size 224 -o reports/NAME.md``
writes from the repository root (the command is printed in each report), so the README's quickstart
reproduces ``reports/resnet50.md`` byte for byte. tests/test_reports_golden.py regenerates one report and
checks it matches, so the committed reports cannot go stale. Outputs are deterministic: no timestamps, no
absolute paths, PNGs written without software metadata (PNG pixels may still differ between matplotlib
versions, so tests never compare them byte-wise).
"""

from __future__ import annotations

import os
import sys
from typing import NamedTuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPORTS = os.path.join(ROOT, "reports")


class Entry(NamedTuple):
    name: str  # reports/NAME.md
    spec: str
    input_size: str = "224"
    options: tuple[str, ...] = ()  # more analyze options (the training example's --train ...)


#: our own implementations (examples/) then torchvision's reference models, built with weights=None
ENTRIES: list[Entry] = [
    Entry("vgg16", "examples/vgg.py:vgg16"),
    Entry("resnet18", "examples/resnet.py:resnet18"),
    Entry("resnet50", "examples/resnet.py:resnet50"),
    Entry("efficientnet_b0", "examples/efficientnet.py:efficientnet_b0"),
    Entry("preact_se_net", "examples/preact.py:preact_se_net"),
    Entry("strided_conv_net", "examples/downsampling.py:strided_conv_net"),
    Entry("conv_maxpool_net", "examples/downsampling.py:conv_maxpool_net"),
    Entry("conv_avgpool_net", "examples/downsampling.py:conv_avgpool_net"),
    Entry("torchvision_vgg16", "torchvision:vgg16"),
    Entry("torchvision_resnet50", "torchvision:resnet50"),
    Entry("torchvision_densenet121", "torchvision:densenet121"),
    Entry("torchvision_efficientnet_b0", "torchvision:efficientnet_b0"),
    Entry("torchvision_mobilenet_v3_large", "torchvision:mobilenet_v3_large"),
    # the training question: one AdamW step at batch 32 (the "Training" section and its memory timeline)
    Entry("resnet18_training", "examples/resnet.py:resnet18", "224",
          ("--batch-size", "32", "--train", "--optimizer", "adamw", "--precision", "fp32")),
]


#: also written as one self-contained interactive page, reports/NAME.html (plots inline, no PNG beside it)
HTML_ENTRIES: list[str] = ["torchvision_resnet50", "torchvision_densenet121"]


def analyze_argv(entry: Entry, out_dir: str = "reports", ext: str = "md") -> list[str]:
    """The ``layerscope`` command line that writes this report (relative paths, run from the repository root)."""
    return ["analyze", entry.spec, "--input-size", entry.input_size, *entry.options, "-o",
            f"{out_dir}/{entry.name}.{ext}"]


def make_report(entry: Entry, out_dir: str = "reports", ext: str = "md") -> int:
    """Write one report with the CLI (from the repository root, so paths in it are relative)."""
    from layerscope.cli import main

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        return main(analyze_argv(entry, out_dir, ext))
    finally:
        os.chdir(cwd)


def make_comparison(entries: list[Entry], out_dir: str = "reports") -> None:
    """reports/comparison.md (+ its Pareto scatter and a CSV) of every model above."""
    from layerscope.cli import main

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        argv = ["compare", *[e.spec for e in entries], "--input-size", "224", "--names",
                *[e.name for e in entries], "-o", f"{out_dir}/comparison.md"]
        main(argv)
        main(argv[:-1] + [f"{out_dir}/comparison.csv"])
        # torchvision's reference models alone: a frontier not dominated by the small example networks
        tv = [e for e in entries if e.spec.startswith("torchvision:")]
        main(["compare", *[e.spec for e in tv], "--input-size", "224", "--names",
              *[e.spec.split(":")[1] for e in tv], "-o", f"{out_dir}/comparison_torchvision.md"])
    finally:
        os.chdir(cwd)


def make_scaling(out_dir: str = "reports") -> None:
    """reports/scaling_resnet50.md (cost against resolution) and reports/compound_scaling.md (EfficientNet)."""
    from layerscope.cli import main

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        main(["scale", "examples/resnet.py:resnet50", "--resolution", "128", "160", "224", "320", "448",
              "-o", f"{out_dir}/scaling_resnet50.md"])
        main(["scale", "--efficientnet", "-o", f"{out_dir}/compound_scaling.md"])
    finally:
        os.chdir(cwd)


def main(argv: list[str]) -> int:
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    chosen = [e for e in ENTRIES if not argv or any(a in e.name for a in argv)]
    for e in chosen:
        print(f"== {e.name}", flush=True)
        make_report(e)
        if e.name in HTML_ENTRIES:
            make_report(e, ext="html")
    if not argv or "comparison" in argv:
        make_comparison([e for e in ENTRIES if not e.options])  # each model once
    if not argv or "scaling" in argv:
        make_scaling()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
