"""Sort keys (``earsiv.indexer.sortkeys``): bytes whose byte order is the order a person expects.

The database orders the find page's lists by these keys alone (``lists.py``), so each order is
checked here against Python's own: Decimal comparison for amounts (any size, sign and exponent),
and the Turkish alphabet, letter by letter, for names.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from earsiv.indexer.sortkeys import KEY_CHARS, amount_key, text_key

amounts = st.decimals(allow_nan=False, allow_infinity=False) | st.builds(
    lambda digits, exp, neg: Decimal((neg, tuple(int(c) for c in digits), exp)),
    st.text("0123456789", min_size=1, max_size=40), st.integers(-40, 40), st.integers(0, 1))


@given(amounts, amounts)
def test_amount_keys_order_as_the_amounts_do(a: Decimal, b: Decimal) -> None:
    ka, kb = amount_key(a), amount_key(b)
    assert (ka < kb, ka == kb, ka > kb) == (a < b, a == b, a > b), (a, b)


def test_amount_keys_of_the_edges() -> None:
    ordered = ["-1E+30", "-1234567890123456789012345.26", "-1234567890123456789012345.25", "-2", "-1.5", "-1.25",
               "-0.001", "0", "1E-30", "0.001", "1.25", "1.5", "7", "999999999999999999",
               "1234567890123456789012345.25", "1.5E+30"]
    keys = [amount_key(Decimal(v)) for v in ordered]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    # one value, one key, whatever the exponent it is written with
    assert amount_key(Decimal("1.50")) == amount_key(Decimal("1.5")) == amount_key(Decimal("0.15E+1"))
    assert amount_key(Decimal("-0")) == amount_key(Decimal("0.000")) == amount_key(Decimal("0E+7"))
    assert amount_key(None) is None and amount_key(Decimal("NaN")) is None and amount_key(Decimal("-Infinity")) is None


def _sorted(names: list[str]) -> list[str]:
    return sorted(names, key=text_key)


def test_names_sort_in_the_turkish_alphabet() -> None:
    alphabet = list("abcçdefgğhıijklmnoöprsştuüvyz")
    words = [f"{letter}ab" for letter in reversed(alphabet)]
    assert _sorted(words) == [f"{letter}ab" for letter in alphabet]
    # I is the capital of ı, İ of i, whatever the case
    assert text_key("IŞIK") == text_key("ışık") and text_key("İSTANBUL") == text_key("istanbul")
    assert _sorted(["İzmir", "Ilgaz", "ılıca", "iğne"]) == ["Ilgaz", "ılıca", "iğne", "İzmir"]
    assert _sorted(["Demir", "Çelik", "Cem", "ceylan", "Zeki", "öz", "Ozan", "Şahin", "Sarp", "Ümit", "Uğur"]) == [
        "Cem", "ceylan", "Çelik", "Demir", "Ozan", "öz", "Sarp", "Şahin", "Uğur", "Ümit", "Zeki"]


def test_names_punctuation_digits_accents_and_others() -> None:
    # spaces and punctuation before digits, digits before letters; around it a space does not count
    assert _sorted(["Beta", "2 Kardeş", "10 Numara", "A.Ş.", "(Eski) Ad", "  Alfa"]) == [
        "(Eski) Ad", "10 Numara", "2 Kardeş", "A.Ş.", "  Alfa", "Beta"]
    # a circumflex or a foreign accent is the letter without it; a decomposed letter is the composed one
    assert text_key("Kâğıt") == text_key("kağıt") and text_key("Émile") == text_key("emile")
    assert text_key("C\u0327elik") == text_key("Çelik")
    # letters of other scripts after z
    assert _sorted(["Москва", "Zeki", "Ahmet"]) == ["Ahmet", "Zeki", "Москва"]
    assert text_key(None) is None and text_key("") is None and text_key("   ") is None


def test_a_name_is_ordered_by_its_first_characters_only() -> None:
    long = "x" * 10_000
    assert text_key(long) == text_key(long + "y") == text_key("x" * KEY_CHARS)
    assert len(text_key(long)) == KEY_CHARS
