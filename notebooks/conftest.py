"""nbval's settings for the notebooks here (pytest reads this file when it collects them).

nbval starts each notebook's kernel with this process's environment. A classroom notebook
(teacher.ipynb) listens where WSDEMO_CLASSROOM_HOST and WSDEMO_CLASSROOM_PORT say, every
interface by default, for a real class: a test run must listen on loopback only, on a free
port, whatever the shell exported. The builder (scripts/build_notebooks.py) runs its kernels
with the same KERNEL_ENV, so saved and fresh outputs come from the same set-up.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "build_notebooks.py"


def _kernel_env() -> dict[str, str]:
    module = sys.modules.get("build_notebooks")
    if module is None:
        spec = importlib.util.spec_from_file_location("build_notebooks", _SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules["build_notebooks"] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
    return module.KERNEL_ENV


os.environ.update(_kernel_env())
