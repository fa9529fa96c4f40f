"""C-AdvUL and C-AdvIPO: training under continuous embedding attacks (Xhonneux et al., 2024).

A thin `transformers.Trainer` subclass: the data (harmful prompts with target and refusal,
benign look-alikes, utility data) and batching are in `adversarial_data`, the attack in
`robalign.attacks`, the loss formulas in `robalign.losses.adversarial`. Per training step:

1. the attack finds delta on the harmful prompts (lowering the harmful target's CE) with every
   parameter frozen, so no attack gradient reaches the weights;
2. ONE forward of the policy on [prompt+delta | target ; prompt+delta | refusal ; (prompt | refusal) ; utility]
   (one forward keeps DDP's one-forward-per-backward rule), then
   - cadv_ul:  w_away L_away + w_toward L_toward + w_util L_util (+ w_clean CE(refusal | clean prompt))
   - cadv_ipo: IPO(refusal > target; policy attacked, reference clean) + w_anchor CE(refusal | attacked)
               + w_util L_util; the reference is the model with adapters disabled (LoRA) or a frozen
               copy of the initial model, on the *clean* prompt, for the same completions.

Logged (metrics.jsonl): adv/target_ce_clean, adv/target_ce_attacked (policy forward, per token),
adv/refusal_ce_attacked, adv/utility_loss, adv/delta_norm, adv/attack_seconds, and for cadv_ipo
ipo/margin, ipo/loss, rewards/chosen, rewards/rejected (length-normalised log-ratios).
"""

from __future__ import annotations

import copy
import time
from collections import defaultdict

import torch
from transformers import Trainer

from robalign.attacks.batch import prompt_mask
from robalign.attacks.embedding import EmbeddingAttack, mean_embedding_norm
from robalign.errors import ConfigError
from robalign.losses import LossParams, PairLogps, get_loss
from robalign.losses.adversarial import UL_OPTIONS, floor_logps, mean_logps, per_token_logps, sft_loss
from robalign.trainers.adversarial_data import AdversarialCollator
from robalign.trainers.checkpointing import CompleteCheckpointMixin
from robalign.trainers.lcpo import NoiseModelMixin
from robalign.trainers.reference import reference_model

_TRAINER = "robalign.trainers.adversarial:AdversarialTrainer"  # its METHODS entries name it so


def stack_groups(groups: list[tuple[dict, torch.Tensor | None]], embed) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[int]]:
    """Concatenate encoded groups (each (B_g, T_g)) into one right-padded batch.

    groups: [(batch, prompt_delta (B_g, P_g, D) or None)]. Returns inputs_embeds (N, T, D),
    attention_mask (N, T), position_ids (N, T) and the row counts per group.
    """
    T = max(b["input_ids"].size(1) for b, _ in groups)
    embs, masks, poss, sizes = [], [], [], []
    for b, delta in groups:
        e = embed(b["input_ids"])  # (B_g, T_g, D), with the embedding's graph
        if delta is not None:
            pad = e.new_zeros(e.size(0), e.size(1) - delta.size(1), e.size(2))
            e = e + torch.cat([delta.to(e.dtype), pad], dim=1)
        right = T - e.size(1)
        embs.append(torch.nn.functional.pad(e, (0, 0, 0, right)))
        masks.append(torch.nn.functional.pad(b["attention_mask"], (0, right)))
        poss.append(torch.nn.functional.pad(b["position_ids"], (0, right)))
        sizes.append(e.size(0))
    return torch.cat(embs), torch.cat(masks), torch.cat(poss), sizes


def group_labels(groups: list[tuple[dict, torch.Tensor | None]]) -> torch.Tensor:
    T = max(b["input_ids"].size(1) for b, _ in groups)
    return torch.cat([torch.nn.functional.pad(b["labels"], (0, T - b["labels"].size(1)), value=-100) for b, _ in groups])


class AdversarialTrainer(NoiseModelMixin, CompleteCheckpointMixin, Trainer):
    """`method: cadv_ul | cadv_ipo` (see the module docstring), on a `CAdvConfig`.

    Of the preference family: its losses are LOSSES entries (`unlikelihood`, `ipo`), its reference is
    `robalign.trainers.reference.reference_model` (the frozen model, the `ref` adapter, or the adapters
    disabled, as in PreferenceTrainer), LCPO is the same NoiseModel, and its metrics go through TRL's
    channel (`self._metrics[mode]`, averaged in `log`). It stays a `transformers.Trainer` because its
    batches are fixed blocks of pairs and utility rows (`robalign.data.adversarial_rows`), which TRL's
    DPOTrainer tokenisation and sampler do not carry.
    """

    loss_is_scaled_for_ga = False  # compute_loss returns a per-batch mean

    def __init__(self, model, args, train_dataset=None, eval_dataset=None, processing_class=None, peft_config=None,
                 callbacks=None, *, ref_model=None, **kwargs):
        from robalign.config.rules import check_trainer_config

        self.method = check_trainer_config(args, _TRAINER).name  # the rules load_recipe applies, on the typed config
        self.adv, self.loss_spec = args.adversarial, get_loss(args.loss_name)
        file = args.recipe_file
        if eval_dataset is not None:
            raise ConfigError(file, "data.eval", f"no such dataset for {self.method} (evaluate with robalign attack-eval)")
        if train_dataset is None or not hasattr(train_dataset, "rows"):
            raise ConfigError(file, "data.safety", f"the rows of {self.method} (robalign.trainers.data.build_datasets builds them)")
        rows = train_dataset.rows
        if peft_config is not None:
            from peft import get_peft_model

            model = get_peft_model(model, peft_config)
        self.ref_model = None
        if self.loss_spec.needs_reference and peft_config is None:
            # model.ref_model_name_or_path arrives as ref_model (robalign.train); else a frozen copy of the initial policy
            self.ref_model = ref_model if ref_model is not None else copy.deepcopy(model)
            self.ref_model.eval().requires_grad_(False)
        super().__init__(model=model, args=args, train_dataset=train_dataset, processing_class=processing_class,
                         data_collator=AdversarialCollator(processing_class, args.max_length),
                         callbacks=callbacks, **kwargs)
        if self.ref_model is not None:
            self.ref_model = self.ref_model.to(self.args.device)
        prompts = {str(r["prompt"]): r for r in rows if r["kind"] == "harmful"}  # distinct harmful prompts
        used = [i for r in prompts.values() for i in self.data_collator([r])["adv"]["input_ids"][0].tolist()]
        self.embedding_norm = mean_embedding_norm(model, used)
        a = self.adv
        self.attack = EmbeddingAttack(a.steps, a.epsilon, a.step_size, a.norm, self.embedding_norm)
        self._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}  # TRL's metrics channel
        if args.noise is not None:  # cadv_ipo only (the rules): LCPO on the refusal-over-target pairs
            from robalign.noise import NoiseModel

            self.attach_noise_model(NoiseModel(args.noise, length_normalised=self.loss_spec.length_normalised))

    # ----- setup ---------------------------------------------------------------------------
    def _get_train_sampler(self, train_dataset=None):
        # blocks are pre-shuffled with a fixed composition: read them in order
        return torch.utils.data.SequentialSampler(train_dataset if train_dataset is not None else self.train_dataset)

    def _get_collator_with_removed_columns(self, data_collator, description=None):
        return data_collator  # our collator consumes exactly the fields it needs

    # ----- reference ------------------------------------------------------------------------
    @torch.no_grad()
    def reference_mean_logps(self, groups: list[dict], floors: list[float | None]) -> list[torch.Tensor]:
        """Length-normalised log-probs of each group's completions on its CLEAN prompt, under the
        reference model (`reference_model`). One tensor (B_g,) per group; per-token log-probs
        floored as the policy's are (`floors`, one per group)."""
        pairs = [(g, None) for g in groups]
        with reference_model(self) as net:
            embeds, mask, pos, sizes = stack_groups(pairs, net.get_input_embeddings())
            logits = net(inputs_embeds=embeds, attention_mask=mask, position_ids=pos, use_cache=False).logits
        logps, lmask = per_token_logps(logits, group_labels(pairs))
        out = []
        for lp, m, floor in zip(logps.split(sizes), lmask.split(sizes), floors):
            out.append(mean_logps(floor_logps(lp, m, floor), m))
        return out

    # ----- loss ----------------------------------------------------------------------------
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        unwrapped = self.accelerator.unwrap_model(model)
        embed = unwrapped.get_input_embeddings()
        groups, names = [], []
        if "adv" in inputs:
            adv, refusal = inputs["adv"], inputs["refusal"]
            if self.adv.control:  # the control arm: everything as below, without the attack
                delta = None
            else:
                t0 = time.perf_counter()
                res = self.attack(unwrapped, adv["input_ids"], adv["attention_mask"], adv["labels"], prompt_mask(adv), adv["position_ids"], final_loss=False)
                self._record("adv/attack_seconds", time.perf_counter() - t0)
                for k, v in res.metrics().items():
                    if k != "adv/epsilon_abs":
                        self._record(k, v)
                delta = res.delta[:, : adv["prompt_length"]]  # (B_h, P, D): the same prompts head both groups
            groups += [(adv, delta), (refusal, delta)]
            names += ["adv", "refusal"]
            if self.adv.clean_refusal_weight:
                groups.append((refusal, None))
                names.append("clean_refusal")
        if "util" in inputs:
            groups.append((inputs["util"], None))
            names.append("util")
        embeds, mask, pos, sizes = stack_groups(groups, embed)
        logits = model(inputs_embeds=embeds, attention_mask=mask, position_ids=pos, use_cache=False).logits
        logps, lmask = per_token_logps(logits, group_labels(groups))  # (N, T-1)
        by = dict(zip(names, zip(logps.split(sizes), lmask.split(sizes))))
        loss = logits.new_zeros(())
        a = self.adv
        if "adv" in by:
            (lp_t, m_t), (lp_r, m_r) = by["adv"], by["refusal"]
            self._record("adv/target_ce_attacked", -mean_logps(lp_t, m_t).mean())
            self._record("adv/refusal_ce_attacked", -mean_logps(lp_r, m_r).mean())
            if not self.loss_spec.needs_reference:  # cadv_ul: the `unlikelihood` entry (refusal chosen, target rejected)
                pair = PairLogps((lp_r * m_r).sum(-1), (lp_t * m_t).sum(-1), chosen_lengths=m_r.sum(-1), rejected_lengths=m_t.sum(-1))
                options = {k: getattr(a, k) for k in UL_OPTIONS}
                loss = loss + self.loss_spec.base(pair, None, LossParams(beta=self.args.beta, options=options)).mean()
            else:
                ref_floor = a.rejected_logp_floor if a.floor_rule == "clamp" else None  # "zero": the reference code floors the policy only
                ref_chosen, ref_rejected = self.reference_mean_logps([inputs["refusal"], inputs["adv"]], [None, ref_floor])
                chosen = mean_logps(lp_r, m_r)
                rejected = mean_logps(floor_logps(lp_t, m_t, a.rejected_logp_floor, a.floor_rule), m_t)
                # the LOSSES `ipo` entry on length-normalised log-probs (lengths already divided out)
                pair, params = PairLogps(chosen, rejected, ref_chosen, ref_rejected), LossParams(beta=self.args.beta)
                z = self.loss_spec.link(pair, params)  # (B_h,)
                ipo = self.loss_spec.base(pair, z, params)  # (B_h,)
                if self.lcpo is not None:
                    w = self.lcpo.posterior(z, {})  # implicit posterior (the rules refuse the reference fit here)
                    if model.training:
                        self.lcpo.accumulate(w)
                    loss = loss + self.lcpo.loss(z, ipo, w).mean()
                else:
                    loss = loss + ipo.mean()
                if a.anchor_weight:
                    loss = loss + a.anchor_weight * sft_loss(lp_r, m_r).mean()
                self._record("ipo/loss", ipo.mean())
                self._record("ipo/margin", ((chosen - ref_chosen) - (rejected - ref_rejected)).mean())
                self._record("rewards/chosen", (chosen - ref_chosen).mean())
                self._record("rewards/rejected", (rejected - ref_rejected).mean())
        if "clean_refusal" in by:
            clean = sft_loss(*by["clean_refusal"]).mean()
            loss = loss + a.clean_refusal_weight * clean
            self._record("adv/refusal_ce_clean", clean)
        if "util" in by:
            util = sft_loss(*by["util"]).mean()
            loss = loss + a.utility_weight * util
            self._record("adv/utility_loss", util)
        return (loss, logits) if return_outputs else loss

    # ----- logging -------------------------------------------------------------------------
    def _record(self, key: str, value) -> None:
        """Append this rank's `value` to TRL's metrics channel (averaged over the window and the ranks in `log`)."""
        mode = "train" if self.model.training else "eval"
        self._metrics[mode][key].append(float(value.detach()) if torch.is_tensor(value) else float(value))

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        # TRL's rule (DPOTrainer.log): the window's mean of each metric, eval_-prefixed in evaluation; the
        # window means are averaged over the ranks in one all-reduce here, not one collective per metric per step
        mode = "train" if self.model.training else "eval"
        keys = sorted(k for k, values in self._metrics[mode].items() if values)  # the same keys, in one order, on every rank
        metrics = {}
        if keys:
            local = torch.tensor([sum(self._metrics[mode][k]) / len(self._metrics[mode][k]) for k in keys], device=self.args.device)
            metrics = dict(zip(keys, self.accelerator.reduce(local, reduction="mean").tolist()))
        logs.update({f"eval_{k}": v for k, v in metrics.items()} if mode == "eval" else metrics)
        self._metrics[mode].clear()
        super().log(logs, start_time)


__all__ = ["AdversarialTrainer"]
