"""Models layer: the detector factory over timm backbones (:mod:`add.models.detector`), the model card a checkpoint
carries (:mod:`add.models.card`) and Grad-CAM (:mod:`add.models.gradcam`). Modules are imported one by one; this file
imports nothing.
"""
