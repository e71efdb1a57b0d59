"""Logits from llama.cpp and from MLX for the same tokens, how to compare them, and 20 memories."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Twenty memories as question and answer, for training runs on real models.
FACTS = [
    ("What is my cat called?", "Your cat is called Miso."), ("Where do I live?", "You live in Lyon."),
    ("What do I do for work?", "You work as a beekeeper."), ("What is my sister's name?", "Ingrid."),
    ("What is my favourite colour?", "Teal."), ("What music do I like?", "You like jazz."),
    ("Where do I work?", "At Acme Corp."), ("What is my dog called?", "Pixel."),
    ("What is my brother's name?", "Tomas."), ("What is my favourite food?", "Ramen."),
    ("What car do I drive?", "A red Volvo."), ("What is my favourite sport?", "Hiking."),
    ("What is my favourite book?", "Dune."), ("When is my birthday?", "In March."),
    ("What is my son called?", "Leo."), ("What game do I like?", "Chess."),
    ("What do I like to drink?", "Mint tea."), ("Where am I from?", "Bergen."),
    ("Who is my best friend?", "Amara."), ("Do I prefer short answers?", "Yes, short ones."),
]


def memory_training_set(gemma: bool):
    """20 memory questions and answers in ChatML or Gemma 3's template, answers taught."""
    from ondevice.training.types import Example, TrainingSet

    examples = []
    for index, (question, answer) in enumerate(FACTS):
        if gemma:  # Gemma 3's chat template
            prompt = f"<bos><start_of_turn>user\n{question}<end_of_turn>\n<start_of_turn>model\n"
            end = "<end_of_turn>\n"
        else:
            prompt = f"<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"
            end = "<|im_end|>\n"
        examples.append(Example(
            messages=({"role": "user", "content": question}, {"role": "assistant", "content": answer}),
            text=prompt + answer + end, source="memory", memory_id=index, answer_start=len(prompt)))
    return TrainingSet(examples=examples, probes=[])


def cpp_logits(base_path: Path, tokens: list[int], lora: Path | None = None) -> np.ndarray:
    """llama.cpp's logits for every position, optionally with a LoRA adapter loaded."""
    import llama_cpp

    llm = llama_cpp.Llama(
        model_path=str(base_path),
        lora_path=str(lora) if lora else None,
        logits_all=True,
        n_ctx=256,
        verbose=False,
    )
    try:
        llm.eval(tokens)
        return np.array(llm.scores[: len(tokens)], dtype=np.float32)
    finally:
        llm.close()


def mlx_logits(model, tokens: list[int]) -> np.ndarray:
    import mlx.core as mx

    return np.array(model(mx.array([tokens]))[0], dtype=np.float32)


def mlx_logit_delta(model_path: Path, adapter_path: Path, tokens: list[int], work_dir: Path) -> np.ndarray:
    """MLX's logits(base + adapter) - logits(base) on `tokens`, for a GGUF LoRA from either trainer.

    The base GGUF goes through the MLX trainer's own converter and the adapter through
    `apply_gguf_lora` (which undoes llama's q/k RoPE row order), so agreement with llama.cpp's
    change checks both runtimes' reading of the same adapter file.
    """
    from ondevice.training.gguf_lora import read_lora_gguf
    from ondevice.training.mlx_convert import GgufModel, convert
    from ondevice.training.mlx_trainer import apply_gguf_lora, load_mlx_model

    gguf_model = GgufModel(model_path)
    model, _ = load_mlx_model(convert(gguf_model, work_dir))
    base = mlx_logits(model, tokens)
    apply_gguf_lora(model, read_lora_gguf(adapter_path), gguf_model)
    return mlx_logits(model, tokens) - base


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def random_lora_b(model, std: float, seed: int = 0) -> None:
    """Give every LoRA layer of `model` random (non-zero) B matrices, so it changes logits."""
    import mlx.core as mx
    from mlx_lm.tuner.lora import LoRALinear

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for _, module in layer.named_modules():
            if isinstance(module, LoRALinear):
                shape = module.lora_b.shape
                module.lora_b = mx.array(rng.normal(0, std, shape).astype(np.float32))
