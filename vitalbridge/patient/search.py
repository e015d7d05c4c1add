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

import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Double,
    Select,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    text,
    true,
)
from sqlalchemy import tuple_ as row
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, aliased

from vitalbridge.patient.messages import SearchPatients
from vitalbridge.patient.model import Patient, PatientName
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
    """Set the trigram thresholds for this (read-only) transaction only."""
    session.execute(text(
        "SELECT set_config('pg_trgm.word_similarity_threshold', :word, true), "
        "set_config('pg_trgm.strict_word_similarity_threshold', :strict, true)"),
        {"word": str(WORD_SIMILARITY_THRESHOLD),
         "strict": str(STRICT_WORD_SIMILARITY_THRESHOLD)})


def search_statement(query: SearchPatients) -> Select[Any]:
    """The SELECT of (Patient, score, sort key...) answering ``query``, limit + 1 rows."""
    words = search_words(query.q or "")
    if not words:
        stmt = _filtered(select(Patient), query).add_columns(
            cast(null(), Double).label("score"), Patient.sort_name)
        if query.after:
            stmt = stmt.where(row(Patient.sort_name, Patient.id) > row(*query.after))
        return stmt.order_by(Patient.sort_name, Patient.id).limit(query.limit + 1)
    if _has_filters(query):
        return _ranked_patients(query, words)
    return _ranked_names(query, words)


def _ranked_patients(query: SearchPatients, words: list[str]) -> Select[Any]:
    """Every matching patient scored: with a birth date, phone or MRN there are few."""
    score = _score(words, Patient.search_name)
    ranked = score.label("score")
    stmt = _filtered(select(Patient), query).add_columns(ranked).where(
        *(_word_matches(w, Patient.search_name) for w in words))
    if query.after:
        stmt = stmt.where(row(score, Patient.id) < _cursor(query.after))
    return stmt.order_by(ranked.desc(), Patient.id.desc()).limit(query.limit + 1)


def _ranked_names(query: SearchPatients, words: list[str]) -> Select[Any]:
    """The matching names scored, then each name's patients, newest id first, at most a
    page of each: the same rows in the same order as ``_ranked_patients``, whose work
    grows with the patients matched where this grows with the names matched."""
    score = _score(words, PatientName.search_name)
    names = select(PatientName.search_name, score.label("score")).where(
        *(_word_matches(w, PatientName.search_name) for w in words))
    if query.after:
        names = names.where(score <= literal(query.after[0], Double))
    matched = names.subquery("matched")
    page = select(Patient).where(Patient.search_name == matched.c.search_name)
    if query.after:
        page = page.where(row(matched.c.score, Patient.id) < _cursor(query.after))
    each = page.order_by(Patient.id.desc()).limit(query.limit + 1).lateral("each_name")
    patient = aliased(Patient, each)
    return (select(patient, matched.c.score).select_from(matched).join(each, true())
            .order_by(matched.c.score.desc(), patient.id.desc()).limit(query.limit + 1))


def _cursor(after: tuple[Any, ...]) -> Any:
    return row(literal(after[0], Double), literal(after[1]))


def _has_filters(query: SearchPatients) -> bool:
    return any(value is not None for value in (query.birth_date, query.phone, query.mrn))


def _filtered(stmt: Select[Any], query: SearchPatients) -> Select[Any]:
    if query.birth_date is not None:
        stmt = stmt.where(Patient.birth_date == query.birth_date)
    if query.phone is not None:
        stmt = stmt.where(Patient.phone == query.phone)
    if query.mrn is not None:
        stmt = stmt.where(Patient.mrn == normalise_mrn(query.mrn))
    return stmt


def _normalised(value: str) -> ColumnElement[str]:
    # The same normalisation as the generated column, so both sides agree exactly.
    return func.lower(func.public.vb_unaccent(literal(value)))


def _spellings(word: str) -> list[tuple[str, float]]:
    """The spellings a typed word may match, each with its weight in the score."""
    if len(word) not in SWAPPED_WORDS:
        return [(word, 1.0)]
    swaps = {word[:i] + word[i + 1] + word[i] + word[i + 2:] for i in range(len(word) - 1)}
    return [(word, 1.0), *((s, SWAP_DISCOUNT) for s in sorted(swaps - {word}))]


def _comparison(word: str) -> tuple[str, Similarity]:
    if len(word) in WHOLE_WORDS:
        return "<<%", func.strict_word_similarity
    return "<%", func.word_similarity


def _word_matches(word: str, name: Any) -> ColumnElement[bool]:
    operator, _ = _comparison(word)
    return or_(*(_normalised(spelling).op(operator, is_comparison=True)(name)
                 for spelling, _ in _spellings(word)))


def _word_score(word: str, name: Any) -> ColumnElement[float]:
    _, similarity = _comparison(word)
    scores = [cast(similarity(_normalised(spelling), name), Double) * weight
              for spelling, weight in _spellings(word)]
    return func.greatest(*scores) if len(scores) > 1 else scores[0]


def _score(words: list[str], name: Any) -> ColumnElement[float]:
    """A name's score for the typed words (it depends on the name alone)."""
    per_word = _word_score(words[0], name)
    for word in words[1:]:
        per_word = per_word + _word_score(word, name)
    whole = cast(func.similarity(_normalised(" ".join(words)), name), Double)
    return per_word / len(words) + whole * WHOLE_QUERY_WEIGHT
