"""Data layer: the ``videos``, ``extract`` and ``shards`` stages and what they use, from a video tree (FF++, the
built-in demo, a CSV list) to WebDataset shards and the loader that batches them, plus the demo's cross-dataset set
(the ``cross_demo`` stage, :mod:`add.data.demo.cross_demo`) and the readers of test datasets in their published
layouts (:mod:`add.data.datasets`). Modules are imported one by one; this file imports nothing.
"""
