"""The simulated beamline parts: Eiger detector and collect, sample camera, recording LIMS, mock
Murko server and sample scene.

They implement mxcubecore's (and Murko's) interfaces for the mockup configuration, the demo and the
tests. No product module imports this package (a test checks it).
"""
