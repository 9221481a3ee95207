"""Exam and task evaluation: multiple-choice exams by level (Table 4) and classification tasks,
scored by log-likelihood and by generation, for many models side by side on Ray.

Modules, in data-flow order: ``items`` (read and validate files), ``chat`` (prompt formatting as
training does it), ``backends`` (transformers / vLLM models), ``parse`` (letters from outputs),
``scorers``, ``metrics``, ``report``, ``runner`` (`luxit evaluate`), ``lm_eval_export``.
"""
