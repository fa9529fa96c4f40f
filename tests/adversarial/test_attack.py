"""EmbeddingAttack on the test-size model: it lowers the target loss, stays in its ball, and
never touches parameter gradients (plain, LoRA, gradient checkpointing, bf16)."""

from __future__ import annotations

import pytest
import torch

from robalign.attacks import EmbeddingAttack, mean_embedding_norm, project, target_loss
from robalign.attacks.batch import encode, prompt_mask

from .conftest import HARMFUL, REFUSAL, TARGET


def run(attack, model, batch, **kw):
    return attack(model, batch["input_ids"], batch["attention_mask"], batch["labels"], prompt_mask(batch), batch["position_ids"], **kw)


def make_attack(model, batch, **kw):
    used = batch["input_ids"][batch["attention_mask"].bool()]
    return EmbeddingAttack(embedding_norm=mean_embedding_norm(model, used), **kw)


def test_layout_prompts_end_at_one_column(tokenizer):
    b = encode(tokenizer, ["Hi", HARMFUL[0]], [TARGET, REFUSAL], add_eos=True)
    P = b["prompt_length"]
    for row in range(2):
        ids = b["input_ids"][row]
        # the generation prompt ends exactly at P, the completion starts there
        assert tokenizer.decode(ids[:P]).endswith("<|assistant|>\n")
        n = int((b["labels"][row] != -100).sum())
        assert tokenizer.decode(ids[P : P + n]) == [TARGET, REFUSAL][row] + tokenizer.eos_token
        assert b["position_ids"][row][b["attention_mask"][row].bool()].tolist() == list(range(int(b["attention_mask"][row].sum())))
    prompt_only = encode(tokenizer, ["Hi", HARMFUL[0]])
    assert torch.equal(prompt_only["input_ids"], b["input_ids"][:, :P])


def test_attack_lowers_target_loss_and_stays_in_ball(model, harmful_batch):
    model.eval()
    attack = make_attack(model, harmful_batch, steps=8, epsilon=1.0)
    res = run(attack, model, harmful_batch)
    assert res.target_loss_after.mean() < res.target_loss_before.mean() - 0.05
    # in expectation monotone: the second half of the trajectory is below the first step
    assert max(res.losses[len(res.losses) // 2 :]) < res.losses[0]
    norms = res.delta.norm(dim=-1)  # (B, T)
    assert norms.max() <= attack.epsilon_abs * (1 + 1e-5)
    outside = ~prompt_mask(harmful_batch)
    assert norms[outside].abs().max() == 0  # padding and completion untouched
    assert norms[prompt_mask(harmful_batch)].min() > 0
    # the reported loss is the loss at the returned delta
    with torch.no_grad():
        emb = model.get_input_embeddings()(harmful_batch["input_ids"]) + res.delta
        logits = model(inputs_embeds=emb, attention_mask=harmful_batch["attention_mask"], position_ids=harmful_batch["position_ids"]).logits
    torch.testing.assert_close(target_loss(logits, harmful_batch["labels"]), res.target_loss_after)


def test_linf_ball_and_projection():
    d = torch.randn(2, 3, 8) * 5
    assert project(d, 0.5, "linf").abs().max() <= 0.5
    p = project(d, 0.5, "l2")
    torch.testing.assert_close(p.norm(dim=-1), torch.full((2, 3), 0.5))
    small = torch.full((1, 1, 4), 0.01)
    assert torch.equal(project(small, 0.5, "l2"), small)  # inside: unchanged


def test_no_parameter_gradients_and_flags_restored(model, harmful_batch):
    model.train()
    # a realistic state: some params frozen, some with accumulated grads from a training step
    model.model.layers[0].mlp.up_proj.weight.requires_grad_(False)
    out = model(**{k: harmful_batch[k] for k in ("input_ids", "attention_mask", "labels")})
    out.loss.backward()
    before = {n: (p.requires_grad, None if p.grad is None else p.grad.clone()) for n, p in model.named_parameters()}
    run(make_attack(model, harmful_batch, steps=3, epsilon=0.5), model, harmful_batch)
    for n, p in model.named_parameters():
        flag, grad = before[n]
        assert p.requires_grad == flag, n
        if grad is None:
            assert p.grad is None, n
        else:
            assert torch.equal(p.grad, grad), n


def test_lora_model_no_grad_leak(model, harmful_batch):
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", lora_dropout=0.0))
    peft_model.train()
    res = run(make_attack(peft_model, harmful_batch, steps=4, epsilon=1.0), peft_model, harmful_batch)
    assert res.target_loss_after.mean() < res.target_loss_before.mean()
    lora = [p for n, p in peft_model.named_parameters() if "lora_" in n]
    assert lora and all(p.requires_grad and p.grad is None for p in lora)
    assert all(p.grad is None for p in peft_model.parameters())


@pytest.mark.parametrize("reentrant", [False, True])
def test_gradient_checkpointing(model, harmful_batch, reentrant):
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": reentrant})
    model.train()
    res = run(make_attack(model, harmful_batch, steps=3, epsilon=1.0), model, harmful_batch)
    assert res.target_loss_after.mean() < res.target_loss_before.mean()
    assert all(p.grad is None for p in model.parameters())


def test_bf16(model, harmful_batch):
    model = model.to(torch.bfloat16).eval()
    res = run(make_attack(model, harmful_batch, steps=3, epsilon=1.0), model, harmful_batch)
    assert res.delta.dtype == torch.float32 and torch.isfinite(res.target_loss_after).all()
    assert res.target_loss_after.mean() < res.target_loss_before.mean()


def test_used_token_norm_differs_from_all_rows(model, harmful_batch):
    used = harmful_batch["input_ids"][harmful_batch["attention_mask"].bool()]
    assert mean_embedding_norm(model, used) != pytest.approx(mean_embedding_norm(model), rel=1e-6)


@pytest.mark.parametrize("kw", [{"steps": 0}, {"epsilon": 0.0}, {"epsilon": -1.0}, {"step_size": 0.0}, {"norm": "l1"}])
def test_bad_config_raises(kw):
    with pytest.raises(ValueError):
        EmbeddingAttack(**kw)
