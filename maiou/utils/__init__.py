"""Small helpers with no knowledge of models or runs: atomic writes (``atomic``), how a
command line ends on an expected error (``cli``), a file's digest (``digest``), shared file
stores (``store``)."""
