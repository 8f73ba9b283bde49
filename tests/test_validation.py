"""Check digits (GB 11643-1999, GB 32100-2015), masking and the salted id hash."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from queries.importer import mask_id_number
from queries.models import Meta
from queries.validation import (
    CREDIT_CHARS,
    credit_check_char,
    get_or_create_salt,
    hash_id_number,
    id_check_char,
    id_number_error,
    is_valid_credit_code,
    is_valid_id_number,
    make_credit_code,
    make_id_number,
)

# Examples printed in the standards / widely published, not computed by our code.
VALID_IDS = ["11010519491231002X", "440524188001010014"]
VALID_CREDIT = ["91350100M000100Y43"]


@pytest.mark.parametrize("value", VALID_IDS)
def test_published_id_numbers_are_valid(value: str) -> None:
    assert is_valid_id_number(value)
    assert is_valid_id_number(value.lower())  # a lower-case x is the same number


def test_id_check_char_worked_by_hand() -> None:
    # 11010519491231002: sum(d*w) = 1*7+1*9+0*10+1*5+0*8+5*4+1*2+9*1+4*6+9*3+1*7+2*9+3*10
    # +1*5+0*8+0*4+2*2 = 167; 167 mod 11 = 2 -> "10X98765432"[2] = "X"
    assert 7 + 9 + 5 + 20 + 2 + 9 + 24 + 27 + 7 + 18 + 30 + 5 + 4 == 167
    assert id_check_char("11010519491231002") == "X"


@pytest.mark.parametrize("pos", range(18))
def test_any_single_character_change_of_an_id_is_detected(pos: int) -> None:
    good = VALID_IDS[0]
    for repl in "0123456789X":
        if repl == good[pos] or (repl == "X" and pos < 17):
            continue
        bad = good[:pos] + repl + good[pos + 1 :]
        assert not is_valid_id_number(bad), bad


def test_id_number_reasons() -> None:
    assert "18" in (id_number_error("1101051949123100") or "")
    # Right check char for an impossible birth date (Feb 30) is still rejected.
    body = "11010519490230002"
    assert "birth date" in (id_number_error(body + id_check_char(body)) or "")
    assert "checksum" in (id_number_error("110105194912310021") or "")


def test_make_id_number() -> None:
    n = make_id_number("110105", dt.date(1949, 12, 31), 2)
    assert n == "11010519491231002X"
    assert make_id_number("440524", "1880-01-01", 1) == "440524188001010014"
    with pytest.raises(ValueError):
        make_id_number("11010", dt.date(1990, 1, 1), 1)


@pytest.mark.parametrize("value", VALID_CREDIT)
def test_published_credit_codes_are_valid(value: str) -> None:
    assert is_valid_credit_code(value)


def test_credit_check_char_worked_by_hand() -> None:
    # 91350100M000100Y4: values 9,1,3,5,0,1,0,0,M=21,0,0,0,1,0,0,Y=30,4
    vals = [9, 1, 3, 5, 0, 1, 0, 0, 21, 0, 0, 0, 1, 0, 0, 30, 4]
    w = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
    total = sum(a * b for a, b in zip(vals, w, strict=True))
    assert total == 9 + 3 + 27 + 135 + 26 + 420 + 8 + 900 + 112
    assert (31 - total % 31) % 31 == 3
    assert credit_check_char("91350100M000100Y4") == "3"
    assert make_credit_code("91350100M000100Y4") == "91350100M000100Y43"


@pytest.mark.parametrize("pos", range(18))
def test_any_single_character_change_of_a_credit_code_is_detected(pos: int) -> None:
    good = VALID_CREDIT[0]
    for repl in CREDIT_CHARS:
        if repl == good[pos]:
            continue
        assert not is_valid_credit_code(good[:pos] + repl + good[pos + 1 :])


def test_credit_code_forbidden_letters() -> None:
    for letter in "IOSVZ":
        assert not is_valid_credit_code("91350100M000100Y4" + letter)


def test_hash_is_keyed_and_stable() -> None:
    a = hash_id_number(VALID_IDS[0], "salt1")
    assert a == hash_id_number(VALID_IDS[0].lower(), "salt1")
    assert a != hash_id_number(VALID_IDS[0], "salt2")
    assert len(a) == 64 and VALID_IDS[0] not in a


def test_mask() -> None:
    assert mask_id_number("11010519491231002X") == "110105" + "*" * 12


def test_salt_created_once(engine) -> None:  # noqa: ANN001
    s1 = get_or_create_salt(engine)
    s2 = get_or_create_salt(engine)
    assert s1 == s2 and len(s1) >= 32
    with engine.connect() as conn:
        assert conn.execute(select(Meta.value).where(Meta.key == "id_salt")).scalar_one() == s1
