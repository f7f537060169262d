"""The pipeline's stages, one module each, in pipeline order (each is a DVC stage of the same name, run by
``pipeline/<stage>.py`` = ``add <stage>``):

    videos -> extract -> shards -> teacher -> student -> evaluate -> gallery, spectrum
    cross_demo, teacher, student -> cross   (every model on the test-only datasets of ``cross:``)

A stage module parses its command line and wires library code (``add.data``, ``add.trainer``, ``add.losses``, ...)
together; it imports no other stage. The user's tools beside them: ``add predict``, ``add download``,
``add export`` and ``add params``.
"""
