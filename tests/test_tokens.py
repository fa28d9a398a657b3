from hypothesis import given
from hypothesis import strategies as st

from conexus.tokens import code_tokens, path_tokens, split_identifier


def test_camel_case_identifiers_are_kept_whole_and_split() -> None:
    toks = code_tokens("parseHeaderLinks(value)")
    assert "parseheaderlinks" in toks
    assert {"parse", "header", "links", "value"} <= set(toks)


def test_snake_case_identifiers_are_kept_whole_and_split() -> None:
    toks = code_tokens("def get_environ_proxies(url):")
    assert "get_environ_proxies" in toks
    assert {"get", "environ", "proxies", "url", "def"} <= set(toks)


def test_acronyms_and_digits_split_sensibly() -> None:
    assert split_identifier("parseHTTPHeader") == ["parse", "http", "header"]
    assert split_identifier("sha256_digest") == ["sha256", "digest"]


def test_path_tokens_cover_segments_and_stem() -> None:
    toks = path_tokens("src/httpkit/sessions.py").split()
    assert {"src", "httpkit", "sessions", "py"} <= set(toks)


def test_non_ascii_words_are_indexed() -> None:
    assert "größe" in code_tokens("berechne die Größe")


@given(st.text(max_size=300))
def test_tokens_only_use_fts_safe_characters(text: str) -> None:
    for tok in code_tokens(text):
        assert tok
        assert " " not in tok and '"' not in tok
        assert all(c == "_" or c.isalnum() for c in tok)
