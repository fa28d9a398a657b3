from hypothesis import given
from hypothesis import strategies as st

from conexus.tokens import code_tokens, index_form, path_tokens, split_identifier, stem


def test_camel_case_identifiers_are_kept_whole_and_split_into_stems() -> None:
    toks = code_tokens("parseHeaderLinks(value)")
    assert "parseheaderlinks" in toks
    assert {"pars", "header", "link", "valu"} <= set(toks)


def test_snake_case_identifiers_are_kept_whole_and_split_into_stems() -> None:
    toks = code_tokens("def get_environ_proxies(url):")
    assert "get_environ_proxies" in toks
    assert {"get", "environ", "proxi", "url", "def"} <= set(toks)


def test_plain_words_are_stemmed_so_inflections_match() -> None:
    assert code_tokens("redirects") == code_tokens("redirect") == ["redirect"]
    assert index_form("Retries") == stem("retries")
    assert index_form("SessionRedirectMixin") == "sessionredirectmixin"


def test_acronyms_and_digits_split_sensibly() -> None:
    assert split_identifier("parseHTTPHeader") == ["parse", "http", "header"]
    assert split_identifier("sha256_digest") == ["sha256", "digest"]


def test_path_tokens_cover_segments_and_stem() -> None:
    toks = path_tokens("src/httpkit/sessions.py").split()
    assert {"src", "httpkit", "session", "py"} <= set(toks)


def test_non_ascii_words_are_indexed() -> None:
    assert "größe" in code_tokens("berechne die Größe")


@given(st.text(max_size=300))
def test_tokens_only_use_fts_safe_characters(text: str) -> None:
    for tok in code_tokens(text):
        assert tok
        assert " " not in tok and '"' not in tok
        assert all(c == "_" or c.isalnum() for c in tok)
