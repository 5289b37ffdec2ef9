"""Small utilities shared by the package, its scripts and its tests."""
