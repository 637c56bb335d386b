"""``analyze``: trace once, run the analyzers, return a :class:`Report`."""

from __future__ import annotations

from typing import Any, Literal, Sequence

from .analysis import Context, run_analyzers
from .errors import ConfigError, InputSpecError, TraceError
from .fields import ReceptiveField
from .report import Report


def analyze(
    model: Any,
    input_size: Any = None,
    *,
    inputs: Any = None,
    kwargs: dict[str, Any] | None = None,
    batch_size: int | None = None,
    full_shape: bool = False,
    dtype: Any = None,
    seq_len: int | None = None,
    mode: Literal["eval", "train"] = "eval",
    strict: bool = False,
    recover: bool = True,
    select: Sequence[str] | str | None = None,
    ignore: Sequence[str] | str | None = None,
    **unsupported: Any,
) -> Report:
    """Trace ``model``'s forward pass on meta tensors and analyze it.

    ``input_size``: an int ``s`` (one ``(1, 3, s, s)`` image batch), an image shape without batch ``(C, H, W)``,
    any other shape as written, batch first (``(N, C, H, W)``, ``(N, F)``, a ``(2, 10)`` token batch), or a list
    of shapes for several inputs (the grammar: :mod:`layerscope.sizes`; ``full_shape=True`` takes 3-dim
    shapes as written too). Or ``inputs=`` example tensors (real or
    meta, nested tuples/dicts) and ``kwargs=`` keyword inputs. The model itself is never modified and no
    weight or activation memory is allocated.

    A forward that fails on shapes still returns a Report (``report.ok`` is False) with every layer up to the
    failure; ``strict=True`` raises :class:`~layerscope.errors.TraceError` carrying the diagnostic instead.

    Token models: a model whose first layer is an ``nn.Embedding`` takes ``input_size=(1, 2048)`` (batch,
    tokens as written) as integer ids; a Hugging Face model gets named inputs sized from its config, and with
    no input at all its own default (``seq_len`` tokens, default 128). ``inputs={...}`` dicts naming the
    forward's parameters are keyword inputs; ``batch_size=`` and ``dtype=`` apply to ``kwargs=`` as well.
    See :mod:`layerscope.tracing.tokens`.

    ``select=`` / ``ignore=``: diagnostic code prefixes to keep / drop (``"LS3"``, ``["LS301", "LS110"]``; the
    more specific prefix wins); a failed forward pass (LS100-LS108) is always reported. An analyzer whose every
    code is deselected is not run (``ignore="LS3"`` skips the design lints).

    ``dtype``: the dtype of the inputs built from ``input_size``; by default the floating dtype of most
    parameters (a ``.half()`` model gets float16 inputs), else float32. A ``torch.compile``d model is
    analyzed through its eager ``_orig_mod``; a TorchScript model is refused (LS933). torchinfo's ``depth=``,
    ``input_data=``, ``dtypes=`` and ``device=`` are refused with LS934, which says what to use instead.

    >>> import torch, layerscope
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 7, stride=2, padding=3), torch.nn.ReLU())
    >>> report = layerscope.analyze(net, input_size=224)
    >>> report.table.loc[0, "output_shape"], report.table.loc[0, "formula"]
    ((1, 16, 112, 112), '(224 + 2*3 - 1*(7-1) - 1)//2 + 1 = 112')
    """
    import torch

    from .tracing import Tracer, make_inputs
    from .tracing.unwrap import prepare_model

    if unsupported:
        _refuse_unsupported(unsupported)
    wants = _code_policy(select, ignore)  # a selection that is not understood fails before the trace (LS946)
    model = prepare_model(model)
    if not isinstance(model, torch.nn.Module):
        raise InputSpecError(f"model must be a torch.nn.Module, not {type(model).__name__}",
                             hint="pass the module instance, e.g. analyze(MyNet(), input_size=224)", code="LS917")
    if mode not in ("eval", "train"):
        raise InputSpecError(f"mode must be 'eval' or 'train', not {mode!r}", hint="use mode='train' to include "
                             "training-only branches", code="LS918")
    from .tracing.tokens import resolve_inputs

    input_size, inputs, kwargs, batch_size, dtype = resolve_inputs(model, input_size, inputs, kwargs, batch_size,
                                                                   dtype, seq_len)
    if dtype is None and input_size is not None:
        dtype = _parameter_dtype(model)
    from .tracing.detection import detector_inputs, detector_options

    detector = detector_options(model, mode)
    batch_given = _batch_given(input_size, inputs, batch_size, full_shape)
    if detector and input_size is not None and inputs is None and batch_size is None:
        # a detector's forward takes a list of (3, H, W) images: input_size=(3, 800, 800) is one of them
        det_inputs = detector_inputs(input_size, dtype)
        if det_inputs is not None:
            input_size, inputs = None, det_inputs
    args, kw = make_inputs(input_size, inputs, kwargs, batch_size, dtype, full_shape=full_shape)
    from .analysis.recover import recover as recover_fn
    import warnings

    try:
        with warnings.catch_warnings():
            # noise about the meta run itself, not about the model: checkpoint's "None of the inputs have
            # requires_grad=True" (meta inputs never do) and torch.jit's deprecation notices
            warnings.filterwarnings("ignore", message=".*None of the inputs have requires_grad.*")
            warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit.*")
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.jit.*")
            result = Tracer(model, mode=mode, recover=recover_fn if recover else None).run(args, kw)
    except SystemExit as exc:  # the user's forward called sys.exit(): never layerscope's own exit code
        from .errors import ModelLoadError

        call = f"sys.exit({exc.code!r})" if exc.code is not None else "sys.exit()"
        raise ModelLoadError(f"the forward pass of {type(model).__name__} called {call}",
                             hint="a forward must not exit the process; raise an exception instead (layerscope "
                                  "reports it as LS100)", code="LS927") from None
    ctx = Context(result.graph, tuple(result.errors), tuple(result.unused_params), mode,
                  options={"default_batch": not batch_given,
                           "hook_failures": tuple(result.hook_failures), "output_type": result.output_type,
                           **detector})
    found = run_analyzers(ctx, wants=wants)  # analyzers whose every code is deselected do not run
    from .tracing.definitions import at_definitions

    diagnostics = at_definitions(model, list(found.diagnostics))
    if wants is not None:  # analyzers that produce report data ran anyway: drop their deselected findings
        from .check import filter_codes

        diagnostics = filter_codes(diagnostics, select=select, ignore=ignore)
    from dataclasses import asdict

    from .analysis.attention import causal_attention
    from .analysis.memory import kv_cache_summary, live_peak

    meta: dict[str, Any] = {}
    cache = kv_cache_summary(result.state)
    if cache is not None:
        meta["kv_cache"] = cache
    peak = live_peak(result.graph, (cache or {}).get("producers", ()))
    meta["peak"] = {"bytes": peak.bytes, "node": peak.node}
    causal = causal_attention(result.graph.nodes)
    if causal is not None:
        meta["causal_attention"] = asdict(causal)
    report = Report(
        meta=meta,
        model=type(model).__name__, layer_graph=result.graph, diagnostics=tuple(diagnostics),
        total_params=result.total_params, trainable_params=result.trainable_params,
        param_bytes=result.param_bytes, buffer_bytes=result.buffer_bytes, params_by_dtype=result.params_by_dtype,
        mode=mode, columns=found.columns, fields=found.summary.get("fields"),
    )
    if strict and not report.ok:
        first = report.errors[0]
        raise TraceError(first.message, hint=first.hint, code="LS932", diagnostic=first)
    return report


def receptive_field(model: Any, input_size: Any = None, *, module: str | None = None,
                    **analyze_kwargs: Any) -> ReceptiveField:
    """Trace ``model`` on meta tensors and return the receptive field of its output (or of ``module``).

    >>> import torch, layerscope
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 7, stride=2, padding=3), torch.nn.Conv2d(8, 8, 3))
    >>> layerscope.receptive_field(net, input_size=64).size      # 7 + (3-1)*2
    (11, 11)
    """
    report = analyze(model, input_size, **analyze_kwargs)
    if module is not None:
        return report.receptive_field_of(module)
    if report.receptive_field is None:
        raise ConfigError("the model has no traced output (did the forward pass fail?)",
                          hint="see layerscope.analyze(model, ...).diagnostics", code="LS962")
    return report.receptive_field

def _code_policy(select: Sequence[str] | str | None, ignore: Sequence[str] | str | None) -> Any:
    """``wants(code)`` for :func:`~layerscope.analysis.run_analyzers`: whether a finding of ``code`` would be
    kept by ``select``/``ignore`` (:func:`layerscope.check.selected`; trace failures always are); None when
    neither is given (every code is wanted)."""
    if select is None and ignore is None:
        return None
    from .check import ALWAYS_REPORTED, parse_codes, selected

    sel, ign = parse_codes(select), parse_codes(ignore)
    return lambda code: code in ALWAYS_REPORTED or selected(code, select=sel, ignore=ign)


#: torchinfo keyword -> what to use with layerscope instead
_TORCHINFO = {
    "depth": "the table's depth is a rendering choice: report.to_text(depth=N), report.to_markdown(depth=N) or "
             "`layerscope analyze --depth N`",
    "input_data": "pass example tensors as inputs=(x,) (a tuple for several positional arguments) and "
                  "keyword tensors as kwargs={...}",
    "dtypes": "pass dtype=torch.float16 (one dtype for every input built from input_size), or inputs= tensors "
              "of the dtypes you want",
    "device": "no device is needed: layerscope always traces on the meta device and never allocates weights or "
              "activations; drop device=",
    "col_names": "every column is in report.table (a pandas DataFrame); select the ones you want",
    "verbose": "analyze() never prints; print(report) shows the table",
}


def _refuse_unsupported(unsupported: dict[str, Any]) -> None:
    from .errors import InputSpecError

    name = sorted(unsupported)[0]
    what = _TORCHINFO.get(name)
    if what is None:
        raise InputSpecError(f"analyze() got an unexpected keyword argument {name!r}",
                             hint="see help(layerscope.analyze) for the options", code="LS934")
    raise InputSpecError(f"analyze() has no {name}= option (that is torchinfo's summary() API)", hint=what,
                         code="LS934")


def _parameter_dtype(model: Any) -> Any:
    """The floating dtype holding most of ``model``'s parameter elements (a ``.half()`` model that keeps its
    norms in float32 is still a float16 model); None for float32 or no floating parameters."""
    import torch

    count: dict[Any, int] = {}
    for p in model.parameters():
        if isinstance(p, torch.nn.parameter.UninitializedParameter) or not p.is_floating_point():
            continue
        count[p.dtype] = count.get(p.dtype, 0) + p.numel()
    if not count:
        return None
    dtype = max(count, key=lambda d: count[d])  # ties: the first seen (dicts keep insertion order)
    return dtype if dtype != torch.float32 else None


def _batch_given(input_size: Any, inputs: Any, batch_size: Any, full_shape: bool = False) -> bool:
    """False when the batch dimension is layerscope's default of 1 (an int size, or a 3-dim image shape that
    gets its batch prepended: see :mod:`layerscope.sizes`), which the BatchNorm-on-batch-1 lint must not
    blame on the user."""
    if batch_size is not None or inputs is not None or input_size is None:
        return True
    specs = input_size if isinstance(input_size, list) and input_size and not isinstance(input_size[0], int) \
        else [input_size]
    return all(isinstance(s, (tuple, list)) and (len(s) != 3 or full_shape) for s in specs)
