"""HardwareObjects: thin mxcubecore adapters around the pure core. Module names equal class names, as mxcubecore XML requires."""
