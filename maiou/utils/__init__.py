"""Small helpers with no knowledge of models or runs: atomic writes (``atomic``), how a
command line ends on an expected error (``cli``), shared file stores (``store``)."""
