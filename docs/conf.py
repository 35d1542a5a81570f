"""Sphinx settings for lading's documentation site (``make docs``).

The pages stay Markdown (MyST), readable as they are on a repository browser; the CLI
reference is generated from the ``lading`` click commands. ``make test`` builds the site
with warnings as errors, so a broken link, anchor or toctree fails it.
"""

import logging
from importlib.metadata import version as installed_version

from sphinx.application import Sphinx

project = "lading"
author = "the lading authors"
copyright = "the lading authors"
release = installed_version("lading")
version = release

extensions = ["myst_parser", "sphinx_click"]
source_suffix = {".md": "markdown"}
# Pages link to each other's headings as GitHub renders them (configuration.md#store-settings).
myst_heading_anchors = 3
exclude_patterns = ["examples"]  # code and configuration files the pages include or link

html_theme = "furo"
html_title = f"lading {release}"
html_copy_source = False
html_show_sourcelink = False


def setup(app: Sphinx) -> None:
    app.connect("builder-inited", _quiet_root_logger)


def _quiet_root_logger(_app: Sphinx) -> None:
    # accessible-pygments (furo's colour styles) calls logging.basicConfig(level=INFO) when
    # the builder loads it: without this, the INFO lines of every module sphinx-click
    # imports (alembic's, for one) would fill the build's output.
    logging.getLogger().setLevel(logging.WARNING)
