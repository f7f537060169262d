"""Training layer: the ``teacher`` and ``student`` stages (:mod:`add.training.teacher`, :mod:`add.training.student`)
and the code they share with evaluation: the training spec and ``fit`` (:mod:`add.training.spec`), ``ModelConfig``
and ``TrainConfig`` (:mod:`add.training.config`), the device, torch.distributed, seeding and logging
(:mod:`add.training.runtime`), ``best.pt`` / ``last.pt`` and the detector of a checkpoint
(:mod:`add.training.checkpoints`), a model's outputs over a loader (:mod:`add.training.predictions`) and the step and
loop (:mod:`add.training.loop`). Modules are imported one by one (this file imports nothing), so a stage depends only
on those it runs.
"""
