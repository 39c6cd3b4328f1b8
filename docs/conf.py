"""Sphinx configuration for the sklearn-inr documentation.

Build with ``make -C docs html`` (warnings are errors). The example gallery
in ``../examples`` is executed during the build; set ``-D plot_gallery=0``
(``make -C docs html-noplot``) to skip running it.

Intersphinx needs the network; it is off unless ``SKLEARN_INR_INTERSPHINX=1``
is set, so that offline builds stay warning-free. Without it, references to
scikit-learn, NumPy, torch and skorch objects render as plain code.
"""

import os
import sys
from datetime import date
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the package, when not installed
sys.path.insert(0, str(HERE / "sphinxext"))  # gallery_order

import torch  # noqa: E402

import sklearn_inr  # noqa: E402

# The gallery runs in this process. Its examples are tiny, where a thread per
# core gains little, and torch's threads slow down badly when the cores are
# shared with other jobs (a 2-core CI machine running tests beside the docs:
# the quickstart took 40 s with 2 threads and 6 s with 1). One thread by
# default; SKLEARN_INR_DOCS_THREADS=0 keeps torch's own choice.
_DOCS_THREADS = int(os.environ.get("SKLEARN_INR_DOCS_THREADS", "1"))
if _DOCS_THREADS > 0:
    torch.set_num_threads(_DOCS_THREADS)

# -- Project -----------------------------------------------------------------
project = "sklearn-inr"
author = "The sklearn-inr developers"
copyright = f"{date.today().year}, {author}"
release = sklearn_inr.__version__
version = ".".join(release.split(".")[:2])

# -- General -----------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "sphinxext"]
default_role = "literal"
root_doc = "index"

# -- autodoc / autosummary / numpydoc -----------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"  # numpydoc's Parameters sections say it better
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# Type cross-referencing would point at numpy/python glossaries, which exist
# only with intersphinx; keep the types as plain text.
numpydoc_xref_param_type = False

# -- intersphinx (opt-in: needs the network) ----------------------------------
_INTERSPHINX = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable/", None),
    "sklearn": ("https://scikit-learn.org/stable/", None),
    "torch": ("https://docs.pytorch.org/docs/stable/", None),
    "skorch": ("https://skorch.readthedocs.io/en/stable/", None),
    "joblib": ("https://joblib.readthedocs.io/en/stable/", None),
}
if os.environ.get("SKLEARN_INR_INTERSPHINX") == "1":
    intersphinx_mapping = _INTERSPHINX
else:
    intersphinx_mapping = {}

# -- sphinx-gallery ------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"plot_",
    "within_subsection_order": "gallery_order.QuickstartFirst",
    "backreferences_dir": "generated/backreferences",
    # Code in the examples links to this documentation's own API pages for
    # the doc_module names (and, with intersphinx on, to other projects').
    # Current sphinx-gallery (0.22) resolves these itself; its old
    # "reference_url" option is deprecated and ignored, and setting it only
    # prints a deprecation notice, so it is not set.
    "doc_module": ("sklearn_inr",),
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "min_reported_time": 1,
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
}

# -- HTML ----------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-inr {release}"
html_static_path = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False


# -- Hooks ---------------------------------------------------------------------
def _skip_metadata_request_methods(app, what, name, obj, skip, options):
    """Hide scikit-learn's generated ``set_*_request`` methods.

    They are metadata-routing plumbing that every estimator gets, and their
    docstrings link into scikit-learn's own user guide and glossary.
    """
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_request_methods)
