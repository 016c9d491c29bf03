"""Murko centring core: protocol, client, fit, visual hull, storage, plot, mock server, scene.

Pure: nothing here imports mxcubecore or gevent. The HardwareObjects in
``mxcubecore_interleave.hardware_objects`` (MurkoCentring, MurkoSampleView,
SimulatedSampleCamera) are the adapters; they inject ``zmq.green`` into :class:`MurkoClient`.
"""
