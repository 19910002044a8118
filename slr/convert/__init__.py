"""Pose files users already have -> the SPOTER/Siformer pose CSV (``slr convert``).

One module per source format (:mod:`.pose_file` for pose-format ``.pose``, :mod:`.mp_data` for
``MP_Data`` ``.npy`` folders, :mod:`.openpose_json` for OpenPose's per-frame JSON); each turns one
clip into (T, 54, 2) frames through the joint maps of :mod:`slr_fused.data.joint_maps`, which the
MediaPipe extraction uses too. :mod:`.clips` finds the clips, numbers the labels, splits by
group and writes the CSVs.
"""

from .clips import ConvertReport, convert_dataset

__all__ = ["ConvertReport", "convert_dataset"]
