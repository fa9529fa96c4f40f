"""Tiny model factory: a causal LM and a BPE tokenizer, from scratch.

Tests, the demo and CI cannot download a model, so robalign builds its own in seconds: the
tokenizer is trained on the synthetic corpus (digits split one per token, so arithmetic and
sorting stay learnable), the model is randomly initialised from a seed. The result is an
ordinary HF directory: `AutoModelForCausalLM`, `AutoTokenizer` and `vllm.LLM` load it.
head_dim is kept >= 32 because vLLM's CPU attention rejects 16.

Without `arch` the model is robalign's own tiny Llama (its chat format in `models.chat`); with
`arch` (llama, qwen2, mistral, gemma2, phi3) it is that family's architecture and tokenizer
conventions at the same tiny size (`models.families`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from robalign.models.chat import BOS_TOKEN, CHAT_TEMPLATE, END_TOKEN, PAD_TOKEN, SPECIAL_TOKENS


@dataclass(frozen=True)
class ModelSize:
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    intermediate_size: int
    max_position_embeddings: int = 512


SIZES: dict[str, ModelSize] = {
    "test": ModelSize(128, 4, 4, 2, 344),  # ~0.9M parameters: unit tests
    # The demo shares the test geometry: `make demo` must fit in 15 minutes on 2 CPU cores, so the
    # size with the best task accuracy per CPU-second wins (the sizes compared: docs/experiments.md,
    # "Figures behind defaults").
    "demo": ModelSize(128, 4, 4, 2, 344),
    "small": ModelSize(512, 10, 8, 4, 1376),  # ~29M: throughput benchmarks
}


def train_tokenizer(texts: list[str], vocab_size: int = 512):
    """Byte-level BPE with single-digit pre-tokenisation and the chat special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS_TOKEN,
        eos_token=END_TOKEN,
        pad_token=PAD_TOKEN,
        additional_special_tokens=[t for t in SPECIAL_TOKENS if t not in (BOS_TOKEN, END_TOKEN, PAD_TOKEN)],
        model_max_length=512,
        padding_side="right",
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def train_family_tokenizer(texts: list[str], family, vocab_size: int = 512):
    """A BPE tokenizer with `family`'s special tokens, bos/eos/pad rules and chat template.

    Byte-level like Llama-3/Qwen2, or metaspace (SentencePiece-style: spaces as "▁", a
    space prepended to the first word) like Mistral/Gemma/Phi-3. A family whose tokenizer adds
    bos does so through a post-processor, as the published tokenizer.json files do."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    digits = pre_tokenizers.Digits(individual_digits=True)
    if family.pretokenizer == "bytelevel":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.Sequence([digits, pre_tokenizers.ByteLevel(add_prefix_space=False)])
        tok.decoder = decoders.ByteLevel()
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    else:
        tok = Tokenizer(models.BPE(unk_token=family.unk))
        # a newline is its own token, as in the published vocabularies (<0x0A> by byte fallback, or "\n")
        newline = pre_tokenizers.Split("\n", "isolated")
        tok.pre_tokenizer = pre_tokenizers.Sequence([newline, pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first"), digits])
        tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
        alphabet = sorted({c for t in texts for c in t if not c.isspace()} | {"▁"})
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=family.specials, initial_alphabet=alphabet, show_progress=False)
    tok.train_from_iterator(list(texts) + family.template_text * 50, trainer=trainer)
    if family.add_bos:
        bos = family.bos
        tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
                                                           special_tokens=[(bos, tok.token_to_id(bos))])
    named = {family.bos, family.eos, family.pad, family.unk}
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=family.bos,
        eos_token=family.eos,
        pad_token=family.pad,
        unk_token=family.unk,
        additional_special_tokens=[t for t in family.specials if t not in named],
        model_max_length=512,
        padding_side="right",
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = family.chat_template
    return fast


def make_model(size: str, out_dir: str | Path, seed: int = 0, data_seed: int = 0, arch: str | None = None) -> Path:
    """Build a tiny model + tokenizer, save both to `out_dir`, return the path.

    `arch` None: robalign's own Llama and chat format; else a family of `models.families`.
    Deterministic for (size, seed, data_seed, arch): same tokenizer, same initial weights.
    """
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, GenerationConfig

    from robalign.data.synthetic import corpus

    if size not in SIZES:
        raise ValueError(f"unknown model size {size!r}; expected one of {sorted(SIZES)}")
    spec = SIZES[size]
    family = None
    if arch is not None:
        from robalign.models.families import FAMILIES

        if arch not in FAMILIES:
            raise ValueError(f"unknown architecture {arch!r}; expected one of {sorted(FAMILIES)}")
        family = FAMILIES[arch]
        tokenizer = train_family_tokenizer(corpus(data_seed), family)
    else:
        tokenizer = train_tokenizer(corpus(data_seed))
    vocab = len(tokenizer)
    padded_vocab = (vocab + 63) // 64 * 64  # a multiple of 64: friendlier kernels, room for nothing else
    geometry = dict(
        vocab_size=padded_vocab,
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        head_dim=spec.hidden_size // spec.num_attention_heads,
        max_position_embeddings=spec.max_position_embeddings,
        rms_norm_eps=1e-5,
    )
    ids = dict(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    if family is None:
        config = transformers.LlamaConfig(**geometry, tie_word_embeddings=False, **ids, torch_dtype="float32")
        stop = tokenizer.eos_token_id
    else:
        stop = [tokenizer.convert_tokens_to_ids(t) for t in family.stop]
        config = getattr(transformers, family.config_class)(**geometry, **family.config(geometry), **{**ids, "eos_token_id": stop},
                                                           torch_dtype="float32")
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config = GenerationConfig(bos_token_id=tokenizer.bos_token_id, eos_token_id=stop,
                                               pad_token_id=tokenizer.pad_token_id, do_sample=False)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    n_params = sum(p.numel() for p in model.parameters())
    info = {"size": size, "arch": arch or "robalign-llama", "seed": seed, "data_seed": data_seed, "parameters": n_params,
            "vocab_size": vocab, **({"conventions_of": family.checkpoint} if family else {}), **asdict(spec)}
    (out / "robalign_model.json").write_text(json.dumps(info, indent=2) + "\n")
    return out
