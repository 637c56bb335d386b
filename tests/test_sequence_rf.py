"""Issue 13: receptive fields on sequences say what they are (tokens, frames, causal prefixes), checked by backprop.

ORACLE: a real CPU model with random weights; the gradient of one output position with respect to the input
embeddings (or the input frames) is nonzero at exactly the input positions the receptive field says: every
position for a bidirectional encoder, positions <= t for a causal decoder (also with a 2-D padding mask, which
hands attention an explicit mask tensor), a local window for a conv-only 1-D stem. Models are tiny and built
from configs (no download).
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
from torch import nn

import layerscope

tf = pytest.importorskip("transformers")

V, D, T = 64, 32, 8


def _cfg(kind, attn):
    if kind == "bert":
        return tf.BertModel(tf.BertConfig(vocab_size=V, hidden_size=D, intermediate_size=64, num_hidden_layers=2,
                                          num_attention_heads=4, attn_implementation=attn))
    if kind == "gpt2":
        return tf.GPT2Model(tf.GPT2Config(vocab_size=V, n_embd=D, n_layer=2, n_head=4, n_positions=32,
                                          bos_token_id=0, eos_token_id=0, attn_implementation=attn))
    return tf.LlamaModel(tf.LlamaConfig(vocab_size=V, hidden_size=D, intermediate_size=64, num_hidden_layers=2,
                                        num_attention_heads=4, num_key_value_heads=2, attn_implementation=attn))


def _reached(model, t, mask=None):
    """Input positions whose embedding gets a nonzero gradient from output position ``t`` (real CPU backprop)."""
    torch.manual_seed(0)
    emb = model.get_input_embeddings()(torch.randint(0, V, (1, T))).detach().requires_grad_(True)
    kw = {"attention_mask": mask} if mask is not None else {}
    out = model(inputs_embeds=emb, **kw).last_hidden_state
    (out[0, t] * torch.randn(out.shape[-1])).sum().backward()  # a random direction: a LayerNorm output sums to a constant
    return [i for i in range(T) if emb.grad[0, i].abs().sum() > 0]


def _positions(rf, t):
    lo, hi = rf.region(t, clip=True)[0]
    return list(range(lo, hi))


@pytest.mark.parametrize("kind,attn,causal", [
    ("bert", "sdpa", False), ("bert", "eager", False), ("gpt2", "sdpa", True), ("gpt2", "eager", True),
    ("llama", "sdpa", True), ("llama", "eager", True),
])
@pytest.mark.parametrize("padded", [False, True], ids=["no_mask", "padding_mask"])
def test_text_model_field_is_global_or_causal_as_backprop_says(kind, attn, causal, padded):
    torch.manual_seed(0)
    model = _cfg(kind, attn).eval()
    mask = torch.ones(1, T, dtype=torch.long) if padded else None  # a 2-D mask: an explicit mask tensor in attention
    kwargs = {"input_ids": torch.zeros(1, T, dtype=torch.long)}
    if padded:
        kwargs["attention_mask"] = mask
    rf = layerscope.analyze(model, kwargs=kwargs).receptive_field
    assert (rf.units, rf.is_global, rf.causal, rf.size, rf.input_size) == ("tokens", True, causal, (T,), (T,))
    assert rf.reason_code is None and rf.local_size == (1,)  # each token's own embedding before attention
    for t in (0, 3, T - 1):
        expected = list(range(t + 1)) if causal else list(range(T))
        assert _positions(rf, t) == expected == _reached(model, t, mask)


def test_causal_attention_with_padding_mask_is_counted_as_causal():
    # issue 13 (3): HF's 4-D mask from kv_idx <= q_idx AND padding reaches SDPA as attn_mask, is_causal=False
    model = _cfg("llama", "sdpa").eval()
    ids = torch.zeros(2, T, dtype=torch.long)
    mask = torch.ones(2, T, dtype=torch.long)
    mask[1, -3:] = 0
    with_mask = layerscope.analyze(model, kwargs={"input_ids": ids, "attention_mask": mask}).causal_attention
    without = layerscope.analyze(model, kwargs={"input_ids": ids}).causal_attention
    assert with_mask is not None and with_mask == without  # 2 layers, T*(T+1)/2 of T*T pairs
    assert with_mask.causal_macs * T * T == with_mask.full_macs * (T * (T + 1) // 2)
    bert = _cfg("bert", "sdpa").eval()
    assert layerscope.analyze(bert, kwargs={"input_ids": ids, "attention_mask": mask}).causal_attention is None


def test_hand_built_transformer_encoder_is_global_over_tokens():
    torch.manual_seed(0)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(D, 4, 64, batch_first=True, dropout=0.0), 2).eval()
    rf = layerscope.analyze(enc, inputs=torch.randn(1, T, D)).receptive_field
    x = torch.randn(1, T, D, requires_grad=True)
    (enc(x)[0, 2] * torch.randn(D)).sum().backward()  # a random direction: a LayerNorm output sums to a constant
    reached = [i for i in range(T) if x.grad[0, i].abs().sum() > 0]
    assert (rf.units, rf.is_global, rf.causal) == ("tokens", True, False)
    assert _positions(rf, 2) == reached == list(range(T))


def test_conv_stem_before_attention_is_a_local_window_in_frames():
    # a Whisper-like stem: conv k3 p1, GELU, conv k3 s2 p1 over (N, 80, L) log-mel frames
    torch.manual_seed(0)
    stem = nn.Sequential(nn.Conv1d(80, 16, 3, padding=1), nn.GELU(), nn.Conv1d(16, 16, 3, stride=2, padding=1))
    L = 20
    rf = layerscope.analyze(stem, inputs=torch.randn(1, 80, L)).receptive_field
    # rf = 3 + (3-1)*1 = 5 frames, jump 2; unit t is centred on frame 2t
    assert (rf.units, rf.is_global, rf.local_size, rf.jump) == ("frames", False, (5,), (2,))
    for t in (0, 4, L // 2 - 1):
        x = torch.randn(1, 80, L, requires_grad=True)
        stem(x)[0, :, t].sum().backward()
        reached = [i for i in range(L) if x.grad[0, :, i].abs().sum() > 0]
        assert _positions(rf, t) == reached  # [2t-2, 2t+2] clipped to the input


def test_whisper_encoder_is_global_in_frames_with_its_conv_stem_as_local_field():
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    cfg = tf.WhisperConfig(d_model=D, encoder_layers=1, encoder_attention_heads=4, encoder_ffn_dim=64,
                           num_mel_bins=16, max_source_positions=10)
    report = layerscope.analyze(WhisperEncoder(cfg).eval(), inputs=torch.randn(1, 16, 20))
    rf = report.receptive_field
    # conv1 k3 s1 p1, conv2 k3 s2 p1: 3 + (3-1)*1 = 5 frames before the attention makes it global
    assert (rf.units, rf.is_global, rf.local_size, rf.jump, rf.reason_code) == ("frames", True, (5,), (2,), None)
    text = report.to_text()
    assert "5 frames" in text and " px" not in text.split("receptive field")[1].splitlines()[0]


def test_unknown_local_field_carries_its_reason_in_every_renderer():
    class Unfolded(nn.Module):  # an unfold: a layout whose positions the shapes cannot prove
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(4, 4, 3)

        def forward(self, x):
            return self.conv(x).unfold(2, 4, 2).flatten(2)

    report = layerscope.analyze(Unfolded(), inputs=torch.randn(1, 4, 32))
    rf = report.receptive_field
    assert rf.local_size == (None,) and rf.reason_code == "LS404" and "unfold" in rf.reason
    assert any(d.code == "LS404" and d.message == rf.reason for d in report.diagnostics)
    assert "LS404" in report.to_text().split("receptive field")[1].splitlines()[0]
    assert f"LS404: {rf.reason}" in report.to_markdown()
    back = layerscope.Report.from_json(report.to_json()).receptive_field
    assert (back.reason_code, back.reason, back.units) == ("LS404", rf.reason, "frames")
    from layerscope.render.html import report_html

    import html

    page = report_html(report)
    assert f"LS404: {rf.reason}" in page or html.escape(f"LS404: {rf.reason}", quote=False) in page
