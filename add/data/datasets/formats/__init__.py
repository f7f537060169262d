"""The dataset formats, one module each, named as the format (``add lists --format``, params ``cross: format``).

Each module reads its format's own files and registers itself with :func:`add.data.datasets.registry.register`;
:data:`add.core.registry.FORMATS` finds the names from the files here without importing them. docs/extending.md:
A new dataset format.
"""

from add.core.registry import FORMATS

REGISTRY = FORMATS  # its entries are this package's modules, imported on demand (tests/test_dvc_deps.py)
