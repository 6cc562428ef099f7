"""Model stage: the Llama decoder, checkpoints, and the conditioners that feed it."""

from tunesmith.model.decoder import (
    DEFAULT_MODEL_DIR,
    PRESETS,
    Checkpoint,
    ModelConfig,
    build_model,
    load_checkpoint,
    save_checkpoint,
)

__all__ = [
    "DEFAULT_MODEL_DIR",
    "PRESETS",
    "Checkpoint",
    "ModelConfig",
    "build_model",
    "load_checkpoint",
    "save_checkpoint",
]
