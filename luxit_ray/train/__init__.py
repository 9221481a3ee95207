"""LoRA fine-tuning on Ray Train: recipes as data, chat-template-correct label masks, sweeps.

Modules: ``templates`` (template families, label masks, the pre-training check, generation
prompts and stop tokens for evaluation), ``data`` (Parquet -> conversations -> tokens), ``loop``
(the Ray Train worker function), ``sweep`` (concurrent TorchTrainers, resume, results),
``merge`` (adapter -> standalone model), ``storage`` (local paths and pyarrow URIs).
"""
