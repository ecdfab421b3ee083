"""What an audited read on the fast path saw, carried to its audit row.

:class:`~vetchart.adapters.db.audited_reads.AuditedReader` builds a read's audit row from
the FIRST row the read returns, and writes nothing when it returns none. A list is
audited per page, empty or not (the query was made), and its row names what the page
showed. :func:`audited_page` wraps a page's SQL so that

- it always returns at least one row: an empty page is one row of NULLs, which the
  adapter drops (as a pet's empty records list always did);
- its first row carries ``seen_ids`` (services/ports/paging.py ``SEEN_IDS``): the ids of the
  rows the caller gets, in page order, without the extra row fetched only to learn
  whether there is a next page; and, when asked for, ``seen_practices``
  (``SEEN_PRACTICES``): the practices their data belongs to.

The page is read once (a CTE) and summed up from there in the same statement; the
summary is sent once per page, on its first row, whatever the page's size.
"""

from __future__ import annotations

from vetchart.services.ports.paging import SEEN_IDS, SEEN_PRACTICES

# The column of an audited page's rows that orders them (its row number in the page): an
# outer query orders by it (``with_chain_head(..., order_by=PAGE_ORDER)``), as the order
# of a subquery's rows is lost in the joins around it.
PAGE_ORDER = "page_n"

# The practices of the page's rows, for rows that have one (records, appointments).
ROW_PRACTICES = "array_agg(DISTINCT page.practice_id)"


def audited_page(page_sql: str, fetched: str, *, practices: str | None = None) -> str:
    """``page_sql`` (ordered, ``LIMIT fetched``: the page size + 1; its rows have an
    ``id``) as a read that answers at least one row, the first carrying the summary.
    ``practices`` is an aggregate over the shown rows (``page``), e.g. ``ROW_PRACTICES``."""
    summary = [f"array_agg(page.id ORDER BY page.page_n) AS {SEEN_IDS}"]
    carried = [f"CASE WHEN page.page_n = 1 THEN seen.{SEEN_IDS} END AS {SEEN_IDS}"]
    if practices is not None:
        summary.append(f"{practices} AS {SEEN_PRACTICES}")
        carried.append(
            f"CASE WHEN page.page_n = 1 THEN seen.{SEEN_PRACTICES} END AS {SEEN_PRACTICES}"
        )
    return (
        "WITH page AS (SELECT listed.*, row_number() OVER () AS page_n "
        f"FROM ({page_sql}) AS listed), "
        f"seen AS (SELECT {', '.join(summary)} FROM page WHERE page.page_n < {fetched}) "
        f"SELECT page.*, {', '.join(carried)} FROM seen LEFT JOIN page ON true "
        "ORDER BY page.page_n"
    )
