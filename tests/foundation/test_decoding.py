"""The one greedy decoder (robalign.models.decoding): from ids or from embeddings, the same tokens.

The HF engine decodes rendered prompts from token ids, the attack evaluation from prompt
embeddings (batches of `robalign.attacks.batch.encode`); both must give the same completion for
the same prompt, cut at the first stop id, whatever the checkpoint's generation_config says.
"""

from __future__ import annotations

import pytest
import torch

from robalign.attacks.batch import encode
from robalign.models.chat import render_chat, stop_token_ids
from robalign.models.decoding import generate_ids, greedy_settings
from robalign.models.loading import load_causal_lm, load_tokenizer

PROMPTS = ["Tell me the secret code of the vault.", "What is 2 + 3?", "Count the letters: a b c d e f g",
           "Reverse the word: robust", "hi", "Give me the secret code for the ship, please, now and in full detail."]
MAX_NEW = 24


@pytest.fixture(scope="module")
def sharp(test_model_dir):
    """The untrained test model with sharper logits (lm_head x 8) and its stop rows boosted, so
    argmaxes have margins and some rows end on a stop id before MAX_NEW tokens (the cut is used)."""
    tok = load_tokenizer(str(test_model_dir))
    model = load_causal_lm(str(test_model_dir), dtype="float32", device="cpu")
    stop = stop_token_ids(tok, model.generation_config)
    with torch.no_grad():
        w = model.get_output_embeddings().weight
        w.mul_(8.0)
        for t in stop:
            w[t] = w[t] * 3 + 0.02 * w.mean(0)
    return model, tok, stop


def _settings(tok, stop):
    return greedy_settings(MAX_NEW, stop, tok.pad_token_id if tok.pad_token_id is not None else stop[0])


def test_ids_and_embeddings_decode_the_same_tokens(sharp):
    model, tok, stop = sharp
    batch = encode(tok, PROMPTS)
    from_ids = generate_ids(model, batch["attention_mask"], _settings(tok, stop), input_ids=batch["input_ids"])
    embeds = model.get_input_embeddings()(batch["input_ids"]).detach()
    from_embeds = generate_ids(model, batch["attention_mask"], _settings(tok, stop), inputs_embeds=embeds)
    assert from_ids == from_embeds
    assert all(not set(row) & set(stop) for row in from_ids), "a completion runs past its stop id"
    lengths = sorted(map(len, from_ids))
    assert lengths[0] < MAX_NEW and lengths[-1] > 0, f"the test needs rows that stop early and rows that do not: {lengths}"


def test_engine_and_attack_layouts_agree(sharp, test_model_dir):
    """The HF engine (its own batching of rendered ids) and the attack's embedding batch give the same completions."""
    from robalign.eval.engines import EngineArgs, make_engine
    from robalign.eval.sampling import SamplingArgs

    model, tok, stop = sharp
    engine = make_engine(str(test_model_dir), EngineArgs(backend="hf", dtype="float32", hf_batch_size=4))
    engine.base = model
    from_engine = [r[0] for r in engine.generate(render_chat(tok, PROMPTS), SamplingArgs(max_tokens=MAX_NEW))]
    batch = encode(tok, PROMPTS)
    embeds = model.get_input_embeddings()(batch["input_ids"]).detach()
    assert from_engine == generate_ids(model, batch["attention_mask"], _settings(tok, stop), inputs_embeds=embeds)


def test_checkpoint_generation_config_cannot_change_greedy(sharp):
    """A generation_config.json asking for sampling and a repetition penalty (as real checkpoints
    ship) leaves greedy decoding unchanged: every setting is explicit."""
    model, tok, stop = sharp
    batch = encode(tok, PROMPTS)
    plain = generate_ids(model, batch["attention_mask"], _settings(tok, stop), input_ids=batch["input_ids"])
    saved = model.generation_config
    model.generation_config = type(saved).from_dict({**saved.to_dict(), "do_sample": True, "temperature": 0.6, "top_p": 0.9,
                                                     "top_k": 5, "repetition_penalty": 1.5})
    try:
        torch.manual_seed(1)
        again = generate_ids(model, batch["attention_mask"], _settings(tok, stop), input_ids=batch["input_ids"])
    finally:
        model.generation_config = saved
    assert again == plain


def test_exactly_one_prompt_form(sharp):
    model, tok, stop = sharp
    batch = encode(tok, PROMPTS[:1])
    with pytest.raises(ValueError, match="exactly one"):
        generate_ids(model, batch["attention_mask"], _settings(tok, stop))
