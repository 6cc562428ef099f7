"""Training stage: the decoder's training loop (HF Trainer), and later adaptation (LoRA)."""

from tunesmith.training.trainer import SegmentDataset, TrainConfig, train

__all__ = ["SegmentDataset", "TrainConfig", "train"]
