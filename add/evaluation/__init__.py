"""Evaluation layer: the ``evaluate`` (:mod:`add.evaluation.evaluate`), ``gallery``, ``spectrum`` and ``cross``
stages, each one module with its run, ``settings(params)`` and ``main(argv)``; the cross-dataset evaluation's parts
(:mod:`add.evaluation.cross_faces`: face crops cached per video and settings, :mod:`add.evaluation.cross_scoring`:
a model's metrics on them, :mod:`add.evaluation.cross_plot`: the models compared) and the seeded study's statistics
(:mod:`add.evaluation.study_stats`). Modules are imported one by one; this file imports nothing.
"""
