"""Qt helpers for sites that drive the plugin from mxcubeqt (imports qtpy: optional at runtime).

``schema_form``: a form built from a task's JSON schema that returns parameters validated by the
task's pydantic model. ``queue_tree``: a tree item with the view API mxcubecore's queue entries
call, for building queues the way mxcubeqt does (``QueueModel.view_created``).
"""
