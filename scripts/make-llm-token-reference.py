#!/usr/bin/env python3
"""Records llama.cpp's token ids (and a greedy generation) for SmolLM2-135M-Instruct.

The output, crates/tingwen-llm/fixtures/smollm2_llamacpp_reference.json, is what
tingwen-llm's real-model tests compare against. Re-run after changing the texts:

    .venv/bin/pip install llama-cpp-python
    .venv/bin/python scripts/make-llm-token-reference.py
"""
import glob
import json
import os
import sys

import llama_cpp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
OUT = os.path.join(ROOT, "crates/tingwen-llm/fixtures/smollm2_llamacpp_reference.json")

TEXTS = [
    "Hello world",
    " Hello world",
    "What did the guest say about Meta's strategy?",
    "I'm sure they'll say it's fine; we've seen worse, haven't we?",
    "The year 2024 had 366 days, and 3.14159 is pi. Call 555-0123!",
    "   leading spaces and trailing spaces   ",
    "line one\nline two\n\nline four\r\nwindows line",
    "tabs\tand\tmore\t\ttabs",
    "CamelCaseWords and snake_case_words and kebab-case-words",
    "https://www.youtube.com/watch?v=lAy9RKQSi2U&t=120s",
    "Emoji 🙂👍🏽 and symbols ©®™ — “quotes” …",
    "def f(x):\n    return x ** 2  # square\n",
    "旧金山停电那天Waymo为什么停在路口？",
    "张璐怎么看Meta的策略？",
    "大家好，这里是最佳拍档",
    "二零二六年开年的中国AI圈，用神仙打架来形容毫不为过。",
    "在AGI-NEXT圆桌论坛上，国内头部AI企业与学术界领军人物深入探讨了AI模型在To B与To C领域的发展分化。",
    "我们做第二期 因为这两年的时间 AI 我的感觉是突飞猛进",
    "Transformer 底层架构自 2019 年来并无根本改变，行业重心正从昂贵的预训练转向推理时扩展与 RLVR。",
    "《三体》的作者是刘慈欣。他说：“弱小和无知不是生存的障碍，傲慢才是。”",
    "繁體中文也要測試一下，還有日本語のテキストも。",
    "ＦＵＬＬＷＩＤＴＨ　ｌｅｔｔｅｒｓ　１２３",
    "Mixed 中英 text: DeepSeek 的开源模型 R1 在 benchmark 上表现很好。",
    "<|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWho is 姚顺雨?<|im_end|>\n<|im_start|>assistant\n",
    "x<|endoftext|>y",
    "",
    " ",
    "\n",
    "a",
    "100000000000 and 1,234,567.89",
    "don't DON'T Don't",
]


def corpus_snippets():
    """Slices of the demo transcripts: real Chinese and English podcast text."""
    out = []
    for path in sorted(glob.glob(os.path.join(ROOT, "data", "*.txt"))):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for start in (0, len(text) // 3, 2 * len(text) // 3):
            out.append(text[start:start + 300])
    return out


def main():
    llm = llama_cpp.Llama(model_path=MODEL, n_ctx=2048, n_threads=2, verbose=False, seed=0)
    cases = []
    for text in TEXTS + corpus_snippets():
        ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        cases.append({"text": text, "ids": ids})

    prompt = ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
              "<|im_start|>user\nWhat is the capital of France? Answer in one sentence.<|im_end|>\n"
              "<|im_start|>assistant\n")
    prompt_ids = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
    llm.reset()
    generated = []
    for token in llm.generate(prompt_ids, temp=0.0, top_k=1, repeat_penalty=1.0, reset=True):
        if token == llm.token_eos() or len(generated) >= 40:
            break
        generated.append(token)
    reference = {
        "model": os.path.basename(MODEL),
        "llama_cpp_python": llama_cpp.__version__,
        "tokenize": "Llama.tokenize(text, add_bos=False, special=True)",
        "cases": cases,
        "greedy": {
            "prompt": prompt,
            "prompt_ids": prompt_ids,
            "max_tokens": 40,
            "generated_ids": generated,
            "generated_text": llm.detokenize(generated).decode("utf-8", errors="replace"),
        },
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(reference, f, ensure_ascii=False, indent=1)
    print(f"wrote {len(cases)} cases and {len(generated)} greedy tokens to {OUT}", file=sys.stderr)
    print(reference["greedy"]["generated_text"], file=sys.stderr)


if __name__ == "__main__":
    main()
