"""Order of the example gallery: the quickstart first, then by file name.

Referenced from ``conf.py`` by name (a string), so Sphinx can pickle the
configuration.
"""

FIRST = ("plot_quickstart.py",)


class QuickstartFirst:
    """``within_subsection_order`` key for sphinx-gallery."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        name = str(filename).rsplit("/", 1)[-1]
        rank = FIRST.index(name) if name in FIRST else len(FIRST)
        return (rank, name)

    def __repr__(self):
        return f"<{type(self).__name__}>"
