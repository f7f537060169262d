"""Cross-dataset evaluation: every trained detector scored on test-only datasets (``cross:`` in params.yaml).

- :mod:`add.cross.config`: ``CrossEntry``, one validated entry of the ``cross:`` list;
- :mod:`add.cross.faces`: the face crops of a dataset's videos, found as extraction and ``add predict`` find them and
  cached per (video, detector settings, crop size, frames, compression) so that a new model re-uses them;
- :mod:`add.cross.scoring`: a model's scores on the cached crops and the metrics (frame and video level);
- :mod:`add.cross.plot`: the models compared per dataset;
- :mod:`add.cross.stage`: ``add cross``, the DVC stage.
"""
