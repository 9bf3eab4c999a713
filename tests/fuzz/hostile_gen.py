#!/usr/bin/env python3
"""Writes one hostile pickle for tests/io/tst_hostile_inputs.cpp:

    hostile_gen.py DIR NAME   -> DIR/NAME.pkl

Under Python's pickle.load (run with DIR as the working directory and this folder on sys.path)
each one creates DIR/NAME.pwned, which is how the test proves the case is live before checking
that our unpickler refuses it. pickle.dumps only records the calls; nothing here runs them.
"""
import builtins
import collections
import os
import pickle
import sys


class Evil:
    """Pickles as REDUCE(fn, args): pickle.load calls fn(*args)."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


class Reduce:
    """An arbitrary (callable, args[, state]) triple; callable so that it may stand as one."""

    def __init__(self, *rv):
        self.rv = rv

    def __reduce__(self):
        return self.rv

    def __call__(self):
        pass


class SetState:
    """A class whose __setstate__ runs code: BUILD on it executes the state (a gadget)."""

    def __setstate__(self, state):
        os.system(state["cmd"])


def case(name):
    touch = f"touch {name}.pwned"
    py = f"__import__('os').system('{touch}')"
    if name == "os_system":
        return Evil(os.system, touch), 2
    if name == "eval":
        return Evil(builtins.eval, py), 3
    if name == "exec":
        return Evil(builtins.exec, py), 3
    if name == "getattr":  # getattr(__import__('os'), 'system')(touch)
        system = Reduce(builtins.getattr, (Evil(builtins.__import__, "os"), "system"))
        return Reduce(system, (touch,)), 3
    if name == "nested_reduce":  # an allowed rebuild whose argument is a call
        import torch  # only to name torch._utils._rebuild_tensor_v2 (pickle checks it exists)
        return Reduce(torch._utils._rebuild_tensor_v2,
                      (Evil(os.system, touch), 0, (1,), (1,), False, collections.OrderedDict())), 2
    if name == "ordered_dict_reduce":
        return Reduce(collections.OrderedDict, (Evil(builtins.exec, py),)), 3
    if name == "setstate":
        return Reduce(SetState, (), {"cmd": touch}), 3
    if name == "build_state_code":  # OrderedDict's BUILD state computed by a call
        return Reduce(collections.OrderedDict, (), Evil(builtins.exec, py)), 3
    if name == "stack_global":
        return Evil(os.system, touch), 4
    if name == "proto5":
        return Evil(builtins.exec, py), 5
    raise SystemExit(f"hostile_gen.py: unknown case {name}")


def main():
    out, name = sys.argv[1], sys.argv[2]
    obj, protocol = case(name)
    data = pickle.dumps({"w": obj}, protocol=protocol, fix_imports=False)
    with open(os.path.join(out, name + ".pkl"), "wb") as f:
        f.write(data)


if __name__ == "__main__":
    # Classes must pickle as hostile_gen.X (importable by the loader), not __main__.X.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import hostile_gen
    hostile_gen.main()
