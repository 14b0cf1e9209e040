"""Generation driver: completions are cut where the function (Java: and class) closes, closers added;
the hf backend runs end to end on a tiny randomly initialised model (no downloads)."""

from __future__ import annotations

import json

import pytest

from mbxp.convert import convert
from mbxp.execution import ExecConfig, check_program
from mbxp.generate import GenerateConfig, finish_completion, generate, strip_chat
from mbxp.toolchains import toolchain_problem


def _load_convert_tests():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("_mbxp_test_convert", Path(__file__).with_name("test_convert.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_tc = _load_convert_tests()
GOOD, REC = _tc.GOOD, _tc.REC  # the same hand-written problem


@pytest.mark.parametrize("lang", sorted(GOOD))
def test_continuation_is_cut_where_the_function_closes(lang):
    problem = convert(REC, lang, run=False)
    good = GOOD[lang]
    # a model that keeps writing: the released test code follows the body
    assert finish_completion(problem["prompt"], good + problem["test"], lang).strip() == good.strip()


@pytest.mark.parametrize("lang", ["java", "javascript", "php", "perl", "ruby"])
def test_missing_closers_are_added_and_the_program_passes(lang):
    problem = convert(REC, lang, run=False)
    good = GOOD[lang]
    body = good.rsplit("end", 1)[0] if lang == "ruby" else good.rstrip().rstrip("}\n ").rstrip() + "\n"
    if lang == "java":
        body = good.split("    }\n}")[0]
    finished = finish_completion(problem["prompt"], body, lang)
    reason = toolchain_problem(lang)
    if reason:
        pytest.skip(reason)
    assert check_program(problem, finished, lang, ExecConfig(timeout=20))["passed"], finished


def test_braces_in_strings_and_comments_do_not_count():
    prompt = "function f(x) {\n"
    raw = '    const s = "}}";  // }\n    /* } */ return s;\n}\nconsole.log(1);\n'
    assert finish_completion(prompt, raw, "javascript") == '    const s = "}}";  // }\n    /* } */ return s;\n}\n'


def test_chat_answer_extraction():
    prompt = "function addNums(firstlist, k) {\n"
    raw = "Sure!\n```javascript\nfunction addNums(firstlist, k) {\n    return firstlist.map(x => x + k);\n}\n```\n"
    assert (
        finish_completion(prompt, strip_chat(prompt, raw), "javascript").strip()
        == "return firstlist.map(x => x + k);\n}".strip()
    )


@pytest.mark.slow
def test_hf_backend_with_a_tiny_random_model(tmp_path):  # slow: importing torch + transformers
    transformers = pytest.importorskip("transformers")
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    vocab["<eos>"] = len(vocab)
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tk, eos_token="<eos>")
    config = transformers.GPT2Config(vocab_size=len(vocab), n_positions=1024, n_embd=32, n_layer=1, n_head=2)
    transformers.set_seed(0)
    model = transformers.GPT2LMHeadModel(config)
    model.save_pretrained(tmp_path / "tiny")
    fast.save_pretrained(tmp_path / "tiny")
    del tokenizers
    problems = {"MBJSP/9001": convert(REC, "javascript", run=False)}
    problems["MBJSP/9001"]["task_id"] = "MBJSP/9001"
    out = tmp_path / "samples.jsonl"
    cfg = GenerateConfig(backend="hf", model=str(tmp_path / "tiny"), n_samples=2, temperature=0.8, max_new_tokens=24)
    assert generate(problems, out, cfg) == 2
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["task_id"] for r in rows] == ["MBJSP/9001"] * 2 and rows[0]["language"] == "javascript"
    for r in rows:  # whatever the random model wrote, the function is closed
        text = problems["MBJSP/9001"]["prompt"] + r["completion"]
        from mbxp.generate import brace_depth

        assert brace_depth(text, "javascript")[-1] == 0
    assert generate(problems, out, cfg) == 0  # resumed: the task is done


def _fake_generator(monkeypatch):
    import importlib

    gen_module = importlib.import_module("mbxp.generate")

    def fake(cfg, language_of_prompt):
        return lambda prompt, n: [f"    return firstlist.length + {len(prompt) % 7};\n}}\n"] * n

    monkeypatch.setattr(gen_module, "_openai_generator", fake)


def test_resume_survives_a_torn_last_line_and_equals_a_straight_run(tmp_path, monkeypatch):
    import dataclasses

    from orals23_shared.cli import UsageError

    _fake_generator(monkeypatch)
    problems = {}
    for i in range(3):
        p = convert(dict(REC, task_id=f"MBPP/{9001 + i}", description=f"Task {i}."), "javascript", run=False)
        problems[p["task_id"]] = p
    cfg = GenerateConfig(backend="openai", model="m", n_samples=2)
    straight = tmp_path / "straight.jsonl"
    assert generate(problems, straight, cfg) == 6
    out = tmp_path / "s.jsonl"
    lines = straight.read_text().splitlines(keepends=True)
    out.write_text(lines[0] + lines[1] + lines[2] + lines[3][:17])  # killed while writing task 2's second line
    (tmp_path / "s.jsonl.config.json").write_text((tmp_path / "straight.jsonl.config.json").read_text())
    with pytest.raises(UsageError, match="already holds samples"):
        generate(problems, out, cfg)
    with pytest.raises(UsageError, match="temperature"):
        generate(problems, out, dataclasses.replace(cfg, resume=True, temperature=0.5))
    assert generate(problems, out, dataclasses.replace(cfg, resume=True)) == 4  # task 2 again, then task 3
    assert out.read_text() == straight.read_text()
    assert generate(problems, out, dataclasses.replace(cfg, overwrite=True)) == 6
