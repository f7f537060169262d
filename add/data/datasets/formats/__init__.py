"""The dataset formats, one module each, named as the format (``add lists --format``, params ``cross: format``).

Each module reads its format's own files and registers itself with :func:`add.data.datasets.registry.register`;
:mod:`add.data.datasets.registry` finds the names from the files here without importing them. docs/extending.md:
A new dataset format.
"""
