"""Qt helpers for sites that drive the plugin from mxcubeqt (imports qtpy: optional at runtime).

``schema_form`` (with its editors in ``schema_fields``): a form built from a task's JSON schema
that returns parameters validated by the task's pydantic model; ``task_form``: that form for a
registered task, and adding the task to the queue. ``queue_tree``: a tree item with the view
API mxcubecore's queue entries call (``QueueModel.view_created``). For a real mxcubeqt:
``mxcubeqt_brick`` (the brick, loaded from ``mxcubeqt_bricks/`` with ``--bricksDirs``) and
``mxcubeqt_tree`` (rows in its ``MODEL_VIEW_MAPPINGS``); neither imports mxcubeqt, and neither
does this package.
"""
