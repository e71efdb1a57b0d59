"""Vocabulary-only GGUFs with real tokenizers, for checking the rebuilt tokenizer against llama.cpp.

Qwen2.5/3's and Llama 3's byte-level BPE vocabularies ship (MIT) in the `quicktok-v1` package
as byte strings with their ranks; their merges are recovered the way `transformers` converts
a tiktoken vocabulary (each token is the merge its own lower-ranked BPE ends in), and the GGUF
is written as llama.cpp's `convert_hf_to_gguf.py` writes a gpt2-style vocabulary: tokens as
GPT-2's byte-to-unicode strings, merges as "left right", special tokens as CONTROL.
A tiny SentencePiece vocabulary (Gemma's layout: control tokens, 256 byte tokens, scored
pieces) stands in where no real one is installed.
"""

from __future__ import annotations

import struct
from pathlib import Path

GEMMA_CONTROL = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's printable stand-in for each byte (what byte-level BPE vocabularies store)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    chars, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            chars[byte] = chr(byte)
        else:
            chars[byte] = chr(256 + extra)
            extra += 1
    return chars


def read_quicktok(name: str) -> tuple[dict[bytes, int], dict[str, int]]:
    """(token bytes -> rank, special token -> id) of a vocabulary bundled with quicktok."""
    import quicktok

    data = Path(quicktok.__file__).parent / "data"
    ranks, specials = {}, {}
    raw = (data / f"{name}.vocab").read_bytes()
    (count,), at = struct.unpack_from("<I", raw), 4
    for _ in range(count):
        (length,) = struct.unpack_from("<H", raw, at)
        token = raw[at + 2 : at + 2 + length]
        (rank,) = struct.unpack_from("<I", raw, at + 2 + length)
        ranks[token] = rank
        at += 2 + length + 4
    raw = (data / f"{name}.special").read_bytes()
    (count,), at = struct.unpack_from("<I", raw), 4
    for _ in range(count):
        index, length = struct.unpack_from("<IH", raw, at)
        specials[raw[at + 6 : at + 6 + length].decode()] = index
        at += 6 + length
    return ranks, specials


def recover_merges(ranks: dict[bytes, int]) -> list[tuple[bytes, bytes]]:
    """The BPE merges of a ranked vocabulary, in rank order."""
    merges = []
    for token, rank in sorted(ranks.items(), key=lambda item: item[1]):
        if len(token) < 2:
            continue
        parts = [token[i : i + 1] for i in range(len(token))]
        while len(parts) > 2:
            best = min(
                range(len(parts) - 1),
                key=lambda i: ranks.get(parts[i] + parts[i + 1], 1 << 62),
            )
            if ranks.get(parts[best] + parts[best + 1], 1 << 62) >= rank:
                break
            parts[best : best + 2] = [parts[best] + parts[best + 1]]
        if len(parts) == 2:
            merges.append((parts[0], parts[1]))
    return merges


def write_bpe_vocab_gguf(path: Path, encoding: str, arch: str, pre: str) -> Path:
    """A vocabulary-only GGUF of quicktok's `encoding` with `tokenizer.ggml.pre = pre`."""
    import gguf

    ranks, specials = read_quicktok(encoding)
    chars = bytes_to_unicode()

    def text(token: bytes) -> str:
        return "".join(chars[b] for b in token)

    by_id = {rank: text(token) for token, rank in ranks.items()}
    by_id.update({index: token for token, index in specials.items()})
    tokens = [by_id.get(i, f"[PAD{i}]") for i in range(max(by_id) + 1)]
    special_ids = set(specials.values())
    types = [3 if i in special_ids else 1 if i in by_id else 5 for i in range(len(tokens))]
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges([f"{text(a)} {text(b)}" for a, b in recover_merges(ranks)])
    _finish(writer)
    return Path(path)


def write_spm_vocab_gguf(path: Path) -> Path:
    """A small Gemma-style SentencePiece vocabulary (model "llama", scores, byte tokens)."""
    import gguf

    pieces = ["▁", *"abcdefghijklmnopqrstuvwxyzT", "▁t", "he", "▁the", "▁a", "is", "▁is", "ou",
              "▁▁", "ll", "▁he", "▁hell", "hell", "▁hello"]
    tokens = GEMMA_CONTROL + [f"<0x{b:02X}>" for b in range(256)] + pieces
    types = [3, 3, 3, 2, 3, 3] + [6] * 256 + [1] * len(pieces)
    # Longer pieces score higher, so they are merged first.
    scores = [0.0] * (len(GEMMA_CONTROL) + 256)
    scores += [-100.0 + 10 * len(piece) - 0.01 * i for i, piece in enumerate(pieces)]
    writer = gguf.GGUFWriter(str(path), "gemma3")
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_scores(scores)
    writer.add_bos_token_id(tokens.index("<bos>"))
    writer.add_eos_token_id(tokens.index("<eos>"))
    writer.add_unk_token_id(tokens.index("<unk>"))
    writer.add_pad_token_id(tokens.index("<pad>"))
    writer.add_add_space_prefix(False)
    _finish(writer)
    return Path(path)


def _finish(writer) -> None:
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
