"""Which kernels HF transformers' Mamba models will call, and a switch that hides the peer
packages (mamba_ssm, causal_conv1d) so that the same process can measure HF's torch-only path.

transformers 5.17 decides once, when modeling_mamba / modeling_mamba2 are first imported
(`use_kernel_func_from_hub_with_fallback`): if `import mamba_ssm` / `import causal_conv1d` and the
named function resolve, that function is called; otherwise its reference torch code. So hiding or
checking must happen before those modules are imported, and the answer is read back from the
wrapper's closure rather than guessed from what happens to be installed.
"""
import importlib.abc
import inspect
import sys

PEER_PACKAGES = ("mamba_ssm", "causal_conv1d", "selective_scan_cuda", "causal_conv1d_cuda")

# The functions the no-cache forward of each family calls (eval mode, use_cache=False).
FORWARD_FUNCS = {
    "mamba": ("transformers.models.mamba.modeling_mamba", ["causal_conv1d_fn", "mamba_selective_scan"]),
    "mamba2": ("transformers.models.mamba2.modeling_mamba2", ["causal_conv1d_fn", "mamba2_chunk_scan"]),
}


class _Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in PEER_PACKAGES:
            raise ModuleNotFoundError(f"{name} hidden by bench --peers off", name=name)
        return None


def hide_peers():
    """Make the peer packages unimportable in this process; call before importing transformers'
    Mamba models."""
    loaded = [m for m in sys.modules if m.split(".")[0] in PEER_PACKAGES or
              m.startswith("transformers.models.mamba")]
    if loaded:
        raise RuntimeError(f"hide_peers() after {loaded[0]} was imported: too late to hide")
    sys.meta_path.insert(0, _Hide())


def _implementation(fn):
    """The callable that transformers' fallback wrapper dispatches to, or None if `fn` is not such
    a wrapper (a transformers release that resolves kernels differently)."""
    seen = 0
    while fn is not None and seen < 8:
        try:
            nonlocals = inspect.getclosurevars(fn).nonlocals
        except TypeError:
            return None
        if "implementation" in nonlocals and "torch_function" in nonlocals:
            return nonlocals["implementation"], nonlocals["torch_function"]
        fn = getattr(fn, "__wrapped__", None)
        seen += 1
    return None


def active_paths(family):
    """{function name: 'module.qualname' of what runs, or 'torch reference'} for a family."""
    modname, funcs = FORWARD_FUNCS[family]
    mod = importlib.import_module(modname)
    out = {}
    for name in funcs:
        got = _implementation(getattr(mod, name))
        if got is None:
            out[name] = "unknown (transformers dispatch changed)"
            continue
        impl, ref = got
        out[name] = "torch reference" if impl is ref else f"{impl.__module__}.{impl.__qualname__}"
    return out


def fast_path(family):
    """True when every forward function of the family runs a peer kernel."""
    return all(v != "torch reference" and not v.startswith("unknown")
               for v in active_paths(family).values())
