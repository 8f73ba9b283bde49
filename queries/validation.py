"""Check digits of Chinese identity numbers and credit codes, and salted id hashing."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import operator
import secrets

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import IntegrityError

from queries.models import Meta

# ------------------------------------------------------------ GB 11643-1999 (resident id)
ID_WEIGHTS: tuple[int, ...] = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"


def id_check_char(first17: str) -> str:
    """The GB 11643-1999 check character of the first 17 digits of an identity number."""
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError("identity number body must be 17 digits")
    total = sum(map(operator.mul, map(int, first17), ID_WEIGHTS))
    return ID_CHECK_CHARS[total % 11]


def id_number_error(value: str) -> str | None:
    """Why an 18-char resident identity number is invalid, or None when it is valid."""
    v = value.strip().upper()
    # Plain string tests instead of a regex: this runs once per imported person.
    if (
        len(v) != 18 or not v.isascii() or not v[:17].isdigit()
        or not (v[17].isdigit() or v[17] == "X")
    ):
        return "身份证号须为 18 位 (identity number must be 17 digits + check char)"
    year = int(v[6:10])
    try:
        born = dt.date(year, int(v[10:12]), int(v[12:14]))
    except ValueError:
        born = None
    # 1800: the standard's own example 440524188001010014 is born in 1880.
    if born is None or year < 1800 or (year >= _YEAR_FLOOR and born > dt.date.today()):
        return "身份证号出生日期无效 (identity number has an invalid birth date)"
    if id_check_char(v[:17]) != v[17]:
        return "身份证号校验位错误 (identity number checksum is wrong)"
    return None


# Below this year a birth date cannot be in the future, so today() is not consulted.
_YEAR_FLOOR = dt.date.today().year - 1


def is_valid_id_number(value: str) -> bool:
    """True when the value is a valid 18-char GB 11643-1999 identity number."""
    return id_number_error(value) is None


def make_id_number(area_code: str, birth_date: dt.date | str, sequence: int) -> str:
    """A valid identity number from a 6-digit area, a birth date and a 0..999 sequence."""
    if len(area_code) != 6 or not area_code.isdigit():
        raise ValueError("area_code must be 6 digits")
    if isinstance(birth_date, str):
        birth_date = dt.date.fromisoformat(birth_date)
    if not 0 <= sequence <= 999:
        raise ValueError("sequence must be in 0..999 (odd = male, even = female)")
    body = f"{area_code}{birth_date:%Y%m%d}{sequence:03d}"
    return body + id_check_char(body)


# ------------------------------------------------- GB 32100-2015 (unified social credit code)
CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_WEIGHTS: tuple[int, ...] = (
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
)
_CREDIT_INDEX = {c: i for i, c in enumerate(CREDIT_CHARS)}


def credit_check_char(prefix17: str) -> str:
    """The GB 32100-2015 check character of the first 17 characters of a credit code."""
    if len(prefix17) != 17 or any(c not in _CREDIT_INDEX for c in prefix17):
        raise ValueError(f"credit code body must be 17 characters of {CREDIT_CHARS}")
    total = sum(_CREDIT_INDEX[c] * w for c, w in zip(prefix17, CREDIT_WEIGHTS, strict=True))
    return CREDIT_CHARS[(31 - total % 31) % 31]


def credit_code_error(value: str) -> str | None:
    """Why a unified social credit code is invalid, or None when it is valid."""
    v = value.strip().upper()
    if len(v) != 18 or any(c not in _CREDIT_INDEX for c in v):
        return (
            "统一社会信用代码须为 18 位数字或大写字母 (credit code must be 18 chars of "
            "0-9 and A-Y without I, O, S, V, Z)"
        )
    if credit_check_char(v[:17]) != v[17]:
        return "统一社会信用代码校验位错误 (credit code checksum is wrong)"
    return None


def is_valid_credit_code(value: str) -> bool:
    """True when the value is a valid GB 32100-2015 unified social credit code."""
    return credit_code_error(value) is None


def make_credit_code(prefix17: str) -> str:
    """A valid credit code: the 17-char prefix plus its check character."""
    prefix17 = prefix17.upper()
    return prefix17 + credit_check_char(prefix17)


# ---------------------------------------------------------------- salted identity hash
SALT_KEY = "id_salt"


def hash_id_number(id_number: str, salt: str) -> str:
    """HMAC-SHA256 (hex) of the normalised identity number keyed by the installation salt."""
    return hmac.new(
        salt.encode("utf-8"), id_number.strip().upper().encode("ascii"), hashlib.sha256
    ).hexdigest()


def get_or_create_salt(engine: Engine | Connection) -> str:
    """The installation's id-hash salt from the meta table, created at first use."""
    if isinstance(engine, Connection):
        return _salt_on(engine)
    with engine.begin() as conn:
        value = conn.execute(select(Meta.value).where(Meta.key == SALT_KEY)).scalar()
        if value:
            return value
    try:
        with engine.begin() as conn:
            conn.execute(Meta.__table__.insert().values(key=SALT_KEY, value=secrets.token_hex(32)))
    except IntegrityError:
        pass  # another process created it first: theirs wins, read it below
    with engine.begin() as conn:
        return conn.execute(select(Meta.value).where(Meta.key == SALT_KEY)).scalar_one()


def _salt_on(conn: Connection) -> str:
    """Salt lookup/creation inside the caller's transaction."""
    value = conn.execute(select(Meta.value).where(Meta.key == SALT_KEY)).scalar()
    if value:
        return value
    value = secrets.token_hex(32)
    conn.execute(Meta.__table__.insert().values(key=SALT_KEY, value=value))
    return value
