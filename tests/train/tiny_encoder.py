"""A tiny random-init BERT encoder and a WordPiece tokenizer built here (nothing downloaded)."""

from __future__ import annotations

from pathlib import Path

WORDS = ["de", "mark", "cavendish", "konnt", "sprint", "op", "der", "arrivée", "lëtzebuerg", "rtl", "an",
         "gutt", "schlecht", "net", "ass", "et", "wieder", "zu", "stad", "esch", "polizei", "minister"]


def build_tiny_encoder(folder: Path) -> Path:
    """Save a 1-layer, 16-wide BERT with a lower-casing WordPiece tokenizer into ``folder``."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, "##s", "##en", "##er"]
    ids = {w: i for i, w in enumerate(vocab)}
    backend = Tokenizer(models.WordPiece(ids, unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                  sep_token="[SEP]", mask_token="[MASK]")
    tok.save_pretrained(folder)
    config = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64)
    import torch

    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    return folder
