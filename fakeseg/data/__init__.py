"""Everything train, eval and detect read: faces, crops, masks, manifests, sources.

The names below load on first use: `transforms` pulls in torch, and the CLI imports `fakeseg.data.*` modules to
build its options (`fakeseg --help` should not wait ~2 s for torch).
"""

from .._lazy import lazy_attributes

_WHERE = {
    "Face": "faces", "FaceCrop": "faces", "crop_box": "faces", "crop_face": "faces", "detect_faces": "faces",
    "paste_back": "faces", "pick_faces": "faces",
    "BadInput": "io", "read_image": "io", "read_mask": "io",
    "difference_mask": "masks",
    "Record": "records", "read_manifest": "records", "write_manifest": "records",
    "to_tensor": "transforms",
}
__all__ = sorted(_WHERE)
__getattr__ = lazy_attributes(__name__, _WHERE)
