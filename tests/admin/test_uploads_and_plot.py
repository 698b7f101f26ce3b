"""Reading uploads (grades from file names, pasted essays, .docx) and drawing the caterpillar plot."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from assessments.admin.forms import read_uploads, split_pasted
from assessments.engine.scales import get_scale
from assessments.files import grade_from_file_name, unknown_grade_in_file_name
from assessments.plots import PlotRow, caterpillar_figure, caterpillar_png


@pytest.mark.parametrize(
    ("stem", "scale", "grade"),
    [
        ("A", "swedish_a_f", "A"),
        ("A2", "swedish_a_f", "A"),
        ("B_essay", "swedish_a_f", "B"),
        ("D anchor", "swedish_a_f", "D"),
        ("E-1", "swedish_a_f", None),  # E minus, or E and 1? Not guessed: the grader renames it
        ("C-", "swedish_a_f", None),  # no C- on this scale: not silently C
        ("D-", "swedish_a_f", None),
        ("B-essay", "swedish_a_f", "B"),  # a dash before a word separates
        ("Essay", "swedish_a_f", None),
        ("C+2", "swedish_a_f", None),  # no C+ on this scale: not silently C
        ("C+2", "swedish_8_anchor", "C+"),
        ("E-", "eng5_np_legacy_9_step", "E-"),
        ("E-2", "eng5_np_legacy_9_step", "E-"),
        ("F+", "eng5_np_legacy_9_step", "F+"),
        ("smith", "swedish_a_f", None),
    ],
)
def test_the_grade_is_read_from_the_start_of_a_file_name(stem, scale, grade):
    assert grade_from_file_name(stem, get_scale(scale)) == grade


@pytest.mark.parametrize(
    ("stem", "unknown"), [("C-", "C-"), ("E-1", "E-"), ("C+2", "C+"), ("F+", "F+"), ("B_essay", None), ("Essay", None)]
)
def test_a_grade_with_a_sign_the_scale_lacks_is_named(stem, unknown):
    assert unknown_grade_in_file_name(stem, get_scale("swedish_a_f")) == unknown


def test_pasted_essays_are_split_on_lines_of_dashes():
    assert split_pasted("First essay.\n---\nSecond\nessay.\n  -----  \n\n---\n") == ["First essay.", "Second\nessay."]


def test_a_docx_upload_is_read_by_the_files_module():
    docx = pytest.importorskip("docx")
    document = docx.Document()
    document.add_paragraph("My role model is my sister.")
    document.add_paragraph("She taught me to read.")
    buffer = io.BytesIO()
    document.save(buffer)

    (essay,) = read_uploads([SimpleUploadedFile("sister.docx", buffer.getvalue())])

    assert (essay.name, essay.stem) == ("sister.docx", "sister")
    assert "My role model is my sister." in essay.text and "She taught me to read." in essay.text


def test_the_plot_draws_intervals_anchors_and_boundaries_as_a_png():
    rows = [PlotRow(f"e{i}", theta=i - 2.0, se=0.5) for i in range(5)] + [PlotRow("anchor:A", 2.5, 0.4, "A")]
    png = caterpillar_png(rows=rows, cuts=[-1.0, None, 1.5], grades=["F", "E", "D", "A"], title="t", note="mock")
    assert png.startswith(b"\x89PNG") and len(png) > 5000


def test_labels_of_close_grade_boundaries_do_not_overlap():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    rows = [PlotRow(f"e{i}", theta=i / 4 - 2.0, se=0.3) for i in range(16)]
    grades = ["F", "E", "D", "C", "B", "A"]
    figure = caterpillar_figure(rows=rows, cuts=[-0.3, -0.2, -0.1, 0.0, 0.1], grades=grades, title="Batch 1")
    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)
    boxes = [t.get_window_extent(renderer) for t in figure.axes[0].texts if " | " in t.get_text()]

    assert len(boxes) == 5
    assert not any(a.overlaps(b) for k, a in enumerate(boxes) for b in boxes[k + 1 :])
    title = figure.axes[0].title.get_window_extent(renderer)
    assert not any(title.overlaps(b) for b in boxes)


def test_the_plot_of_an_unscored_batch_says_so():
    assert caterpillar_png(rows=[]).startswith(b"\x89PNG")
