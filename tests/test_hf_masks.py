"""Issue 13 (1) and (5): Hugging Face masks and caches do not stop the trace; MoE and loss ops have rules.

Models are built from small configs (never downloaded). Oracle: FlopCounterMode on a real CPU forward of the
same model with eager attention (which counts QK^T and AV as bmm), and analytic arithmetic.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import layerscope

tf = pytest.importorskip("transformers")

V, D, I, T = 128, 64, 128, 16


def _llama(**kw):
    return tf.LlamaForCausalLM(tf.LlamaConfig(vocab_size=V, hidden_size=D, intermediate_size=I, num_hidden_layers=2,
                                              num_attention_heads=4, num_key_value_heads=2, **kw)).eval()


def _bert(**kw):
    return tf.BertModel(tf.BertConfig(vocab_size=V, hidden_size=D, intermediate_size=I, num_hidden_layers=2,
                                      num_attention_heads=4, **kw)).eval()


def _t5(**kw):
    return tf.T5ForConditionalGeneration(tf.T5Config(vocab_size=V, d_model=D, d_ff=I, d_kv=16, num_layers=2,
                                                     num_heads=4, **kw)).eval()


def _padded_batch():
    ids = torch.randint(0, V, (2, T), generator=torch.Generator().manual_seed(0))
    mask = torch.ones(2, T, dtype=torch.long)
    mask[1, -5:] = 0  # the second sequence is padded, as a tokenizer pads a batch
    return ids, mask


def _fcm_macs(model, kwargs):
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(**kwargs)
    return counter.get_total_flops() // 2


@pytest.mark.parametrize("build", [_llama, _bert, _t5], ids=["llama", "bert", "t5"])
def test_2d_attention_mask_traces_and_counts_like_a_real_forward(build):
    ids, mask = _padded_batch()
    kw = {"input_ids": ids, "attention_mask": mask}
    if build is _t5:
        kw.update(decoder_input_ids=ids, decoder_attention_mask=mask)
    report = layerscope.analyze(build(), kwargs=kw)  # default attention (sdpa)
    assert report.status == "complete", [d.code for d in report.diagnostics]
    assert not [d for d in report.diagnostics if d.code == "LS108"]
    assert report.total_macs == _fcm_macs(build(attn_implementation="eager"), kw)


def test_llama_use_cache_false_traces():
    ids, _ = _padded_batch()
    report = layerscope.analyze(_llama(), kwargs={"input_ids": ids[:1], "use_cache": False})
    assert report.status == "complete"
    # per layer: q, o 16*64*64; k, v 16*64*32 (2 kv heads of 16); QK^T + AV 2*16*16*64; MLP 3*16*64*128
    per_layer = 2 * 16 * 64 * 64 + 2 * 16 * 64 * 32 + 2 * 16 * 16 * 64 + 3 * 16 * 64 * 128
    assert report.total_macs == 2 * per_layer + 16 * 64 * 128  # + lm_head


def test_guard_patch_is_restored_and_model_untouched():
    import transformers.masking_utils as mu
    from transformers.utils import import_utils

    before = mu.is_tracing
    model = _llama()
    ids, mask = _padded_batch()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    layerscope.analyze(model, kwargs={"input_ids": ids, "attention_mask": mask})
    assert mu.is_tracing is before is import_utils.is_tracing
    assert not getattr(mu.is_tracing, "_layerscope_guard", False)
    assert not mu.is_tracing(torch.empty(2, device="meta"))  # outside a trace, a meta tensor is not "traced"
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    assert not model.training and next(model.parameters()).device.type == "cpu"


def _mixtral(impl):
    cfg = tf.MixtralConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                           num_attention_heads=4, num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2,
                           experts_implementation=impl)
    return tf.MixtralForCausalLM(cfg).eval()


# T=8 tokens: q, o 8*32*32; k, v 8*32*16; SDPA 2*8*8*32; router 8*32*4; experts on T*k = 16 token-expert rows:
# gate_up 16*32*(2*64) + down 16*64*32; lm_head 8*32*64
MIXTRAL_MACS = 2 * 8 * 32 * 32 + 2 * 8 * 32 * 16 + 2 * 8 * 8 * 32 + 8 * 32 * 4 + 16 * 32 * 128 + 16 * 64 * 32 \
    + 8 * 32 * 64


@pytest.mark.parametrize("impl", ["grouped_mm", "batched_mm"])
def test_mixtral_experts_fp32_complete_and_exact(impl):
    report = layerscope.analyze(_mixtral(impl), kwargs={"input_ids": torch.zeros(1, 8, dtype=torch.long)})
    assert report.status == "complete", (report.unknown_ops, [d.message for d in report.errors])
    assert report.total_macs == MIXTRAL_MACS


def test_mixtral_eager_is_an_upper_bound_and_value_hints_name_workarounds():
    from types import SimpleNamespace

    from layerscope.analysis.value_hints import GENERIC, value_read_hint

    report = layerscope.analyze(_mixtral("eager"), kwargs={"input_ids": torch.zeros(1, 8, dtype=torch.long)})
    assert report.status == "upper-bound" and report.total_macs >= MIXTRAL_MACS  # nonzero routing: every token
    hf = "/site-packages/transformers/"
    routing = value_read_hint(SimpleNamespace(op="nonzero", source=hf + "models/mixtral/modeling_mixtral.py:79"))
    assert "batched_mm" in routing and "T*k" in routing
    gen = value_read_hint(SimpleNamespace(op="bool", source=hf + "generation/utils.py:2500"))
    assert "past_key_values" in gen and "prefill" in gen
    mask = value_read_hint(SimpleNamespace(op="all", source=hf + "masking_utils.py:292"))
    assert "4-D float mask" in mask and "eager" in mask
    assert value_read_hint(SimpleNamespace(op="item", source="/home/me/net.py:3")) == GENERIC

    class ReadsValues(torch.nn.Module):
        def forward(self, x):
            return x * 2 if bool(x.sum() > 0) else x

    d = [d for d in layerscope.analyze(ReadsValues(), input_size=(1, 4)).diagnostics if d.code == "LS108"]
    assert d and d[0].hint == GENERIC  # the user's own control flow: the generic advice


def test_grouped_mm_rule_matches_real_kernel_shapes():
    a = torch.empty(16, 32, device="meta", dtype=torch.bfloat16)
    b = torch.empty(4, 32, 48, device="meta", dtype=torch.bfloat16)
    offs = torch.tensor([4, 8, 12, 16], dtype=torch.int32, device="meta")

    class G(torch.nn.Module):
        def forward(self, x):
            return torch._grouped_mm(x, b, offs=offs)

    report = layerscope.analyze(G(), inputs=a)
    assert report.status == "complete"
    assert report.total_macs == 16 * 32 * 48  # every row meets exactly one group's 32x48 matrix


def test_labels_cross_entropy_is_counted():
    ids, _ = _padded_batch()
    report = layerscope.analyze(_llama(), kwargs={"input_ids": ids[:1], "labels": ids[:1]})
    assert report.status == "complete", report.unknown_ops
    ce = [op for n in report.nodes for op in n.ops if op.op == "cross_entropy"]
    assert ce and ce[0].flops >= 3 * (T - 1) * V  # log_softmax over the 128-word vocabulary at 15 shifted targets


def test_histc_is_known():
    class H(torch.nn.Module):
        def forward(self, x):
            return torch.histc(x, bins=4, min=0, max=3)

    report = layerscope.analyze(H(), input_size=(10,))
    assert report.status == "complete" and report.nodes[0].flops == 10


def test_causal_attention_counted_in_full_and_said_so():
    report = layerscope.analyze(_llama(), input_size=(1, 64))  # no mask: HF calls SDPA with is_causal=True
    ca = report.causal_attention
    # 2 layers x (QK^T + AV) 2*64*64*64 counted in full; causal: query i sees i+1 keys, 64*65/2 of 64*64 pairs
    assert ca.calls == 2 and ca.full_macs == 2 * 2 * 64 * 64 * 64
    assert ca.causal_macs == 2 * 2 * 64 * (64 * 65 // 2)
    assert "counted in full" in report.convention
    md = report.to_markdown()
    assert f"| causal attention | 2 causal attention calls counted in full: {ca.full_macs:,} MACs" in md
    assert f"{report.total_macs - ca.skipped_macs:,}" in md and "causal attention:" in report.to_text()
    assert layerscope.analyze(_bert(), input_size=(1, 64)).causal_attention is None  # bidirectional


def test_core_never_imports_transformers():
    import subprocess
    import sys

    code = ("import sys, torch, layerscope\n"
            "net = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Linear(4, 2))\n"
            "r = layerscope.analyze(net, input_size=(1, 8))\n"
            "r.to_markdown(); r.to_text()\n"
            "assert 'transformers' not in sys.modules, 'layerscope imported transformers'\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
