"""Op lists the training step (``layerscope.tracing.training``) needs, by canonical / aten overload-packet name.

- ``AUTOCAST_LOWER`` / ``AUTOCAST_FP32``: CUDA autocast's lower-precision and fp32 op lists
  (aten/src/ATen/autocast_mode.cpp; the fp32_set_opt_dtype ops are in the fp32 list), for the emulated autocast;
- ``STEP_ELEMENTWISE``: the elementwise ops of an optimizer step whose meta result is known from the first
  argument (itself for the in-place form, a new tensor like it otherwise).
"""

from __future__ import annotations

AUTOCAST_LOWER = frozenset({
    "conv1d", "conv2d", "conv3d", "convolution", "_convolution", "conv_tbc", "conv_transpose1d",
    "conv_transpose2d", "conv_transpose3d", "prelu", "addmm", "addmv", "addr", "matmul", "einsum", "mm", "mv",
    "linear", "addbmm", "baddbmm", "bmm", "chain_matmul", "multi_dot", "lstm_cell", "gru_cell", "rnn_tanh_cell",
    "rnn_relu_cell", "scaled_dot_product_attention", "lstm", "gru", "rnn_tanh", "rnn_relu",
})
AUTOCAST_FP32 = frozenset({
    "acos", "asin", "cosh", "erfinv", "exp", "expm1", "log", "log10", "log2", "log1p", "reciprocal", "rsqrt",
    "sinh", "tan", "pow", "softplus", "layer_norm", "native_layer_norm", "group_norm", "frobenius_norm",
    "nuclear_norm", "cosine_similarity", "poisson_nll_loss", "cosine_embedding_loss", "nll_loss", "nll_loss2d",
    "hinge_embedding_loss", "kl_div", "l1_loss", "smooth_l1_loss", "huber_loss", "mse_loss",
    "margin_ranking_loss", "multilabel_margin_loss", "soft_margin_loss", "triplet_margin_loss",
    "multi_margin_loss", "binary_cross_entropy_with_logits", "dist", "pdist", "cdist", "renorm", "logsumexp",
    "upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d", "upsample_linear1d",
    "upsample_bilinear2d", "upsample_trilinear3d", "upsample_bicubic2d", "interpolate",
    # fp32_set_opt_dtype: run in fp32 unless a dtype is given
    "prod", "softmax", "log_softmax", "cumprod", "cumsum", "sum", "cross_entropy", "norm",
})

STEP_ELEMENTWISE = frozenset({
    "add", "sub", "mul", "div", "lerp", "addcmul", "addcdiv", "sqrt", "rsqrt", "neg", "maximum", "minimum",
    "abs", "sign", "pow", "clone", "copy", "zero", "fill", "clamp", "reciprocal", "exp", "square",
})
