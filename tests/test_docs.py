import pytest

from sklearn_inr._docs import docdict, fill_doc


def _documented(doc):
    def function():
        pass

    function.__doc__ = doc
    return function


def test_fill_doc_replaces_the_placeholder_line_with_the_indented_entry():
    doc = """Fit things.

    Parameters
    ----------
    x : int
        Not shared.
    %(lr)s
        trailing line, left alone
    y : int
    """
    filled = fill_doc(_documented(doc)).__doc__
    entry_lines = docdict["lr"].splitlines()
    assert len(entry_lines) > 1
    expected = doc.replace("    %(lr)s", "\n".join("    " + t for t in entry_lines))
    assert filled == expected
    lines = filled.splitlines()
    start = lines.index("    " + entry_lines[0])
    assert lines[start + 1] == "    " + entry_lines[1]
    assert lines[start + 1].startswith("        ")
    assert "%(" not in filled
    # Lines around it are untouched.
    assert "    x : int" in lines and "        Not shared." in lines
    assert "        trailing line, left alone" in lines


@pytest.mark.parametrize("indent", ["", "  ", "        "])
def test_fill_doc_takes_the_indentation_of_the_placeholder(indent):
    filled = fill_doc(_documented(f"Summary.\n{indent}%(omega_0)s\nEnd.")).__doc__
    lines = filled.splitlines()
    entry = docdict["omega_0"].splitlines()
    assert lines[0] == "Summary."
    assert lines[1 : 1 + len(entry)] == [indent + text for text in entry]
    assert lines[-1] == "End."


def test_fill_doc_fills_several_placeholders_and_returns_the_object():
    function = _documented("Doc.\n\n    %(model)s\n    %(loss)s\n")
    assert fill_doc(function) is function
    for name in ("model", "loss"):
        for text in docdict[name].splitlines():
            assert ("    " + text if text else text) in function.__doc__.splitlines()


def test_fill_doc_leaves_inline_placeholders_alone():
    doc = "Uses %(lr)s inline.\n    see %(lr)s here"
    assert fill_doc(_documented(doc)).__doc__ == doc


def test_fill_doc_rejects_unknown_names():
    with pytest.raises(KeyError, match="not_a_parameter"):
        fill_doc(_documented("Doc.\n    %(not_a_parameter)s\n"))


def test_fill_doc_accepts_a_missing_docstring():
    # Under python -OO every docstring is None.
    function = _documented(None)
    assert fill_doc(function) is function
    assert function.__doc__ is None


def test_fill_doc_works_on_classes():
    class Estimator:
        """An estimator.

        Parameters
        ----------
        %(n_jobs)s
        """

    filled = fill_doc(Estimator).__doc__
    assert "        " + docdict["n_jobs"].splitlines()[0] in filled.splitlines()


@pytest.mark.parametrize("name", sorted(docdict))
def test_docdict_entries_are_numpydoc_parameters(name):
    lines = docdict[name].splitlines()
    # Unindented lines are "name : type" parameter lines (an entry may group
    # several parameters); descriptions are indented by four spaces.
    headers = [line for line in lines if not line.startswith(" ")]
    assert headers and lines[0] == headers[0]
    for header in headers:
        parameter, _, kind = header.partition(" : ")
        assert parameter.isidentifier() and kind, header
    for line in lines:
        assert line in headers or line == "" or line.startswith("    ")
    # An entry named after a parameter documents that parameter.
    if name.isidentifier() and name in {h.partition(" : ")[0] for h in headers}:
        assert lines[0].startswith(f"{name} : ")
