"""StreamingT2V (arXiv 2403.14773) model side in plain PyTorch: CAM mergers, APM, E_cond, the ModelScope UNet3D with
its CAM control branch, randomized blending, schedules and autoregressive frame bookkeeping.

Importing builds nothing and reads no weights.
"""
from .apm import APMCrossAttention, ImageTokenResampler, mix_context
from .blending import OffsetSampler, blend_chunk_predictions, chunk_starts, frame_to_chunk, ms_trim_length, svd_enhance_chunks
from .bookkeeping import check_ms_length, ms_autoreg_runs, ms_kept_frames, ms_output_frames, reachable_lengths, svd_plan
from .cond_embedding import CondFrameEncoder
from .control import CAMControlBranch
from .merger import CrossAttentionMerger
from .model import DenoiserOutput, StreamingT2V, StreamingT2VConfig, load_streaming_t2v_weights
from .unet3d import BaseUNet3D, UNet3DConfig

__all__ = [
    "APMCrossAttention",
    "BaseUNet3D",
    "CAMControlBranch",
    "CondFrameEncoder",
    "CrossAttentionMerger",
    "DenoiserOutput",
    "ImageTokenResampler",
    "OffsetSampler",
    "StreamingT2V",
    "StreamingT2VConfig",
    "UNet3DConfig",
    "blend_chunk_predictions",
    "check_ms_length",
    "chunk_starts",
    "frame_to_chunk",
    "load_streaming_t2v_weights",
    "mix_context",
    "ms_autoreg_runs",
    "ms_kept_frames",
    "ms_output_frames",
    "ms_trim_length",
    "reachable_lengths",
    "svd_enhance_chunks",
    "svd_plan",
]
