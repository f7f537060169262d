"""Test datasets in their own published layouts, read into one record type (:mod:`add.data.datasets.records`).

One module per format in :mod:`add.data.datasets.formats`, named as the format, each reading the format's own files
exactly as its authors define them:

- ``formats.celebdf``: Celeb-DF v1/v2 (``List_of_testing_videos.txt``, where **1 = real, 0 = fake**);
- ``formats.dfdc``: DFDC parts (``metadata.json``) or its public test set (``labels.csv``, 1 = fake);
- ``formats.dfdcp``: DFDC preview (``dataset.json``, the ``test`` set);
- ``formats.dfd``: Google's DeepFakeDetection inside an FF++ tree;
- ``formats.folder``: ``real/`` and ``fake/`` folders, walked recursively;
- ``formats.list``: a CSV ``path,label[,group]``.

:mod:`add.data.datasets.registry` holds them by name; :func:`add.data.datasets.read.read_dataset` dispatches on it
and applies the missing-file policy. Nothing here knows about models or evaluation, so training data sources may reuse
the readers.
"""
