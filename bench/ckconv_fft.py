"""Time FFT against direct convolution for the kernel sizes a CKConv samples (not a test).

Forward + backward of a 'same' 2D convolution of a (BATCH, CHANNELS, SIZE, SIZE) input with a
(CHANNELS, CHANNELS, k, k) kernel, direct (F.conv2d) and through the FFT (ckconv.fft_conv); prints the
median times, their ratio, the measured crossover and the one that CKConv(use_fft=None) uses.

    python bench/ckconv_fft.py [--size=256 --channels=8 --kernels=3,7,15,31 --threads=1]
"""

# data
SIZE = 256  # input side in pixels
CHANNELS = 8  # input and output channels
BATCH = 1  # inputs per call
KERNELS = (3, 7, 15, 31)  # odd kernel sizes to time
# output
REPEATS = 5  # timed calls per case (median reported), after one warm-up call
SLOW_S = 5.0  # a case whose warm-up call takes longer than this many seconds is timed by that call alone
THREADS = 1  # torch threads: 1 times steadily on a shared CPU; 0 keeps torch's default
DEVICE = "cpu"  # cpu, cuda, cuda:N
SEED = 0  # seeds the random input and kernels

import statistics  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from ckconv import FFT_MIN_TAPS, fft_conv  # noqa: E402
from oinr.errors import cli  # noqa: E402
from oinr.fit.config import configure  # noqa: E402
from oinr.fit.experiment import check  # noqa: E402
from oinr.fit.runs import pick_device  # noqa: E402


def timed(fn, x, w, device) -> float:
    """Median seconds of forward + backward of fn(x, w) over REPEATS calls (one warm-up first)."""
    times = []
    for i in range(REPEATS + 1):
        if i == 1 and times[0] > SLOW_S:  # direct 31x31 can take a minute a call on a CPU
            return times[0]
        x.grad = w.grad = None
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        fn(x, w).square().mean().backward()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])


def main():
    configure(globals())
    check(all(k > 0 and k % 2 for k in KERNELS), f"--kernels must be odd and positive, got {KERNELS}")
    check(SIZE > 0 and CHANNELS > 0 and BATCH > 0 and REPEATS > 0, "--size, --channels, --batch, --repeats: > 0")
    if THREADS:
        torch.set_num_threads(THREADS)
    device = pick_device(DEVICE)
    torch.manual_seed(SEED)
    x = torch.randn(BATCH, CHANNELS, SIZE, SIZE, device=device, requires_grad=True)  # (B, C, H, W)
    direct = lambda x, w: F.conv2d(x, w, padding=w.shape[-1] // 2)
    print(f"{BATCH}x{CHANNELS}x{SIZE}x{SIZE} -> {CHANNELS} channels, forward + backward, "
          f"{torch.get_num_threads()} threads, {device}, median of {REPEATS}")  # fmt: skip
    print("| kernel | taps | direct (ms) | fft (ms) | direct / fft |\n|---:|---:|---:|---:|---:|")
    crossover = None
    for k in KERNELS:
        w = (torch.randn(CHANNELS, CHANNELS, k, k, device=device) / k).requires_grad_()  # (C, C, k, k)
        t_direct, t_fft = timed(direct, x, w, device), timed(fft_conv, x, w, device)
        if crossover is None and t_fft < t_direct:
            crossover = k
        print(f"| {k} | {k * k} | {t_direct * 1e3:.1f} | {t_fft * 1e3:.1f} | {t_direct / t_fft:.2f} |")
    found = f"{crossover}x{crossover} = {crossover**2} taps" if crossover else "none of the sizes timed"
    print(f"measured crossover (first size where the FFT is faster): {found}")
    print(f"CKConv(use_fft=None) uses the FFT from FFT_MIN_TAPS = {FFT_MIN_TAPS} taps (k^d) upwards")


if __name__ == "__main__":
    cli(main)
