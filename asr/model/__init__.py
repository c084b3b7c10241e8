"""The acoustic model: CMVN -> convolutional subsampling -> recurrent stack -> linear CTC head."""

from asr.model.encoder import CtcModel, ModelConfig

__all__ = ["CtcModel", "ModelConfig"]
