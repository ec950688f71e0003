"""The embedded engine: runs a pipeline's IR on this machine as local processes."""
