"""Everything train, eval and detect read: faces, crops, masks, manifests, sources.

The names below load on first use: `transforms` pulls in torch, and the CLI imports `fakeseg.data.*` modules to
build its options (`fakeseg --help` should not wait ~2 s for torch).
"""

_LAZY = {
    "Face": "faces", "FaceCrop": "faces", "crop_box": "faces", "crop_face": "faces", "detect_faces": "faces",
    "paste_back": "faces", "pick_faces": "faces",
    "BadInput": "io", "read_image": "io", "read_mask": "io",
    "difference_mask": "masks",
    "Record": "records", "read_manifest": "records", "write_manifest": "records",
    "to_tensor": "transforms",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'fakeseg.data' has no attribute {name!r}")
