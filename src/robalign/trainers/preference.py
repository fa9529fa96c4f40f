"""One preference trainer for every LOSSES entry (dpo / ipo / simpo / cpo / cdpo / rdpo ...), each with `noise_model: none | lcpo`.

A thin subclass of TRL's DPOTrainer: tokenisation, reference log-prob precompute (cached on
disk by TRL, keyed by the reference weights and the dataset fingerprint), PEFT handling and
the training loop are TRL's. Only the loss computation is replaced, and it is made of the
pure functions in `robalign.losses` (the trainer holds no loss formula of its own).

The embedding attack (`adversarial.enabled`) is a hook on the policy log-probs: `policy_logps`
feeds the attacked prompt embeddings of `robalign.trainers.adversarial_preference.PromptAttack`
to `sequence_logps(model, inputs, inputs_embeds=...)`; `reference_logps` always sees the clean
`input_ids`, so the attack applies to the policy only, under any loss_type and composed with LCPO.

LCPO (`noise_model: lcpo`) is one `robalign.noise.NoiseModel` the trainer calls: the reference
fit before training, the posterior w of each pair, the M-step loss, the accumulation per
micro-batch and the all-reduced update per optimizer step, the lcpo/* metrics and the state in
checkpoints. The trainer supplies the log-probs, the loss's link z and base loss (from its LOSSES
entry) and the all-reduce. For losses with the "nll" extra term (cpo, simpo with `cpo_alpha`) z
is the link of the whole per-pair loss, NLL included; under `reweight` the NLL term of each pair
is weighted by its w as well. Losses whose NLL term stays outside the link (dpo/ipo/cdpo/rdpo
with `rpo_alpha`, RPO) add it beside the loss, weighted by w under either M-step.
"""

from __future__ import annotations

import hashlib

import torch
from accelerate.utils import is_peft_model
from trl import DPOTrainer
from trl.models.utils import disable_gradient_checkpointing

from robalign.losses import base_loss, cpo_nll, get_loss, preference_logits
from robalign.noise import NoiseModel
from robalign.trainers.checkpointing import CompleteCheckpointMixin
from robalign.trainers.lcpo import NoiseModelMixin
from robalign.trainers.reference import reference_model

_TRAINER = "robalign.trainers.preference:PreferenceTrainer"  # its METHODS entry names it so

EXTRA_COLUMNS = ("label_flipped", "annotator_id", "weight")


class ExtrasCollator:
    """TRL's preference collator plus the robalign columns (label_flipped, annotator_id, weight)."""

    def __init__(self, base):
        self.base = base

    def __call__(self, examples):
        batch = self.base(examples)
        first = examples[0]
        if "label_flipped" in first:
            batch["label_flipped"] = torch.tensor([bool(e["label_flipped"]) for e in examples])
        if "annotator_id" in first:
            batch["annotator_id"] = torch.tensor([int(e["annotator_id"]) for e in examples], dtype=torch.long)
        if "weight" in first:
            batch["weight"] = torch.tensor([float(e["weight"]) for e in examples], dtype=torch.float32)
        return batch


def _annotator_ids(ds, names: list[str] | None):
    """Replace the string `annotator` column by `annotator_id` (ids from sorted names)."""
    if ds is None or "annotator" not in ds.column_names:
        return ds, names
    if names is None:
        names = sorted({str(a) for a in ds["annotator"]})
    index = {n: i for i, n in enumerate(names)}
    ds = ds.map(lambda row: {"annotator_id": index[str(row["annotator"])]}, remove_columns=["annotator"], desc="annotator ids")
    return ds, names


class PreferenceTrainer(NoiseModelMixin, CompleteCheckpointMixin, DPOTrainer):
    """`method: preference` on a `PreferenceConfig` (TRL's DPOConfig plus the loss, LCPO and attack blocks)."""

    def __init__(self, model, ref_model=None, args=None, data_collator=None, train_dataset=None, eval_dataset=None,
                 processing_class=None, *, callbacks=None, peft_config=None, **kwargs):
        from robalign.config.rules import check_trainer_config

        check_trainer_config(args, _TRAINER)  # the rules load_recipe applies, on the typed config (one may be built in code)
        self.loss_type = args.loss_name
        self.loss_spec = get_loss(self.loss_type)  # the LOSSES entry: link, base loss, reference, extra terms
        lcpo_args = args.noise
        per_annotator = lcpo_args is not None and lcpo_args.per_annotator
        if per_annotator:
            if eval_dataset is not None:
                from robalign.trainers.data import unknown_annotators

                unknown_annotators(train_dataset, eval_dataset, args.recipe_file)
            train_dataset, names = _annotator_ids(train_dataset, None)
            eval_dataset, _ = _annotator_ids(eval_dataset, names)
        else:
            names = None
            train_dataset = train_dataset.remove_columns("annotator") if "annotator" in train_dataset.column_names else train_dataset
            if eval_dataset is not None and "annotator" in eval_dataset.column_names:
                eval_dataset = eval_dataset.remove_columns("annotator")
        self._base_hash = None
        super().__init__(model=model, ref_model=ref_model, args=args, data_collator=data_collator, train_dataset=train_dataset,
                         eval_dataset=eval_dataset, processing_class=processing_class, callbacks=callbacks,
                         peft_config=peft_config, **kwargs)
        self.data_collator = ExtrasCollator(self.data_collator)
        self.gamma = float(self.args.simpo_gamma) if self.loss_spec.hyper_parameter("simpo_gamma") else 0.0
        self.nll_weight = self.args.nll_weight()
        self._clean = torch.zeros(2, dtype=torch.float64)  # eval: (correct, total) vs the true labels
        if lcpo_args is not None:
            self.attach_noise_model(NoiseModel(lcpo_args, length_normalised=self.loss_spec.length_normalised, group_names=names))
            if lcpo_args.posterior == "reference":
                self._fit_reference_posterior()
        if not self.loss_spec.needs_reference:
            self.ref_model = None  # SimPO / CPO never use a reference model in their loss
        self.attack = None
        if args.adversarial.enabled:  # the policy forward under embedding attack (any loss_type, with or without LCPO)
            from robalign.trainers.adversarial_preference import PromptAttack

            ds = self.train_dataset
            self.attack = PromptAttack(args.adversarial, self.accelerator.unwrap_model(self.model),
                                       ds.select(range(min(len(ds), 1024)))["prompt_ids"])

    # ----- setup ---------------------------------------------------------------------------
    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        for col in EXTRA_COLUMNS:
            if col not in self._signature_columns:
                self._signature_columns.append(col)

    def _precompute_ref_logps(self, dataset, name, batch_size):
        # With a LoRA policy and no ref model, the reference is the base model: key the on-disk cache by the
        # base weights only, so runs differing in adapter init (seed) share it.
        if is_peft_model(self.model) and self.ref_model is None:
            if self._base_hash is None:
                h = hashlib.sha256()
                for key, tensor in sorted(self.accelerator.unwrap_model(self.model).state_dict().items()):
                    if "lora_" in key:
                        continue
                    h.update(key.encode())
                    h.update(tensor.detach().cpu().float().numpy().tobytes())
                self._base_hash = h.hexdigest()
            self._precompute_model_hash = self._base_hash
        return super()._precompute_ref_logps(dataset, name, batch_size)

    @property
    def lcpo_args(self):
        """The LCPO settings in force (after a fall-back to the implicit posterior, that one)."""
        return self.lcpo.args if self.lcpo is not None else None

    @property
    def lcpo_fit(self):
        """Summary of the reference fit before training (None without one)."""
        return self.lcpo.fit if self.lcpo is not None else None

    def _fit_reference_posterior(self) -> None:
        """One reference pass over the training pairs (TRL's cached precompute), then the NoiseModel's EM for eta and T."""
        ds = self.train_dataset
        if "ref_chosen_logps" not in ds.column_names:
            self.train_dataset = ds = self._precompute_ref_logps(
                ds, "train", self.args.precompute_ref_batch_size or self.args.per_device_train_batch_size)
        column = lambda name, dtype=torch.float64: torch.tensor(ds[name], dtype=dtype) if name in ds.column_names else None  # noqa: E731
        lengths = [torch.tensor([len(x) for x in ds[k]], dtype=torch.float64) for k in ("chosen_ids", "rejected_ids")]
        margins = self.lcpo.raw_margin(column("ref_chosen_logps"), column("ref_rejected_logps"), *lengths)
        quiet = lambda *a, **k: None  # noqa: E731  (one rank reports)
        self.lcpo.fit_reference(margins, column("annotator_id", torch.long), column("weight"), column("label_flipped", torch.bool),
                                log=print if self.accelerator.is_main_process else quiet)

    # ----- forward passes ------------------------------------------------------------------
    def sequence_logps(self, model, inputs, inputs_embeds=None) -> dict:
        """Summed response log-probs of the [chosen; rejected] batch under `model`.

        Returns chosen_logps, rejected_logps (B,), chosen_lengths, rejected_lengths (B,) response token
        counts, and the model outputs. Pass `inputs_embeds` (2B, T, H) to feed embeddings instead of
        `input_ids` (the labels still come from `input_ids`).
        """
        completion_mask = inputs["completion_mask"]  # (2B, T)
        labels = inputs["input_ids"].masked_fill(completion_mask == 0, -100)
        kwargs = {"attention_mask": inputs["attention_mask"], "use_cache": False}
        if inputs_embeds is None:
            kwargs["input_ids"] = inputs["input_ids"]
        else:
            kwargs["inputs_embeds"] = inputs_embeds
        outputs = model(**kwargs, labels=labels, fused_lm_head=True)
        shift_mask = completion_mask[:, 1:]  # (2B, T-1)
        per_token_logps = outputs.log_probs[:, -shift_mask.size(1):]  # (2B, T-1), 0 outside the response
        logps = per_token_logps.sum(dim=1)  # (2B,)
        lengths = shift_mask.sum(dim=1).to(logps.dtype)  # (2B,)
        chosen_logps, rejected_logps = logps.chunk(2, dim=0)
        chosen_lengths, rejected_lengths = lengths.chunk(2, dim=0)
        return {"chosen_logps": chosen_logps, "rejected_logps": rejected_logps, "chosen_lengths": chosen_lengths,
                "rejected_lengths": rejected_lengths, "outputs": outputs}

    def policy_logps(self, model, inputs) -> dict:
        """The policy's forward; in training with `adversarial.enabled`, on the attacked prompt embeddings."""
        if self.attack is None or not model.training:
            return self.sequence_logps(model, inputs)
        embeds = self.attack(self.accelerator.unwrap_model(model), inputs, self._metrics["train"])
        return self.sequence_logps(model, inputs, inputs_embeds=embeds)

    def reference_logps(self, inputs):
        """(ref_chosen_logps, ref_rejected_logps) on the clean inputs; (None, None) for SimPO/CPO."""
        if "ref_chosen_logps" in inputs:
            return inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]
        if not self.loss_spec.needs_reference:
            return None, None
        with torch.no_grad(), disable_gradient_checkpointing(self.model, self.args.gradient_checkpointing_kwargs), \
                reference_model(self) as net:
            ref = self.sequence_logps(net, inputs)
        return ref["chosen_logps"], ref["rejected_logps"]

    # ----- loss ----------------------------------------------------------------------------
    def _compute_loss(self, model, inputs, return_outputs):
        mode = "train" if self.model.training else "eval"
        pol = self.policy_logps(model, inputs)
        cl, rl = pol["chosen_logps"], pol["rejected_logps"]
        nc, nr = pol["chosen_lengths"], pol["rejected_lengths"]
        ref_c, ref_r = self.reference_logps(inputs)
        common = dict(beta=self.beta, gamma=self.gamma, chosen_lengths=nc, rejected_lengths=nr)
        z = preference_logits(self.loss_type, cl, rl, ref_c, ref_r, **common)  # (B,) the preference term's logit
        base = base_loss(self.loss_type, cl, rl, ref_c, ref_r, eps=self.label_smoothing, z=z, **common)  # (B,)
        w = None
        add_nll = self.nll_weight != 0  # cpo/simpo's cpo_alpha (TRL's CPOTrainer), the DPO family's rpo_alpha (RPO)
        nll_in_link = add_nll and self.loss_spec.nll_in_link  # cpo/simpo: part of the per-pair loss LCPO judges
        if self.lcpo is not None:
            # The link of the whole per-pair loss, NLL term included (the paper's general link).
            link = preference_logits(self.loss_type, cl, rl, ref_c, ref_r, cpo_alpha=self.nll_weight, **common) if nll_in_link else z
            w = self.lcpo.posterior(link, pol, inputs.get("annotator_id"), inputs.get("weight"))
            per_example = self.lcpo.loss(link, base, w)
            if nll_in_link and not self.lcpo.weights_extra_terms:
                add_nll = False  # soft_label: the NLL term lives inside the link
            if mode == "train":
                known = "label_flipped" in inputs
                self.lcpo.accumulate(w, inputs.get("annotator_id"),
                                     flipped_all=self.accelerator.gather(inputs["label_flipped"]) if known else None,
                                     w_all=self.accelerator.gather(w.detach()) if known else None)
        else:
            per_example = base
        loss = per_example.mean()
        if add_nll:
            # RPO's term stays outside the link under LCPO (the posterior judges the preference label,
            # not the NLL); under either M-step a pair believed flipped is weighted down in it by w.
            nll = cpo_nll(cl, nc, w)
            loss = loss + self.nll_weight * nll
            self._metrics[mode]["nll_loss"].append(self.accelerator.gather(nll.detach()).mean().item())
        self._log_pair_metrics(mode, cl, rl, ref_c, ref_r, z, inputs)
        if return_outputs:
            return loss, pol["outputs"]
        return loss

    def _log_pair_metrics(self, mode, cl, rl, ref_c, ref_r, z, inputs) -> None:
        """TRL's metric names: rewards are beta * log-ratio (SimPO/CPO: beta * policy log-prob, as CPOTrainer)."""
        with torch.no_grad():
            if ref_c is None:
                chosen_rewards, rejected_rewards = self.beta * cl.detach(), self.beta * rl.detach()
            else:
                chosen_rewards, rejected_rewards = self.beta * (cl - ref_c).detach(), self.beta * (rl - ref_r).detach()
            gather = self.accelerator.gather
            m = self._metrics[mode]
            m["rewards/chosen"].append(gather(chosen_rewards).mean().item())
            m["rewards/rejected"].append(gather(rejected_rewards).mean().item())
            m["rewards/accuracies"].append(gather((z.detach() > 0).float()).mean().item())
            m["rewards/margins"].append(gather(chosen_rewards - rejected_rewards).mean().item())
            m["logps/chosen"].append(gather(cl.detach()).mean().item())
            m["logps/rejected"].append(gather(rl.detach()).mean().item())
            if mode == "eval":
                right = z.detach() > 0
                if "label_flipped" in inputs:
                    right = right != inputs["label_flipped"].bool()
                self._clean += torch.tensor([gather(right.float()).sum().item(), float(gather(right.float()).numel())],
                                            dtype=torch.float64)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if not self.model.training and self._clean[1] > 0:
            logs["eval/clean_accuracy"] = float(self._clean[0] / self._clean[1])
            self._clean.zero_()
        super().log(logs, start_time)
