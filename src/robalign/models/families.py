"""Real model families at tiny size: each family's architecture and tokenizer conventions.

Why: pipelines break on exactly what differs between families (tied embeddings, attention
biases, fused projections, sliding windows, logit soft-capping, chat templates that refuse a
system message or rename the assistant, BOS added by the tokenizer *and* the template, no pad
token, a turn-end token that is not the tokenizer's eos). `robalign make-model --arch NAME`
builds a randomly initialised model with transformers' own config class of the family and a
tokenizer with the family's chat template text and special tokens, so tests run the real code
path on every family offline, in seconds.

What is faithful and what is not:
- the config class, the attention/MLP layout, biases, tying, soft-capping, layer types and the
  special tokens, the chat template text, bos/eos/pad rules and the generation config's stop
  ids follow the published checkpoints (Llama-3.1-Instruct, Qwen2.5-Instruct,
  Mistral-7B-Instruct-v0.1, Gemma-2-it, Phi-3-mini-4k-instruct);
- the dimensions are tiny, and sliding windows are scaled down with them (32 tokens) so that
  they bind on the test prompts (a 4096-token window never would);
- the vocabulary is a BPE trained on robalign's synthetic corpus (plus the template text), not
  the family's own; byte-level for Llama/Qwen as theirs are, a SentencePiece-style metaspace
  BPE for Mistral/Gemma/Phi-3 (without byte fallback: characters outside the corpus are <unk>).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

#: Tokens a sliding window spans in the tiny models (scaled down so it binds on test prompts).
TINY_WINDOW = 32


@dataclass(frozen=True)
class Family:
    name: str
    checkpoint: str  # the published model whose conventions are copied
    config_class: str  # transformers class name
    pretokenizer: str  # "bytelevel" | "metaspace"
    specials: list[str]  # special tokens, in id order, first ids of the vocabulary
    bos: Optional[str]
    eos: str  # the tokenizer's eos_token
    pad: Optional[str]
    unk: Optional[str]
    add_bos: bool  # the tokenizer adds bos itself (add_special_tokens=True)
    stop: list[str]  # the generation config's eos_token_id list (turn end and end of text)
    chat_template: str
    template_text: list[str] = field(default_factory=list)  # literal text of the template, for the tokenizer's corpus
    config: Callable[[dict], dict] = lambda geometry: {}  # family-specific config fields


LLAMA3_TEMPLATE = (
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif %}"
)

QWEN_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
QWEN2_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>system\n" + QWEN_SYSTEM + "<|im_end|>\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if not (message['role'] == 'system' and loop.first) %}"
    "{{- '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}"
)

MISTRAL_TEMPLATE = (
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{%- endif %}"
    "{%- if message['role'] == 'user' %}{{- '[INST] ' + message['content'] + ' [/INST]' }}"
    "{%- elif message['role'] == 'assistant' %}{{- message['content'] + eos_token }}"
    "{%- else %}{{- raise_exception('Only user and assistant roles are supported!') }}"
    "{%- endif %}"
    "{%- endfor %}"
)

GEMMA2_TEMPLATE = (
    "{{ bos_token }}"
    "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}"
    "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}"
)

PHI3_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}"
    "{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}"
    "{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"
)


FAMILIES: dict[str, Family] = {
    "llama": Family(
        "llama", "meta-llama/Llama-3.1-8B-Instruct", "LlamaConfig", "bytelevel",
        specials=["<|begin_of_text|>", "<|end_of_text|>", "<|finetune_right_pad_id|>", "<|start_header_id|>",
                  "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>"],
        bos="<|begin_of_text|>", eos="<|eot_id|>", pad=None, unk=None, add_bos=True,
        stop=["<|end_of_text|>", "<|eom_id|>", "<|eot_id|>"], chat_template=LLAMA3_TEMPLATE,
        template_text=["user", "assistant", "system"],
        config=lambda g: {"tie_word_embeddings": False, "rope_theta": 500000.0},
    ),
    "qwen2": Family(
        "qwen2", "Qwen/Qwen2.5-0.5B-Instruct", "Qwen2Config", "bytelevel",
        specials=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        bos=None, eos="<|im_end|>", pad="<|endoftext|>", unk=None, add_bos=False,
        stop=["<|im_end|>", "<|endoftext|>"], chat_template=QWEN2_TEMPLATE,
        template_text=["system\n" + QWEN_SYSTEM, "user\n", "assistant\n"],
        # Qwen2.5-0.5B ties its embeddings; q/k/v carry biases (Qwen2Attention, not a config field)
        config=lambda g: {"tie_word_embeddings": True, "use_sliding_window": False, "rope_theta": 1000000.0},
    ),
    "mistral": Family(
        "mistral", "mistralai/Mistral-7B-Instruct-v0.1", "MistralConfig", "metaspace",
        specials=["<unk>", "<s>", "</s>"],
        bos="<s>", eos="</s>", pad=None, unk="<unk>", add_bos=True,
        stop=["</s>"], chat_template=MISTRAL_TEMPLATE,
        template_text=["[INST] [/INST]"],
        config=lambda g: {"tie_word_embeddings": False, "sliding_window": TINY_WINDOW},
    ),
    "gemma2": Family(
        "gemma2", "google/gemma-2-2b-it", "Gemma2Config", "metaspace",
        specials=["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"],
        bos="<bos>", eos="<eos>", pad="<pad>", unk="<unk>", add_bos=True,
        stop=["<eos>", "<end_of_turn>"], chat_template=GEMMA2_TEMPLATE,
        template_text=["user\n", "model\n"],
        # soft-capping, alternating sliding/full layers, tied embeddings, query_pre_attn_scalar = head_dim
        config=lambda g: {"tie_word_embeddings": True, "sliding_window": TINY_WINDOW, "attn_logit_softcapping": 50.0,
                          "final_logit_softcapping": 30.0, "query_pre_attn_scalar": g["head_dim"],
                          "hidden_activation": "gelu_pytorch_tanh"},
    ),
    "phi3": Family(
        "phi3", "microsoft/Phi-3-mini-4k-instruct", "Phi3Config", "metaspace",
        specials=["<unk>", "<s>", "</s>", "<|endoftext|>", "<|assistant|>", "<|system|>", "<|end|>", "<|user|>"],
        bos="<s>", eos="<|endoftext|>", pad="<|endoftext|>", unk="<unk>", add_bos=False,
        stop=["<|endoftext|>", "<|assistant|>", "<|end|>"], chat_template=PHI3_TEMPLATE,
        # fused qkv_proj and gate_up_proj (Phi3Attention/Phi3MLP); pad == eos as in the checkpoint
        config=lambda g: {"tie_word_embeddings": False, "sliding_window": TINY_WINDOW},
    ),
}

ARCHS = sorted(FAMILIES)
