"""Sphinx configuration of the openl3 documentation site (``sphinx-build -W docs docs/_build/html``)."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

from openl3.version import version as release

project = "openl3"
author = "The openl3 developers"
copyright = "The openl3 developers"
version = release

extensions = [
    "sphinx.ext.autodoc",
    "numpydoc",
    "myst_parser",
    "sphinxarg.ext",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the numpydoc sections say the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

html_theme = "furo"
html_title = f"openl3 {release}"
