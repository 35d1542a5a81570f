"""lading: a repository service for VM images and software packages."""

__version__ = "0.1.0"
