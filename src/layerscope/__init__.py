"""layerscope: static architecture analysis for PyTorch.

Trace a model's forward pass on meta tensors (no weights touched, no memory allocated), record a layer
graph of modules and functional ops, and analyze it: shapes with their formulas, parameters, MACs/FLOPs,
activation memory, receptive fields, and shape bugs explained.

>>> import torchvision, layerscope
>>> report = layerscope.analyze(torchvision.models.resnet18(), input_size=224)
>>> report.total_params
11689512
"""

from . import render  # noqa: F401 - registers the renderers behind Report.to_markdown/to_text/_repr_html_
from .api import analyze, receptive_field
from .compare import compare
from .diff import diff
from .scaling import scale, sweep
from .diagnostics import Diagnostic
from .erf import EffectiveReceptiveField, effective_receptive_field
from .fields import ReceptiveField
from .errors import (ConfigError, InputSpecError, LayerscopeError, MissingDependencyError, ModelLoadError,
                     TraceError)
from .geometry import explain_output_size, output_size, trace_sizes
from .graph import Graph, Node, TensorInfo
from .report import Report
from .seq_scaling import scale_seq_len
from .training import TrainingCost, training_cost

__version__ = "0.1.0"

__all__ = [
    "ConfigError", "Diagnostic", "Graph", "InputSpecError", "LayerscopeError", "MissingDependencyError",
    "ModelLoadError", "Node", "ReceptiveField", "EffectiveReceptiveField", "Report", "TensorInfo", "TraceError", "analyze", "compare", "diff", "effective_receptive_field", "explain_output_size",
    "output_size", "receptive_field", "scale", "scale_seq_len", "sweep", "trace_sizes", "TrainingCost", "training_cost", "__version__",
]
