"""Writes wrk request bodies (one JSON per line): search queries and
extractive questions, from the eval questions when available."""

import json
import os
import sys

EVAL = os.environ.get("TINGWEN_EVAL", "/work/shared/eval/dev.jsonl")
FALLBACK = [
    "旧金山停电那天 Waymo 为什么停在路口？",
    "张璐把现在的AI公司分成哪两类？",
    "What did the guest say about small language models?",
    "How do they index transcripts?",
    "模型中心的公司和应用中心的公司有什么区别？",
]


def questions():
    try:
        with open(EVAL, encoding="utf-8") as lines:
            found = [json.loads(line)["question"] for line in lines if line.strip()]
        return found or FALLBACK
    except OSError:
        return FALLBACK


def main(out_dir):
    asked = questions()
    with open(os.path.join(out_dir, "search.jsonl"), "w", encoding="utf-8") as out:
        for question in asked:
            out.write(json.dumps({"query": question, "k": 5}, ensure_ascii=False) + "\n")
    with open(os.path.join(out_dir, "ask.jsonl"), "w", encoding="utf-8") as out:
        for question in asked:
            out.write(json.dumps({"question": question, "mode": "extractive"}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
