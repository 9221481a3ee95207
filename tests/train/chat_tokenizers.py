"""Small local tokenizers, one per chat-template family, built in memory for the tests.

Real model tokenizers cannot be downloaded here, so each family gets a byte-level BPE trained on a
few Luxembourgish sentences, the family's special tokens, and a chat template written for these
tests in the style of that family (same special tokens and turn structure as the real one).
"""

from __future__ import annotations

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

CORPUS = [
    "Moien! Wéi geet et dir haut?",
    "D'Stad Lëtzebuerg ass d'Haaptstad vum Grand-Duché.",
    "D'Musel fléisst laanscht Réimech, Gréiwemaacher an Iechternach.",
    "Am Ëslek gëtt et vill Bëscher an déif Dëller.",
    "Kanns du mir dësen Artikel an e puer Sätz zesummefaassen?",
    "Du bass en hëllefsbereeten Assistent, deen op Lëtzebuergesch äntwert.",
    "D'Land huet ongeféier 670.000 Awunner.",
    "system user assistant model think",
]

# --- templates, written in each family's style ----------------------------------------------

LLAMA3_TEMPLATE = (
    "{{- bos_token }}"
    "{%- if messages[0]['role'] == 'system' %}{%- set sys = messages[0]['content'] %}{%- set rest = messages[1:] %}"
    "{%- else %}{%- set sys = 'Cutting Knowledge Date: December 2023' %}{%- set rest = messages %}{%- endif %}"
    "{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' + sys + '<|eot_id|>' }}"
    "{%- for m in rest %}"
    "{{- '<|start_header_id|>' + m['role'] + '<|end_header_id|>\\n\\n' + m['content'] | trim + '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
)

GEMMA3_TEMPLATE = (
    "{{ bos_token }}"
    "{%- for m in messages -%}"
    "{%- if m['role'] == 'system' -%}{{ raise_exception('System role not supported') }}{%- endif -%}"
    "{%- set role = 'model' if m['role'] == 'assistant' else m['role'] -%}"
    "{{ '<start_of_turn>' + role + '\\n' + m['content'] | trim + '<end_of_turn>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\\n' }}{%- endif -%}"
)

# Gemma-style, but the assistant turn is closed with <eos> instead of <end_of_turn>.
GEMMA3_BROKEN_TEMPLATE = GEMMA3_TEMPLATE.replace(
    "m['content'] | trim + '<end_of_turn>\\n'", "m['content'] | trim + ('<eos>' if m['role'] == 'assistant' else '<end_of_turn>') + '\\n'"
)

QWEN3_TEMPLATE = (
    "{%- set ns = namespace(last_user=-1) -%}"
    "{%- for m in messages -%}{%- if m['role'] == 'user' -%}{%- set ns.last_user = loop.index0 -%}{%- endif -%}{%- endfor -%}"
    "{%- for m in messages -%}"
    "{%- if m['role'] == 'assistant' -%}"
    "{%- if loop.index0 > ns.last_user -%}"
    "{{- '<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n' + m['content'] + '<|im_end|>\\n' }}"
    "{%- else -%}"
    "{{- '<|im_start|>assistant\\n' + m['content'] + '<|im_end|>\\n' }}"
    "{%- endif -%}"
    "{%- else -%}"
    "{{- '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false -%}{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif -%}"
    "{%- endif -%}"
)

GLM4_TEMPLATE = (
    "[gMASK]<sop>"
    "{%- for m in messages -%}"
    "{%- if m['role'] == 'system' -%}<|system|>\n{{ m['content'] }}"
    "{%- elif m['role'] == 'user' -%}<|user|>\n{{ m['content'] }}"
    "{%- elif m['role'] == 'assistant' -%}<|assistant|>\n{{ m['content'] | trim }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|assistant|>{%- endif -%}"
)

# GLM-style, but the prefix is pasted before every turn as well: [gMASK]<sop> appears twice or more.
GLM4_DOUBLED_TEMPLATE = "[gMASK]<sop>" + GLM4_TEMPLATE.replace(
    "{%- if m['role'] == 'system' -%}", "{%- if m['role'] == 'system' -%}[gMASK]<sop>"
)

CHATML_TEMPLATE = (
    "{%- for m in messages -%}"
    "{%- if loop.first and m['role'] != 'system' -%}{{ '<|im_start|>system\\nDu hëllefs.<|im_end|>\\n' }}{%- endif -%}"
    "{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)

SPECIALS = {
    "llama3": ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
               "<|eom_id|>", "<|finetune_right_pad_id|>"],
    "gemma3": ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"],
    "qwen3": ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"],
    "glm4": ["<|endoftext|>", "[MASK]", "[gMASK]", "[sMASK]", "<sop>", "<eop>", "<|system|>", "<|user|>",
             "<|assistant|>", "<|observation|>"],
    "chatml": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
}

TEMPLATES = {
    "llama3": LLAMA3_TEMPLATE,
    "gemma3": GEMMA3_TEMPLATE,
    "qwen3": QWEN3_TEMPLATE,
    "glm4": GLM4_TEMPLATE,
    "chatml": CHATML_TEMPLATE,
}

# Special-token roles as the real tokenizers set them.
ROLES = {
    "llama3": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},  # no pad, like the real one
    "gemma3": {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>"},
    "qwen3": {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
    "glm4": {"eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"},
    "chatml": {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "pad_token": "<|im_end|>"},
}


def _bpe(specials: list[str]) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(CORPUS, trainer)
    return tok


def make_tokenizer(family: str, template: str | None = None, **roles: str | None) -> PreTrainedTokenizerFast:
    """A fresh tokenizer of one family; ``template`` and special-token ``roles`` override the defaults."""
    kwargs = dict(ROLES[family])
    kwargs.update(roles)
    tok = PreTrainedTokenizerFast(tokenizer_object=_bpe(SPECIALS[family]), **{k: v for k, v in kwargs.items() if v})
    tok.chat_template = template or TEMPLATES[family]
    return tok
