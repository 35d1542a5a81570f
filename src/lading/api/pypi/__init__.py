"""The Python package index face (PEP 503, 691, 592, 658, 700, 714; the legacy upload
API), at ``/pypi/<index>/``."""
