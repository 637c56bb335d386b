"""Where a layer is defined: the ``self.name = nn.Conv2d(...)`` line in its owner's ``__init__``.

A diagnostic's ``source`` is where the failing layer is *called* (the forward line). For a layer built with
the wrong configuration (LS102 ``in_features``, LS104 ``in_channels``) the fix is in its constructor call,
and two independent bugs in two branches called on one forward line would otherwise share one annotation
line. :func:`definition_site` finds the constructor line by reading the owner class's source with ``ast``:
``branch_a.1`` -> the second argument of ``self.branch_a = nn.Sequential(...)`` in the model's ``__init__``.
Unknown (no source, a layer built in a loop or a helper) -> None, and the call site stays.
"""

from __future__ import annotations

import ast
import inspect
import os
import textwrap
from typing import Any



def _is_library(cls: type) -> bool:
    mod = getattr(cls, "__module__", "") or ""
    return mod == "torch" or mod.startswith("torch.")


def _init_assignments(cls: type) -> tuple[str, dict[str, tuple[ast.expr, int]]] | None:
    """``(file, {attr: (value expression, line offset)})`` for ``self.attr = ...`` in ``cls.__init__``."""
    init = cls.__dict__.get("__init__")
    if init is None:
        return None
    try:
        lines, first = inspect.getsourcelines(init)
        file = inspect.getsourcefile(init)
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except (OSError, TypeError, SyntaxError):
        return None
    found: dict[str, tuple[ast.expr, int]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
        else:
            continue
        for t in targets:
            if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                found.setdefault(t.attr, (node.value, first - 1))
    return (file or "", found) if found else None


_CONTAINERS = {"Sequential", "ModuleList"}
#: layer-configuration bugs: the fix is in the layer's constructor call
DEFINITION_CODES = frozenset({"LS102", "LS104"})


def _callee(call: ast.Call) -> str:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def _descend(expr: ast.expr, rest: list[str]) -> ast.expr:
    """Follow ``nn.Sequential(a, b, c)`` / ``nn.ModuleList([a, b])`` into the element named by each index."""
    for part in rest:
        if not part.isdigit() or not isinstance(expr, ast.Call) or _callee(expr) not in _CONTAINERS:
            break
        args = expr.args
        if len(args) == 1 and isinstance(args[0], (ast.List, ast.Tuple)):
            args = args[0].elts
        i = int(part)
        if any(isinstance(a, ast.Starred) for a in args[:i + 1]) or i >= len(args):
            break
        expr = args[i]
    return expr


def definition_site(model: Any, name: str) -> str | None:
    """``"path/file.py:LINE"`` of the expression that builds module ``name`` of ``model``, or None."""
    if not name:
        return None
    parts = name.split(".")
    for k in range(len(parts) - 1, -1, -1):
        try:
            owner = model.get_submodule(".".join(parts[:k]))
        except AttributeError:
            return None
        for cls in type(owner).__mro__:
            if _is_library(cls) or cls is object:
                break
            got = _init_assignments(cls)
            if got is None or parts[k] not in got[1]:
                continue
            file, table = got
            expr, offset = table[parts[k]]
            expr = _descend(expr, parts[k + 1:])
            return f"{file}:{expr.lineno + offset}" if file else None
    return None


def at_definitions(model: Any, diagnostics: list[Any]) -> list[Any]:
    """LS102/LS104 findings re-anchored on their layer's definition line (the call site kept as
    ``data["called_at"]``); every other finding unchanged."""
    import dataclasses

    out = []
    for d in diagnostics:
        site = definition_site(model, d.module) if d.code in DEFINITION_CODES and d.module else None
        if site is not None and site != d.source:
            d = dataclasses.replace(d, source=site, data={**dict(d.data), "called_at": d.source})
        out.append(d)
    return out
