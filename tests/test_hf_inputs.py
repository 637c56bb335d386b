"""Issue 13 (2): token models have an input story, in Python and on the command line; hf: SPECs.

Models are built from small configs (never downloaded). Oracles: the shapes PyTorch's own forward accepts,
analytic MAC counts written as arithmetic, and the same analysis given explicit kwargs.
"""

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

import layerscope
from layerscope.cli import main
from layerscope.errors import ConfigError, ModelLoadError

tf = pytest.importorskip("transformers")

LLAMA = ("hf:LlamaForCausalLM?num_hidden_layers=2&hidden_size=64&num_attention_heads=4&num_key_value_heads=2"
         "&intermediate_size=128&vocab_size=100")


def llama_macs(T: int, B: int = 1) -> int:
    # per layer: q, o T*64*64; k, v T*64*32 (2 kv heads of 16); QK^T + AV 2*T*T*64; MLP 3*T*64*128; lm_head T*64*100
    per_layer = 2 * T * 64 * 64 + 2 * T * 64 * 32 + 2 * T * T * 64 + 3 * T * 64 * 128
    return B * (2 * per_layer + T * 64 * 100)


@pytest.fixture(scope="module")
def llama():
    from layerscope.loading import load_model

    return load_model(LLAMA)


def test_hf_spec_builds_on_meta_from_class_with_overrides(llama):
    assert type(llama).__name__ == "LlamaForCausalLM"
    assert llama.config.num_hidden_layers == 2 and llama.config.head_dim == 16  # derived field follows
    assert next(llama.parameters()).device.type == "meta"


def test_hf_spec_from_config_class_and_folder(tmp_path):
    from layerscope.loading import load_model

    base = load_model("hf:LlamaConfig?num_hidden_layers=1&hidden_size=32&num_attention_heads=4&vocab_size=50")
    assert type(base).__name__ == "LlamaModel" and len(base.layers) == 1
    cfg = tf.BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                        intermediate_size=64, architectures=["BertForMaskedLM"])
    cfg.save_pretrained(tmp_path)  # writes config.json only
    model = load_model(f"hf:{tmp_path}")
    assert type(model).__name__ == "BertForMaskedLM" and model.config.num_hidden_layers == 3
    model = load_model(f"hf:{tmp_path}?num_hidden_layers=1")
    assert model.config.num_hidden_layers == 1
    clip = load_model("hf:CLIPModel?text_config.num_hidden_layers=1&vision_config.num_hidden_layers=2")
    assert clip.config.text_config.num_hidden_layers == 1 and clip.config.vision_config.num_hidden_layers == 2


@pytest.mark.parametrize("spec, code, words", [
    ("hf:LlamaConfig?num_hiden_layers=2", "LS996", "did you mean num_hidden_layers"),
    ("hf:LlamaConfg", "LS995", "LlamaConfig"),
    ("hf:LlamaConfig?layers", "LS996", "KEY=VALUE"),
    ("hf:/no/such/folder", "LS997", "no such"),
])
def test_hf_spec_errors_are_coded(spec, code, words):
    from layerscope.loading import load_model

    with pytest.raises(ModelLoadError) as err:
        load_model(spec)
    assert err.value.code == code and words in str(err.value)


def test_token_ids_inferred_for_embedding_first_model():
    net = torch.nn.Sequential(torch.nn.Embedding(100, 16), torch.nn.Linear(16, 8))
    report = layerscope.analyze(net, input_size=(1, 2048))
    assert [(t.shape, t.dtype) for t in report.inputs] == [((1, 2048), "int64")]
    assert report.total_macs == 2048 * 16 * 8
    report = layerscope.analyze(net, input_size=(4, 32), dtype=torch.long)  # as written: batch 4, 32 tokens
    assert report.inputs[0].shape == (4, 32)


def test_hf_input_size_tokens_and_encoder_decoder(llama):
    report = layerscope.analyze(llama, input_size=(1, 64))
    assert report.status == "complete" and report.total_macs == llama_macs(64)
    t5 = tf.T5ForConditionalGeneration(tf.T5Config(vocab_size=64, d_model=32, d_ff=64, num_layers=1, num_heads=4,
                                                   d_kv=8))
    report = layerscope.analyze(t5, input_size=(2, 40))
    assert [t.shape for t in report.inputs] == [(2, 40), (2, 40)]  # input_ids and decoder_input_ids
    ids = torch.zeros(2, 40, dtype=torch.long)
    assert report.total_macs == layerscope.analyze(t5, kwargs={"input_ids": ids, "decoder_input_ids": ids}).total_macs


def test_default_input_from_the_model_itself(llama):
    report = layerscope.analyze(llama)  # no input: the model's main input, 128 tokens
    assert [(t.shape, t.dtype) for t in report.inputs] == [((1, 128), "int64")]
    assert report.total_macs == llama_macs(128)
    assert layerscope.analyze(llama, seq_len=32).total_macs == llama_macs(32)
    vit = tf.ViTModel(tf.ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1,
                                   num_attention_heads=4, intermediate_size=64))
    assert layerscope.analyze(vit).inputs[0].shape == (1, 3, 32, 32)
    whisper = tf.WhisperModel(tf.WhisperConfig(
        vocab_size=64, pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1, d_model=32,
        encoder_layers=1, decoder_layers=1, encoder_attention_heads=4, decoder_attention_heads=4,
        encoder_ffn_dim=64, decoder_ffn_dim=64, max_source_positions=50, num_mel_bins=8))
    report = layerscope.analyze(whisper)
    assert report.status == "complete"
    assert [t.shape for t in report.inputs] == [(1, 8, 100), (1, 128)]  # 2 * 50 frames; decoder ids


def test_inputs_dict_is_kwargs_and_batch_dtype_honoured(llama):
    ids = torch.zeros(1, 16, dtype=torch.long)
    one = layerscope.analyze(llama, inputs={"input_ids": ids})
    assert one.status == "complete" and one.total_macs == llama_macs(16)
    four = layerscope.analyze(llama, kwargs={"input_ids": ids}, batch_size=4)
    assert four.inputs[0].shape == (4, 16) and four.total_macs == 4 * llama_macs(16)
    vit = tf.ViTModel(tf.ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1,
                                   num_attention_heads=4, intermediate_size=64))
    half = layerscope.analyze(vit, kwargs={"pixel_values": torch.zeros(1, 3, 32, 32)}, dtype=torch.float16)
    assert half.inputs[0].dtype == "float16"
    mixed = layerscope.analyze(llama, kwargs={"input_ids": ids}, dtype=torch.float16)
    assert mixed.inputs[0].dtype == "int64"  # ids keep their integer dtype


def test_a_positional_dict_stays_positional():
    class TakesDict(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4, 2)

        def forward(self, batch):
            return self.fc(batch["x"])

    report = layerscope.analyze(TakesDict(), inputs={"x": torch.zeros(3, 4)})
    assert report.status == "complete" and report.total_macs == 3 * 4 * 2


def test_cli_tokens_kwargs_and_errors(capsys):
    assert main(["analyze", LLAMA, "--tokens", "1x64", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["total_macs"] == llama_macs(64)
    assert main(["analyze", LLAMA, "--kwarg", "input_ids=1x32:long", "--kwarg", "attention_mask=1x32:long",
                 "--kwarg", "use_cache=false", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["total_macs"] == llama_macs(32) and data["summary"]["status"] == "complete"
    assert main(["analyze", LLAMA, "--seq-len", "16", "--format", "json"]) == 0  # the model's default input
    assert json.loads(capsys.readouterr().out)["summary"]["total_macs"] == llama_macs(16)
    from layerscope.commands._tokens import parse_kwarg

    with pytest.raises(ConfigError) as err:
        parse_kwarg("input_ids=1xz:long")
    assert err.value.code == "LS993"
    assert main(["analyze", LLAMA, "--kwarg", "input_ids=1x8:notadtype"]) == 2
    assert "LS993" in capsys.readouterr().err


def test_scale_over_sequence_length_fits_1_and_2(llama, capsys):
    study = layerscope.scale_seq_len(llama, [128, 512, 2048])
    assert [r["macs"] for r in study.rows] == [llama_macs(t) for t in (128, 512, 2048)]
    assert study.exponent("weight_macs") == pytest.approx(1.0, abs=1e-9)  # projections, MLP, lm_head ~ T
    assert study.exponent("attention_macs") == pytest.approx(2.0, abs=1e-9)  # QK^T and AV ~ T^2
    assert 1.0 < study.exponent("macs") < 2.0
    mlp = torch.nn.Sequential(torch.nn.Embedding(50, 32), torch.nn.Linear(32, 64), torch.nn.GELU(),
                              torch.nn.Linear(64, 32))
    assert layerscope.scale_seq_len(mlp, [128, 512, 2048]).exponent("macs") == pytest.approx(1.0, abs=1e-9)
    assert main(["scale", LLAMA, "--seq-len", "128", "512"]) == 0
    out = capsys.readouterr().out
    assert "seq_len" in out and "attention QK^T/AV ~ T^2.00" in out


def test_receptive_field_of_sequences_says_what_it_is(llama):
    from layerscope.render.markdown import receptive_field_summary_text

    causal = receptive_field_summary_text(layerscope.analyze(llama, seq_len=16))
    assert "tokens are not px" in causal and "every earlier input token (causal attention)" in causal
    assert " px at the output" not in causal
    bert = tf.BertModel(tf.BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                                      intermediate_size=64))
    text = receptive_field_summary_text(layerscope.analyze(bert, seq_len=16))
    assert "global over the sequence" in text and "every input token" in text and "earlier" not in text
    conv = torch.nn.Sequential(torch.nn.Conv1d(8, 8, 5), torch.nn.Conv1d(8, 8, 3))
    audio = layerscope.analyze(conv, input_size=(1, 8, 100), full_shape=True)
    assert receptive_field_summary_text(audio) == "7 frames (jump 1)"  # 5 + (3 - 1) frames, not px
