"""Exported Parquet -> conversations -> masked token sequences."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from luxit_ray.errors import InputError
from luxit_ray.train import templates as T
from luxit_ray.train.data import conversation_from_row, load_chat_data, tokenize_conversations
from luxit_ray.train.loop import ChatCollator
from tests.train import lb_chat
from tests.train.chat_tokenizers import make_tokenizer


def test_split_column_decides_train_and_validation(tmp_path):
    path = lb_chat.write_parquet(tmp_path / "export" / "part-0.parquet")
    data = load_chat_data(str(tmp_path / "export" / "*.parquet"))
    assert (len(data.train), len(data.validation), data.bad_rows) == (18, 6, 0)
    assert data.files == [str(path)]
    assert data.train[0] == [
        {"role": "user", "content": "Wat ass d'Haaptstad vu Lëtzebuerg?"},
        {"role": "assistant", "content": "D'Haaptstad ass d'Stad Lëtzebuerg."},
    ]
    # A folder works the same as the glob.
    assert len(load_chat_data(str(tmp_path / "export")).train) == 18


def test_eval_fraction_is_stable_without_split_column(tmp_path):
    lb_chat.write_parquet(tmp_path / "d.parquet", with_split=False)
    a = load_chat_data(str(tmp_path / "d.parquet"), eval_fraction=0.25, eval_seed=7)
    b = load_chat_data(str(tmp_path / "d.parquet"), eval_fraction=0.25, eval_seed=7)
    assert a.validation == b.validation and a.train == b.train
    assert len(a.train) + len(a.validation) == 24 and 1 <= len(a.validation) <= 12
    assert load_chat_data(str(tmp_path / "d.parquet")).validation == []


def test_bad_rows_quarantined_with_reasons_or_fail(tmp_path):
    bad = [
        {"instruction": "Moien?", "response": " ", "conversations": None, "source_type": "news", "split": "train"},
        {"instruction": "x", "response": "y", "source_type": "news", "split": "test",
         "conversations": [{"from": "human", "value": "x"}, {"from": "gpt", "value": "y"}]},
        {"instruction": "x", "response": "y", "source_type": "news", "split": "train",
         "conversations": [{"from": "robot", "value": "x"}]},
    ]
    path = lb_chat.write_parquet(tmp_path / "d.parquet", extra_rows=bad)
    data = load_chat_data(str(path), on_bad_input="quarantine")
    assert data.rows == 27 and data.bad_rows == 3 and len(data.train) == 18
    assert dict(data.bad_reasons) == {"empty_text": 1, "split": 1, "from": 1}
    assert data.bad_examples[0] == f"{path}:row 24: turn 1 (assistant) has empty text"
    with pytest.raises(InputError) as err:
        load_chat_data(str(path), on_bad_input="fail")
    assert str(err.value) == f"{path}:row 24: turn 1 (assistant) has empty text"


def test_missing_files_and_columns_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="no Parquet files match"):
        load_chat_data(str(tmp_path / "nothing" / "*.parquet"))
    pq.write_table(pa.table({"text": ["Moien"]}), tmp_path / "t.parquet")
    with pytest.raises(InputError, match="needs a `conversations` column"):
        load_chat_data(str(tmp_path / "t.parquet"))


def test_row_fallbacks_and_trailing_user_turns():
    assert conversation_from_row({"instruction": "Q?", "response": "A."}) == [
        {"role": "user", "content": "Q?"},
        {"role": "assistant", "content": "A."},
    ]
    row = {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"},
                        {"role": "assistant", "content": "A"}, {"role": "user", "content": "Q2"}]}
    assert [m["role"] for m in conversation_from_row(row)] == ["system", "user", "assistant"]
    with pytest.raises(ValueError, match="before any user turn"):
        conversation_from_row({"conversations": [{"from": "gpt", "value": "A"}, {"from": "human", "value": "Q"}]})


def test_long_conversations_are_skipped_and_counted_not_cut():
    tok = make_tokenizer("chatml")
    T.choose_pad_token(tok, "chatml")
    convs = [
        [{"role": "user", "content": "Moien?"}, {"role": "assistant", "content": "Moien!"}],
        [{"role": "user", "content": "Moien? " * 80}, {"role": "assistant", "content": "Moien!"}],
    ]
    out = tokenize_conversations(tok, convs, "chatml", False, max_seq_len=64, system_prompt="Sief kuerz.")
    assert (out.conversations, len(out.examples), out.too_long) == (2, 1, 1)
    ex = out.examples[0]
    assert "Sief kuerz." in tok.decode(ex.input_ids)
    assert ex.labels[ex.assistant_spans[0][1] - 1] == tok.convert_tokens_to_ids("<|im_end|>")
    assert out.tokens == len(ex) and out.label_tokens == sum(1 for t in ex.labels if t != -100)


def test_collator_pads_with_pad_id_and_masks_padding():
    tok = make_tokenizer("llama3")
    T.choose_pad_token(tok, "llama3")
    pad = tok.pad_token_id
    coll = ChatCollator(pad, multiple_of=4)
    batch = coll([{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]}, {"input_ids": [8], "labels": [8]}])
    assert batch["input_ids"].tolist() == [[5, 6, 7, pad], [8, pad, pad, pad]]
    assert batch["labels"].tolist() == [[-100, 6, 7, -100], [8, -100, -100, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0], [1, 0, 0, 0]]
