"""The `sirt` command line."""
