"""The benchmark harness's pure parts: statistics, fidelity metrics, ratios, the JSON document,
the markdown table, and the files it writes for other engines. No timing is asserted here:
speed targets live in ``parley bench``."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest

from desktop import benchmark as b


def test_median_ignores_missing_values() -> None:
    assert b.median([3.0, None, 1.0, 2.0]) == 2.0
    assert b.median([None, None]) is None
    assert b.median([]) is None


def test_fidelity_of_identical_logits_is_perfect() -> None:
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((5, 11)).astype(np.float32)
    out = b.fidelity(ref, ref.copy())
    assert out["top1_agreement"] == 1.0
    assert out["mean_kl"] == pytest.approx(0.0, abs=1e-12)
    assert out["positions"] == 5


def test_fidelity_counts_disagreements_and_computes_kl_by_hand() -> None:
    ref = np.array([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    cand = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 2.0]])
    out = b.fidelity(ref, cand)
    assert out["top1_agreement"] == 0.5
    z = math.exp(2) + 2
    p = [1 / z, math.exp(2) / z, 1 / z]
    q = [1 / z, 1 / z, math.exp(2) / z]
    kl_row2 = sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True))
    assert out["mean_kl"] == pytest.approx(kl_row2 / 2, rel=1e-9)
    assert out["max_kl"] == pytest.approx(kl_row2, rel=1e-9)


def test_fidelity_cuts_a_padded_vocabulary_and_rejects_other_shapes() -> None:
    ref = np.array([[1.0, 3.0, 2.0]])
    padded = np.array([[1.0, 3.0, 2.0, 50.0]])  # an extra (padding) column is ignored
    assert b.fidelity(ref, padded)["top1_agreement"] == 1.0
    with pytest.raises(ValueError, match="shapes differ"):
        b.fidelity(ref, np.zeros((2, 3)))


def _rounds() -> list[dict[str, dict[str, Any]]]:
    return [
        {"parley": {"decode_tok_s": 150.0, "ttft_s": 0.05},
         "llama.cpp": {"decode_tok_s": 100.0, "ttft_s": 0.10}},
        {"parley": {"decode_tok_s": 60.0, "ttft_s": 0.20},  # a slow round for both
         "llama.cpp": {"decode_tok_s": 50.0, "ttft_s": 0.25}},
        {"parley": {"decode_tok_s": 120.0},
         "llama.cpp": {"decode_tok_s": 60.0, "ttft_s": 0.0}},
        {"parley": {"error": "crashed"}, "llama.cpp": {"decode_tok_s": 90.0}},
    ]  # fmt: skip


def test_ratios_are_taken_within_a_round_then_the_median() -> None:
    rounds = _rounds()
    assert b.paired_ratios(rounds, "parley", "llama.cpp", "decode_tok_s") == [1.5, 1.2, 2.0]
    # ttft: round 3 has no parley value and a zero baseline, round 4 neither: both skipped
    assert b.paired_ratios(rounds, "parley", "llama.cpp", "ttft_s") == [0.5, 0.8]
    ratios = b.compute_ratios(rounds, [])
    assert ratios["decode_vs_llama.cpp"] == pytest.approx(1.5)
    assert ratios["ttft_vs_llama.cpp"] == pytest.approx(0.65)
    assert ratios["prefill_vs_llama.cpp"] is None  # never measured
    assert ratios["decode_vs_onnxruntime-genai"] is None  # engine absent
    assert ratios["synthetic_1b_decode_vs_llama.cpp"] is None


def test_synthetic_ratio_comes_from_the_synthetic_rounds() -> None:
    synth = [{"parley": {"decode_tok_s": 30.0}, "llama.cpp": {"decode_tok_s": 20.0}}]
    assert b.compute_ratios([], synth)["synthetic_1b_decode_vs_llama.cpp"] == 1.5


def test_summarise_takes_medians_and_skips_failed_rounds() -> None:
    runs = [{"ttft_s": 0.3, "provider": "CPU", "same": True}, {"error": "boom"},
            {"ttft_s": 0.1, "provider": "CPU", "same": True}, {"ttft_s": 0.2, "provider": "CPU",
                                                                "same": False}]  # fmt: skip
    out = b.summarise(runs)
    assert out["rounds"] == 3
    assert out["ttft_s"] == pytest.approx(0.2)
    assert out["provider"] == "CPU"
    assert out["same"] is False  # booleans are not averaged: the last value is kept
    assert b.summarise([{"error": "no model"}]) == {"rounds": 0, "error": "no model"}


def _result(**overrides: Any) -> dict[str, Any]:
    fid = {"parley": {"top1_agreement": 0.97, "mean_kl": 0.009}}
    result = b.assemble_result(
        b.ENGINES,
        {"onnxruntime-genai": "not installed (pip install onnxruntime-genai)"},
        [{"parley": {"decode_tok_s": 160.0, "prefill_tok_s": 400.0, "ttft_s": 0.06,
                     "load_s": 0.4, "peak_rss_mb": 250.0, "followup_ttft_s": 0.2,
                     "token_ids": [1, 2, 3, 4]},
          "llama.cpp": {"decode_tok_s": 100.0, "prefill_tok_s": 200.0, "ttft_s": 0.12,
                        "load_s": 0.2, "peak_rss_mb": 200.0, "token_ids": [1, 2, 9, 4]}}],
        [],
        fid,
        {"cpu": "Test CPU", "cores": 2, "date": "2026-01-01"},
        {"rounds": 1, "threads": 2, "new_tokens": 128, "prompt_tokens": 49, "model": "m.gguf"},
        notes=["a note"],
        **overrides,
    )  # fmt: skip
    return result


def test_result_document_has_the_agreed_shape_and_is_json() -> None:
    result = _result()
    assert set(result["engines"]) == {"parley", "llama.cpp", "onnxruntime-genai"}
    assert result["engines"]["onnxruntime-genai"]["rounds"] == 0
    assert "not installed" in result["engines"]["onnxruntime-genai"]["error"]
    parley = result["engines"]["parley"]
    assert parley["decode_tok_s"] == 160.0
    assert parley["top1_agreement"] == 0.97
    assert "token_ids" not in parley["per_round"][0]
    assert result["engines"]["llama.cpp"]["greedy_tokens_same_as_parley"] == 2
    assert result["ratios"]["decode_vs_llama.cpp"] == pytest.approx(1.6)
    assert result["ratios"]["prefill_vs_llama.cpp"] == pytest.approx(2.0)
    assert result["ratios"]["ttft_vs_llama.cpp"] == pytest.approx(0.5)
    assert {"machine", "settings", "synthetic_1b", "targets", "notes"} <= set(result)
    assert "a note" in result["notes"]
    assert json.loads(json.dumps(result)) == result


def test_targets_are_marked_pass_miss_or_not_measured() -> None:
    rows = {r["target"]: r for r in _result()["targets"]}
    assert rows["decode vs llama.cpp"]["pass"] is True  # 1.6 >= 1.5
    assert rows["prefill vs llama.cpp"]["pass"] is True  # 2.0 >= 1.8
    assert rows["TTFT vs llama.cpp"]["pass"] is True  # 0.5 <= 0.6
    assert rows["top-1 agreement with fp32"]["pass"] is True
    assert rows["mean KL vs fp32"]["pass"] is False  # 0.009 > 0.005
    assert rows["follow-up first token, ~1,500-token chat"]["pass"] is False
    assert rows["synthetic 1B decode vs llama.cpp"]["pass"] is None
    assert rows["load"]["value"] == 0.4


def test_markdown_table_shows_engines_targets_and_unavailable_reasons() -> None:
    md = b.markdown_table(_result())
    lines = md.splitlines()
    parley = next(ln for ln in lines if ln.startswith("| parley |"))
    assert "| 400 | 160.0 | 60 | 0.40 | 250 | 97.0 | 0.0090 |" in parley
    assert any(ln.startswith("| onnxruntime-genai | unavailable: not installed") for ln in lines)
    assert "| mean KL vs fp32 | <= 0.005 | 0.009 | **miss** |" in md
    assert "| decode vs llama.cpp | >= 1.5x | 1.6x | pass |" in md
    assert "| synthetic 1B decode vs llama.cpp | >= 1.2x | - | not measured |" in md
    assert "| decode_vs_llama.cpp | 1.60 |" in md
    assert "Warning" not in md  # no load average recorded

    # every table row has as many cells as its header
    header = next(ln for ln in lines if ln.startswith("| engine |"))
    for ln in lines[lines.index(header) + 2 : lines.index(header) + 5]:
        assert ln.count("|") == header.count("|")


def test_markdown_warns_when_the_machine_was_overloaded() -> None:
    result = _result()
    result["engines"]["parley"]["per_round"][0]["loadavg_1m"] = 5.5
    md = b.markdown_table(result)
    assert "load average 5.5-5.5 during the run" in md
    assert "**Warning:** the load average (5.5) exceeded the 2 cores" in md


def test_timed_stream_counts_tokens_and_stops_at_the_limit() -> None:
    closed = []

    def tokens() -> Any:
        try:
            yield from range(100)
        finally:
            closed.append(True)

    out = b._timed_stream(tokens(), n_prompt=10, started=0.0, limit=5)
    assert out["token_ids"] == [0, 1, 2, 3, 4]
    assert out["generated_tokens"] == 5
    assert out["ttft_s"] > 0
    assert out["prefill_tok_s"] == pytest.approx(10 / out["ttft_s"])
    assert closed == [True]  # the engine's generator is closed, not left suspended


def test_followup_conversation_fits_the_budget_and_ends_with_an_answer() -> None:
    def count(msgs: list[dict[str, str]]) -> int:
        return sum(len(m["content"].split()) + 4 for m in msgs)

    conv = b.followup_conversation(400, count)
    assert conv[-1]["role"] == "assistant"
    assert [m["role"] for m in conv[:2]] == ["user", "assistant"]
    assert 300 < count(conv) <= 400
    assert conv == b.followup_conversation(400, count)  # deterministic


def _llama_cpp_permute(w: np.ndarray, heads: int) -> np.ndarray:
    # what llama.cpp's HF -> GGUF converter does to q/k rows
    return (
        w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
    )


def test_unpermute_undoes_llama_cpp_rotary_permutation() -> None:
    w = np.arange(8 * 3 * 3, dtype=np.float32).reshape(8 * 3, 3)  # 3 heads of dim 8
    back = b._unpermute(_llama_cpp_permute(w, 3), 3)
    np.testing.assert_array_equal(back, w)
    assert not np.array_equal(_llama_cpp_permute(w, 3), w)


def test_safetensors_writer_round_trips(tmp_path: Path) -> None:
    tensors = {"a.weight": np.arange(6, dtype=np.float32).reshape(2, 3),
               "b": np.array([1.5], np.float32)}  # fmt: skip
    path = tmp_path / "m.safetensors"
    b._write_safetensors(path, tensors)
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0
    header = json.loads(raw[8 : 8 + n])
    body = raw[8 + n :]
    for name, arr in tensors.items():
        start, end = header[name]["data_offsets"]
        assert header[name]["dtype"] == "F32"
        assert header[name]["shape"] == list(arr.shape)
        np.testing.assert_array_equal(np.frombuffer(body[start:end], "<f4").reshape(arr.shape), arr)


def _tokenizer_gguf(path: Path, vocab: int) -> Path:
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_tokenizer_model("gpt2")
    w.add_token_list([f"t{i}" for i in range(vocab)])
    w.add_token_types([1] * vocab)
    w.add_token_merges(["t 0"])
    w.add_bos_token_id(1)
    w.add_chat_template("{{ messages }}")
    w.add_tensor("token_embd.weight", np.zeros((vocab, 32), np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_synthetic_gguf_is_q4_0_with_the_sources_tokenizer(tmp_path: Path) -> None:
    src = _tokenizer_gguf(tmp_path / "tok.gguf", vocab=64)
    shape = {"layers": 2, "hidden": 64, "ffn": 96, "heads": 4, "kv_heads": 2}
    path = b.synthetic_gguf(src, tmp_path, shape)
    assert b.synthetic_gguf(src, tmp_path, shape) == path  # cached, not rewritten
    r = gguf.GGUFReader(str(path))
    tensors = {t.name: t for t in r.tensors}
    assert len(tensors) == 2 + 9 * 2
    assert tensors["blk.1.ffn_down.weight"].tensor_type == gguf.GGMLQuantizationType.Q4_0
    assert [int(x) for x in tensors["blk.0.attn_k.weight"].shape] == [64, 32]  # kv dim 2*16
    assert [int(x) for x in tensors["token_embd.weight"].shape] == [64, 64]
    assert tensors["output_norm.weight"].tensor_type == gguf.GGMLQuantizationType.F32
    assert r.fields["tokenizer.ggml.tokens"].contents()[:2] == ["t0", "t1"]
    assert r.fields["tokenizer.chat_template"].contents() == "{{ messages }}"
    assert r.fields["llama.attention.head_count_kv"].contents() == 2


def test_unknown_engine_is_refused_before_any_work() -> None:
    with pytest.raises(ValueError, match="unknown engine"):
        b.run_benchmark(None, rounds=1, engines=["vllm"], threads=2)


def test_rewriting_results_keeps_the_hand_written_sections(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    assert b.keep_hand_written("# new\n", path) == "# new\n"  # no file yet
    path.write_text("# old numbers\n\nstale\n\n## UI (by hand)\n\n| a | b |\n")
    merged = b.keep_hand_written("# new numbers\n\nfresh\n", path)
    assert merged == "# new numbers\n\nfresh\n\n## UI (by hand)\n\n| a | b |\n"
    path.write_text("# old numbers only\n")
    assert b.keep_hand_written("# new\n", path) == "# new\n"
