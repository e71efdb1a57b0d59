"""Chat templates: the model's own (GGUF `tokenizer.chat_template`) or one the user chose.

A base model (no template in its GGUF) can still chat and learn once the `chat_template`
setting names a known template or a Jinja file; chat and training then render the same text.
"""

from __future__ import annotations

from pathlib import Path

# Jinja in the form llama-cpp-python's Jinja2ChatFormatter renders (messages, bos_token,
# eos_token, add_generation_prompt, raise_exception). No BOS text: the tokenizer adds BOS when
# the model wants it (Gemma, Llama 3), as it does for the bundled model.
KNOWN_TEMPLATES: dict[str, str] = {
    # Qwen / SmolLM style.
    "chatml": (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    ),
    # Gemma: roles user/model, no system role (Gemma 3's template puts the system text at the
    # start of the first user turn).
    "gemma": (
        "{% set first = 0 %}{% set system = '' %}"
        "{% if messages[0]['role'] == 'system' %}{% set system = messages[0]['content'] + '\n\n' %}"
        "{% set first = 1 %}{% endif %}"
        "{% for m in messages[first:] %}"
        "<start_of_turn>{{ 'model' if m['role'] == 'assistant' else 'user' }}\n"
        "{{ system if loop.first else '' }}{{ m['content'] | trim }}<end_of_turn>\n{% endfor %}"
        "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
    ),
    # Llama 3 / 3.1 / 3.2.
    "llama3": (
        "{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
        "{{ m['content'] | trim }}<|eot_id|>{% endfor %}"
        "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
    ),
}
# Where each known template's turn ends: generation stops there even when the model's own EOS
# token is a different one (a base model's vocabulary often is).
TURN_ENDS = {"chatml": "<|im_end|>", "gemma": "<end_of_turn>", "llama3": "<|eot_id|>"}


class ChatTemplateError(Exception):
    """No usable chat template: one sentence saying how to set one."""


def setting_help() -> str:
    return f"{', '.join(KNOWN_TEMPLATES)} or the path of a Jinja template file"


def check_setting(value: str | None) -> str | None:
    """Normalize the `chat_template` setting: None/""/"auto" (the model's own), a known name, or a
    path to an existing Jinja file.

    Raises:
        ValueError: neither a known name nor a readable file.
    """
    if value in (None, "", "auto", "model"):
        return None
    text = str(value).strip()
    if text in KNOWN_TEMPLATES:
        return text
    path = Path(text).expanduser()
    if path.is_file():
        return str(path.resolve())
    raise ValueError(f"use auto, {setting_help()}")


def resolve_template(setting: str | None, model_template: str | None, model_name: str) -> tuple[str, list[str]]:
    """The template text to use and its extra stop strings.

    Args:
        setting: the `chat_template` setting (None: the model's own).
        model_template: the GGUF's `tokenizer.chat_template`, if any.
        model_name: shown in the error.

    Raises:
        ChatTemplateError: no setting and no template in the model, or the file cannot be read.
    """
    if setting in KNOWN_TEMPLATES:
        return KNOWN_TEMPLATES[setting], [TURN_ENDS[setting]]
    if setting:
        try:
            return Path(setting).read_text(encoding="utf-8"), []
        except (OSError, UnicodeDecodeError) as exc:
            raise ChatTemplateError(f"The chat template file {setting} cannot be read ({exc}): "
                                    "fix it or choose another with `nocturne settings set chat_template ...`.") from exc
    if model_template:
        return model_template, []
    raise ChatTemplateError(
        f"{model_name} has no chat template (it is probably a base model): choose one with "
        f"`nocturne settings set chat_template NAME` ({setting_help()})."
    )
