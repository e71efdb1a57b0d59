"""Rebuild a `tokenizers` tokenizer from a GGUF's vocabulary, token for token equal to llama.cpp's.

`transformers` cannot read a GGUF without torch, and no hub is reachable, so the tokenizer MLX
trains with is rebuilt here from the GGUF metadata alone. Two families are handled:

- byte-level BPE (`tokenizer.ggml.model == "gpt2"`): the vocabulary and merges as stored, split
  first by the regex llama.cpp uses for the GGUF's pre-tokenizer (`tokenizer.ggml.pre`);
- SentencePiece (`tokenizer.ggml.model == "llama"`, Gemma): llama.cpp merges the best-scoring
  pair first, which is BPE whose merges are ranked by the merged piece's score, with byte
  fallback for characters outside the vocabulary.
"""

from __future__ import annotations

from .types import UnsupportedModel

# llama.cpp token types (gguf.TokenType).
TOKEN_NORMAL = 1
TOKEN_CONTROL = 3
TOKEN_USER_DEFINED = 4

# The regexes of the models' own tokenizer.json files, which llama.cpp re-implements per
# `tokenizer.ggml.pre` (llama-vocab.cpp rewrites the (?i:...) group by hand; same matches).
_CONTRACTIONS = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)"
# Llama 3: numbers in groups of up to three digits.
_LLAMA3 = _CONTRACTIONS + (
    r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# Qwen2/2.5/3: every digit on its own.
_QWEN2 = _CONTRACTIONS + (
    r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# llama.cpp's names for Llama 3's pre-tokenizer.
LLAMA3_NAMES = ("llama-bpe", "llama3", "llama-v3")
# `tokenizer.ggml.pre` -> split regex.
BPE_SPLIT_REGEX = {**{name: _LLAMA3 for name in LLAMA3_NAMES}, "qwen2": _QWEN2}
# GPT-2's own split (what ByteLevel's built-in regex does), optionally after splitting digits.
GPT2_PRE_TOKENIZERS = {"default": False, "gpt2": False, "smollm": True}  # name -> digits first

SPM_SPACE = "\u2581"  # SentencePiece's visible space


def supported_pre_tokenizers() -> tuple[str, ...]:
    """Every byte-level BPE pre-tokenizer name this module rebuilds."""
    return tuple(sorted([*BPE_SPLIT_REGEX, *GPT2_PRE_TOKENIZERS]))


def build_tokenizer(model):
    """A `tokenizers.Tokenizer` equal to llama.cpp's for this GGUF.

    Args:
        model: an opened GGUF (`mlx_convert.GgufModel`: `.field(key)` reads metadata).

    Returns:
        The tokenizer; control tokens are special added tokens, so chat markup such as
        <|im_start|> or <start_of_turn> maps to single ids when encoded.

    Raises:
        UnsupportedModel: a tokenizer family or pre-tokenizer llama.cpp has that this does not.
    """
    kind = model.field("tokenizer.ggml.model")
    if kind == "gpt2":
        tokenizer = _byte_level_bpe(model)
    elif kind == "llama":
        tokenizer = _sentencepiece(model)
    else:
        raise UnsupportedModel(
            f"{model.path.name}: tokenizer '{kind}' is not supported by the MLX trainer "
            "(supported: byte-level BPE 'gpt2' and SentencePiece 'llama')"
        )
    _add_added_tokens(tokenizer, model)
    return tokenizer


def require_supported_tokenizer(model) -> None:
    """Raise UnsupportedModel, from the header alone, if `build_tokenizer` would refuse."""
    kind = model.field("tokenizer.ggml.model")
    pre = model.field("tokenizer.ggml.pre", "default")
    if kind == "llama":
        return
    if kind != "gpt2":
        raise UnsupportedModel(
            f"{model.path.name}: tokenizer '{kind}' is not supported by the MLX trainer"
        )
    if pre not in BPE_SPLIT_REGEX and pre not in GPT2_PRE_TOKENIZERS:
        raise UnsupportedModel(
            f"{model.path.name}: pre-tokenizer '{pre}' is not supported by the MLX trainer "
            f"(supported: {', '.join(supported_pre_tokenizers())})"
        )


def _byte_level_bpe(model):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    require_supported_tokenizer(model)
    pre = model.field("tokenizer.ggml.pre", "default")
    tokens = model.field("tokenizer.ggml.tokens")
    merges = [tuple(m.split(" ", 1)) for m in model.field("tokenizer.ggml.merges")]
    vocab = {token: index for index, token in enumerate(tokens)}
    # llama.cpp emits a Llama 3 pre-token that is itself in the vocabulary without merging.
    tokenizer = Tokenizer(
        models.BPE(vocab=vocab, merges=merges, fuse_unk=False, ignore_merges=pre in LLAMA3_NAMES)
    )
    if pre in BPE_SPLIT_REGEX:
        splitters = [
            pre_tokenizers.Split(Regex(BPE_SPLIT_REGEX[pre]), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    else:
        splitters = [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]
        if GPT2_PRE_TOKENIZERS[pre]:
            splitters.insert(0, pre_tokenizers.Digits(individual_digits=True))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(splitters)
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def _sentencepiece(model):
    from tokenizers import Tokenizer, decoders, models, normalizers

    tokens = model.field("tokenizer.ggml.tokens")
    scores = model.field("tokenizer.ggml.scores")
    if scores is None or len(scores) != len(tokens):
        raise UnsupportedModel(f"{model.path.name}: SentencePiece vocabulary without scores")
    vocab = {token: index for index, token in enumerate(tokens)}
    unk_id = model.field("tokenizer.ggml.unknown_token_id")
    tokenizer = Tokenizer(
        models.BPE(
            vocab=vocab,
            merges=sentencepiece_merges(tokens, scores),
            byte_fallback=True,
            fuse_unk=True,
            unk_token=tokens[unk_id] if unk_id is not None else None,
        )
    )
    steps = [normalizers.Replace(" ", SPM_SPACE)]
    # llama.cpp adds a leading space unless the GGUF says not to (Gemma 3 says not to).
    if model.field("tokenizer.ggml.add_space_prefix", True):
        steps.insert(0, normalizers.Prepend(SPM_SPACE))
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.decoder = decoders.Sequence(
        [decoders.Replace(SPM_SPACE, " "), decoders.ByteFallback(), decoders.Fuse()]
    )
    return tokenizer


def sentencepiece_merges(tokens: list[str], scores: list[float]) -> list[tuple[str, str]]:
    """BPE merges equivalent to SentencePiece's "merge the best-scoring pair" rule.

    Every way to write a vocabulary piece as two vocabulary pieces is a merge, ranked by the
    piece's score (best first); ties keep vocabulary order, as `transformers` does.
    """
    vocab = {token: index for index, token in enumerate(tokens)}
    ranked = []
    for index, piece in enumerate(tokens):
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in vocab and right in vocab:
                ranked.append((-scores[index], vocab[left], vocab[right], left, right))
    ranked.sort()
    return [(left, right) for *_, left, right in ranked]


def _add_added_tokens(tokenizer, model) -> None:
    """Control tokens become special added tokens, user-defined ones plain added tokens.

    llama.cpp matches both on the raw text before the model's own tokenization, as
    `tokenizers` does for added tokens that are not normalized.
    """
    from tokenizers import AddedToken

    tokens = model.field("tokenizer.ggml.tokens")
    types = model.field("tokenizer.ggml.token_type") or [TOKEN_NORMAL] * len(tokens)
    added = [
        AddedToken(token, special=(kind == TOKEN_CONTROL), normalized=False)
        for token, kind in zip(tokens, types)
        if kind in (TOKEN_CONTROL, TOKEN_USER_DEFINED)
    ]
    tokenizer.add_special_tokens([t for t in added if t.special])
    tokenizer.add_tokens([t for t in added if not t.special])


def adds_bos(model) -> bool:
    """Whether llama.cpp puts BOS before a text it tokenizes (the engine and its trainer do).

    The GGUF's flag, else llama.cpp's default: SentencePiece and Llama 3 vocabularies add it.
    """
    flag = model.field("tokenizer.ggml.add_bos_token")
    if flag is not None:
        return bool(flag)
    kind, pre = model.field("tokenizer.ggml.model"), model.field("tokenizer.ggml.pre")
    return kind == "llama" or (kind == "gpt2" and pre in LLAMA3_NAMES)


def tokenizer_config(model) -> dict:
    """tokenizer_config.json: chat template and special tokens, for `transformers` users."""
    tokens = model.field("tokenizer.ggml.tokens")

    def token(key: str):
        index = model.field(f"tokenizer.ggml.{key}")
        return tokens[index] if index is not None and 0 <= index < len(tokens) else None

    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": token("bos_token_id"),
        "eos_token": token("eos_token_id"),
        "unk_token": token("unknown_token_id"),
        "pad_token": token("padding_token_id"),
        "add_bos_token": adds_bos(model),
        "add_eos_token": bool(model.field("tokenizer.ggml.add_eos_token", False)),
        "clean_up_tokenization_spaces": False,
        "model_max_length": int(model.arch_field("context_length", 2048)),
    }
    template = model.field("tokenizer.chat_template")
    if template:
        config["chat_template"] = template
    return {key: value for key, value in config.items() if value is not None}
