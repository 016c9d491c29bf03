"""Queue entries registered into mxcubecore by configuration."""
