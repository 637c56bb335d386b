"""Tracing: the meta-tensor forward pass and the module/op recorder (the only code that uses torch internals)."""

from .inputs import input_names, make_inputs
from .tracer import Failure, Tracer, TraceResult, meta_copy

__all__ = ["Failure", "Tracer", "TraceResult", "input_names", "make_inputs", "meta_copy"]
