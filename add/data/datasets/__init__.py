"""Test datasets in their own published layouts, read into one record type (:mod:`add.data.datasets.records`).

One module per format, each reading the format's own files exactly as its authors define them:

- :mod:`add.data.datasets.celebdf`: Celeb-DF v1/v2 (``List_of_testing_videos.txt``, where **1 = real, 0 = fake**);
- :mod:`add.data.datasets.dfdc`: DFDC parts (``metadata.json``) or its public test set (``labels.csv``, 1 = fake);
- :mod:`add.data.datasets.dfdcp`: DFDC preview (``dataset.json``, the ``test`` set);
- :mod:`add.data.datasets.dfd`: Google's DeepFakeDetection inside an FF++ tree;
- :mod:`add.data.datasets.folder`: ``real/`` and ``fake/`` folders, walked recursively;
- :mod:`add.data.datasets.list_csv`: a CSV ``path,label[,group]``.

:func:`add.data.datasets.read.read_dataset` dispatches on the format name and applies the missing-file policy. Nothing
here knows about models or evaluation, so training data sources may reuse the readers.
"""
