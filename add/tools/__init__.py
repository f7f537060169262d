"""The user's tools beside the pipeline: ``add predict`` (:mod:`add.tools.predict`, with its HTML report
:mod:`add.tools.report`), ``add export`` (a model card), ``add params`` (the resolved params), ``add preset`` (an
experiment's params.yaml) and ``add lists`` (a labelled dataset as a data.list CSV). ``add download`` lives with the
data it fetches (:mod:`add.data.download`). Modules are imported one by one; this file imports nothing.
"""
