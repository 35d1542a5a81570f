"""Content-Disposition, as every face sends it: an ASCII name and the name as it is."""

from __future__ import annotations

import pytest

from lading.http.disposition import attachment


@pytest.mark.parametrize(
    ("name", "fallback", "expected"),
    [
        ("spark-1.0.tar.gz", "id", "attachment; filename=\"spark-1.0.tar.gz\"; "
         "filename*=UTF-8''spark-1.0.tar.gz"),
        ("café image.img", "id", "attachment; filename=\"caf_ image.img\"; "
         "filename*=UTF-8''caf%C3%A9%20image.img"),
        # Nothing that could end the quoted string or the header gets through.
        ('a"b\\c\r\nX-Evil: 1;d', "id", "attachment; filename=\"a_b_c__X-Evil_ 1_d\"; "
         "filename*=UTF-8''a%22b%5Cc%0D%0AX-Evil%3A%201%3Bd"),
        ("日本語", "4f1c", "attachment; filename=\"___\"; "
         "filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E"),
        # Nothing left but dots: the fallback is the plain name.
        ("..", "4f1c", "attachment; filename=\"4f1c\"; filename*=UTF-8''.."),
        ("", "4f1c", "attachment; filename=\"4f1c\"; filename*=UTF-8''4f1c"),
        ("", "", "attachment; filename=\"download\"; filename*=UTF-8''"),
    ],
)  # fmt: skip
def test_the_name_in_ascii_and_in_utf8(name: str, fallback: str, expected: str) -> None:
    assert attachment(name, fallback) == {"content-disposition": expected}
    expected.encode("latin-1")  # a header value the server can send
