"""Upper-bound tracing: sizes that depend on the data take their largest possible value.

A meta tensor has no values, so ``torch.nonzero(mask)``, ``x[mask]``, ``torch.where(cond)``, ``masked_select``,
``unique`` and ``torchvision::nms`` cannot know how many elements they keep. Here each one keeps *every*
element (the worst case), until a later op caps the size (``topk``, ``keep[:post_nms_top_n]``): the totals of
the trace are then an upper bound, exact whenever the real run reaches the caps (a detector on a busy image).

Every such decision is recorded on the op (``OpRecord.attrs["upper_bound"]``: what was assumed and why), so
the report names it (LS130) and its status is ``"upper-bound"``.

``float(t)`` / ``t.item()`` / ``bool(t)`` on a tensor that is a meta copy of one of the model's own constants
(a quantization scale, a buffer) read the value from the user's model (read-only): that is exact, not assumed.
Any other value read stays LS108 (nothing safe to assume).

This is the one place (besides ``tracer.py``) that knows how torch and torchvision run these ops; the tracer
calls :func:`substitute` from ``on_error`` and enters :func:`patched` around the forward pass. Which ops are
data-dependent, and their sizes at the upper bound, are the op table's (fact ``upper_bound``, handlers in
``rules/data_dependent.py``); so are the facts the MoE routing bookkeeping below asks (``routing_*``).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator

import torch

from ..rules.data_dependent import meta as _meta
from ..rules.data_dependent import upper_bound_size
from ..rules.table import has_fact

# Python's conversion protocol (the function's own name: ``t.float()`` is a cast, ``float(t)`` reads the value)
_VALUE_READS = {"__float__": float, "__int__": int, "__bool__": bool, "__index__": int, "item": None}
_MAX_CONSTANT = 64  # elements: constants read by value (scales, zero points, small buffers)


def substitute(tracer: Any, name: str, func: Any, args: tuple, kwargs: dict) -> Any | None:
    """The output a data-dependent op would have at its upper bound (recorded on the tracer), a device move
    done on meta, a model constant read by value; or None (the caller goes on with its error handling)."""
    fname = getattr(func, "__name__", "")
    try:
        if has_fact(name, "device_move") and args and isinstance(args[0], torch.Tensor) and args[0].device.type == "meta":
            # .cpu() / .cuda() / .to(device): shapes do not change; a dtype change still applies
            dtype = next((a for a in list(args[1:]) + list(kwargs.values()) if isinstance(a, torch.dtype)), None)
            return args[0] if dtype is None else args[0].to(dtype)
        if fname in _VALUE_READS and args and isinstance(args[0], torch.Tensor):
            real = getattr(tracer, "constants", {}).get(id(args[0]))
            if real is None:
                known = _state(tracer)["values"].get(id(args[0]))
                real = known[1] if known is not None and known[0] is args[0] else None
            if real is None:
                return None
            value = real.item()
            cast = _VALUE_READS[fname]
            return cast(value) if cast is not None else value
        known = _with_known_indices(tracer, func, args, kwargs)
        if known is not None:
            return _after(tracer, name, func, args, dict(kwargs or {}), known)
        from .quantized import functional

        q = functional(name, tuple(args), dict(kwargs or {}))
        if q is not None:  # quantize/dequantize in an FX-converted model: the float twin goes on
            return q
        got = upper_bound_size(name, tuple(args), dict(kwargs or {}))
    except Exception:  # never turn a diagnosable failure into a crash: the caller reports the original error
        return None
    if got is None:
        return None
    out, why = got
    routed = _routed(tracer, name, args, kwargs, out)
    if routed is not None:
        out, why = routed
    elif has_fact(name, "index_values"):
        _index_values(tracer, name, args, kwargs, out)
    outs = [t for t in (out if isinstance(out, tuple) else (out,)) if isinstance(t, torch.Tensor)]
    why["assumed"] = [list(t.shape) for t in outs]
    if outs:
        tracer.assumed[id(outs[0])] = (outs[0], why)  # the tensor kept alive: its id cannot be reused
    return out


# ------------------------------------------------------------------- values known from an assumption
# With every mask element taken as True, the *values* of nonzero()/where() are known too (all indices, in
# order): a loop over them (``for idx in mask.nonzero()``) and the small arithmetic on them are computed on CPU
# copies of those values (``after``), so ``bool(idx == n)`` / ``int(idx)`` read them instead of stopping.
# MoE routing: ``one_hot(topk indices)`` marks a routing mask; ``where()`` on one expert's slice of it gets
# that expert's share of the k*T token slots (every token through its k experts; at most T per expert).
_MAX_VALUES = 4096


def _state(tracer: Any) -> dict:
    st = vars(tracer).get("_upper_bound_state")
    if st is None:
        st = vars(tracer)["_upper_bound_state"] = {"values": {}, "routing": {}}
    return st


def _index_values(tracer: Any, name: str, args: tuple, kwargs: dict, out: Any) -> None:
    x = args[0] if args else kwargs.get("input", kwargs.get("condition"))
    if not isinstance(x, torch.Tensor) or x.numel() * max(x.dim(), 1) > _MAX_VALUES:
        return
    real = torch.nonzero(torch.ones(tuple(x.shape), dtype=torch.bool), as_tuple=isinstance(out, tuple))
    vals = _state(tracer)["values"]
    for t, v in zip(out if isinstance(out, tuple) else (out,), real if isinstance(real, tuple) else (real,)):
        vals[id(t)] = (t, v)


def _with_known_indices(tracer: Any, func: Any, args: tuple, kwargs: dict) -> Any | None:
    """Rerun an op whose 0-d index tensors have values known from an assumption (``mask[idx]`` in a loop over
    ``nonzero()``) with those values as ints; None when there are none."""
    st = vars(tracer).get("_upper_bound_state")
    if not st or not st["values"]:
        return None
    values = st["values"]
    changed = [False]

    def fix(x: Any) -> Any:
        if isinstance(x, torch.Tensor) and x.dim() == 0 and id(x) in values and values[id(x)][0] is x:
            changed[0] = True
            return int(values[id(x)][1])
        if isinstance(x, tuple):
            return tuple(fix(v) for v in x)
        return x

    new_args = tuple(fix(a) for a in args[1:])
    if not changed[0]:
        return None
    return func(args[0], *new_args, **kwargs)


def _routed(tracer: Any, name: str, args: tuple, kwargs: dict, out: Any) -> tuple[Any, dict] | None:
    if not has_fact(name, "routing_select") or not args:
        return None
    mark = _state(tracer)["routing"].get(id(args[0]))
    if mark is None or mark["ref"]() is not args[0]:
        return None
    info = mark["info"]
    k, tokens = info["k"], info["tokens"]
    if args[0].numel() != k * tokens:  # not one expert's (k, T) slice
        return None
    n = min(tokens, info["left"])
    info["left"] -= n
    outs = tuple(_meta((n,), torch.int64) for _ in range(max(args[0].dim(), 1)))
    return outs, {"bound": n, "why": f"MoE routing: {tokens} tokens x top-{k} = {k * tokens} token slots over "
                  f"{info['experts']} experts, at most {tokens} per expert (every token through its {k} experts; "
                  f"which experts is data): this expert gets {n}"}


def after(tracer: Any, name: str, func: Any, args: tuple, kwargs: dict, out: Any) -> Any:
    """After an op ran on meta: mark top-k routing, carry known values forward. Returns ``out`` (an iterator
    over known rows is materialized so that each row keeps its values). Never raises."""
    if not has_fact(name, "routing_topk") and "_upper_bound_state" not in vars(tracer):
        return out
    try:
        return _after(tracer, name, func, args, kwargs or {}, out)
    except Exception:  # bookkeeping only: a failure here must not become the op's failure
        return out


def _after(tracer: Any, name: str, func: Any, args: tuple, kwargs: dict, out: Any) -> Any:
    st = vars(tracer).get("_upper_bound_state")
    if has_fact(name, "routing_topk") and isinstance(out, tuple) and len(out) == 2:
        x = args[0]
        dim = int(args[2] if len(args) > 2 else kwargs.get("dim", -1)) % max(x.dim(), 1)
        st = _state(tracer)
        import weakref

        st["routing"][id(out[1])] = {"ref": weakref.ref(out[1]), "info": {
            "k": int(out[1].shape[dim]), "classes": int(x.shape[dim]), "tokens": out[1].numel() // max(
                int(out[1].shape[dim]), 1), "topk": True}}
        return out
    if st is None:
        return out
    routing, values = st["routing"], st["values"]
    tensors = [a for a in list(args) + list(kwargs.values()) if isinstance(a, torch.Tensor)]
    marked = next((routing[id(t)] for t in tensors if id(t) in routing and routing[id(t)]["ref"]() is t), None)
    if marked is not None:
        import weakref

        info = marked["info"]
        if has_fact(name, "routing_one_hot") and info.get("topk"):
            e = int(out.shape[-1])
            info = {"k": info["k"], "tokens": info["tokens"], "experts": e, "left": info["k"] * info["tokens"]}
        elif not has_fact(name, "routing_layout"):
            info = None
        if info is not None:
            for t in (out if isinstance(out, (tuple, list)) else (out,)):
                if isinstance(t, torch.Tensor):
                    routing[id(t)] = {"ref": weakref.ref(t), "info": info}
    if not values or not any(id(t) in values and values[id(t)][0] is t for t in tensors):
        return out
    if name == "iter" and hasattr(out, "__next__"):  # Python's iterator protocol (not an op of the table)
        rows = list(out)
        _carry(values, func, args, kwargs, tuple(rows), iterate=True)
        return iter(rows)
    _carry(values, func, args, kwargs, out)
    return out


def _carry(values: dict, func: Any, args: tuple, kwargs: dict, out: Any, iterate: bool = False) -> None:
    """Compute ``func`` on the known CPU values of its meta tensor arguments; record the outputs' values."""
    def real(x: Any) -> Any:
        if isinstance(x, torch.Tensor):
            got = values.get(id(x))
            if got is not None and got[0] is x:
                return got[1]
            if x.device.type == "meta":
                raise LookupError
            return x
        if isinstance(x, (list, tuple)):
            return type(x)(real(v) for v in x)
        return x

    try:
        r_args, r_kwargs = real(tuple(args)), {k: real(v) for k, v in kwargs.items()}
        result = tuple(r_args[0].unbind(0)) if iterate else func(*r_args, **r_kwargs)
    except Exception:  # an operand without known values, or an op that cannot run on them: nothing known
        return
    outs = out if isinstance(out, (tuple, list)) else (out,)
    res = result if isinstance(result, (tuple, list)) else (result,)
    for t, v in zip(outs, res):
        if isinstance(t, torch.Tensor) and isinstance(v, torch.Tensor) and v.numel() <= _MAX_VALUES \
                and tuple(v.shape) == tuple(t.shape):
            values[id(t)] = (t, v)


def take_assumption(tracer: Any, outs: list) -> dict | None:
    """The upper-bound assumption made for this op's first output, if any (removed: recorded once)."""
    if not outs or not tracer.assumed:
        return None
    if NEXT in tracer.assumed:  # made before the op ran (torchvision helpers replaced on meta, below)
        why = tracer.assumed.pop(NEXT)[1]
        why.setdefault("assumed", [list(outs[0].shape)])
        return why
    got = tracer.assumed.get(id(outs[0]))
    if got is None or got[0] is not outs[0]:
        return None
    del tracer.assumed[id(outs[0])]
    return got[1]


def constants(model: torch.nn.Module, work: torch.nn.Module) -> dict[int, torch.Tensor]:
    """id(meta copy) -> the user's real tensor, for the model's small non-meta buffers and tensor attributes
    (read by value only if the forward asks, e.g. ``float(self.scale)``)."""
    found: dict[int, torch.Tensor] = {}
    real_mods = dict(model.named_modules(remove_duplicate=False))
    for name, m in work.named_modules(remove_duplicate=False):
        r = real_mods.get(name)
        if r is None:
            continue
        for key, v in list(vars(m).items()) + list(m._buffers.items()):
            rv = vars(r).get(key) if key in vars(m) else r._buffers.get(key)
            if isinstance(v, torch.Tensor) and isinstance(rv, torch.Tensor) and rv.device.type != "meta" \
                    and rv.numel() <= _MAX_CONSTANT and tuple(rv.shape) == tuple(v.shape):
                found[id(v)] = rv
    return found


# ------------------------------------------------------------------------------ torchvision detectors
# Three helpers of torchvision's detectors loop over *values* (a class id, a box's size in pixels). On meta
# tensors they are replaced, for the duration of a trace, by equivalents that need no values:
# - batched NMS per class (``_batched_nms_vanilla``): the coordinate trick, one NMS over offset boxes, which
#   keeps the same boxes;
# - Mask R-CNN's ``paste_masks_in_image`` (each mask resized to its box, pasted into the image) and Keypoint
#   R-CNN's ``heatmaps_to_keypoints`` (each heatmap resized to its box, then argmax): the resize of every box at
#   once to the largest size a box can have (the image), an upper bound named as such (LS130).
_LOCK = threading.Lock()
_ACTIVE = [0]
_SAVED: dict[tuple[str, str], Any] = {}
_LOCAL = threading.local()
NEXT = -1  # key of tracer.assumed: an assumption for the next op recorded (made before the op runs)


def _is_meta(t: Any) -> bool:
    return isinstance(t, torch.Tensor) and t.device.type == "meta"


def _assume_next(why: dict) -> None:
    tracer = getattr(_LOCAL, "tracer", None)
    if tracer is not None:
        tracer.assumed[NEXT] = (None, why)


def _image_bound(tracer: Any) -> tuple[int, int] | None:
    """(H, W) of the (padded) image batch the backbone saw: every box lies inside it."""
    for node in getattr(tracer, "nodes", ()):
        if node.name.startswith("backbone") and node.inputs and len(node.inputs[0].shape) == 4:
            return int(node.inputs[0].shape[-2]), int(node.inputs[0].shape[-1])
    return None


def _meta_vanilla(original: Any, boxes_mod: Any) -> Any:
    def _batched_nms_vanilla(boxes, scores, idxs, iou_threshold):  # noqa: ANN001 - torchvision's signature
        if _is_meta(boxes):
            return boxes_mod._batched_nms_coordinate_trick(boxes, scores, idxs, iou_threshold)
        return original(boxes, scores, idxs, iou_threshold)

    return _batched_nms_vanilla


def _meta_paste(original: Any, roi_heads: Any) -> Any:
    def paste_masks_in_image(masks, boxes, img_shape, padding=1):  # noqa: ANN001 - torchvision's signature
        if not _is_meta(masks):
            return original(masks, boxes, img_shape, padding)
        import torch.nn.functional as F

        masks, scale = roi_heads.expand_masks(masks, padding=padding)
        im_h, im_w = int(img_shape[0]), int(img_shape[1])
        # a box lies inside the image; expanded by `scale` (+1 px of rounding) it is at most this large
        h, w = int(im_h * scale) + 1, int(im_w * scale) + 1
        _assume_next({"bound": h * w, "why": f"each of the {int(masks.shape[0])} masks resized to the largest "
                      f"box possible ({h}x{w}, the image expanded by the mask padding) before it is pasted: the "
                      "real size is the box's, read from its coordinates"})
        resized = F.interpolate(masks, size=(h, w), mode="bilinear", align_corners=False)
        return resized[:, :, :im_h, :im_w]

    return paste_masks_in_image


def _meta_keypoints(original: Any, roi_heads: Any) -> Any:
    def heatmaps_to_keypoints(maps, rois):  # noqa: ANN001 - torchvision's signature
        if not _is_meta(maps):
            return original(maps, rois)
        import torch.nn.functional as F

        bound = _image_bound(getattr(_LOCAL, "tracer", None)) or (int(maps.shape[-2]), int(maps.shape[-1]))
        k, n = int(maps.shape[0]), int(maps.shape[1])
        _assume_next({"bound": bound[0] * bound[1], "why": f"each of the {k} keypoint heatmaps resized (bicubic) to "
                      f"the largest box possible ({bound[0]}x{bound[1]}, the image) before its argmax: the real "
                      "size is the box's, read from its coordinates"})
        roi_map = F.interpolate(maps, size=bound, mode="bicubic", align_corners=False)
        pos = roi_map.reshape(k, n, -1).argmax(dim=2)
        xy = torch.stack([pos.to(maps.dtype), pos.to(maps.dtype), torch.ones_like(pos, dtype=maps.dtype)], dim=2)
        return xy, roi_map.reshape(k, n, -1).amax(dim=2)

    return heatmaps_to_keypoints


def _targets() -> list[tuple[Any, str, Any]]:
    """(module, attribute, replacement) for every torchvision helper loaded in this process."""
    import sys

    found = []
    boxes_mod = sys.modules.get("torchvision.ops.boxes")
    if boxes_mod is not None and hasattr(boxes_mod, "_batched_nms_vanilla"):
        found.append((boxes_mod, "_batched_nms_vanilla", lambda orig: _meta_vanilla(orig, boxes_mod)))
    rh = sys.modules.get("torchvision.models.detection.roi_heads")
    if rh is not None and hasattr(rh, "heatmaps_to_keypoints") and hasattr(rh, "expand_masks"):
        found.append((rh, "heatmaps_to_keypoints", lambda orig: _meta_keypoints(orig, rh)))
        tr = sys.modules.get("torchvision.models.detection.transform")
        if tr is not None and hasattr(tr, "paste_masks_in_image"):
            found.append((tr, "paste_masks_in_image", lambda orig: _meta_paste(orig, rh)))
    return found


@contextlib.contextmanager
def patched(tracer: Any = None) -> Iterator[None]:
    """During a trace, torchvision's value-looping detector helpers take their meta path (see above).
    Reference-counted (threads may trace at once); the originals are restored when the last trace ends; the
    replacements call the originals for every non-meta tensor."""
    _LOCAL.tracer = tracer
    with _LOCK:
        if _ACTIVE[0] == 0:
            for mod, attr, make in _targets():
                _SAVED[(mod.__name__, attr)] = (mod, getattr(mod, attr))
                setattr(mod, attr, make(getattr(mod, attr)))
        _ACTIVE[0] += 1
    try:
        yield
    finally:
        _LOCAL.tracer = None
        with _LOCK:
            _ACTIVE[0] -= 1
            if _ACTIVE[0] == 0:
                for (_, attr), (mod, original) in list(_SAVED.items()):
                    setattr(mod, attr, original)
                _SAVED.clear()
