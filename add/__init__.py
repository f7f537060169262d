"""ADD: Attention-based Deepfake detection Distiller.

Layers, each importing only its own layer or those below it (docs/architecture.md): :mod:`add.core` (params, paths,
I/O, metrics), :mod:`add.data` (videos to shards, the test datasets' readers), :mod:`add.models` (the detector, its
card, Grad-CAM), :mod:`add.losses` (the distillers), :mod:`add.training` (the loop; the ``teacher`` and ``student``
stages), :mod:`add.evaluation` (the ``evaluate``, ``gallery``, ``spectrum`` and ``cross`` stages) and
:mod:`add.tools` (the user's commands); :mod:`add.cli` on top maps each ``add`` command to its module.
"""
