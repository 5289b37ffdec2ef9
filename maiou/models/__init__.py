"""mmdetection components; importing this module registers them (``custom_imports``)."""
