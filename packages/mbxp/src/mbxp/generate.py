"""Generation driver: sample completions for MBXP problems (paper Sec. 4, few-shot prompting Sec. 4.4).

The released data carries no stop sequences; what a completion must contain is the function body
**and its closers** (brief b.5): Java closes the method and the class (``} }``); C# and Scala close
only the method (the test closes class/namespace/object); the others close the function (Ruby: ``end``).
:func:`finish_completion` cuts a raw model continuation where that closing happens (tracking brace
depth outside strings and comments; Ruby/Python by top-level lines) and appends missing closers.

Backends: a local Hugging Face causal LM (``--backend hf --model PATH``, needs ``transformers``) and an
OpenAI-compatible ``/v1/completions`` endpoint (``--backend openai --model NAME --base-url URL``).
Few-shot: ``--fewshot FILE`` text prepended to every prompt (the paper's few-shot setting).
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from mbxp.languages import LANGUAGES
from orals23_shared.checkpoint import atomic_write_json
from orals23_shared.cli import UsageError, check
from orals23_shared.runfolder import FREE_FIELDS, config_differences

__all__ = ["GenerateConfig", "finish_completion", "generate", "brace_depth", "STOP_SEQUENCES"]

# Where a raw continuation certainly left the function (used as API stop strings too), from the registry
STOP_SEQUENCES: dict[str, list[str]] = {name: list(lang.stops) for name, lang in LANGUAGES.items()}


def brace_depth(code: str, language: str) -> list[int]:
    """Brace depth after each character, ignoring braces in strings, chars and comments."""
    depths = []
    depth, i, n = 0, 0, len(code)
    line_comment = ("#",) if language in ("perl", "ruby", "python") else ("//",)
    if language == "php":
        line_comment = ("//", "#")
    while i < n:
        c = code[i]
        if any(code.startswith(lc, i) for lc in line_comment):
            j = code.find("\n", i)
            j = n if j < 0 else j
            depths.extend([depth] * (j - i))
            i = j
            continue
        if code.startswith("/*", i) and language not in ("perl", "python", "ruby"):
            j = code.find("*/", i + 2)
            j = n if j < 0 else j + 2
            depths.extend([depth] * (j - i))
            i = j
            continue
        if c in "\"'`":
            j = i + 1
            while j < n and code[j] != c and code[j] != "\n":
                j += 2 if code[j] == "\\" else 1
            j = min(n, j + 1)
            depths.extend([depth] * (j - i))
            i = j
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        depths.append(depth)
        i += 1
    return depths


def _target_depth(language: str, prompt_depth: int) -> int:
    if LANGUAGES[language].closes_class:
        return 0  # Java: the completion closes the method and the class
    return max(0, prompt_depth - 1)  # only the function (C#/Scala: the test closes the rest)


def finish_completion(prompt: str, raw: str, language: str) -> str:
    """Cut a raw continuation after the function (and, for Java, class) closes; add missing closers."""
    text = raw
    spec = LANGUAGES.get(language)
    if spec is not None and spec.braces:
        prompt_depth = brace_depth(prompt, language)[-1] if prompt else 0
        target = _target_depth(language, prompt_depth)
        depths = brace_depth(prompt + text, language)[len(prompt) :]
        for i, d in enumerate(depths):
            if d <= target:
                return text[: i + 1] + "\n"
        for stop in STOP_SEQUENCES.get(language, []):
            j = text.find(stop)
            if j >= 0:
                text = text[:j]
        current = brace_depth(prompt + text, language)[-1]
        closers = "\n" + "}\n" * max(0, current - target)
        return text.rstrip() + closers
    if language == "ruby":
        m = re.search(r"^end\b.*$", text, re.M)
        if m:
            return text[: m.end()] + "\n"
        for stop in STOP_SEQUENCES["ruby"]:
            j = text.find(stop)
            if j >= 0:
                text = text[:j]
        return text.rstrip() + "\nend\n"
    if language == "python":
        for stop in STOP_SEQUENCES["python"]:
            j = text.find(stop)
            if j >= 0:
                text = text[:j]
        return text.rstrip() + "\n"
    raise UsageError(f"unknown language {language!r}")


def strip_chat(prompt: str, raw: str) -> str:
    """Chat-model output: take the first fenced code block and drop a repeated prompt/signature."""
    m = re.search(r"```[a-zA-Z+#]*\n(.*?)(```|$)", raw, re.S)
    code = m.group(1) if m else raw
    sig = prompt.rstrip().splitlines()[-1].strip() if prompt.strip() else ""
    if sig and sig in code:
        code = code.split(sig, 1)[1]
    return code


@dataclass
class GenerateConfig:
    """Options of ``mbxp-generate``."""

    backend: Literal["hf", "openai"] = field(
        default="hf", metadata={"help": "hf: local transformers model; openai: HTTP endpoint"}
    )
    model: str = field(default="", metadata={"help": "model path (hf) or name (openai)"})
    base_url: str = field(default="http://localhost:8000/v1", metadata={"help": "OpenAI-compatible base URL"})
    api_key_env: str = field(default="OPENAI_API_KEY", metadata={"help": "environment variable holding the API key"})
    n_samples: int = field(default=1, metadata={"help": "completions per task"})
    temperature: float = field(default=0.0, metadata={"help": "0: greedy"})
    top_p: float = field(default=0.95, metadata={"help": "nucleus sampling"})
    max_new_tokens: int = field(default=512, metadata={"help": "tokens per completion"})
    fewshot: Path | None = field(default=None, metadata={"help": "text file prepended to every prompt"})
    chat: bool = field(
        default=False, metadata={"help": "extract code from chat-style answers (fences, repeated signature)"}
    )
    seed: int = field(default=0, metadata={"help": "sampling seed"})
    limit: int = field(default=0, metadata={"help": "only the first N tasks (0: all)"})
    device: str = field(default="cpu", metadata={"help": "torch device for hf"})
    resume: bool = field(
        default=False, metadata={"help": "continue a used --out: keep its complete tasks, generate the rest"}
    )
    overwrite: bool = field(default=False, metadata={"help": "replace a used --out"})


def _hf_generator(cfg: GenerateConfig):
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:
        raise UsageError("the hf backend needs transformers and torch (pip install 'mbxp[hf]')") from e
    check(Path(cfg.model).exists(), f"model path not found: {cfg.model}")
    tok = AutoTokenizer.from_pretrained(cfg.model)
    model = AutoModelForCausalLM.from_pretrained(cfg.model).to(cfg.device).eval()
    torch.manual_seed(cfg.seed)

    def gen(prompt: str, n: int) -> list[str]:
        ids = tok(prompt, return_tensors="pt").to(cfg.device)
        kwargs: dict[str, Any] = {
            "max_new_tokens": cfg.max_new_tokens,
            "num_return_sequences": n,
            "pad_token_id": tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
        }
        if cfg.temperature > 0:
            kwargs.update(do_sample=True, temperature=cfg.temperature, top_p=cfg.top_p)
        else:
            kwargs.update(do_sample=False)
            kwargs["num_return_sequences"] = 1
        with torch.no_grad():
            out = model.generate(**ids, **kwargs)
        texts = [tok.decode(o[ids["input_ids"].shape[1] :], skip_special_tokens=True) for o in out]
        return texts * (n if cfg.temperature <= 0 else 1)

    return gen


def _openai_generator(cfg: GenerateConfig, language_of_prompt: dict[str, str]):
    key = os.environ.get(cfg.api_key_env, "")

    def gen(prompt: str, n: int) -> list[str]:
        body = {
            "model": cfg.model,
            "prompt": prompt,
            "max_tokens": cfg.max_new_tokens,
            "n": n,
            "temperature": cfg.temperature,
            "top_p": cfg.top_p,
            "seed": cfg.seed,
            "stop": STOP_SEQUENCES.get(language_of_prompt.get(prompt, ""), [])[:4],
        }
        req = urllib.request.Request(
            cfg.base_url.rstrip("/") + "/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
        )
        try:
            with urllib.request.urlopen(req, timeout=600) as r:
                data = json.loads(r.read())
        except OSError as e:
            raise UsageError(f"endpoint {cfg.base_url} failed: {e}") from None
        return [c.get("text", "") for c in data.get("choices", [])]

    return gen


def _sidecar(out: Path) -> Path:
    return out.with_name(out.name + ".config.json")


def _resume_lines(out: Path, n_samples: int) -> tuple[list[str], set[str]]:
    """The complete lines of a used samples file and the tasks that have all their samples; a torn last
    line (a killed run) and the lines of a task cut short are dropped (that task is generated again)."""
    lines: list[str] = []
    per_task: dict[str, list[str]] = {}
    for line in out.read_text(encoding="utf-8").splitlines(keepends=True):
        if not line.endswith("\n"):
            continue  # torn
        try:
            rec = json.loads(line)
            tid = rec["task_id"]
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
        per_task.setdefault(tid, []).append(line)
    done = {t for t, ls in per_task.items() if len(ls) >= n_samples}
    for t in done:
        lines += per_task[t][:n_samples]
    return lines, done


def prepare_samples_file(out: Path, cfg: GenerateConfig) -> set[str]:
    """The run-folder policy for a samples file: a used ``--out`` is refused unless ``--resume`` (same
    generation settings as saved beside it, in ``<out>.config.json``) or ``--overwrite``. Returns the
    tasks already complete; the file is rewritten without a torn last line before anything is appended."""
    check(not (cfg.resume and cfg.overwrite), "--resume and --overwrite exclude each other")
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}
    free = FREE_FIELDS | {"limit", "api_key_env", "base_url"}
    used = out.is_file() and out.stat().st_size > 0
    done: set[str] = set()
    if used and cfg.resume:
        side = _sidecar(out)
        if side.is_file():
            diffs = config_differences(json.loads(side.read_text()), config, free)
            check(not diffs, f"--resume: the generation settings differ from the saved ones in {'; '.join(diffs)}")
        lines, done = _resume_lines(out, cfg.n_samples)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text("".join(lines), encoding="utf-8")
        tmp.replace(out)
    elif used and not cfg.overwrite:
        raise UsageError(
            f"--out {out} already holds samples; pass --resume to continue it or --overwrite to replace it"
        )
    elif used:
        out.unlink()
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(_sidecar(out), config)
    return done


def generate(problems: dict[str, dict[str, Any]], out: str | os.PathLike, cfg: GenerateConfig) -> int:
    """Write ``{task_id, completion, language}`` lines to ``out`` (appended per task: resumable)."""
    check(cfg.model != "", "--model is required")
    check(cfg.n_samples >= 1, "--n-samples must be >= 1")
    fewshot = Path(cfg.fewshot).read_text() if cfg.fewshot else ""
    out = Path(out)
    done = prepare_samples_file(out, cfg)
    items = list(problems.items())[: cfg.limit or None]
    full_prompts = {fewshot + p["prompt"]: p["language"] for _, p in items}
    gen = _hf_generator(cfg) if cfg.backend == "hf" else _openai_generator(cfg, full_prompts)
    written = 0
    with open(out, "a", encoding="utf-8") as f:
        for tid, p in items:
            if tid in done:
                continue
            raws = gen(fewshot + p["prompt"], cfg.n_samples)
            lines = []
            for raw in raws[: cfg.n_samples]:
                text = strip_chat(p["prompt"], raw) if cfg.chat else raw
                comp = finish_completion(p["prompt"], text, p["language"])
                lines.append(json.dumps({"task_id": tid, "completion": comp, "language": p["language"]}) + "\n")
            f.write("".join(lines))  # one write per task: a kill leaves at most this task torn
            f.flush()
            written += len(lines)
    return written
