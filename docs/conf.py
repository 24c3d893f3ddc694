"""Sphinx configuration of the skinfluence documentation.

Build with warnings as errors::

    python -m sphinx -W -b html docs docs/_build/html

The build runs every gallery example (``examples/plot_*.py``) and generates
the API pages (``docs/gen_modules/``) and the table of signals
(``docs/_generated/``) from the installed package; all three are git-ignored.
Set ``SKINFLUENCE_DOCS_NO_GALLERY=1`` to skip running the examples.
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "sphinxext"))
sys.path.insert(0, str(HERE.parent))

# The gallery trains small nets in this process. Intra-op threads cost more
# than they save on nets this size, and they collapse when the runner's cores
# are shared; one thread keeps every example well under its minute.
os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch  # noqa: E402

torch.set_num_threads(1)

from skinfluence_docs import write_signal_pages  # noqa: E402

import skinfluence  # noqa: E402

# -- Project ------------------------------------------------------------------

project = "skinfluence"
author = "The skinfluence developers"
copyright = "2025, The skinfluence developers"
release = skinfluence.__version__
version = ".".join(release.split(".")[:2])

# -- General ------------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "_generated",  # included by other pages, never standalone
    "_signal_api.rst",
    "sphinxext",
    "Thumbs.db",
    ".DS_Store",
]
root_doc = "index"
default_role = "literal"
pygments_style = "sphinx"

# Pages generated from the signal registry (see sphinxext/skinfluence_docs.py).
_GENERATED = write_signal_pages(HERE)

# -- autodoc / autosummary / numpydoc ----------------------------------------

# autosummary scans every page, plus the generated list of signal functions
# (excluded as a page of its own because api.rst includes it).
_NOT_SCANNED = {"_build", "gen_modules", "auto_examples", "_generated", "_templates"}
autosummary_generate = sorted(
    str(path.relative_to(HERE))
    for path in HERE.rglob("*.rst")
    if path.relative_to(HERE).parts[0] not in _NOT_SCANNED
    and path.name != "sg_execution_times.rst"
)
autosummary_imported_members = False
autodoc_typehints = "none"
autoclass_content = "class"

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- Math ---------------------------------------------------------------------

mathjax3_config = {
    "tex": {"macros": {"onehot": r"\operatorname{onehot}"}},
}

# -- HTML ---------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"skinfluence {release}"
html_static_path = ["_static"]
html_css_files = ["skinfluence.css"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 6,
    "navbar_end": ["navbar-icon-links"],
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
}
html_sidebars = {"index": [], "auto_examples/index": []}
html_show_sourcelink = True

# -- sphinx-gallery -----------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "skinfluence_docs.GalleryOrder",
    "plot_gallery": str(not os.environ.get("SKINFLUENCE_DOCS_NO_GALLERY")),
    "backreferences_dir": "gen_modules/backreferences",
    "doc_module": ("skinfluence",),
    "reference_url": {"skinfluence": None},
    "remove_config_comments": True,
    "download_all_examples": False,
    "show_memory": False,
    "min_reported_time": 1,
    "write_computation_times": True,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
}

# A failed example stops the build.
sphinx_gallery_conf["abort_on_example_error"] = False
sphinx_gallery_conf["only_warn_on_example_error"] = False


# -- Checks -------------------------------------------------------------------


def _check_api(app):
    from skinfluence_docs import undocumented_names
    from sphinx.util import logging

    logger = logging.getLogger("skinfluence_docs")
    missing, new_modules = undocumented_names(HERE / "api.rst")
    for name in missing:
        logger.warning(
            "public name %s is not in docs/api.rst; add it to its table there", name
        )
    for name in new_modules:
        logger.info("note: %s has public names but no section in docs/api.rst", name)


def setup(app):
    app.connect("builder-inited", _check_api)
