"""Foundations every layer uses, importing nothing else of the project: the errors, atomic I/O, the paths of every
output (:mod:`add.core.layout`), the typed params (:mod:`add.core.params`), the stages' argument parser
(:mod:`add.core.args`), seeded random streams, CPU kernel pinning, the teacher/student qualities, the one way a
figure is written and the metrics (pure NumPy). Modules are imported one by one; this file imports nothing.
"""
