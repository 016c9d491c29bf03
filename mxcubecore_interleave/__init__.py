"""MXCuBE plugin: interleaved data collection, per-sweep NXmx masters, Murko centring with 3D.

The pure core (planning, the acquisition record, NeXus writing and validation, the centring fit
and the 3D hull) imports neither mxcubecore nor gevent; the HardwareObjects and queue entries in
``hardware_objects`` and ``queue_entries`` are thin adapters around it.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
