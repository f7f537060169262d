"""Training and running detectors, shared by ``add teacher``, ``add student`` and ``add evaluate``.

- :mod:`add.trainer.config`: ``ModelConfig`` and ``TrainConfig`` from params.yaml;
- :mod:`add.trainer.runtime`: the device (CPU or CUDA), torch.distributed, seeding, logging;
- :mod:`add.trainer.checkpoints`: ``best.pt`` / ``last.pt``: writing, reading, the detector of a checkpoint;
- :mod:`add.trainer.predictions`: a model's outputs and P(fake) over a loader;
- :mod:`add.trainer.loop`: the training step and the loop (validation, best checkpoint, early stop, resuming).

The modules are imported one by one (this file imports nothing), so a stage depends only on those it runs.
"""
