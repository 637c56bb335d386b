"""Every code layerscope emits, as one data table: LS1xx-LS5xx diagnostics, LS9xx exceptions.

One line per code, in numeric order: the code, its default severity (diagnostics) or ``"error"`` kind
(exceptions), a short title, and ``places``: the modules (relative to the package) whose source may contain
the code's literal, its emitter first. ``tests/test_codes.py`` checks that every literal in the source is
catalogued here once and appears only in its declared places, so one code keeps one meaning.

:data:`EXPLANATIONS` says, for the diagnostics, what a code means, why it matters, an example and how to fix
it (``layerscope rule LS101`` prints it, as ``ruff rule`` does). Retired codes stay in :data:`RETIRED` and are
never reused (pylint's rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Code:
    code: str
    severity: Severity  # a diagnostic's default severity; "error" for exceptions
    title: str
    places: tuple[str, ...]  # modules that may contain the literal; the first emits it
    kind: Literal["diagnostic", "exception"] = "diagnostic"

    @property
    def trace_failure(self) -> bool:
        """LS100-LS109: the forward pass failed (always reported, whatever select/ignore say)."""
        return self.kind == "diagnostic" and self.code <= "LS109"


def _d(code: str, severity: Severity, title: str, *places: str) -> Code:
    return Code(code, severity, title, places)


def _e(code: str, title: str, *places: str) -> Code:
    return Code(code, "error", title, places, "exception")


_EXPLAIN = "analysis/explain.py"
_RF = "analysis/receptive_field.py"

TABLE: tuple[Code, ...] = (
    # ---------------------------------------------------------------- LS1xx shape bugs and shape facts
    _d("LS100", "error", "forward pass failed", "analysis/shapes.py", _EXPLAIN, "commands/check.py"),
    _d("LS101", "error", "residual shortcut does not match the main branch", _EXPLAIN),
    _d("LS102", "error", "linear layer gets a different number of features than it expects", _EXPLAIN, "tracing/definitions.py"),
    _d("LS103", "error", "concatenated tensors differ in size", _EXPLAIN),
    _d("LS104", "error", "conv gets a different number of channels than it expects", _EXPLAIN, "tracing/definitions.py", "analysis/shapes.py"),
    _d("LS105", "error", "matmul inner dimensions differ", _EXPLAIN),
    _d("LS106", "error", "view/reshape to an incompatible size", _EXPLAIN),
    _d("LS107", "error", "elementwise operands cannot broadcast", _EXPLAIN),
    _d("LS108", "error", "the forward needs tensor values (data-dependent control flow)", _EXPLAIN),
    _d("LS109", "error", "a BatchNorm in training gets one value per channel", _EXPLAIN),
    _d("LS110", "warning", "silent broadcasting in a residual merge", "analysis/lints.py"),
    _d("LS111", "warning", "formula and traced shape disagree", "analysis/shapes.py"),
    _d("LS112", "warning", "input pixels dropped by floor division", "analysis/shapes.py"),
    _d("LS125", "info", "a user hook failed on meta tensors and was skipped", "analysis/trace_notes.py"),
    _d("LS130", "info", "data-dependent size traced at its upper bound", "analysis/upper_bound.py"),
    _d("LS131", "info", "detector cost per stage and the proposal/detection counts assumed",
       "analysis/upper_bound.py"),
    _d("LS140", "warning", "dense-prediction output size differs from the input size", "analysis/dense.py"),
    # ---------------------------------------------------------------- LS2xx counting coverage
    _d("LS201", "info", "ops without a counting rule: totals are partial", "analysis/cost.py"),
    _d("LS202", "info", "parameters never used in the forward pass", "analysis/cost.py"),
    _d("LS203", "error", "the forward returned no tensor", "analysis/trace_notes.py", "check.py"),
    # ---------------------------------------------------------------- LS3xx design lints
    _d("LS301", "warning", "conv bias directly followed by BatchNorm (wasted parameters)", "analysis/lints.py"),
    _d("LS302", "warning", "transposed conv kernel not divisible by its stride (checkerboard artifacts)",
       "analysis/lints.py"),
    _d("LS303", "warning", "plain stack of many weight layers without a skip connection", "analysis/lints.py"),
    _d("LS304", "warning", "fully connected head holds most of the parameters", "analysis/lints.py"),
    _d("LS305", "info", "large dense kernel beyond the stem", "analysis/lints.py"),
    _d("LS306", "warning", "pooling kernel smaller than its stride (skipped pixels)", "analysis/lints.py"),
    _d("LS307", "warning", "BatchNorm in training mode on a batch of 1", "analysis/lints.py"),
    # ---------------------------------------------------------------- LS4xx receptive field
    _d("LS401", "warning", "merged branches step through the input at different rates (jump mismatch)", _RF,
       "render/rf_plots.py"),
    _d("LS402", "warning", "merged branches are not centred on the same input pixel (misaligned fields)", _RF,
       "render/rf_plots.py"),
    _d("LS403", "info", "receptive field exceeds the input", _RF, "render/rf_plots.py"),
    _d("LS404", "info", "op without a receptive-field rule", _RF),
    _d("LS410", "info", "receptive field unknown: the output is not reached from a traced input", _RF),
    # ---------------------------------------------------------------- LS5xx budgets (layerscope check)
    _d("LS501", "error", "parameter count over budget", "check.py", "commands/check.py"),
    _d("LS502", "error", "MACs over budget", "check.py", "commands/check.py"),
    _d("LS503", "error", "activation memory over budget", "check.py", "commands/check.py"),
    _d("LS504", "error", "receptive field below the required minimum", "check.py", "commands/check.py"),
    _d("LS505", "warning", "budget cannot be verified", "check.py"),
    _d("LS506", "error", "training-step peak memory over budget", "commands/check.py"),
    # ---------------------------------------------------------------- LS9xx exceptions (layerscope.errors)
    _e("LS900", "unexpected internal error", "errors.py", "scaling.py"),
    _e("LS910", "input specification", "errors.py"),
    _e("LS911", "input size is not a size", "sizes.py"),
    _e("LS912", "input size (or batch size) below 1", "sizes.py"),
    _e("LS913", "no input given", "tracing/inputs.py"),
    _e("LS914", "both input_size and inputs given", "tracing/inputs.py"),
    _e("LS915", "dtype is not a torch.dtype", "tracing/inputs.py"),
    _e("LS916", "inputs of an unsupported type", "tracing/inputs.py"),
    _e("LS917", "model is not a torch.nn.Module", "api.py", "training.py"),
    _e("LS918", "mode is not 'eval' or 'train'", "api.py"),
    _e("LS919", "batch_size contradicts the batch of the given shape", "sizes.py"),
    _e("LS920", "model SPEC could not be loaded", "errors.py"),
    _e("LS921", "model SPEC is malformed or names nothing", "loading.py"),
    _e("LS922", "model SPEC's module or package could not be imported", "loading.py"),
    _e("LS923", "model SPEC names something that is not a model", "loading.py"),
    _e("LS924", "building the model raised", "loading.py", "scaling.py"),
    _e("LS925", "model SPEC's callable did not return a model", "loading.py"),
    _e("LS926", "no such torchvision/timm model", "loading.py"),
    _e("LS927", "the model's code called sys.exit()", "api.py", "cli.py"),
    _e("LS930", "forward pass failed (strict)", "errors.py"),
    _e("LS931", "model could not be meta-copied", "tracing/tracer.py", "tracing/training.py"),
    _e("LS932", "strict analysis found an error", "api.py"),
    _e("LS933", "a TorchScript model (analyze the eager module)", "tracing/unwrap.py"),
    _e("LS934", "an analyze() keyword it does not have (torchinfo's depth=, input_data=...)", "api.py"),
    _e("LS935", "lazy parameters the input cannot materialize", "tracing/lazy.py"),
    _e("LS940", "bad options or configuration", "errors.py"),
    _e("LS941", "input size in a command or config is not a size", "config.py", "sizes.py"),
    _e("LS942", "padding argument not understood", "geometry.py"),
    _e("LS943", "kernel, stride, dilation or size out of range", "geometry.py"),
    _e("LS944", "a layer spec is not (kernel, stride, padding[, dilation])", "geometry.py"),
    _e("LS945", "report schema version not supported", "report.py"),
    _e("LS946", "diagnostic code selection not understood", "check.py"),
    _e("LS947", "budget quantity not understood", "check.py"),
    _e("LS948", "--fail-on not understood", "check.py"),
    _e("LS949", "[tool.layerscope] configuration not understood", "config.py"),
    _e("LS950", "missing optional dependency", "errors.py"),
    _e("LS955", "report holds no receptive-field analysis", "report.py"),
    _e("LS956", "no renderer registered for a report format", "report.py"),
    _e("LS957", "effective receptive field: input has no spatial axis", "erf.py"),
    _e("LS958", "effective receptive field: output has no spatial axis", "erf.py"),
    _e("LS959", "effective receptive field: unit outside the output", "erf.py"),
    _e("LS960", "command without a model, an input size or a code", "commands/check.py", "commands/scale.py",
       "commands/rule.py"),
    _e("LS961", "unknown report format", "render/files.py"),
    _e("LS962", "receptive field asked of a model without a traced output", "api.py", _RF),
    _e("LS963", "receptive field asked of an unknown module", _RF),
    _e("LS964", "compare: names and models differ in number", "compare.py", "commands/compare.py"),
    _e("LS965", "sweep: search-space names clash with result columns", "scaling.py"),
    _e("LS966", "diff: a model without an input size", "diff.py"),
    _e("LS967", "effective receptive field: bad arguments", "erf.py"),
    _e("LS968", "effective receptive field: over the memory limit", "erf.py"),
    _e("LS969", "unknown code", "codes.py"),
    _e("LS970", "an output path that cannot be written", "commands/_common.py"),
    _e("LS971", "a report file that cannot be read", "compare.py"),
    _e("LS972", "a file that is not a layerscope JSON report", "compare.py"),
    _e("LS973", "a scaling study with fewer than two resolutions", "commands/scale.py"),
    _e("LS974", "a sweep build that cannot be pickled for the worker processes", "scaling.py"),
    _e("LS980", "training step failed on meta (or nothing requires grad)", "tracing/training.py"),
    _e("LS981", "training_cost: unknown optimizer or one that cannot be built", "tracing/training.py"),
    _e("LS982", "training_cost: unknown precision", "tracing/training.py"),
    _e("LS983", "training_cost: checkpoint= names no module", "tracing/training.py"),
    _e("LS984", "max_batch_size without a batch", "training.py"),
    _e("LS993", "bad token/keyword input on the command line (--tokens, --kwarg, --dtype)", "commands/_tokens.py"),
    _e("LS994", "hf: SPEC without transformers installed", "loading_hf.py"),
    _e("LS995", "hf: SPEC names no known config, model class or model_type", "loading_hf.py"),
    _e("LS996", "hf: SPEC override that is not a config field, or a config that cannot be built", "loading_hf.py"),
    _e("LS997", "hf: SPEC folder or file that is not a config.json", "loading_hf.py"),
    _e("LS998", "sequence-length scaling of a model that takes no tokens", "seq_scaling.py"),
)

#: code -> entry
CODES: Mapping[str, Code] = {c.code: c for c in TABLE}

#: retired codes, never reused: code -> why
RETIRED: Mapping[str, str] = {
    "LS120": "'finding follows an earlier error' is the follows_error flag on the later finding, not a code",
}

#: the forward pass failed: always reported
TRACE_FAILURES = frozenset(c.code for c in TABLE if c.trace_failure)


@dataclass(frozen=True)
class Explanation:
    what: str
    why: str
    example: str
    fix: str


EXPLANATIONS: Mapping[str, Explanation] = {
    "LS100": Explanation(
        "The forward pass raised an error that no specific explainer recognised (or an op has no meta kernel).",
        "Nothing after the failing call was traced: the totals and the table stop there.",
        "a custom op without a meta implementation; an assert in the model's forward",
        "Read the message and the table up to the failing layer; run the model eagerly at that input size."),
    "LS101": Explanation(
        "A residual add gets a shortcut whose shape differs from the main branch's output.",
        "The block cannot run; usually the shortcut misses a downsampling (stride) or a channel projection.",
        "x + self.conv2(self.conv1(x)) where conv1 has stride=2 and the shortcut is the identity",
        "Add a 1x1 conv (with the same stride) on the shortcut, or make the branch keep the shape."),
    "LS102": Explanation(
        "A Linear layer receives a last dimension different from its in_features.",
        "The head was sized for another input resolution or another trunk.",
        "nn.Linear(512, 10) after flattening a (N, 512, 7, 7) map at 224 px (25088 features)",
        "Set in_features to the traced size, or pool to 1x1 before flattening (AdaptiveAvgPool2d(1))."),
    "LS103": Explanation(
        "torch.cat gets tensors that differ in a dimension other than the concatenation dimension.",
        "Branches of a U-Net or an FPN disagree in spatial size (odd input sizes, floor division).",
        "cat([up(x) (1, 64, 28, 28), skip (1, 64, 29, 29)], dim=1)",
        "Use an input size divisible by the total stride, or crop/pad/interpolate one branch to the other."),
    "LS104": Explanation(
        "A conv gets a different number of input channels than its in_channels (times groups).",
        "Layers were wired with inconsistent channel counts.",
        "nn.Conv2d(64, 128, 3) fed by a 32-channel tensor",
        "Set in_channels to the traced channel count, or fix the layer before it."),
    "LS105": Explanation(
        "A matmul/bmm/linear-algebra product has inner dimensions that differ.",
        "The operands were reshaped or transposed in the wrong order.",
        "q @ k with q (1, 8, 16, 64) and k (1, 8, 16, 64): k needs .transpose(-2, -1)",
        "Transpose the second operand or fix the reshape that built it."),
    "LS106": Explanation(
        "view/reshape asks for a shape whose element count differs from the tensor's.",
        "A hard-coded size assumes another input resolution or batch size.",
        "x.view(-1, 16 * 5 * 5) on a (1, 16, 6, 6) tensor",
        "Compute the size from the tensor (x.flatten(1)) or fix the constant for the input size."),
    "LS107": Explanation(
        "An elementwise op (add, mul...) gets operands that cannot broadcast.",
        "Two branches disagree in a dimension that is not 1.",
        "a (1, 64, 28, 28) + b (1, 64, 27, 27)",
        "Make both branches produce the same shape (padding, stride, an input size divisible by the stride)."),
    "LS108": Explanation(
        "The forward pass needs the value of a tensor (.item(), if tensor:, nonzero...), unknown on meta tensors.",
        "Data-dependent control flow cannot be analyzed statically.",
        "if x.sum() > 0: ...",
        "Move the data-dependent part out of the analyzed module, or analyze the trunk only."),
    "LS109": Explanation(
        "A BatchNorm in training mode gets one value per channel (batch 1 and a 1x1 map): it has no variance.",
        "Batch statistics need at least two values per channel; PyTorch refuses the call.",
        "resnet18 trained at batch 1 on 32 px inputs: layer4's maps are 1x1",
        "Train with batch size 2 or more, or an input large enough that the layer's map is bigger than 1x1; "
        "in eval mode the running statistics are used."),
    "LS110": Explanation(
        "A residual add broadcasts one operand (a size-1 dim against a larger one) where both should match.",
        "It runs, but the shortcut is silently repeated: usually a pooled or squeezed tensor reached the add.",
        "x (1, 64, 28, 28) + y (1, 64, 1, 1) in a block meant as identity + branch",
        "Check the branch's pooling/stride; make the shapes equal, or name the gate explicitly (mul, SE)."),
    "LS111": Explanation(
        "layerscope's output-size formula for a sliding-window op disagrees with the shape PyTorch produced.",
        "A rule in layerscope is wrong for this op or argument combination.",
        "a conv with an unusual padding mode",
        "Report it with the op and its arguments; the traced shape is the one to trust."),
    "LS112": Explanation(
        "floor((size + 2p - d(k-1) - 1) / s) drops the last input pixels: no window covers them.",
        "Information at the right/bottom border is lost (often at odd input sizes).",
        "Conv2d(k=2, s=2) on 225 px: (225 - 2) % 2 = 1 px never read",
        "Choose an input size for which (size + 2p - k) is divisible by the stride, or pad."),
    "LS125": Explanation(
        "A forward hook or pre-hook registered by the model's own code raised on the meta copy and was skipped.",
        "Hooks that read tensor values (logging .item(), statistics) cannot run on meta tensors; the model itself is fine.",
        "m.conv.register_forward_hook(lambda m, i, o: stats.append(o.mean().item()))",
        "Nothing to fix in the model; the hook ran only on layerscope's copy and the analysis continued without it."),
    "LS130": Explanation(
        "An op's output size depends on tensor values (nonzero, x[mask], where(cond), unique, NMS, score "
        "thresholds); the trace kept every element (its upper bound) until a later op capped the size.",
        "The totals are the worst case: a real input that filters elements out costs less after that op.",
        "torchvision.ops.nms(boxes, scores, 0.7) keeps all 4741 boxes, then keep[:1000] caps them",
        "Nothing to fix; lower the caps (topk, post_nms_top_n, detections_per_img) to lower the bound."),
    "LS131": Explanation(
        "A torchvision detector's MACs per stage (backbone, FPN, RPN, ROI box/mask/keypoint heads) and the "
        "proposal/detection counts the trace assumed.",
        "The ROI heads scale with the number of proposals and detections, which the upper bound sets to the caps.",
        "fasterrcnn_resnet50_fpn at 800x800: backbone 52.1, FPN 36.3, RPN 31.6, ROI box head 14.4 GMACs",
        "Lower rpn_post_nms_top_n_test / box_detections_per_img to bound the heads; a lighter backbone for the rest."),
    "LS140": Explanation(
        "A dense-prediction output (segmentation, depth) is a few pixels off the input's size.",
        "Stride-2 layers floor odd sizes on the way down and x2 upsampling doubles them back, so the output no "
        "longer has one value per input pixel; a loss against the label then fails or silently broadcasts.",
        "smp PAN on a 250x250 input returns 252x252",
        "Use an input size divisible by the total stride, pad the input, or resize the output to the input's size."),
    "LS201": Explanation(
        "Some ops ran without a counting rule: MACs and FLOPs exclude them and are lower bounds.",
        "Unknown is not zero: the totals are marked partial instead of silently undercounting.",
        "a custom autograd Function, a rarely used torch op",
        "Add a rule in layerscope.rules (one entry in the op table) or report the op."),
    "LS202": Explanation(
        "Parameter tensors that the forward pass never used.",
        "Expected for training-only branches in eval mode; otherwise a layer is defined but never called.",
        "GoogLeNet's aux classifiers in eval mode",
        "Analyze with mode='train' to include them, or remove the unused layer."),
    "LS203": Explanation(
        "The forward pass returned no tensor that layerscope could find (status 'failed').",
        "Without an output there is no output shape, receptive field or complete total to report.",
        "forward returns an object that holds its tensors in a way pytree and dataclass walking cannot see",
        "Return tensors in a tuple, dict, dataclass or pytree-registered container."),
    "LS301": Explanation(
        "A conv with bias=True is directly followed by BatchNorm.",
        "BatchNorm subtracts the mean: the conv bias has no effect and wastes parameters.",
        "nn.Conv2d(3, 64, 3, bias=True) -> nn.BatchNorm2d(64)",
        "Use bias=False on convs followed by BatchNorm."),
    "LS302": Explanation(
        "A transposed conv's kernel size is not divisible by its stride.",
        "Output units receive uneven numbers of contributions: checkerboard artifacts (Odena et al. 2016).",
        "nn.ConvTranspose2d(c, c, kernel_size=3, stride=2)",
        "Use kernel_size divisible by the stride (4 with stride 2), or upsample + conv."),
    "LS303": Explanation(
        "A long plain stack of weight layers with no skip connection.",
        "Deep plain stacks are hard to optimise (degradation problem, He et al. 2016).",
        "20 convs in a row without a residual add",
        "Add residual connections or normalization, or make the stack shallower."),
    "LS304": Explanation(
        "The fully connected head holds most of the model's parameters.",
        "Parameters are spent on a dense layer over a large flattened map instead of on features.",
        "VGG's 4096-wide classifier over a 7x7x512 map",
        "Pool globally before the head (AdaptiveAvgPool2d(1)) or shrink it."),
    "LS305": Explanation(
        "A large dense (non-depthwise) kernel beyond the stem.",
        "Costly in MACs; stacks of 3x3 give the same receptive field with fewer parameters.",
        "Conv2d(256, 256, 7) in a middle stage",
        "Use stacked 3x3 convs, or a depthwise large kernel if the wide context is wanted."),
    "LS306": Explanation(
        "A pooling kernel smaller than its stride.",
        "Pixels between windows are never read.",
        "MaxPool2d(kernel_size=1, stride=2)",
        "Use kernel_size >= stride."),
    "LS307": Explanation(
        "BatchNorm in training mode on a batch of 1.",
        "Batch statistics of one sample are meaningless (and error for 1x1 maps).",
        "analyze(model, input_size=224, mode='train') with batch 1",
        "Use a batch of 2 or more for training, or eval mode."),
    "LS401": Explanation(
        "Branches merged by add/mul/cat step through the input at different rates (different jumps).",
        "Their units sample the input on different grids: the merge mixes unrelated positions.",
        "adding a stride-2 branch to an upsampled stride-4 branch without matching resolution",
        "Match the strides/upsampling of the merged branches."),
    "LS402": Explanation(
        "Merged branches have the same jump but their fields are not centred on the same input pixel.",
        "Asymmetric padding or an even kernel shifts one branch's grid (Araujo et al. 2019, alignment).",
        "a 2x2 conv branch added to a 3x3 conv branch",
        "Pad symmetrically or use odd kernels on both branches."),
    "LS403": Explanation(
        "The receptive field grows larger than the input.",
        "Deeper units see zero padding on both sides; extra depth adds no context.",
        "ResNet-50 at 64 px",
        "Expected for deep classifiers at small inputs; otherwise use a larger input or fewer stages."),
    "LS404": Explanation(
        "An op has no receptive-field rule, or a layout change could not be followed.",
        "The field after it is assumed pointwise (same shape) or reported unknown, never guessed.",
        "a custom op that mixes positions, a window partition (Swin)",
        "Add the op's receptive-field step to the op table in layerscope.rules."),
    "LS410": Explanation(
        "The model's output is not reached from a model input through traced ops.",
        "Its receptive field cannot be followed: it is reported unknown (None) with this reason, never guessed.",
        "an output built from parameters or constants only, or a trace that stopped before the output",
        "Check that the output depends on the input; if the trace failed, fix the failure first."),
    "LS501": Explanation("The parameter count is over the budget.", "The model exceeds the size limit set for it.",
                         "max_params = \"25M\" and a 60M model", "Shrink the model or raise the budget."),
    "LS502": Explanation("MACs are over the budget.", "The model exceeds the compute limit set for it.",
                         "max_macs = \"4G\" and ResNet-50 (4.1G)", "Shrink the model or raise the budget."),
    "LS503": Explanation("Activation memory is over the budget.", "One forward pass allocates more than allowed.",
                         "max_activation_bytes = \"100MB\"", "Use a smaller input, fewer channels, or raise it."),
    "LS504": Explanation("The receptive field is below the required minimum.",
                         "Output units see less context than the task needs.", "min_receptive_field = 200 and a 99 px field",
                         "Add downsampling or larger/dilated kernels, or lower the minimum."),
    "LS505": Explanation("A budget cannot be verified: totals are partial or the field is unknown.",
                         "A lower bound within budget proves nothing.", "max_macs with an op without a counting rule",
                         "Fix the trace or add the missing rule (see LS201), or drop the budget."),
    "LS506": Explanation("One training step's peak memory (params, grads, optimizer state, activations) is over the "
                         "budget.", "The model would not train at this batch size on a device with that memory.",
                         "--max-train-memory 24GiB and ResNet-50 at batch 256 with AdamW",
                         "Lower the batch (train-cost --memory finds the largest), use bf16-mixed, or checkpoint "
                         "the blocks that save the most activations."),
}


def explain(code: str, *, analyzer: str | None = None) -> str:
    """The text ``layerscope rule CODE`` prints: title, severity, where it is emitted (``analyzer``: the name of
    the analyzer that declares the code, which this data module does not import), what, why, example, fix."""
    code = code.strip().upper()
    if code in RETIRED:
        return f"{code} (retired): {RETIRED[code]}\n"
    entry = CODES.get(code)
    if entry is None:
        from .errors import ConfigError

        raise ConfigError(f"{code!r} is not a layerscope code", hint="see `layerscope rule --all`", code="LS969")
    lines = [f"# {entry.code}: {entry.title}", "", f"{entry.kind}, default severity {entry.severity}; "
             f"emitted by layerscope/{entry.places[0]}" + (f" (analyzer {analyzer})" if analyzer else ""), ""]
    ex = EXPLANATIONS.get(code)
    if ex is not None:
        lines += ["## What it means", ex.what, "", "## Why it matters", ex.why, "", "## Example", ex.example, "",
                  "## How to fix it", ex.fix, ""]
    return "\n".join(lines)


__all__ = ["CODES", "Code", "EXPLANATIONS", "Explanation", "RETIRED", "TABLE", "TRACE_FAILURES", "explain"]
