"""Everything train, eval and detect read: faces, crops, masks, manifests, sources."""
from .faces import Face, FaceCrop, crop_box, crop_face, detect_faces, paste_back, pick_faces
from .io import BadInput, read_image, read_mask
from .masks import difference_mask
from .records import Record, read_manifest, write_manifest
from .transforms import to_tensor

__all__ = ["BadInput", "Face", "FaceCrop", "Record", "crop_box", "crop_face", "detect_faces", "difference_mask",
           "paste_back", "pick_faces", "read_image", "read_manifest", "read_mask", "to_tensor", "write_manifest"]
