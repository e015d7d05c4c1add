"""Patient search: name matching with pg_trgm over unaccented, lower-cased names.

Every word typed must resemble some word of the patient's name, through an operator
the GIN trigram index serves; hits are ranked by how well each word matches plus how
similar the whole query is to the whole name. A score depends on the name alone, so
the tenant's distinct names (``patient_names``) are scored and each name's patients
then read by index; with a birth date, phone or MRN, which few patients match, the
patients are scored directly. How a word is compared depends on its length, because
trigrams behave differently:

- 1 letter: an initial, ``j <% name`` (some name word starts with it);
- 2-3 letters: whole name words, ``ana <<% name`` (strict word similarity), else
  "ana" would match every name with a word starting with "a";
- 4-5 letters: ``<%`` (word similarity), also with two neighbouring letters swapped,
  at a small discount: one swap breaks most trigrams of a short word ("jhon" shares
  one of five with "john");
- longer words: ``<%``, which already forgives a wrong, missing or swapped letter.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Double,
    Integer,
    Select,
    Text,
    Uuid,
    bindparam,
    cast,
    func,
    null,
    or_,
    select,
    text,
    true,
)
from sqlalchemy import tuple_ as row
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from vitalbridge.patient.messages import SearchPatients
from vitalbridge.patient.model import VIEW_COLUMNS, Patient, PatientName
from vitalbridge.patient.mrn import normalise_mrn

# Far below pg_trgm's 0.6: one wrong letter inside a 4-letter name ("jahn" for "john")
# leaves 2 of 5 trigrams, which scores exactly 0.25. A word sharing only its first
# letter with a name ("zzyzx") stays below it.
WORD_SIMILARITY_THRESHOLD = 0.25
# "ana" matches "anna" (0.5) and "anabel" (0.375), not "al-hassan" (0.17).
STRICT_WORD_SIMILARITY_THRESHOLD = 0.3
MAX_WORDS = 5
WHOLE_WORDS = range(2, 4)
SWAPPED_WORDS = range(4, 6)
SWAP_DISCOUNT = 0.9
WHOLE_QUERY_WEIGHT = 0.5
_WORD = re.compile(r"[^\W_]+")

Similarity = Callable[..., ColumnElement[Any]]


def search_words(q: str) -> list[str]:
    """The words of a typed query (letters and digits; hyphens and the like split)."""
    return _WORD.findall(q)[:MAX_WORDS]


def use_search_settings(session: Session | Connection) -> None:
    """Set the trigram thresholds, and generic plans, for this (read-only) transaction.

    A custom plan of a search costs more than running it: the planner estimates each
    trigram condition by trying it on the column's statistics, 7-9 ms for a search of
    two words. The generic plan, made once per prepared statement and connection, does
    without the words (over 400 typed names of a million patients, p95 12.1 -> 5.9 ms).
    """
    session.execute(text(
        "SELECT set_config('pg_trgm.word_similarity_threshold', :word, true), "
        "set_config('pg_trgm.strict_word_similarity_threshold', :strict, true), "
        "set_config('plan_cache_mode', 'force_generic_plan', true)"),
        {"word": str(WORD_SIMILARITY_THRESHOLD),
         "strict": str(STRICT_WORD_SIMILARITY_THRESHOLD)})


# A statement and the values of its parameters.
Bound = tuple["Select[*tuple[Any, ...]]", dict[str, Any]]
# What a search statement's form depends on, per typed word: its comparison operator
# and how many spellings it is tried in. The words themselves are parameters.
Shape = tuple[tuple[str, int], ...]
# The exact filters given (some of birth_date, phone, mrn); their values are parameters.
Filters = tuple[str, ...]

_FILTERED_COLUMNS = {"birth_date": Patient.birth_date, "phone": Patient.phone,
                     "mrn": Patient.mrn}


def search_statement(query: SearchPatients) -> Bound:
    """The SELECT answering ``query`` (a patient's columns, its score, and without words
    its sort name), limit + 1 rows, with its parameters. Statements are built once per
    form: names typed alike share one, so the database can keep its plan."""
    words = search_words(query.q or "")
    if not words:
        return _listed(query)
    if _filters(query):
        return _ranked_patients(query, words)
    return _ranked_names(query, words)


def _listed(query: SearchPatients) -> Bound:
    """No name typed: the filtered patients in name order."""
    values = _common_values(query)
    if query.after:
        values.update({"after_sort_name": query.after[0], "after_id": query.after[1]})
    return _listed_statement(_filters(query), bool(query.after)), values


def _ranked_patients(query: SearchPatients, words: list[str]) -> Bound:
    """Every matching patient scored: with a birth date, phone or MRN there are few."""
    shape, values = _bound_words(query, words)
    return _patients_statement(shape, _filters(query), bool(query.after)), values


def _ranked_names(query: SearchPatients, words: list[str]) -> Bound:
    """The matching names scored, then each name's patients, newest id first, at most a
    page of each: the same rows in the same order as ``_ranked_patients``, whose work
    grows with the patients matched where this grows with the names matched."""
    shape, values = _bound_words(query, words)
    return _names_statement(shape, bool(query.after)), values


# Built once per form (building one took about 1.6 ms, a tenth of a search).

@functools.lru_cache(maxsize=64)
def _listed_statement(filters: Filters, paged: bool) -> Select[Any]:
    stmt = _filtered(select(*VIEW_COLUMNS, cast(null(), Double).label("score"),
                            Patient.sort_name), filters)
    if paged:
        stmt = stmt.where(row(Patient.sort_name, Patient.id) > row(
            bindparam("after_sort_name", type_=Text), _AFTER_ID))
    return stmt.order_by(Patient.sort_name, Patient.id).limit(_ROWS)


@functools.lru_cache(maxsize=512)
def _patients_statement(shape: Shape, filters: Filters, paged: bool) -> Select[Any]:
    score = _score(shape, Patient.search_name)
    ranked = score.label("score")
    stmt = _filtered(select(*VIEW_COLUMNS, ranked), filters).where(
        *(_word_matches(n, word, Patient.search_name) for n, word in enumerate(shape)))
    if paged:
        stmt = stmt.where(row(score, Patient.id) < _CURSOR)
    return stmt.order_by(ranked.desc(), Patient.id.desc()).limit(_ROWS)


@functools.lru_cache(maxsize=512)
def _names_statement(shape: Shape, paged: bool) -> Select[Any]:
    score = _score(shape, PatientName.search_name)
    # MATERIALIZED: inlined, the names' scores were computed again for every patient
    # row read (a common name's namesakes), up to 180 ms for one search of a million.
    matched = select(PatientName.search_name, score.label("score")).where(
        *(_word_matches(n, word, PatientName.search_name) for n, word in enumerate(shape))
    ).cte("matched").prefix_with("MATERIALIZED")
    page = select(*VIEW_COLUMNS).where(Patient.search_name == matched.c.search_name)
    if paged:
        page = page.where(row(matched.c.score, Patient.id) < _CURSOR)
    each = page.order_by(Patient.id.desc()).limit(_ROWS).lateral("each_name")
    stmt = select(*each.c, matched.c.score).select_from(matched).join(each, true())
    if paged:
        stmt = stmt.where(matched.c.score <= _CURSOR_SCORE)  # names with no page left
    return stmt.order_by(matched.c.score.desc(), each.c.id.desc()).limit(_ROWS)


_ROWS = bindparam("rows", type_=Integer)  # a page and one more
_AFTER_ID = bindparam("after_id", type_=Uuid)
_CURSOR_SCORE = bindparam("after_score", type_=Double)
_CURSOR = row(_CURSOR_SCORE, _AFTER_ID)
_WHOLE_QUERY = bindparam("whole_query", type_=Text)


def _common_values(query: SearchPatients) -> dict[str, Any]:
    """The page size and the exact filters' values (the MRN as stored)."""
    values: dict[str, Any] = {"rows": query.limit + 1}
    for name in _filters(query):
        value = getattr(query, name)
        values[name] = normalise_mrn(value) if name == "mrn" else value
    return values


def _bound_words(query: SearchPatients, words: list[str]) -> tuple[Shape, dict[str, Any]]:
    """A ranked statement's shape, and the values of its parameters (the typed words'
    spellings, the whole query, the page size, the filters, the cursor)."""
    spellings = [_spellings(word) for word in words]
    values = _common_values(query)
    values.update({_spelling_name(n, m): spelling
                   for n, tried in enumerate(spellings)
                   for m, spelling in enumerate(tried)})
    values["whole_query"] = " ".join(words)
    if query.after:
        values.update({"after_score": query.after[0], "after_id": query.after[1]})
    shape = tuple((_operator(word), len(tried)) for word, tried in zip(words, spellings,
                                                                        strict=True))
    return shape, values


def _spelling_name(word: int, spelling: int) -> str:
    return f"word{word}_spelling{spelling}"


def _filters(query: SearchPatients) -> Filters:
    return tuple(name for name in _FILTERED_COLUMNS if getattr(query, name) is not None)


def _filtered(stmt: Select[Any], filters: Filters) -> Select[Any]:
    for name in filters:
        column = _FILTERED_COLUMNS[name]
        stmt = stmt.where(column == bindparam(name, type_=column.type))
    return stmt


def _normalised(value: ColumnElement[str]) -> ColumnElement[str]:
    # The same normalisation as the generated column, so both sides agree exactly.
    return func.lower(func.public.vb_unaccent(value))


def _spelling(word: int, spelling: int) -> ColumnElement[str]:
    return _normalised(bindparam(_spelling_name(word, spelling), type_=Text))


def _spellings(word: str) -> list[str]:
    """The spellings a typed word may match: as typed, then (4-5 letters) with two
    neighbouring letters swapped, which score SWAP_DISCOUNT of a match as typed."""
    if len(word) not in SWAPPED_WORDS:
        return [word]
    swaps = {word[:i] + word[i + 1] + word[i] + word[i + 2:] for i in range(len(word) - 1)}
    return [word, *sorted(swaps - {word})]


def _operator(word: str) -> str:
    return "<<%" if len(word) in WHOLE_WORDS else "<%"


def _similarity(operator: str) -> Similarity:
    # The similarity that ``operator`` compares with its threshold.
    return func.strict_word_similarity if operator == "<<%" else func.word_similarity


def _word_matches(n: int, word: tuple[str, int], name: Any) -> ColumnElement[bool]:
    operator, spellings = word
    return or_(*(_spelling(n, m).op(operator, is_comparison=True)(name)
                 for m in range(spellings)))


def _word_score(n: int, word: tuple[str, int], name: Any) -> ColumnElement[float]:
    # The first spelling is the word as typed (see _spellings).
    operator, spellings = word
    scores = [cast(_similarity(operator)(_spelling(n, m), name), Double)
              * (1.0 if m == 0 else SWAP_DISCOUNT) for m in range(spellings)]
    return func.greatest(*scores) if len(scores) > 1 else scores[0]


def _score(shape: Shape, name: Any) -> ColumnElement[float]:
    """A name's score for the typed words (it depends on the name alone)."""
    per_word = _word_score(0, shape[0], name)
    for n, word in enumerate(shape[1:], start=1):
        per_word = per_word + _word_score(n, word, name)
    whole = cast(func.similarity(_normalised(_WHOLE_QUERY), name), Double)
    return per_word / len(shape) + whole * WHOLE_QUERY_WEIGHT
