#!/usr/bin/env python3
"""Builds the forward kernels of the peers fetched by tests/bench/prepare_peers.sh as torch
extensions (selective_scan_cuda, causal_conv1d_cuda) into .peers/site, next to the Python packages
that import them (objects under $TMPDIR/mambascope-peers-build). A build already there is reused
when its stamp names this torch, CUDA and arch and it loads. Then, where a GPU is present, each
kernel is checked against the package's own reference, and the paths HF transformers will take
are printed. Called by build_peers_on_gpu.sh; runs wherever nvcc and torch are (a CPU machine
builds and import-checks).

    python tests/bench/build_peers.py [--peers .peers] [--arch 9.0] [--jobs 16] [--force]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The flags upstream's setup.py gives nvcc (fast math included: it changes the scan's exp).
NVCC_FLAGS = ["-O3", "-std=c++17", "-U__CUDA_NO_HALF_OPERATORS__", "-U__CUDA_NO_HALF_CONVERSIONS__",
              "-U__CUDA_NO_BFLOAT16_OPERATORS__", "-U__CUDA_NO_BFLOAT16_CONVERSIONS__",
              "-U__CUDA_NO_BFLOAT162_OPERATORS__", "-U__CUDA_NO_BFLOAT162_CONVERSIONS__",
              "--expt-relaxed-constexpr", "--expt-extended-lambda", "--use_fast_math", "-lineinfo"]


def extensions(csrc):
    ss, cc = csrc / "selective_scan", csrc / "causal_conv1d"
    return {
        "causal_conv1d_cuda": [cc / "causal_conv1d.cpp", cc / "causal_conv1d_fwd.cu",
                               cc / "causal_conv1d_update.cu", HERE / "peer_stubs/causal_conv1d_bwd_stub.cu"],
        "selective_scan_cuda": [ss / "selective_scan.cpp", ss / "selective_scan_fwd_fp32.cu",
                                ss / "selective_scan_fwd_bf16.cu", ss / "selective_scan_fwd_fp16.cu",
                                HERE / "peer_stubs/selective_scan_bwd_stub.cu"],
    }


def stamp():
    """What a built extension is tied to: torch's version (its C++ ABI) and its CUDA version."""
    import torch
    return f"torch {torch.__version__} cuda {torch.version.cuda}"


def usable(target, arch):
    """A carried or earlier build is reused only if it was made for this torch and arch and loads."""
    tag = target.with_suffix(".stamp")
    if not target.exists() or not tag.exists():
        return False
    if tag.read_text().strip() != f"{stamp()} arch {arch}":
        print(f"[peers] {target.name}: built for {tag.read_text().strip()}, rebuilding", flush=True)
        return False
    probe = subprocess.run([sys.executable, "-c", f"import torch, {target.stem}"], capture_output=True,
                           text=True, env=dict(os.environ, PYTHONPATH=str(target.parent)))
    if probe.returncode != 0:
        print(f"[peers] {target.name}: does not load ({probe.stderr.strip().splitlines()[-1]}), "
              "rebuilding", flush=True)
    return probe.returncode == 0


def build(peers, arch, force):
    from torch.utils.cpp_extension import load
    site = peers / "site"
    for name, sources in extensions(peers / "csrc").items():
        target = site / f"{name}.so"
        missing = [str(s) for s in sources if not s.exists()]
        if missing:
            sys.exit(f"build_peers.py: {missing[0]}: missing (run tests/bench/prepare_peers.sh)")
        if not force and usable(target, arch):
            print(f"[peers] {name}: reusing {target} ({target.with_suffix('.stamp').read_text().strip()})",
                  flush=True)
            continue
        # Objects stay out of .peers so that the folder carried to the GPU host stays small.
        bdir = Path(tempfile.gettempdir()) / "mambascope-peers-build" / name
        bdir.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        # load() drives ninja (MAX_JOBS processes, one nvcc per file) and names the module `name`.
        load(name=name, sources=[str(s) for s in sources], build_directory=str(bdir),
             extra_cflags=["-O3", "-std=c++17"], extra_cuda_cflags=NVCC_FLAGS,
             extra_include_paths=[str(sources[0].parent)], verbose=False)
        shutil.copy2(bdir / f"{name}.so", target)
        target.with_suffix(".stamp").write_text(f"{stamp()} arch {arch}\n")
        print(f"[peers] {name}: built for sm_{arch.replace('.', '')} in {time.perf_counter() - t:.0f} s, "
              f"{target.stat().st_size / 2**20:.1f} MiB", flush=True)


def check_kernels(dev="cuda"):
    """Run each peer kernel once on small random inputs against the package's own reference."""
    import torch
    from causal_conv1d.causal_conv1d_interface import causal_conv1d_fn, causal_conv1d_ref
    from mamba_ssm.ops.selective_scan_interface import selective_scan_fn, selective_scan_ref
    from mamba_ssm.ops.triton.ssd_combined import mamba_chunk_scan_combined
    from mamba_ssm.modules.ssd_minimal import ssd_minimal_discrete
    g = torch.Generator(device=dev).manual_seed(0)

    def rnd(*s, dtype=torch.float32):
        return torch.randn(*s, device=dev, generator=g).to(dtype)

    # Errors are max |kernel - reference| / max |reference|. Tolerances: fp32 at the order of the
    # packages' own tests (fast-math exp, other summation orders); bf16 a few output ulps; the SSD
    # looser, as its Triton dots run in TF32.
    worst = {}
    for dtype, tol in ((torch.float32, 1e-3), (torch.bfloat16, 3e-2)):
        x, w, b = rnd(2, 64, 300, dtype=dtype), rnd(64, 4, dtype=dtype), rnd(64, dtype=dtype)
        got = causal_conv1d_fn(x, w, b, activation="silu").float()
        ref = causal_conv1d_ref(x, w, b, activation="silu").float()
        worst[f"causal_conv1d {dtype}"] = ((got - ref).abs().max().item() / ref.abs().max().item(), tol)
        u, dt, z = rnd(2, 64, 300, dtype=dtype), rnd(2, 64, 300, dtype=dtype) * 0.5, rnd(2, 64, 300, dtype=dtype)
        A = -torch.rand(64, 16, device=dev, generator=g) - 0.5
        B, C = rnd(2, 16, 300, dtype=dtype), rnd(2, 16, 300, dtype=dtype)
        D, dtb = rnd(64), rnd(64) * 0.1
        got = selective_scan_fn(u, dt, A, B, C, D, z, dtb, delta_softplus=True).float()
        ref = selective_scan_ref(u, dt, A, B, C, D, z, dtb, delta_softplus=True).float()
        worst[f"selective_scan {dtype}"] = ((got - ref).abs().max().item() / ref.abs().max().item(), tol)
    # SSD (Mamba-2): Triton chunked scan against the package's minimal discrete form, fp32.
    bsz, L, H, P, N = 2, 512, 4, 64, 32
    x, dt = rnd(bsz, L, H, P), torch.nn.functional.softplus(rnd(bsz, L, H) - 2)
    A, Bm, Cm = -torch.rand(H, device=dev, generator=g) - 0.5, rnd(bsz, L, 1, N), rnd(bsz, L, 1, N)
    got = mamba_chunk_scan_combined(x, dt, A, Bm, Cm, chunk_size=256)
    ref, _ = ssd_minimal_discrete(x * dt[..., None], A * dt, Bm.expand(-1, -1, H, -1),
                                  Cm.expand(-1, -1, H, -1), block_len=256)
    worst["ssd_combined fp32"] = ((got - ref).abs().max().item() / ref.abs().max().item(), 1e-2)
    ok = True
    for k, (err, tol) in worst.items():
        print(f"[peers] check {k}: max error {err:.2e} (tolerance {tol:g}) {'ok' if err <= tol else 'FAILED'}")
        ok &= err <= tol
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peers", default=str(HERE.parent.parent / ".peers"))
    ap.add_argument("--arch", default=os.environ.get("TORCH_CUDA_ARCH_LIST", "9.0"))
    ap.add_argument("--jobs", type=int, default=os.cpu_count())
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--no-build", action="store_true", help="only import-check and report paths")
    a = ap.parse_args()
    peers = Path(a.peers).resolve()
    if not (peers / "site" / "mamba_ssm").is_dir():
        sys.exit(f"build_peers.py: {peers}/site/mamba_ssm: missing (run tests/bench/prepare_peers.sh here "
                 "and carry .peers)")
    # Before torch is imported: the arch list and the job count are read from the environment.
    os.environ["TORCH_CUDA_ARCH_LIST"] = a.arch
    os.environ["MAX_JOBS"] = str(a.jobs)
    sys.path.insert(0, str(peers / "site"))
    sys.path.insert(0, str(HERE))
    if not a.no_build:
        build(peers, a.arch, a.force)
    import torch
    import selective_scan_cuda  # noqa: F401  (fails here if the .so does not load)
    import causal_conv1d_cuda  # noqa: F401
    import hf_peers
    print(f"[peers] torch {torch.__version__}, extensions import from {peers / 'site'}")
    for fam in ("mamba", "mamba2"):
        for fn, impl in hf_peers.active_paths(fam).items():
            print(f"[peers] HF {fam:6s} {fn:22s} -> {impl}")
    ok = all(hf_peers.fast_path(f) for f in ("mamba", "mamba2"))
    if torch.cuda.is_available():
        try:
            ok &= check_kernels()
        except Exception as e:  # e.g. no kernel image for this GPU: one line, and exit status 1
            print(f"[peers] check FAILED: {type(e).__name__}: {str(e).strip().splitlines()[0]}")
            ok = False
    else:
        print("[peers] no GPU: kernels built and imported, not run")
    print(f"[peers] fast path {'ACTIVE' if ok else 'NOT active'}; "
          f"use: export PYTHONPATH={peers / 'site'}${{PYTHONPATH:+:$PYTHONPATH}}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
