"""Write ``cupy_api.json``: the names and keyword parameters of CuPy's array API.

Run it where CuPy is installed (it needs no GPU: ``pip install cupy-cuda12x``)::

    python tests/data/make_cupy_api.py

``tests/test_cupy_api.py`` checks every array call the code makes on the strict device against
this list, so a function, method or keyword CuPy does not have is found on a machine with no
GPU.  The list is CuPy's own (read off the installed package), not derived from minigrad.
"""
import inspect
import json
import pathlib
import re

import cupy

# CuPy's ufuncs (cupy.tanh, cupy.add...) take these keywords (cupy/_core/_kernel.pyx, ufunc.__call__).
UFUNC_KEYWORDS = ["out", "dtype", "casting"]


def parameters(obj):
    """Keyword names ``obj`` accepts, or None when it takes any (``**kwargs``) or cannot be read."""
    if type(obj).__name__ == "ufunc":
        return UFUNC_KEYWORDS
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        # Cython methods: the signature is the docstring's first line, "name(self, a, b=None)".
        match = re.match(r"[\w.]+\((.*?)\)", (obj.__doc__ or "").strip())
        if not match:
            return None
        names = []
        for part in match.group(1).split(","):
            part = part.split("=")[0].split(":")[0].split()[-1] if part.strip() else ""  # "int n=0"
            if part.startswith("**"):
                return None
            if part and part not in ("self", "*", "/") and not part.startswith("*"):
                names.append(part)
        return names
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return None
    return [name for name, p in sig.parameters.items()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and name != "self"]


def table(namespace):
    return {name: parameters(getattr(namespace, name)) if callable(getattr(namespace, name)) else "attribute"
            for name in dir(namespace) if not name.startswith("_")}


api = {
    "cupy_version": cupy.__version__,
    "functions": {**table(cupy),
                  **{f"linalg.{k}": v for k, v in table(cupy.linalg).items()},
                  **{f"random.{k}": v for k, v in table(cupy.random).items()}},
    "ndarray": table(cupy.ndarray),
    "ndarray_dunders": sorted(n for n in dir(cupy.ndarray) if n.startswith("__")),
    "Generator": table(cupy.random.Generator),
}
path = pathlib.Path(__file__).with_name("cupy_api.json")
path.write_text(json.dumps(api, indent=1, sort_keys=True) + "\n")
print(f"wrote {path} (CuPy {cupy.__version__}: {len(api['functions'])} functions, "
      f"{len(api['ndarray'])} ndarray attributes)")
